//! Where a connect flow sends the seller: WooCommerce's key grant page, eBay's consent page
//! and Etsy's connect page, with the query parameters each one requires (see PLATFORMS.md).
//! Pure: the URLs are built, never fetched, here.

use super::outbound::BaseUrl;

/// The application name WooCommerce shows on its grant page (and in the key's description).
pub const WOO_APP_NAME: &str = "YourSender";

/// What a digital-delivery seller tool asks eBay for: the base scope, fulfilment (orders and
/// marking them shipped), who connected, and notification subscriptions.
pub const EBAY_SCOPES: [&str; 4] = [
    "https://api.ebay.com/oauth/api_scope",
    "https://api.ebay.com/oauth/api_scope/sell.fulfillment",
    "https://api.ebay.com/oauth/api_scope/commerce.identity.readonly",
    "https://api.ebay.com/oauth/api_scope/commerce.notification.subscription",
];

/// Etsy's scopes: receipts (read, mark shipped), listings and the shop.
pub const ETSY_SCOPES: [&str; 4] = ["transactions_r", "transactions_w", "listings_r", "shops_r"];

/// `value` percent-encoded for a query (a space as `%20`, as eBay's and Etsy's own clients
/// send it, never `+`).
fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn with_query(base: String, pairs: &[(&str, &str)]) -> String {
    let query: Vec<String> = pairs
        .iter()
        .map(|(name, value)| format!("{name}={}", encode(value)))
        .collect();
    format!("{base}?{}", query.join("&"))
}

/// `<store>/wc-auth/v1/authorize?…`: the store's key grant page for a `read_write` key. The
/// state travels as `user_id`; WooCommerce POSTs the keys to `callback_url` (https) and sends
/// the seller back to `return_url`.
pub fn woocommerce_authorize_url(
    store: &BaseUrl,
    state: &str,
    return_url: &str,
    callback_url: &str,
) -> String {
    let page = store.join(&["wc-auth", "v1", "authorize"]).to_string();
    with_query(
        page,
        &[
            ("app_name", WOO_APP_NAME),
            ("scope", "read_write"),
            ("user_id", state),
            ("return_url", return_url),
            ("callback_url", callback_url),
        ],
    )
}

/// `<auth host>/oauth2/authorize?…`: eBay's consent page; `redirect_uri` is the RuName.
pub fn ebay_consent_url(auth_base: &str, client_id: &str, ru_name: &str, state: &str) -> String {
    with_query(
        format!("{}/oauth2/authorize", auth_base.trim_end_matches('/')),
        &[
            ("client_id", client_id),
            ("redirect_uri", ru_name),
            ("response_type", "code"),
            ("scope", &EBAY_SCOPES.join(" ")),
            ("state", state),
        ],
    )
}

/// `<etsy>/oauth/connect?…`: Etsy's connect page with the PKCE S256 challenge.
pub fn etsy_connect_url(
    connect_base: &str,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    code_challenge: &str,
) -> String {
    with_query(
        format!("{}/oauth/connect", connect_base.trim_end_matches('/')),
        &[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("scope", &ETSY_SCOPES.join(" ")),
            ("state", state),
            ("code_challenge", code_challenge),
            ("code_challenge_method", "S256"),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_space_separated_and_percent_encoded() {
        let url = ebay_consent_url("https://auth.ebay.com/", "app-1", "Seller_Ru-1", "cst_1");
        assert!(url.starts_with("https://auth.ebay.com/oauth2/authorize?client_id=app-1&redirect_uri=Seller_Ru-1&response_type=code&scope=https%3A%2F%2Fapi.ebay.com%2Foauth%2Fapi_scope%20https%3A%2F%2F"), "{url}");
        assert!(url.ends_with("&state=cst_1"), "{url}");
        let url = etsy_connect_url("https://www.etsy.com", "key", "https://x/cb", "s", "c");
        assert!(
            url.contains("scope=transactions_r%20transactions_w%20listings_r%20shops_r"),
            "{url}"
        );
        assert!(
            url.contains("&code_challenge=c&code_challenge_method=S256"),
            "{url}"
        );
        assert!(!url.contains('+'));
    }
}
