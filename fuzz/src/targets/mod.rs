//! One target per parser in `shared`. Each asserts what must hold for every input, beyond not
//! panicking: what it accepts is exactly what the signer or generator produces, and a parse
//! followed by a format gives the input back.

pub mod apikey;
pub mod ebay;
pub mod envelope;
pub mod forward;
pub mod standard_webhooks;
pub mod woo;

use crate::engine::Target;

/// Every target, in the order `make test` runs them.
pub fn all() -> Vec<Target> {
    vec![
        woo::target(),
        ebay::target(),
        apikey::target(),
        forward::target(),
        envelope::target(),
        standard_webhooks::target(),
    ]
}

/// The target called `name`.
pub fn by_name(name: &str) -> Option<Target> {
    all().into_iter().find(|t| t.name == name)
}
