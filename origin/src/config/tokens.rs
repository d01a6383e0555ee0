//! The token refresh job: how long before an access token ends it is refreshed, how long a
//! refresh claim holds, and the eBay app's credentials (eBay's token endpoint takes them as
//! Basic auth; Etsy's takes only the keystring, `ETSY_API_KEY`), which are the connect
//! flows' `EBAY_CLIENT_ID` and `EBAY_CLIENT_SECRET` (`config::connect`).

use std::time::Duration;

use clap::Args;
use secrecy::SecretString;

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
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
    /// Without the eBay app's credentials: [`TokenSettings::with_ebay_app`] adds them.
    pub fn resolve(args: &TokenArgs) -> Self {
        TokenSettings {
            ebay_client_id: None,
            ebay_client_secret: None,
            refresh_margin: Duration::from_secs(args.token_refresh_margin_secs),
            refresh_lease: Duration::from_secs(120),
        }
    }

    /// The eBay app's credentials, as the connect flows have them.
    pub fn with_ebay_app(mut self, app: &super::connect::ConnectArgs) -> Self {
        self.ebay_client_id = app.ebay_client_id.clone();
        self.ebay_client_secret = app.ebay_client_secret.clone();
        self
    }
}
