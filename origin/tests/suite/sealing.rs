//! Connection secrets sealed bound to their tenant and connection: a sealed value copied to
//! another row does not open there, and a value sealed before binding still opens and is
//! sealed bound on its next write.

use crate::common;

use common::{Backend, TestApp};
use origin::crypto::MasterKey;
use reqwest::StatusCode;
use serde_json::json;

async fn execute(app: &TestApp, sql: &str, binds: &[&str]) {
    macro_rules! run {
        ($pool:expr) => {{
            let pool = $pool;
            let mut query = sqlx::query(sql);
            for bind in binds {
                query = query.bind(*bind);
            }
            query.execute(&pool).await.unwrap();
        }};
    }
    if app.database_url.starts_with("postgres") {
        run!(sqlx::PgPool::connect(&app.database_url).await.unwrap())
    } else {
        run!(sqlx::SqlitePool::connect(&app.database_url).await.unwrap())
    }
}

async fn woo(app: &TestApp, key: &str, store: &str) -> String {
    let (status, made) = app
        .post(
            "/api/v1/connections",
            key,
            json!({"platform": "woocommerce", "store_url": store, "webhook_secret": format!("secret-of-{store}")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    made["data"]["id"].as_str().unwrap().to_owned()
}

async fn sealed_of(app: &TestApp, tenant: &str, id: &str) -> String {
    app.store
        .get_connection(tenant, id)
        .await
        .unwrap()
        .unwrap()
        .secrets_sealed
}

async fn a_sealed_value_moved_to_another_row_does_not_open(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(0).await;
    let a = woo(&app, &tenant.key, "https://a.example.com").await;
    let b = woo(&app, &tenant.key, "https://b.example.com").await;
    let sealed_a = sealed_of(&app, &tenant.id, &a).await;
    assert!(sealed_a.starts_with("v2."), "{sealed_a}");
    execute(
        &app,
        "UPDATE connections SET secrets_sealed = $1 WHERE id = $2",
        &[&sealed_a, &b],
    )
    .await;
    let (status, body) = app
        .get(&format!("/api/v1/connections/{b}"), &tenant.key)
        .await;
    common::assert_error(
        status,
        &body,
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_ERROR",
    );
    assert!(!body.to_string().contains("secret-of"), "{body}");
    let (status, _) = app
        .get(&format!("/api/v1/connections/{a}"), &tenant.key)
        .await;
    assert_eq!(status, StatusCode::OK, "the row it belongs to still opens");
}

async fn secrets_sealed_before_binding_open_and_are_rebound_on_write(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(0).await;
    let id = woo(&app, &tenant.key, "https://old.example.com").await;
    // As stored before secrets were bound: the test master key, no associated data.
    let master = MasterKey::from_hex(&"ab".repeat(32)).unwrap();
    let old = master.seal(br#"{"webhook_secret":"old-format-secret"}"#);
    execute(
        &app,
        "UPDATE connections SET secrets_sealed = $1 WHERE id = $2",
        &[&old, &id],
    )
    .await;
    let (status, got) = app
        .get(&format!("/api/v1/connections/{id}"), &tenant.key)
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["data"]["secrets_set"], json!(["webhook_secret"]));
    let (status, rotated) = app
        .post(
            &format!("/api/v1/connections/{id}/rotate-secret"),
            &tenant.key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let resealed = sealed_of(&app, &tenant.id, &id).await;
    assert!(resealed.starts_with("v2."), "{resealed}");
    let (status, got) = app
        .get(&format!("/api/v1/connections/{id}"), &tenant.key)
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(
        got["data"]["secrets_set"],
        json!(["webhook_secret", "previous_webhook_secret"])
    );
}

on_both_backends!(
    a_sealed_value_moved_to_another_row_does_not_open,
    secrets_sealed_before_binding_open_and_are_rebound_on_write,
);
