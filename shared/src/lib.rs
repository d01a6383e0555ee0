//! Every decision the edge makes, as pure functions: no I/O, no clock, no randomness.
//!
//! The edge worker (Wasm) and the origin (native) both depend on this crate and on nothing
//! else for these rules, so a signature, a key format, a rate limit or an error code can never
//! mean one thing at the edge and another at the origin. Time and random bytes are arguments.

pub mod apikey;
pub mod ebay;
pub mod envelope;
pub mod error;
pub mod etsy;
pub mod forward;
pub mod internal;
pub mod ratelimit;
pub mod retry;
pub mod standard_webhooks;
pub mod woo;

pub use envelope::{Envelope, ErrorBody};
pub use error::ErrorCode;
