//! Rules with no HTTP and no SQL in them.

pub mod events;
pub mod intake;
pub mod ledger;
pub mod scopes;
pub mod templates;
