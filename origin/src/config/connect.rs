//! The connect flows: where the platforms send the seller (and WooCommerce its keys) back to,
//! and the app credentials and authorization pages of eBay and Etsy (configurable, so tests
//! point them at the fakes). A flow whose app is not configured answers that it is not.

use clap::Args;
use secrecy::SecretString;

/// `--ebay-auth-base-url` unless given: eBay's production consent page host.
pub const DEFAULT_EBAY_AUTH_BASE_URL: &str = "https://auth.ebay.com";
/// `--etsy-connect-base-url` unless given.
pub const DEFAULT_ETSY_CONNECT_BASE_URL: &str = "https://www.etsy.com";

#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Base URL the platforms return to (`/connect/…` at the edge): the system's public
    /// https address. Default: PUBLIC_BASE_URL.
    #[arg(long, env = "CONNECT_CALLBACK_BASE_URL")]
    pub connect_callback_base_url: Option<String>,
    /// eBay app id (client_id) of the consent flow.
    #[arg(long, env = "EBAY_CLIENT_ID")]
    pub ebay_client_id: Option<String>,
    /// eBay app cert id (client_secret), for the code exchange.
    #[arg(long, env = "EBAY_CLIENT_SECRET", hide_env_values = true, value_parser = super::secret)]
    pub ebay_client_secret: Option<SecretString>,
    /// The app's RuName (eBay's redirect_uri), whose accepted URL is
    /// `{CONNECT_CALLBACK_BASE_URL}/connect/ebay/callback`.
    #[arg(long, env = "EBAY_RU_NAME")]
    pub ebay_ru_name: Option<String>,
    /// Host of eBay's consent page (`/oauth2/authorize`); sandbox `https://auth.sandbox.ebay.com`.
    #[arg(long, env = "EBAY_AUTH_BASE_URL", default_value = DEFAULT_EBAY_AUTH_BASE_URL)]
    pub ebay_auth_base_url: String,
    /// The app's eBay notification destination id: a seller connected through eBay's consent
    /// is subscribed to ORDER_CONFIRMATION delivered there. Unset: no subscription is made
    /// (the app receives the topic already).
    #[arg(long, env = "EBAY_NOTIFICATION_DESTINATION_ID")]
    pub ebay_notification_destination_id: Option<String>,
    /// Etsy app keystring (client_id) of the connect flow.
    #[arg(long, env = "ETSY_CLIENT_ID")]
    pub etsy_client_id: Option<String>,
    /// Host of Etsy's connect page (`/oauth/connect`).
    #[arg(long, env = "ETSY_CONNECT_BASE_URL", default_value = DEFAULT_ETSY_CONNECT_BASE_URL)]
    pub etsy_connect_base_url: String,
}

/// [`ConnectArgs`] resolved; URLs without a trailing `/`.
#[derive(Debug, Clone)]
pub struct ConnectSettings {
    /// None: PUBLIC_BASE_URL.
    pub callback_base_url: Option<String>,
    pub ebay_client_id: Option<String>,
    pub ebay_client_secret: Option<SecretString>,
    pub ebay_ru_name: Option<String>,
    pub ebay_auth_base_url: String,
    pub ebay_notification_destination_id: Option<String>,
    pub etsy_client_id: Option<String>,
    pub etsy_connect_base_url: String,
}

impl ConnectSettings {
    pub fn resolve(args: &ConnectArgs) -> Self {
        let trim = |url: &str| url.trim_end_matches('/').to_owned();
        ConnectSettings {
            callback_base_url: args.connect_callback_base_url.as_deref().map(trim),
            ebay_client_id: args.ebay_client_id.clone(),
            ebay_client_secret: args.ebay_client_secret.clone(),
            ebay_ru_name: args.ebay_ru_name.clone(),
            ebay_auth_base_url: trim(&args.ebay_auth_base_url),
            ebay_notification_destination_id: args
                .ebay_notification_destination_id
                .clone()
                .filter(|id| !id.trim().is_empty()),
            etsy_client_id: args.etsy_client_id.clone(),
            etsy_connect_base_url: trim(&args.etsy_connect_base_url),
        }
    }

    /// Where the platforms return to: the configured base, else `public_base_url`.
    pub fn callback_base<'a>(&'a self, public_base_url: &'a str) -> &'a str {
        self.callback_base_url.as_deref().unwrap_or(public_base_url)
    }
}

impl Default for ConnectSettings {
    fn default() -> Self {
        ConnectSettings {
            callback_base_url: None,
            ebay_client_id: None,
            ebay_client_secret: None,
            ebay_ru_name: None,
            ebay_auth_base_url: DEFAULT_EBAY_AUTH_BASE_URL.to_owned(),
            ebay_notification_destination_id: None,
            etsy_client_id: None,
            etsy_connect_base_url: DEFAULT_ETSY_CONNECT_BASE_URL.to_owned(),
        }
    }
}
