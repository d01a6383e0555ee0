//! The origin: YourSender's durable backend (axum + sqlx). `main.rs` is only the CLI; the
//! service is built by [`app::Application::build`], which the tests and benchmarks use too.

pub mod admin;
pub mod app;
pub mod config;
pub mod crypto;
pub mod delivery;
pub mod domain;
pub mod http;
pub mod ids;
pub mod platforms;
pub mod store;
