//! Rules with no HTTP and no SQL in them. Modules here import only `ids` and `crypto` from
//! the crate (and `shared`); the store, HTTP, jobs and platform clients call into them.

pub mod accounts;
pub mod connect;
pub mod connections;
pub mod events;
pub mod fulfilment;
pub mod idempotency;
pub mod intake;
pub mod keys;
pub mod ledger;
pub mod listings;
pub mod mappings;
pub mod orders;
pub mod outbound;
pub mod resumption;
pub mod review;
pub mod scopes;
pub mod templates;
pub mod tokens;
