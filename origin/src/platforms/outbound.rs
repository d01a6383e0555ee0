//! The one way out for platform calls: base URLs checked once ([`Outbound::base_url`]), request
//! paths built by segments ([`BaseUrl::join`]), and a client whose resolver drops every address
//! `domain::outbound` refuses, at connect time, so a host name that resolves (or re-resolves)
//! to the origin's own networks is never reached. No redirects, no proxies, bounded in time.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use super::client::{PlatformError, success_body};
use crate::domain::outbound::{AllowList, may_call};

/// Why a base URL will not be called; the message is stable and names no remote content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    #[error("is not a URL")]
    Unparsable,
    #[error("must be an http(s) URL with a host")]
    NotHttp,
    #[error("must not contain a user name or password")]
    UserInfo,
    #[error("must not contain a query (?…)")]
    Query,
    #[error("must not contain a fragment (#…)")]
    Fragment,
    #[error("points at a {0} address, which the origin does not call")]
    Address(&'static str),
}

/// A checked base URL: http(s), a host, no user-info, query or fragment, and no IP literal in
/// a refused range. Requests are built from it with [`BaseUrl::join`] only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(Url);

impl BaseUrl {
    /// The URL as parsed (lowercased host, no trailing `/` beyond the root).
    pub fn as_str(&self) -> &str {
        self.0.as_str().trim_end_matches('/')
    }

    /// The base's path with `segments` appended, each encoded as exactly one segment: nothing
    /// in them can add a query, climb up the path or change the host.
    pub(crate) fn join(&self, segments: &[&str]) -> Url {
        let mut url = self.0.clone();
        url.path_segments_mut()
            .expect("an http(s) URL has a path")
            .pop_if_empty()
            .extend(segments);
        url
    }
}

/// The HTTP client every platform call goes through, with the operator's allow-list.
#[derive(Clone)]
pub struct Outbound {
    http: reqwest::Client,
    allow: Arc<AllowList>,
}

impl Outbound {
    pub fn new(allow: AllowList) -> Outbound {
        let allow = Arc::new(allow);
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from the environment would resolve the host itself, past the resolver.
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver {
                allow: allow.clone(),
            }))
            .user_agent(concat!("YourSender/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client configuration is valid");
        Outbound { http, allow }
    }

    /// Checks a base URL a tenant or the operator gave.
    pub fn base_url(&self, raw: &str) -> Result<BaseUrl, UrlRefused> {
        let url = Url::parse(raw.trim()).map_err(|_| UrlRefused::Unparsable)?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(UrlRefused::NotHttp);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlRefused::UserInfo);
        }
        // `raw.contains` too: the parser drops an empty `?` or `#` at the end.
        if url.query().is_some() || raw.contains('?') {
            return Err(UrlRefused::Query);
        }
        if url.fragment().is_some() || raw.contains('#') {
            return Err(UrlRefused::Fragment);
        }
        self.literal_allowed(&url).map_err(UrlRefused::Address)?;
        Ok(BaseUrl(url))
    }

    pub(crate) fn get(&self, url: Url) -> reqwest::RequestBuilder {
        self.http.get(url)
    }

    pub(crate) fn put(&self, url: Url) -> reqwest::RequestBuilder {
        self.http.put(url)
    }

    pub(crate) fn post(&self, url: Url) -> reqwest::RequestBuilder {
        self.http.post(url)
    }

    /// Sends a request built from this client and reads its (bounded) answer. An IP-literal
    /// host never reaches the resolver, so it is checked here, just before sending.
    pub(crate) async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(reqwest::header::HeaderMap, Vec<u8>), PlatformError> {
        success_body(self.execute(request).await?).await
    }

    /// Sends a request as [`Outbound::send`] does, answering the response unread, for a
    /// caller that reads an error body: a refusal's (`platforms::refusal`) or an OAuth token
    /// endpoint's `invalid_grant`.
    pub(crate) async fn execute(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, PlatformError> {
        let request = request.build()?;
        self.literal_allowed(request.url())
            .map_err(PlatformError::DestinationRefused)?;
        Ok(self.http.execute(request).await?)
    }

    fn literal_allowed(&self, url: &Url) -> Result<(), &'static str> {
        match url.host() {
            Some(Host::Ipv4(ip)) => may_call(IpAddr::V4(ip), &self.allow),
            Some(Host::Ipv6(ip)) => may_call(IpAddr::V6(ip), &self.allow),
            Some(Host::Domain(_)) => Ok(()),
            None => Err("missing"),
        }
    }
}

/// The resolver behind [`Outbound`]: the system's answer, minus every refused address.
struct GuardedResolver {
    allow: Arc<AllowList>,
}

/// What the resolver fails with when nothing callable is left; found again in the error chain.
#[derive(Debug, thiserror::Error)]
#[error("the host resolves only to refused addresses ({0})")]
pub(crate) struct AddressRefused(pub(crate) &'static str);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let callable: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|address| match may_call(address.ip(), &allow) {
                    Ok(()) => true,
                    Err(reason) => {
                        refused.get_or_insert(reason);
                        false
                    }
                })
                .collect();
            if callable.is_empty() {
                let reason = refused.unwrap_or("unresolvable");
                return Err(Box::new(AddressRefused(reason)) as _);
            }
            Ok(Box::new(callable.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> Outbound {
        Outbound::new(AllowList::default())
    }

    #[test]
    fn base_urls_refuse_what_could_redirect_the_call() {
        let outbound = strict();
        for (raw, expected) in [
            ("shop.example.com", UrlRefused::Unparsable),
            ("ftp://shop.example.com", UrlRefused::NotHttp),
            ("http://user:pw@shop.example.com", UrlRefused::UserInfo),
            ("http://user@shop.example.com", UrlRefused::UserInfo),
            ("https://shop.example.com/?x=", UrlRefused::Query),
            ("https://shop.example.com?", UrlRefused::Query),
            ("https://shop.example.com/#frag", UrlRefused::Fragment),
            ("https://shop.example.com#", UrlRefused::Fragment),
            ("http://127.0.0.1:8080", UrlRefused::Address("loopback")),
            ("http://2130706433/", UrlRefused::Address("loopback")),
            ("http://0x7f.1/", UrlRefused::Address("loopback")),
            ("http://[::1]/", UrlRefused::Address("loopback")),
            ("http://[::ffff:127.0.0.1]", UrlRefused::Address("loopback")),
            ("http://169.254.169.254", UrlRefused::Address("link-local")),
            ("http://10.0.0.1", UrlRefused::Address("private network")),
        ] {
            assert_eq!(outbound.base_url(raw), Err(expected), "{raw}");
        }
    }

    #[test]
    fn paths_are_appended_by_segment() {
        let outbound = strict();
        let base = outbound
            .base_url("https://Shop.Example.com/store/")
            .unwrap();
        assert_eq!(base.as_str(), "https://shop.example.com/store");
        assert_eq!(
            base.join(&["wp-json", "wc", "v3", "orders"]).as_str(),
            "https://shop.example.com/store/wp-json/wc/v3/orders"
        );
        let hostile = base.join(&["shops", "1?x=/../@evil.example#", "receipts"]);
        assert_eq!(hostile.host_str(), Some("shop.example.com"));
        assert_eq!(hostile.query(), None);
        assert_eq!(
            hostile.path(),
            "/store/shops/1%3Fx=%2F..%2F@evil.example%23/receipts"
        );
        let root = outbound.base_url("http://shop.example.com").unwrap();
        assert_eq!(root.join(&["a"]).as_str(), "http://shop.example.com/a");
    }

    #[test]
    fn the_allow_list_lets_a_literal_through() {
        let allow = AllowList::parse(&["127.0.0.1"]).unwrap();
        let outbound = Outbound::new(allow);
        assert!(outbound.base_url("http://127.0.0.1:9").is_ok());
        assert_eq!(
            outbound.base_url("http://127.0.0.2:9"),
            Err(UrlRefused::Address("loopback"))
        );
    }
}
