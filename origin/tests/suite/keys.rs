//! What a key may do to keys and live data, through the API: it hands out, rotates and
//! revokes only what it holds, a test key touches neither live keys nor live data, an expired
//! key stays dead, the tenant's key count is capped, and every key operation is in the
//! audit log (never a secret).

use crate::common;

use common::{Backend, Tenant, TestApp, assert_error};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Creates a key through the API with `caller`; answers its secret and id.
async fn create(app: &TestApp, caller: &str, body: Value) -> (String, String) {
    let (status, created) = app.post("/api/v1/keys", caller, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (
        created["data"]["secret"].as_str().unwrap().to_owned(),
        created["data"]["id"].as_str().unwrap().to_owned(),
    )
}

/// Rotates key `id` with `caller`.
async fn rotate(app: &TestApp, caller: &str, id: &str) -> (StatusCode, Value) {
    app.post(&format!("/api/v1/keys/{id}/rotate"), caller, json!({}))
        .await
}

/// Revokes key `id` with `caller`.
async fn revoke(app: &TestApp, caller: &str, id: &str) -> (StatusCode, Value) {
    app.call(Method::DELETE, &format!("/api/v1/keys/{id}"), caller, None)
        .await
}

/// The tenant's keys as listed (no more than 100).
async fn listed_keys(app: &TestApp, tenant: &Tenant) -> Vec<Value> {
    let (status, list) = app.get("/api/v1/keys?limit=100", &tenant.key).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["data"].as_array().unwrap().clone()
}

/// The id of the tenant's first key (the CLI's, holding every scope).
async fn first_key_id(app: &TestApp, tenant: &Tenant) -> String {
    let keys = listed_keys(app, tenant).await;
    keys.last().unwrap()["id"].as_str().unwrap().to_owned()
}

async fn a_keys_write_key_cannot_hand_out_every_scope_or_a_scope_it_lacks(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.tenant(0).await;
    let (keys_writer, _) = create(&app, &t.key, json!({"scopes": ["keys:write"]})).await;
    let before = listed_keys(&app, &t).await.len();

    for scopes in [json!(["*"]), json!(["keys:write", "orders:read"])] {
        let (status, body) = app
            .post("/api/v1/keys", &keys_writer, json!({ "scopes": scopes }))
            .await;
        let error = assert_error(status, &body, StatusCode::FORBIDDEN, "SCOPE_ESCALATION");
        assert!(error["hint"].is_string(), "{body}");
    }
    // An empty list no longer means every scope.
    let (status, body) = app
        .post("/api/v1/keys", &keys_writer, json!({"scopes": []}))
        .await;
    let error = assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(error["field"], "scopes");
    assert_eq!(
        listed_keys(&app, &t).await.len(),
        before,
        "nothing was made"
    );

    let (_, _) = create(&app, &keys_writer, json!({"scopes": ["keys:write"]})).await;
    let (everything, _) = create(&app, &t.key, json!({"scopes": ["*"]})).await;
    let (status, body) = app.get("/api/v1/alerts", &everything).await;
    assert_eq!(status, StatusCode::OK, "a * key holds every scope: {body}");
}

async fn a_key_stored_with_no_scopes_keeps_every_scope(backend: Backend) {
    use origin::domain::keys::make_key;
    use origin::domain::scopes::Grant;
    use origin::store::{ApiKeyRow, KeyChange};

    // As an origin from before `*` stores a key that holds every scope.
    let app = TestApp::spawn(backend).await;
    let t = app.tenant(0).await;
    let (mut legacy, secret) = ApiKeyRow::minted(
        &t.id,
        "legacy",
        make_key(&Grant::Every, shared::apikey::KeyEnvironment::Live),
    );
    legacy.scopes = String::new();
    let change = KeyChange::by_operator(origin::ids::now_ms());
    app.store.insert_api_key(&legacy, &change).await.unwrap();

    let (status, body) = app.get("/api/v1/alerts", &secret).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, minted) = create(&app, &secret, json!({"scopes": ["*"]})).await;
    assert!(!minted.is_empty());
    let listed = listed_keys(&app, &t).await;
    let shown = listed
        .iter()
        .find(|k| k["id"] == legacy.id.as_str())
        .unwrap();
    assert_eq!(shown["scopes"], json!(["*"]));
}

async fn a_narrower_key_cannot_rotate_or_revoke_a_broader_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.tenant(0).await;
    let root = first_key_id(&app, &t).await;
    let (keys_writer, keys_writer_id) =
        create(&app, &t.key, json!({"scopes": ["keys:write"]})).await;
    let (_, reader_id) = create(&app, &t.key, json!({"scopes": ["orders:read"]})).await;

    for target in [&root, &reader_id] {
        let (status, body) = rotate(&app, &keys_writer, target).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "SCOPE_ESCALATION");
        let (status, body) = revoke(&app, &keys_writer, target).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "SCOPE_ESCALATION");
    }
    let keys = listed_keys(&app, &t).await;
    assert_eq!(keys.len(), 3, "no key was made: {keys:?}");
    assert!(
        keys.iter()
            .all(|k| k["expires_at"].is_null() && k["revoked_at"].is_null()),
        "{keys:?}"
    );
    let (status, _) = app.get("/api/v1/orders", &t.key).await;
    assert_eq!(status, StatusCode::OK);

    // A key may rotate a key it covers, itself included.
    let (status, body) = rotate(&app, &keys_writer, &keys_writer_id).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["scopes"], json!(["keys:write"]));
}

async fn a_test_key_cannot_mint_or_act_on_live_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.tenant(0).await;
    let root = first_key_id(&app, &t).await;
    let (test_key, _) = create(
        &app,
        &t.key,
        json!({"scopes": ["*"], "environment": "test"}),
    )
    .await;
    assert!(test_key.starts_with("ys_test_"));

    for body in [
        json!({"scopes": ["keys:read"], "environment": "live"}),
        json!({"scopes": ["keys:read"]}),
    ] {
        let (status, answer) = app.post("/api/v1/keys", &test_key, body).await;
        assert_error(
            status,
            &answer,
            StatusCode::FORBIDDEN,
            "ENVIRONMENT_ESCALATION",
        );
    }
    let (status, body) = rotate(&app, &test_key, &root).await;
    assert_error(
        status,
        &body,
        StatusCode::FORBIDDEN,
        "ENVIRONMENT_ESCALATION",
    );
    let (status, body) = revoke(&app, &test_key, &root).await;
    assert_error(
        status,
        &body,
        StatusCode::FORBIDDEN,
        "ENVIRONMENT_ESCALATION",
    );
    assert!(
        listed_keys(&app, &t)
            .await
            .iter()
            .all(|k| k["environment"] == "test" || k["id"] == root.as_str()),
        "no live key was made"
    );

    // Test keys may still manage test keys.
    let (minted, minted_id) = create(
        &app,
        &test_key,
        json!({"scopes": ["keys:read"], "environment": "test"}),
    )
    .await;
    assert!(minted.starts_with("ys_test_"));
    let (status, body) = rotate(&app, &test_key, &minted_id).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(
        body["data"]["secret"]
            .as_str()
            .unwrap()
            .starts_with("ys_test_")
    );
}

async fn an_expired_key_cannot_be_rotated_back_to_life(backend: Backend) {
    use origin::domain::keys::make_key;
    use origin::domain::scopes::Grant;
    use origin::store::{ApiKeyRow, KeyChange, KeyWrite};

    let app = TestApp::spawn(backend).await;
    let t = app.tenant(0).await;
    let (old_secret, old_id) = create(&app, &t.key, json!({"scopes": ["orders:read"]})).await;
    // Rotated with a grace period already over: the old key has expired.
    let now = origin::ids::now_ms();
    let (successor, _) = ApiKeyRow::minted(
        &t.id,
        "successor",
        make_key(
            &Grant::parse(&["orders:read"]).unwrap(),
            shared::apikey::KeyEnvironment::Live,
        ),
    );
    let rotated = app
        .store
        .rotate_api_key(
            &t.id,
            &old_id,
            &successor,
            now - 1,
            &KeyChange::by_operator(now),
        )
        .await
        .unwrap();
    assert!(matches!(rotated, KeyWrite::Done(_)));
    let (status, body) = app.get("/api/v1/orders", &old_secret).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    let keys_before = listed_keys(&app, &t).await.len();
    let (status, body) = rotate(&app, &t.key, &old_id).await;
    let error = assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
    assert!(
        error["message"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    assert_eq!(listed_keys(&app, &t).await.len(), keys_before);
    let (status, body) = app.get("/api/v1/orders", &old_secret).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}

async fn the_audit_log_lists_every_key_operation_and_no_secret(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.tenant(0).await;
    let root = first_key_id(&app, &t).await;
    let (keys_writer, keys_writer_id) =
        create(&app, &t.key, json!({"scopes": ["keys:write", "keys:read"]})).await;
    let (_, rotated) = rotate(&app, &t.key, &keys_writer_id).await;
    let rotated_secret = rotated["data"]["secret"].as_str().unwrap().to_owned();
    let rotated_id = rotated["data"]["id"].as_str().unwrap().to_owned();
    let (status, _) = revoke(&app, &t.key, &keys_writer_id).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post("/api/v1/keys", &rotated_secret, json!({"scopes": ["*"]}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, page) = app.get("/api/v1/audit-log", &rotated_secret).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let entries = page["data"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "key.refused",
            "key.revoked",
            "key.rotated",
            "key.created",
            "key.created"
        ],
        "newest first: {page}"
    );
    let [refused, revoked, rotation, created, first] = &entries[..] else {
        unreachable!()
    };
    assert_eq!(refused["actor_key_id"], rotated_id.as_str());
    assert_eq!(refused["reason"], "SCOPE_ESCALATION");
    assert_eq!(refused["scopes"], json!(["*"]));
    assert!(
        refused["key_id"].is_null(),
        "the refused key was never made"
    );
    assert_eq!(revoked["key_id"], keys_writer_id.as_str());
    assert_eq!(revoked["actor_key_id"], root.as_str());
    assert_eq!(rotation["key_id"], rotated_id.as_str());
    assert!(
        rotation["detail"]
            .as_str()
            .unwrap()
            .contains(&keys_writer_id),
        "{rotation}"
    );
    assert_eq!(created["key_id"], keys_writer_id.as_str());
    assert_eq!(created["scopes"], json!(["keys:write", "keys:read"]));
    assert_eq!(first["key_id"], root.as_str());
    assert!(
        first["actor_key_id"].is_null(),
        "the operator made it: {first}"
    );
    assert_eq!(first["scopes"], json!(["*"]));

    let text = page.to_string();
    for secret in [&t.key, &keys_writer, &rotated_secret] {
        assert!(!text.contains(secret.as_str()), "a secret in the audit log");
    }
    let (ids, pages) = common::all_pages(&app, &t.key, "/api/v1/audit-log?limit=2").await;
    assert_eq!((ids.len(), pages), (5, 3));

    let other = app.tenant(0).await;
    let (_, theirs) = app.get("/api/v1/audit-log", &other.key).await;
    assert_eq!(theirs["data"].as_array().unwrap().len(), 1, "{theirs}");
    let reader = app.key_with_scopes(&t, &["orders:read"]).await;
    let (status, body) = app.get("/api/v1/audit-log", &reader).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
}

async fn a_test_key_is_refused_on_every_live_data_route(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.tenant(5).await;
    let orders = common::seed_orders(&app, &t, vec![common::SeedOrder::simple(1)]).await;
    let order = &orders[0].0;
    let (test_key, _) = create(
        &app,
        &t.key,
        json!({"scopes": ["*"], "environment": "test"}),
    )
    .await;

    let families: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/v1/orders/{order}"), None),
        (Method::POST, format!("/api/v1/orders/{order}/resend"), None),
        (Method::GET, "/api/v1/products".into(), None),
        (
            Method::POST,
            "/api/v1/products/prd_x/codes".into(),
            Some(json!(["CODE-1"])),
        ),
        (
            Method::POST,
            "/api/v1/products/prd_x/files".into(),
            Some(json!({"filename": "a.pdf"})),
        ),
        (Method::GET, "/api/v1/templates".into(), None),
        (
            Method::POST,
            "/api/v1/connections".into(),
            Some(json!({"platform": "etsy", "shop_id": "1"})),
        ),
        (Method::GET, "/api/v1/events".into(), None),
        (Method::GET, "/api/v1/alerts".into(), None),
    ];
    for (method, path, body) in families {
        let (status, answer) = app.call(method.clone(), &path, &test_key, body).await;
        assert_error(status, &answer, StatusCode::FORBIDDEN, "TEST_KEY_LIVE_DATA");
        assert!(
            !answer.to_string().contains("buyer1@example.net"),
            "{method} {path}: {answer}"
        );
    }
    let (_, me) = app.get("/api/v1/tenant", &t.key).await;
    assert_eq!(me["data"]["token_balance"], 5, "the resend spent nothing");
    let (_, connections) = app.get("/api/v1/connections", &t.key).await;
    assert_eq!(connections["data"], json!([]), "no connection was made");

    // Not live data: who the key belongs to, and the keys and their audit log.
    for path in ["/api/v1/tenant", "/api/v1/keys", "/api/v1/audit-log"] {
        let (status, body) = app.get(path, &test_key).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
}

async fn a_tenant_cannot_hold_more_usable_keys_than_the_cap(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.tenant(0).await;
    let cap = origin::config::DEFAULT_MAX_KEYS_PER_TENANT;
    let mut last = String::new();
    for _ in 1..cap {
        last = create(&app, &t.key, json!({"scopes": ["orders:read"]}))
            .await
            .1;
    }
    let (status, body) = app
        .post("/api/v1/keys", &t.key, json!({"scopes": ["orders:read"]}))
        .await;
    let error = assert_error(status, &body, StatusCode::CONFLICT, "KEY_LIMIT_REACHED");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains(&cap.to_string()),
        "{body}"
    );
    // A rotation keeps the old key usable for a day, so it needs a slot too.
    let (status, body) = rotate(&app, &t.key, &last).await;
    assert_error(status, &body, StatusCode::CONFLICT, "KEY_LIMIT_REACHED");
    let (status, page) = app.get("/api/v1/audit-log?limit=1", &t.key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["data"][0]["reason"], "KEY_LIMIT_REACHED", "{page}");
    let (ids, _) = common::all_pages(&app, &t.key, "/api/v1/keys?limit=100").await;
    assert_eq!(ids.len() as i64, cap);

    // A revoked key frees its slot.
    let (status, _) = revoke(&app, &t.key, &last).await;
    assert_eq!(status, StatusCode::OK);
    create(&app, &t.key, json!({"scopes": ["orders:read"]})).await;
}

on_both_backends!(
    a_key_stored_with_no_scopes_keeps_every_scope,
    a_keys_write_key_cannot_hand_out_every_scope_or_a_scope_it_lacks,
    a_narrower_key_cannot_rotate_or_revoke_a_broader_one,
    a_test_key_cannot_mint_or_act_on_live_keys,
    an_expired_key_cannot_be_rotated_back_to_life,
    the_audit_log_lists_every_key_operation_and_no_secret,
    a_test_key_is_refused_on_every_live_data_route,
    a_tenant_cannot_hold_more_usable_keys_than_the_cap,
);
