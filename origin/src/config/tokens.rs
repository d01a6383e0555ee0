//! The token refresh job: the eBay app's credentials (eBay's token endpoint takes them as
//! Basic auth; Etsy's takes only the keystring, `ETSY_API_KEY`), how long before an access
//! token ends it is refreshed, and how long a refresh claim holds.

use std::time::Duration;

use clap::Args;
use secrecy::SecretString;

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// The eBay app's client id (App ID), for refreshing sellers' user tokens.
    #[arg(long, env = "EBAY_CLIENT_ID")]
    pub ebay_client_id: Option<String>,
    /// The eBay app's client secret (Cert ID).
    #[arg(long, env = "EBAY_CLIENT_SECRET", hide_env_values = true, value_parser = super::secret)]
    pub ebay_client_secret: Option<SecretString>,
    /// How long before an access token ends it is refreshed, in seconds (a token that lives
    /// less than twice this is refreshed half-way through its life).
    #[arg(long, env = "TOKEN_REFRESH_MARGIN_SECS", default_value_t = 600)]
    pub token_refresh_margin_secs: u64,
}

/// [`TokenArgs`] resolved.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub ebay_client_id: Option<String>,
    pub ebay_client_secret: Option<SecretString>,
    pub refresh_margin: Duration,
    /// How long a refresh claim holds: longer than a token request can take (the outbound
    /// client's 30 s timeout), so a live refresh keeps it.
    pub refresh_lease: Duration,
}

impl TokenSettings {
    pub fn resolve(args: &TokenArgs) -> Self {
        TokenSettings {
            ebay_client_id: args.ebay_client_id.clone(),
            ebay_client_secret: args.ebay_client_secret.clone(),
            refresh_margin: Duration::from_secs(args.token_refresh_margin_secs),
            refresh_lease: Duration::from_secs(120),
        }
    }
}
