//! The operator CLI, run as the real binary against the same database as a running app.

use crate::common;

use std::process::Command;

use common::{Backend, TestApp};
use reqwest::StatusCode;
use serde_json::Value;

/// Runs the origin binary with `args` against the app's database.
fn run(app: &TestApp, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_origin"))
        .args(args)
        .env("DATABASE_URL", &app.database_url)
        .env("DATA_DIR", app.data_dir.path())
        .env("RUST_LOG", "warn")
        .output()
        .expect("the origin binary runs")
}

/// Runs `origin <args>`; the one JSON line it prints.
fn origin(app: &TestApp, args: &[&str]) -> Value {
    let output = run(app, args);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "origin {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line: {stdout}");
    serde_json::from_str(lines[0]).unwrap()
}

/// Runs `origin <args>` expecting failure; what it said on stderr.
fn origin_fails(app: &TestApp, args: &[&str]) -> String {
    let output = run(app, args);
    assert!(!output.status.success(), "origin {args:?} should fail");
    assert!(output.stdout.is_empty());
    String::from_utf8(output.stderr).unwrap()
}

async fn admin_commands_create_tenants_and_manage_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let migrated = origin(&app, &["migrate"]);
    assert_eq!(migrated["migrated"], true);

    let created = origin(
        &app,
        &[
            "admin",
            "create-tenant",
            "--name",
            "Pixel Forge",
            "--tokens",
            "25",
        ],
    );
    let object = created.as_object().unwrap();
    assert_eq!(object.len(), 2, "only tenant_id and api_key: {created}");
    let tenant_id = created["tenant_id"].as_str().unwrap();
    let api_key = created["api_key"].as_str().unwrap();
    assert!(shared::internal::is_plausible_tenant_id(tenant_id));
    assert!(api_key.starts_with("ys_live_"));
    shared::apikey::parse_api_key(api_key).expect("a well-formed key");

    let (status, me) = app.get("/api/v1/tenant", api_key).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["data"]["name"], "Pixel Forge");
    assert_eq!(me["data"]["token_balance"], 25);

    let topped = origin(
        &app,
        &[
            "admin",
            "add-tokens",
            "--tenant",
            tenant_id,
            "--amount",
            "5",
        ],
    );
    assert_eq!(topped["token_balance"], 30);

    let key = origin(
        &app,
        &[
            "admin",
            "create-key",
            "--tenant",
            tenant_id,
            "--scopes",
            "orders:read,products:read",
            "--test",
        ],
    );
    let scoped = key["api_key"].as_str().unwrap();
    assert!(scoped.starts_with("ys_test_"));
    assert_eq!(
        key["scopes"],
        serde_json::json!(["orders:read", "products:read"])
    );
    let (status, _) = app.get("/api/v1/tenant", scoped).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.get("/api/v1/orders", scoped).await;
    common::assert_error(status, &body, StatusCode::FORBIDDEN, "TEST_KEY_LIVE_DATA");
    let (status, _) = app.get("/api/v1/keys", scoped).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let revoked = origin(
        &app,
        &[
            "admin",
            "revoke-key",
            "--key-id",
            key["key_id"].as_str().unwrap(),
        ],
    );
    assert_eq!(revoked["revoked"], true);
    let (status, _) = app.get("/api/v1/orders", scoped).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    assert!(
        origin_fails(&app, &["admin", "create-key", "--tenant", "ten_missing"])
            .contains("no tenant")
    );
    assert!(
        origin_fails(
            &app,
            &[
                "admin",
                "create-key",
                "--tenant",
                tenant_id,
                "--scopes",
                "root"
            ]
        )
        .contains("unknown scope")
    );
    assert!(
        origin_fails(
            &app,
            &[
                "admin",
                "add-tokens",
                "--tenant",
                tenant_id,
                "--amount",
                "-31"
            ]
        )
        .contains("below zero")
    );
    origin_fails(&app, &["admin", "create-tenant"]);
}

on_both_backends!(admin_commands_create_tenants_and_manage_keys);

#[test]
fn serve_requires_the_edge_secret_and_never_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_origin"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATA_DIR", dir.path())
        .env_remove("EDGE_SHARED_SECRET")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--edge-shared-secret"));

    let help = Command::new(env!("CARGO_BIN_EXE_origin"))
        .args(["serve", "--help"])
        .env("EDGE_SHARED_SECRET", "do-not-print-me")
        .env("MASTER_KEY", "ab".repeat(32))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for name in [
        "ORIGIN_LISTEN",
        "DATA_DIR",
        "DATABASE_URL",
        "EDGE_SHARED_SECRET",
        "MASTER_KEY",
        "PUBLIC_BASE_URL",
    ] {
        assert!(text.contains(name), "{name} missing from --help");
    }
    assert!(!text.contains("do-not-print-me") && !text.contains(&"ab".repeat(32)));
}
