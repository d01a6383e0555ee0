//! The origin: YourSender's durable backend (axum + sqlx). `main.rs` is only the CLI; the
//! service is built by [`app::Application::build`] from [`config::Settings`], which the tests
//! and benchmarks use too. `http` answers requests, `jobs` does the work that runs on its own;
//! both stand on `domain` (rules), `store` (rows), `delivery` and `platforms`. `web` is the
//! seller dashboard's pages, served by the same router.

pub mod admin;
pub mod app;
pub mod config;
pub mod crypto;
pub mod delivery;
pub mod domain;
pub mod http;
pub mod ids;
pub mod jobs;
pub mod platforms;
pub mod store;
pub mod web;
