//! Writers and the write gate over HTTP: a large code import goes in chunks that other
//! tenants' writes pass between, and a key whose last-use stamp cannot be written still
//! authenticates.

use crate::common;

use common::{Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Codes of the large import: enough chunks that one can be seen committed before the last.
const LARGE_IMPORT: usize = 50_000;

async fn code_product(app: &TestApp, key: &str) -> String {
    let (status, body) = app
        .post(
            "/api/v1/products",
            key,
            json!({"sku": "BIG", "name": "Licence", "type": "CODE"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"]["id"].as_str().unwrap().to_owned()
}

async fn available(app: &TestApp, key: &str, product: &str) -> i64 {
    let (status, body) = app.get(&format!("/api/v1/products/{product}"), key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["stock"]["available"].as_i64().unwrap()
}

async fn large_code_import_lets_other_writers_through(backend: Backend) {
    let app = TestApp::spawn_with(backend, 4 * 1024 * 1024).await;
    let seller = app.tenant(0).await;
    let other = app.tenant(0).await;
    let product = code_product(&app, &seller.key).await;
    let path = format!("/api/v1/products/{product}/codes");
    let code = |n: usize| format!("LIC-{n:06}");

    // 1,000 codes stored before, and 500 repeated inside the large request.
    let first: Vec<String> = (0..1_000).map(code).collect();
    let (status, body) = app.post(&path, &seller.key, json!(first)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut codes: Vec<String> = (0..LARGE_IMPORT).map(code).collect();
    codes.extend((5_000..5_500).map(code));

    let request = app
        .client
        .post(format!("{}{path}", app.base))
        .bearer_auth(&seller.key)
        .json(&codes);
    let import = tokio::spawn(common::send(request));

    // Once part of the import is visible, the import is between chunks: another tenant's
    // write answers while it goes on.
    loop {
        assert!(
            !import.is_finished(),
            "the import committed all at once: no chunk was visible before it ended"
        );
        if available(&app, &seller.key, &product).await > 1_000 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let (status, body) = app
        .post(
            "/api/v1/products",
            &other.key,
            json!({"sku": "OTHER", "name": "Other shop's product", "type": "FILE"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(
        !import.is_finished(),
        "another tenant's write waited for the whole import"
    );

    let (status, body) = import.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let received = LARGE_IMPORT + 500;
    assert_eq!(
        body["data"],
        json!({"received": received, "imported": LARGE_IMPORT - 1_000, "duplicates": 1_500,
               "stock": {"available": LARGE_IMPORT, "allocated": 0, "low_stock": false}})
    );

    // Importing the same codes again (what a client does after a failed import) stores none
    // twice: every code already committed counts as a duplicate.
    let (status, body) = app.post(&path, &seller.key, json!(codes)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["imported"], 0);
    assert_eq!(body["data"]["duplicates"], received);
    assert_eq!(
        available(&app, &seller.key, &product).await,
        LARGE_IMPORT as i64
    );
}

/// Makes every write of an API key's `last_used_at` fail, as a database that refuses writes
/// would: a trigger that aborts the update.
async fn refuse_key_touches(app: &TestApp, backend: Backend) {
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
            sqlx::query(
                "CREATE TRIGGER refuse_touch BEFORE UPDATE OF last_used_at ON api_keys \
                 BEGIN SELECT RAISE(ABORT, 'writes refused'); END",
            )
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
            sqlx::query(
                "CREATE FUNCTION refuse_touch() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'writes refused'; END $$",
            )
            .execute(&pool)
            .await
            .unwrap();
            sqlx::query(
                "CREATE TRIGGER refuse_touch BEFORE UPDATE OF last_used_at ON api_keys \
                 FOR EACH ROW EXECUTE FUNCTION refuse_touch()",
            )
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
    }
}

async fn failed_key_touch_still_answers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(7).await;
    refuse_key_touches(&app, backend).await;

    for _ in 0..2 {
        let (status, body) = app.get("/api/v1/tenant", &tenant.key).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["token_balance"], 7, "{body}");
    }
    let (status, keys) = app.get("/api/v1/keys", &tenant.key).await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    let stamps: Vec<&Value> = keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["last_used_at"])
        .collect();
    assert!(stamps.iter().all(|s| s.is_null()), "nothing was stamped");
}

on_both_backends!(
    large_code_import_lets_other_writers_through,
    failed_key_touch_still_answers,
);
