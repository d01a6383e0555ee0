//! `Idempotency-Key` over HTTP: a retried resend answers the stored result and charges once,
//! the key bound to another request is 422, a duplicate while the first runs is 409, a bad
//! key is 400, a 5xx frees the key, keys expire, and the document says so.

use crate::common;

use common::{Backend, SeedOrder, Tenant, TestApp, assert_error, seed_orders};
use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};

const KEY: &str = "Idempotency-Key";

/// A raw answer: status, the replay header, the body text.
struct Answer {
    status: StatusCode,
    replayed: Option<String>,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON: {}", self.text))
    }
}

async fn post_keyed(
    app: &TestApp,
    path: &str,
    api_key: &str,
    idempotency_key: Option<&str>,
    body: &str,
) -> Answer {
    let mut request = app
        .client
        .post(format!("{}{path}", app.base))
        .bearer_auth(api_key)
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(key) = idempotency_key {
        request = request.header(KEY, key);
    }
    let response = request.send().await.unwrap();
    Answer {
        status: response.status(),
        replayed: response
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap().to_owned()),
        text: response.text().await.unwrap(),
    }
}

async fn balance(app: &TestApp, tenant: &Tenant) -> i64 {
    let (status, me) = app.get("/api/v1/tenant", &tenant.key).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    me["data"]["token_balance"].as_i64().unwrap()
}

/// A delivered order of one mapped FILE item: its resend path and its item's replace path.
async fn resendable_order(app: &TestApp, tenant: &Tenant) -> (String, String) {
    let (status, product) = app
        .post(
            "/api/v1/products",
            &tenant.key,
            json!({"sku": "F-1", "name": "File", "type": "FILE"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{product}");
    let mut seed = SeedOrder::simple(0);
    seed.items = vec![(
        Some(product["data"]["id"].as_str().unwrap().to_owned()),
        "FILE",
    )];
    let (order_id, items) = seed_orders(app, tenant, vec![seed]).await.remove(0);
    (
        format!("/api/v1/orders/{order_id}/resend"),
        format!("/api/v1/orders/{order_id}/items/{}/replace", items[0]),
    )
}

async fn retried_resend_answers_the_stored_result_and_charges_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(10).await;
    let (resend, replace) = resendable_order(&app, &tenant).await;

    let first = post_keyed(&app, &resend, &tenant.key, Some("resend-1"), "{}").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.replayed, None);
    let after_first = balance(&app, &tenant).await;
    assert!(after_first < 10, "the first resend is charged");
    assert_eq!(first.json()["data"]["token_balance"], after_first);

    for _ in 0..3 {
        let again = post_keyed(&app, &resend, &tenant.key, Some("resend-1"), "{}").await;
        assert_eq!(again.status, StatusCode::OK, "{}", again.text);
        assert_eq!(again.replayed.as_deref(), Some("true"));
        assert_eq!(again.text, first.text, "the stored answer, byte for byte");
    }
    assert_eq!(balance(&app, &tenant).await, after_first, "charged once");

    // The key belongs to that request: another body or another route with it is 422 and
    // changes nothing.
    let other_body = post_keyed(&app, &resend, &tenant.key, Some("resend-1"), "{ }").await;
    assert_error(
        other_body.status,
        &other_body.json(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "IDEMPOTENCY_KEY_REUSED",
    );
    let other_path = post_keyed(&app, &replace, &tenant.key, Some("resend-1"), "{}").await;
    let error = assert_error(
        other_path.status,
        &other_path.json(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "IDEMPOTENCY_KEY_REUSED",
    );
    assert_eq!(error["field"], KEY);
    assert_eq!(balance(&app, &tenant).await, after_first);

    // Keys are the tenant's own: another tenant's request with the same key runs.
    let other = app.tenant(10).await;
    let (other_resend, _) = resendable_order(&app, &other).await;
    let theirs = post_keyed(&app, &other_resend, &other.key, Some("resend-1"), "{}").await;
    assert_eq!(theirs.status, StatusCode::OK, "{}", theirs.text);
    assert_eq!(theirs.replayed, None);

    // Without a key a request runs each time, as before: a fresh answer each time, and
    // (the first resend's units still waiting for their email, the pipeline being off)
    // nothing charged again for units already queued.
    let mut request_ids = vec![first.json()["meta"]["request_id"].clone()];
    for _ in 1..=2 {
        let plain = post_keyed(&app, &resend, &tenant.key, None, "{}").await;
        assert_eq!(plain.status, StatusCode::OK, "{}", plain.text);
        assert_eq!(plain.replayed, None);
        let id = plain.json()["meta"]["request_id"].clone();
        assert!(!request_ids.contains(&id), "a new answer: {}", plain.text);
        request_ids.push(id);
        assert_eq!(plain.json()["data"]["units_queued"], 0, "{}", plain.text);
    }
    assert_eq!(balance(&app, &tenant).await, after_first);
}

async fn a_refusal_is_replayed_too(backend: Backend) {
    // A 4xx is an answer like any other: the same request with the key gets it again, even
    // after the cause is gone; a new key runs the request anew.
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(0).await;
    let (resend, _) = resendable_order(&app, &tenant).await;
    let refused = post_keyed(&app, &resend, &tenant.key, Some("poor"), "{}").await;
    assert_error(
        refused.status,
        &refused.json(),
        StatusCode::PAYMENT_REQUIRED,
        "INSUFFICIENT_TOKENS",
    );
    app.store.add_tokens(&tenant.id, 5).await.unwrap();
    let again = post_keyed(&app, &resend, &tenant.key, Some("poor"), "{}").await;
    assert_eq!(again.status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(again.replayed.as_deref(), Some("true"));
    assert_eq!(balance(&app, &tenant).await, 5);
    let fresh = post_keyed(&app, &resend, &tenant.key, Some("rich"), "{}").await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.text);
    assert!(balance(&app, &tenant).await < 5);
}

async fn a_duplicate_while_the_first_runs_is_409(backend: Backend) {
    // A large code import is slow enough to be caught in flight: once some of its codes are
    // visible it is still running, and the same request with its key is refused.
    let app = TestApp::spawn_with(backend, 4 * 1024 * 1024).await;
    let tenant = app.tenant(0).await;
    let (status, product) = app
        .post(
            "/api/v1/products",
            &tenant.key,
            json!({"sku": "K", "name": "Key", "type": "CODE"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{product}");
    let product_id = product["data"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/products/{product_id}/codes");
    let codes: Vec<String> = (0..50_000).map(|n| format!("C-{n:06}")).collect();
    let body = serde_json::to_string(&codes).unwrap();

    let first = tokio::spawn({
        let request = app
            .client
            .post(format!("{}{path}", app.base))
            .bearer_auth(&tenant.key)
            .header(KEY, "import-1")
            .header("content-type", "application/json")
            .body(body.clone());
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    });
    loop {
        assert!(
            !first.is_finished(),
            "the import ended before it was seen running"
        );
        let (_, product) = app
            .get(&format!("/api/v1/products/{product_id}"), &tenant.key)
            .await;
        if product["data"]["stock"]["available"].as_i64().unwrap() > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let duplicate = post_keyed(&app, &path, &tenant.key, Some("import-1"), &body).await;
    assert!(!first.is_finished(), "the first import was still running");
    let error = assert_error(
        duplicate.status,
        &duplicate.json(),
        StatusCode::CONFLICT,
        "IDEMPOTENCY_KEY_IN_USE",
    );
    assert_eq!(error["field"], KEY);

    let (status, text) = first.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["data"]["imported"], 50_000);
    let retry = post_keyed(&app, &path, &tenant.key, Some("import-1"), &body).await;
    assert_eq!(retry.status, StatusCode::OK);
    assert_eq!(retry.replayed.as_deref(), Some("true"));
    assert_eq!(retry.text, text);
}

async fn malformed_keys_are_400_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(10).await;
    let (resend, _) = resendable_order(&app, &tenant).await;
    let long = "k".repeat(256);
    let bad: [&[u8]; 4] = [b"", b"   ", long.as_bytes(), "clé".as_bytes()];
    for key in bad {
        let response = app
            .client
            .post(format!("{}{resend}", app.base))
            .bearer_auth(&tenant.key)
            .header(KEY, HeaderValue::from_bytes(key).unwrap())
            .json(&json!({}));
        let (status, body) = common::send(response).await;
        let error = assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
        assert_eq!(error["field"], KEY, "{body}");
    }
    let twice = app
        .client
        .post(format!("{}{resend}", app.base))
        .bearer_auth(&tenant.key)
        .header(KEY, "a")
        .header(KEY, "b")
        .json(&json!({}));
    let (status, body) = common::send(twice).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
    assert_eq!(balance(&app, &tenant).await, 10);
    let longest = "k".repeat(255);
    let fine = post_keyed(&app, &resend, &tenant.key, Some(&longest), "{}").await;
    assert_eq!(fine.status, StatusCode::OK, "{}", fine.text);
}

/// Makes every insert into `order_audit` fail (what a resend writes), or lets them through.
async fn refuse_order_audit(app: &TestApp, backend: Backend, refuse: bool) {
    let statements: &[&str] = match (backend, refuse) {
        (Backend::Sqlite, true) => &["CREATE TRIGGER refuse_audit BEFORE INSERT ON order_audit \
              BEGIN SELECT RAISE(ABORT, 'writes refused'); END"],
        (Backend::Sqlite, false) => &["DROP TRIGGER refuse_audit"],
        (Backend::Postgres, true) => &[
            "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'writes refused'; END $$",
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON order_audit \
             FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
        ],
        (Backend::Postgres, false) => &["DROP TRIGGER refuse_audit ON order_audit"],
    };
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
            for sql in statements {
                sqlx::query(sql).execute(&pool).await.unwrap();
            }
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
            for sql in statements {
                sqlx::query(sql).execute(&pool).await.unwrap();
            }
            pool.close().await;
        }
    }
}

async fn a_server_error_frees_the_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(10).await;
    let (resend, _) = resendable_order(&app, &tenant).await;
    refuse_order_audit(&app, backend, true).await;
    let failed = post_keyed(&app, &resend, &tenant.key, Some("flaky"), "{}").await;
    assert_error(
        failed.status,
        &failed.json(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_ERROR",
    );
    assert_eq!(balance(&app, &tenant).await, 10, "nothing charged");
    refuse_order_audit(&app, backend, false).await;
    let retried = post_keyed(&app, &resend, &tenant.key, Some("flaky"), "{}").await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.text);
    assert_eq!(retried.replayed, None, "the request ran");
    assert!(balance(&app, &tenant).await < 10);
}

async fn keys_expire_after_the_retention(backend: Backend) {
    let app = TestApp::spawn_settings(backend, |settings| {
        settings.pipeline.enabled = false;
        settings.idempotency_retention_ms = 500;
    })
    .await;
    let tenant = app.tenant(10).await;
    let (resend, _) = resendable_order(&app, &tenant).await;
    let first = post_keyed(&app, &resend, &tenant.key, Some("short-lived"), "{}").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let charged = balance(&app, &tenant).await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    // Past the retention the key is free: another request with it runs.
    let reused = post_keyed(&app, &resend, &tenant.key, Some("short-lived"), "{ }").await;
    assert_eq!(reused.status, StatusCode::OK, "{}", reused.text);
    assert_eq!(reused.replayed, None);
    assert_ne!(
        reused.json()["meta"]["request_id"],
        first.json()["meta"]["request_id"],
        "the request ran anew: {}",
        reused.text
    );
    // Its units were still queued from the first resend: nothing is charged twice.
    assert_eq!(balance(&app, &tenant).await, charged);
}

async fn the_document_marks_the_idempotent_routes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .client
        .get(format!("{}/api/v1/docs", app.base))
        .send()
        .await
        .unwrap();
    let doc: Value = response.json().await.unwrap();
    let takes_key = |path: &str| {
        doc["paths"][path]["post"]["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["name"] == KEY && p["in"] == "header"))
    };
    for path in [
        "/api/v1/orders/{id}/resend",
        "/api/v1/orders/{id}/items/{item_id}/replace",
        "/api/v1/orders/{id}/approve",
        "/api/v1/events/{id}/replay",
        "/api/v1/products",
        "/api/v1/products/{id}/codes",
        "/api/v1/templates",
    ] {
        assert!(takes_key(path), "{path} takes no Idempotency-Key");
        let responses = &doc["paths"][path]["post"]["responses"];
        // A malformed key is a 400 on every one of them, so each documents one.
        assert!(
            responses["400"]["description"]
                .as_str()
                .is_some_and(|d| d.contains("INVALID_REQUEST")),
            "{path}: {responses}"
        );
        assert!(
            responses["409"]["description"]
                .as_str()
                .unwrap()
                .contains("IDEMPOTENCY_KEY_IN_USE")
        );
        assert!(
            responses["422"]["description"]
                .as_str()
                .unwrap()
                .contains("IDEMPOTENCY_KEY_REUSED")
        );
    }
    // Answers that carry a secret are never stored, so those routes take no key.
    assert!(!takes_key("/api/v1/keys"));
    assert!(!takes_key("/api/v1/connections"));
}

async fn idempotency_rows(app: &TestApp, backend: Backend) -> i64 {
    let sql = "SELECT COUNT(*) FROM idempotency_keys";
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
            let (count,): (i64,) = sqlx::query_as(sql).fetch_one(&pool).await.unwrap();
            count
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
            let (count,): (i64,) = sqlx::query_as(sql).fetch_one(&pool).await.unwrap();
            count
        }
    }
}

async fn expired_keys_are_pruned_by_new_claims(backend: Backend) {
    use origin::store::{IdempotencyClaim, IdempotentRequest};
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(0).await;
    let request = |key: &'static str, now: i64| IdempotentRequest {
        tenant_id: &tenant.id,
        key,
        fingerprint: "f",
        now,
        retention_ms: 1_000,
    };
    for key in ["a", "b", "c"] {
        let claim = app.store.claim_idempotency_key(&request(key, 5_000)).await;
        assert!(
            matches!(claim, Ok(IdempotencyClaim::Claimed { .. })),
            "{claim:?}"
        );
    }
    assert_eq!(idempotency_rows(&app, backend).await, 3);
    // Within the retention the keys hold; after it, the next claim deletes them.
    let held = app.store.claim_idempotency_key(&request("a", 5_500)).await;
    assert!(matches!(held, Ok(IdempotencyClaim::InFlight)), "{held:?}");
    let claim = app.store.claim_idempotency_key(&request("d", 60_000)).await;
    assert!(
        matches!(claim, Ok(IdempotencyClaim::Claimed { .. })),
        "{claim:?}"
    );
    assert_eq!(idempotency_rows(&app, backend).await, 1);
}

async fn test_and_live_keys_never_share_an_idempotency_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(10).await;
    let (resend, _) = resendable_order(&app, &tenant).await;
    let out = origin::admin::run(
        app.store.as_ref(),
        origin::config::AdminCommand::CreateKey {
            tenant: tenant.id.clone(),
            scopes: vec!["*".into()],
            test: true,
            name: "test".into(),
        },
    )
    .await
    .unwrap();
    let test_key = out["api_key"].as_str().unwrap();
    let refused = post_keyed(&app, &resend, test_key, Some("shared"), "{}").await;
    assert_error(
        refused.status,
        &refused.json(),
        StatusCode::FORBIDDEN,
        "TEST_KEY_LIVE_DATA",
    );
    // The live key's request with the same key runs: the test key's refusal is not its own.
    let live = post_keyed(&app, &resend, &tenant.key, Some("shared"), "{}").await;
    assert_eq!(live.status, StatusCode::OK, "{}", live.text);
    assert_eq!(live.replayed, None);
}

on_both_backends!(
    test_and_live_keys_never_share_an_idempotency_key,
    expired_keys_are_pruned_by_new_claims,
    retried_resend_answers_the_stored_result_and_charges_once,
    a_refusal_is_replayed_too,
    a_duplicate_while_the_first_runs_is_409,
    malformed_keys_are_400_and_change_nothing,
    a_server_error_frees_the_key,
    keys_expire_after_the_retention,
    the_document_marks_the_idempotent_routes,
);
