//! Getting a delivered item to the buyer: the email itself and the signed download links in it.

pub mod email;
pub mod links;
pub mod render;
pub mod worker;
