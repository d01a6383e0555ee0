//! Reading one page of a connection's listings from its platform: WooCommerce products (the
//! store searches), eBay active listings and Etsy active listings (searched here, page by
//! page, as neither API searches a seller's own listings), with their variations. Platform
//! failures become the API's errors here.

use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use secrecy::ExposeSecret;
use shared::internal::Platform;

use super::cursor::Position;
use crate::domain::connections::ConnectionSecrets;
use crate::domain::listings::{Listing, matches_search, platform_name};
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::platforms::client::PlatformError;
use crate::platforms::ebay::EbayClient;
use crate::platforms::etsy::EtsyClient;
use crate::platforms::woocommerce::WooRestClient;
use crate::store::ConnectionRow;

/// Platform pages one request reads at most while searching for matches: the answer comes
/// back in bounded time, with a cursor to go on from.
const MAX_PAGES_A_REQUEST: usize = 5;
/// After this long a search reads no further platform page: it answers what it found, with
/// the cursor of where it stopped.
const SEARCH_BUDGET: Duration = Duration::from_secs(3);
/// How long the platform reads of one page may take in all.
const ANSWER_WITHIN: Duration = Duration::from_secs(8);
/// Variation or inventory reads in flight at once for one page.
const VARIATION_READS_AT_ONCE: usize = 4;

/// A page of listings and where the next one starts (none: this was the last).
pub struct Page {
    pub listings: Vec<Listing>,
    pub next: Option<Position>,
}

/// Where listings come from, with the connection's credentials.
enum Source {
    /// `search` is passed to the store, which searches its products itself.
    Woocommerce {
        client: WooRestClient,
        search: Option<String>,
    },
    Ebay {
        client: EbayClient,
        token: String,
    },
    Etsy {
        client: EtsyClient,
        shop_id: String,
        token: String,
    },
}

/// What one platform read gives: listings (each with whether its variations are still to be
/// read) from `start` on, and whether the platform has more after them.
struct Read {
    listings: Vec<(Listing, bool)>,
    start: u64,
    more: bool,
}

/// The page of `connection`'s listings at `at`; `search` (lowercased) filters them.
pub async fn page(
    state: &AppState,
    connection: &ConnectionRow,
    secrets: &ConnectionSecrets,
    at: Position,
    search: Option<&str>,
) -> Result<Page, ApiError> {
    let source = source(state, connection, secrets, search)?;
    let platform = source.platform();
    let local_search = match source {
        Source::Woocommerce { .. } => None,
        _ => search,
    };
    // The edge gives up on the origin after 10 s: answer clearly before that.
    tokio::time::timeout(ANSWER_WITHIN, collect(&source, at, local_search))
        .await
        .map_err(|_| ApiError::Platform {
            message: format!(
                "{} did not answer the listing reads within {} s",
                platform_name(platform),
                ANSWER_WITHIN.as_secs()
            ),
            refused: false,
            hint: "ask for fewer listings a page (limit), then follow meta.next_cursor".into(),
        })?
}

/// Reads from `source` until a page is full (or the list ends, or the search budget is
/// spent), then reads the variations of what it found.
async fn collect(
    source: &Source,
    at: Position,
    local_search: Option<&str>,
) -> Result<Page, ApiError> {
    let platform = source.platform();
    let mut found: Vec<(Listing, bool)> = Vec::new();
    let mut offset = at.offset;
    let mut next = None;
    let started = Instant::now();
    for read_number in 1..=MAX_PAGES_A_REQUEST {
        if read_number > 1 && started.elapsed() > SEARCH_BUDGET {
            next = Some(offset);
            break;
        }
        let read = source
            .read(offset, at.per_page)
            .await
            .map_err(|e| platform_error(platform, e))?;
        let count = read.listings.len() as u64;
        let mut position = read.start;
        let mut full = false;
        for (index, (listing, pending)) in read.listings.into_iter().enumerate() {
            position = read.start + index as u64 + 1;
            if position <= offset {
                continue;
            }
            if local_search.is_none_or(|q| matches_search(&listing, q)) {
                found.push((listing, pending));
            }
            if found.len() as u64 >= u64::from(at.per_page) {
                full = true;
                break;
            }
        }
        let end = read.start + count;
        let more_here = full && position < end;
        if full || !read.more || count == 0 {
            next = (more_here || (read.more && count > 0)).then_some(position);
            break;
        }
        offset = end;
        if read_number == MAX_PAGES_A_REQUEST {
            next = Some(end);
        }
    }
    let listings: Vec<Listing> = futures_util::stream::iter(found)
        .map(|(listing, pending)| source.complete(listing, pending))
        .buffered(VARIATION_READS_AT_ONCE)
        .try_collect()
        .await
        .map_err(|e| platform_error(platform, e))?;
    Ok(Page {
        listings,
        next: next.map(|offset| Position {
            per_page: at.per_page,
            offset,
        }),
    })
}

fn source(
    state: &AppState,
    connection: &ConnectionRow,
    secrets: &ConnectionSecrets,
    search: Option<&str>,
) -> Result<Source, ApiError> {
    let missing = |what: &str, hint: &str| ApiError::Conflict(format!("{what}; {hint}"));
    match connection.platform.as_str() {
        "woocommerce" => {
            let (Some(store_url), Some(key), Some(secret)) = (
                &connection.store_url,
                &secrets.consumer_key,
                &secrets.consumer_secret,
            ) else {
                return Err(missing(
                    "this WooCommerce connection has no REST API keys to list products with",
                    "connect the store with consumer_key and consumer_secret",
                ));
            };
            let client = WooRestClient::new(state.outbound.clone(), store_url, key, secret)
                .map_err(|e| platform_error(Platform::Woocommerce, e))?;
            Ok(Source::Woocommerce {
                client,
                search: search.map(str::to_owned),
            })
        }
        "ebay" => {
            let Some(token) = secrets.access_token.clone() else {
                return Err(missing(
                    "this eBay connection has no user token to list listings with",
                    "connect the eBay account again",
                ));
            };
            let client = EbayClient::new(
                state.outbound.clone(),
                &state.platform_apis.ebay_api_base_url,
            )
            .map_err(|e| platform_error(Platform::Ebay, e))?;
            Ok(Source::Ebay { client, token })
        }
        "etsy" => {
            let (Some(shop_id), Some(token)) = (&connection.shop_id, &secrets.access_token) else {
                return Err(missing(
                    "this Etsy connection has no access token to list listings with",
                    "connect the Etsy shop again",
                ));
            };
            let apis = &state.platform_apis;
            let (keystring, shared_secret) = secrets.etsy_app_key(
                apis.etsy_api_key.as_deref(),
                apis.etsy_shared_secret.as_ref().map(|s| s.expose_secret()),
            );
            let client = EtsyClient::new(
                state.outbound.clone(),
                &apis.etsy_api_base_url,
                &keystring,
                &shared_secret,
            )
            .map_err(|e| platform_error(Platform::Etsy, e))?;
            Ok(Source::Etsy {
                client,
                shop_id: shop_id.clone(),
                token: token.clone(),
            })
        }
        other => Err(ApiError::internal(format!(
            "a connection of platform {other}"
        ))),
    }
}

impl Source {
    fn platform(&self) -> Platform {
        match self {
            Source::Woocommerce { .. } => Platform::Woocommerce,
            Source::Ebay { .. } => Platform::Ebay,
            Source::Etsy { .. } => Platform::Etsy,
        }
    }

    /// The platform's listings from about `offset` on: page-numbered APIs answer the page
    /// holding `offset` (its `start` before it), Etsy answers from `offset` exactly.
    async fn read(&self, offset: u64, per_page: u32) -> Result<Read, PlatformError> {
        let per = u64::from(per_page);
        let page_number = u32::try_from(offset / per + 1).unwrap_or(u32::MAX);
        let start = offset / per * per;
        match self {
            Source::Woocommerce { client, search } => {
                let page = client
                    .published_products(page_number, per_page, search.as_deref())
                    .await?;
                Ok(Read {
                    more: page_number < page.total_pages,
                    listings: page
                        .products
                        .into_iter()
                        .map(|p| (p.listing, p.variable))
                        .collect(),
                    start,
                })
            }
            Source::Ebay { client, token } => {
                let page = client.active_listings(token, page_number, per_page).await?;
                Ok(Read {
                    more: page_number < page.total_pages,
                    listings: page.listings.into_iter().map(|l| (l, false)).collect(),
                    start,
                })
            }
            Source::Etsy {
                client,
                shop_id,
                token,
            } => {
                let page = client
                    .active_listings(shop_id, token, per_page, offset)
                    .await?;
                Ok(Read {
                    more: offset + (page.listings.len() as u64) < page.total,
                    listings: page.listings.into_iter().map(|l| (l, true)).collect(),
                    start: offset,
                })
            }
        }
    }

    /// The listing with its variations read, where they are still to be.
    async fn complete(
        &self,
        mut listing: Listing,
        pending: bool,
    ) -> Result<Listing, PlatformError> {
        if !pending {
            return Ok(listing);
        }
        match self {
            Source::Woocommerce { client, .. } => {
                listing.variations = client.variations(&listing.listing_id).await?;
            }
            Source::Etsy { client, token, .. } => {
                client.fill_inventory(&mut listing, token).await?
            }
            Source::Ebay { .. } => {}
        }
        Ok(listing)
    }
}

/// A failed platform call as the API answers it: the platform's refusal (502) or its absence
/// (503), in our words; the details go to the log.
fn platform_error(platform: Platform, error: PlatformError) -> ApiError {
    let name = platform_name(platform);
    tracing::warn!(%error, platform = name, "listing picker: platform call failed");
    let credentials = matches!(
        error,
        PlatformError::Unauthorized { .. }
            | PlatformError::CallFailed {
                credentials: true,
                ..
            }
    );
    match error {
        PlatformError::RateLimited { retry_after_secs } => ApiError::Platform {
            message: format!("{name} is limiting the calls made for this connection"),
            refused: false,
            hint: format!("retry in {retry_after_secs} s"),
        },
        PlatformError::Unavailable(_) => ApiError::Platform {
            message: format!("{name} could not be reached: {error}"),
            refused: false,
            hint: "retry later".into(),
        },
        _ if credentials => ApiError::Platform {
            message: format!("{name} refused the connection's credentials: {error}"),
            refused: true,
            hint: "connect the store again, or update its keys or token".into(),
        },
        _ => ApiError::Platform {
            message: format!("{name} refused to list this connection's listings: {error}"),
            refused: true,
            hint: "check the connection's store address and access; retrying as is will not help"
                .into(),
        },
    }
}
