//! Getting a delivered item to the buyer: the email itself, its rendering and the signed
//! download links in it. A leaf: it imports neither `http` nor `jobs` nor `platforms`; the
//! jobs decide when to send.

pub mod email;
pub mod links;
pub mod render;
