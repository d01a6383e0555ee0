//! One eBay user or Etsy shop is one connection, and the app-wide endpoints find it: the
//! internal route the edge asks which connection speaks for an eBay userId (known, unknown,
//! malformed), what the tenant's own edge config serves of a seller connected through eBay's
//! consent, connecting the same seller or shop again (the one connection re-authorised, no
//! second row) and one another tenant has connected (refused, `ACCOUNT_ALREADY_CONNECTED`).

use crate::common;
use crate::connect::{connections, return_page, visit};
use crate::connect_ebay::{app_with_ebay, come_back, consent};
use crate::connect_etsy::{etsy_app, start};

use common::{Backend, Tenant, TestApp};
use e2e::harness::fake_ebay::{FakeEbay, SELLER_TOKEN, SELLER_USER_ID};
use e2e::harness::fake_etsy::FakeEtsy;
use e2e::harness::fake_etsy::oauth::CONNECTED_SHOP_ID;
use reqwest::{Method, StatusCode};
use serde_json::json;
use shared::ebay::app::ebay_seller_route_path;
use shared::internal::{EdgeConfig, edge_config_path};

/// The seller of the fake eBay connected to `tenant` through eBay's consent: the page's status
/// and text.
async fn connect_seller(app: &TestApp, tenant: &Tenant) -> (StatusCode, String) {
    let location = consent(app, tenant, json!({})).await;
    come_back(app, &location).await
}

async fn deactivate(app: &TestApp, tenant: &Tenant, id: &str) {
    let path = format!("/api/v1/connections/{id}/deactivate");
    let (status, body) = app.post(&path, &tenant.key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn edge_config(app: &TestApp, tenant: &Tenant) -> EdgeConfig {
    let (status, body) = app
        .edge(Method::GET, &edge_config_path(&tenant.id), "")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body["data"].clone()).unwrap()
}

async fn the_edge_learns_which_connection_speaks_for_an_ebay_seller(backend: Backend) {
    let ebay = FakeEbay::start().await;
    let app = app_with_ebay(backend, &ebay).await;
    let tenant = app.tenant(0).await;
    let path = ebay_seller_route_path(SELLER_USER_ID);
    let (status, body) = app.edge(Method::GET, &path, "").await;
    common::assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");

    let (status, page) = connect_seller(&app, &tenant).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let connection = connections(&app, &tenant).await[0]["id"].clone();
    let (status, body) = app.edge(Method::GET, &path, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!({"tenant_id": tenant.id, "connection_id": connection, "active": true})
    );
    // Its notifications come to the app's endpoint: the tenant's own route serves none.
    assert_eq!(edge_config(&app, &tenant).await.ebay, None);

    for unknown in ["Zr8nobody42", "qp3mv8slktw"] {
        let (status, body) = app
            .edge(Method::GET, &ebay_seller_route_path(unknown), "")
            .await;
        common::assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let long = "a".repeat(65);
    for malformed in ["-Qp3mV8sLkTw", ".hidden", "a%20b", "a%2Fb", long.as_str()] {
        let (status, body) = app
            .edge(
                Method::GET,
                &format!("/internal/v1/ebay/sellers/{malformed}"),
                "",
            )
            .await;
        common::assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    // Without the edge signature: refused like every internal route.
    let response = reqwest::get(format!("{}{path}", app.origin)).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Deactivated, it is still the seller's route (the origin keeps what it sends, ignored).
    deactivate(&app, &tenant, connection.as_str().unwrap()).await;
    let (status, body) = app.edge(Method::GET, &path, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["connection_id"], connection);
    assert_eq!(body["data"]["active"], false);
}

async fn connecting_the_same_ebay_seller_again_reauthorises_its_connection(backend: Backend) {
    let ebay = FakeEbay::start().await;
    let app = app_with_ebay(backend, &ebay).await;
    let tenant = app.tenant(0).await;
    let (status, page) = connect_seller(&app, &tenant).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let first = connections(&app, &tenant).await[0].clone();
    let id = first["id"].as_str().unwrap();
    deactivate(&app, &tenant, id).await;

    // A new connect (naming no connection) of the same seller: the same connection, active.
    let (status, page) = connect_seller(&app, &tenant).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let now = connections(&app, &tenant).await;
    assert_eq!(now.len(), 1, "no second connection: {now:?}");
    assert_eq!(now[0]["id"], id);
    assert_eq!(now[0]["status"], "active");
    assert_eq!(now[0]["account_id"], SELLER_USER_ID);
    assert_eq!(
        ebay.consents().exchanges().len(),
        2,
        "new tokens were granted"
    );
    let row = app
        .store
        .get_connection(&tenant.id, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.tokens.token_generation, 2, "the tokens were replaced");

    // The seller pasted by hand as well: the database holds one active connection per seller.
    let (status, body) = app
        .post(
            "/api/v1/connections",
            &tenant.key,
            json!({"platform": "ebay", "verification_token": "v".repeat(40), "access_token": SELLER_TOKEN}),
        )
        .await;
    let error = common::assert_error(
        status,
        &body,
        StatusCode::CONFLICT,
        "ACCOUNT_ALREADY_CONNECTED",
    );
    assert!(
        error["hint"].as_str().unwrap().contains("re-authorise"),
        "{error}"
    );
    assert_eq!(connections(&app, &tenant).await.len(), 1);
}

async fn an_ebay_seller_another_tenant_connected_is_refused(backend: Backend) {
    let ebay = FakeEbay::start().await;
    let app = app_with_ebay(backend, &ebay).await;
    let (first, second) = (app.tenant(0).await, app.tenant(0).await);
    let (status, page) = connect_seller(&app, &first).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let held = connections(&app, &first).await[0].clone();

    let (status, page) = connect_seller(&app, &second).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(
        page.contains("already connected to another YourSender account"),
        "{page}"
    );
    assert!(page.contains("ACCOUNT_ALREADY_CONNECTED"), "{page}");
    assert!(connections(&app, &second).await.is_empty());
    assert_eq!(connections(&app, &first).await, vec![held.clone()]);
    assert_eq!(
        ebay.consents().subscriptions().len(),
        1,
        "not subscribed again"
    );
    let (_, route) = app
        .edge(Method::GET, &ebay_seller_route_path(SELLER_USER_ID), "")
        .await;
    assert_eq!(route["data"]["tenant_id"], first.id);

    // Let go by the first tenant, the seller may move.
    let id = held["id"].as_str().unwrap();
    deactivate(&app, &first, id).await;
    let (status, page) = connect_seller(&app, &second).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let (_, route) = app
        .edge(Method::GET, &ebay_seller_route_path(SELLER_USER_ID), "")
        .await;
    assert_eq!(route["data"]["tenant_id"], second.id);
    assert_eq!(route["data"]["active"], true);
}

async fn an_etsy_shop_is_one_connection(backend: Backend) {
    let etsy = FakeEtsy::start().await;
    let app = etsy_app(backend, &etsy).await;
    let (first, second) = (app.tenant(0).await, app.tenant(0).await);
    let connect = async |tenant: &Tenant| {
        let (url, _) = start(&app, tenant, json!({})).await;
        let location = visit(&url).await.expect("Etsy sends the seller back");
        return_page(&app, &location).await
    };
    let (status, page) = connect(&first).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let id = connections(&app, &first).await[0]["id"].clone();

    // The same shop again in the same tenant: re-authorised, no second row.
    let (status, page) = connect(&first).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let now = connections(&app, &first).await;
    assert_eq!(now.len(), 1, "{now:?}");
    assert_eq!(now[0]["id"], id);

    // Another tenant: refused, nothing made there.
    let (status, page) = connect(&second).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(
        page.contains(&format!(
            "Etsy shop {CONNECTED_SHOP_ID} is already connected"
        )),
        "{page}"
    );
    assert!(page.contains("ACCOUNT_ALREADY_CONNECTED"), "{page}");
    assert!(connections(&app, &second).await.is_empty());
    // Nor by hand.
    let (status, body) = app
        .post(
            "/api/v1/connections",
            &second.key,
            json!({"platform": "etsy", "shop_id": CONNECTED_SHOP_ID.to_string()}),
        )
        .await;
    common::assert_error(
        status,
        &body,
        StatusCode::CONFLICT,
        "ACCOUNT_ALREADY_CONNECTED",
    );
    assert!(connections(&app, &second).await.is_empty());
    assert_eq!(connections(&app, &first).await.len(), 1);
}

on_both_backends!(
    the_edge_learns_which_connection_speaks_for_an_ebay_seller,
    connecting_the_same_ebay_seller_again_reauthorises_its_connection,
    an_ebay_seller_another_tenant_connected_is_refused,
    an_etsy_shop_is_one_connection,
);
