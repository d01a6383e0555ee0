//! The origin's tests: one binary, so the whole origin links once. Each module is named for
//! the part it drives through the real interface (HTTP on a random port, the CLI, the store
//! over a fresh database), and store-touching tests run on SQLite and PostgreSQL.

#[macro_use]
mod common;

mod account_routes;
mod accounts_store;
mod api_conformance;
mod auth;
mod bounded_work;
mod buyer_address;
mod cli;
mod connect;
mod connect_ebay;
mod connect_etsy;
mod connection_binding;
mod dashboard_accounts;
mod docs;
mod ebay_reconciliation;
mod edge_signature;
mod erasure;
mod etsy_note_delivery;
mod etsy_webhooks;
mod fulfilment;
mod idempotency;
mod internal;
mod internal_limits;
mod keys;
mod listings;
mod listings_refusals;
mod logs;
mod order_rules;
mod orders;
mod outbound;
mod pipeline;
mod pipeline_platforms;
mod platform_clients;
mod products;
mod refund_lines;
mod retention;
mod sealing;
mod sends;
mod store_contract;
mod tokens;
mod write_gate;
