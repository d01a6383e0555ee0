//! The end-to-end harness: starts the real processes (worker under `wrangler dev`, origin,
//! platform fakes) on free loopback ports, waits until they answer, and stops them — with
//! every child they spawned — when the test is done, passed or failed.

pub mod harness;

pub use harness::api::OriginApi;
pub use harness::browser::Browser;
pub use harness::fake_ebay::FakeEbay;
pub use harness::origin::{OriginProcess, Tenant};
pub use harness::process::ManagedProcess;
pub use harness::signing::{EbayTestKey, woocommerce_signature};
pub use harness::system::{
    EDGE_SECRET, EdgeSystem, PUBLIC_HTTPS, SystemOptions, WOO_DELIVERY_HEADERS, accepted_event_id,
    events_matching,
};
pub use harness::wrangler::{WranglerDev, WranglerOptions};
