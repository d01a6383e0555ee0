//! The listing pickers (`GET /api/v1/connections/{id}/listings`) against the platform fakes:
//! each platform's listings page by page to the end with the cursor, searched, each entry
//! saying which product its orders go to. Refusals and picking are in `listings_refusals`.

use crate::common;

use common::{Backend, Tenant, TestApp, all_pages};
use e2e::harness::fake_ebay::{self, FakeEbay};
use e2e::harness::fake_ebay_trading::TradingItem;
use e2e::harness::fake_etsy::{self, FakeEtsy};
use e2e::harness::fake_etsy_listings as etsy_shop;
use e2e::harness::fake_woocommerce::{self, FakeWooCommerce};
use e2e::harness::fake_woocommerce_products::{product, variation};
use reqwest::StatusCode;
use serde_json::{Value, json};

pub(crate) const SHOP_ID: &str = "12345678";

/// An app (no pipeline) whose eBay and Etsy calls go to the fakes.
pub(crate) async fn spawn(backend: Backend, ebay: &FakeEbay, etsy: &FakeEtsy) -> TestApp {
    let (ebay_base, etsy_base) = (ebay.base_url.clone(), etsy.base_url.clone());
    TestApp::spawn_configured(backend, 64 * 1024, |p| {
        p.enabled = false;
        p.ebay_api_base_url = ebay_base;
        p.etsy_api_base_url = etsy_base;
        p.etsy_api_key = Some(fake_etsy::KEYSTRING.into());
        p.etsy_shared_secret = Some(fake_etsy::SHARED_SECRET.into());
    })
    .await
}

pub(crate) async fn connect(app: &TestApp, tenant: &Tenant, body: Value) -> String {
    let (status, body) = app.post("/api/v1/connections", &tenant.key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"]["id"].as_str().unwrap().to_owned()
}

pub(crate) async fn woo_connection(
    app: &TestApp,
    tenant: &Tenant,
    store: &FakeWooCommerce,
) -> String {
    connect(
        app,
        tenant,
        json!({"platform": "woocommerce", "store_url": store.base_url,
               "consumer_key": fake_woocommerce::CONSUMER_KEY,
               "consumer_secret": fake_woocommerce::CONSUMER_SECRET}),
    )
    .await
}

/// A product mapped by `mappings` (typed) and `listing_ids` (picked): its id.
pub(crate) async fn product_mapped(
    app: &TestApp,
    tenant: &Tenant,
    sku: &str,
    mapping: Value,
) -> String {
    let (status, body) = app
        .post(
            "/api/v1/products",
            &tenant.key,
            json!({"sku": sku, "name": format!("Product {sku}"), "type": "FILE"})
                .as_object()
                .unwrap()
                .clone()
                .into_iter()
                .chain(mapping.as_object().unwrap().clone())
                .collect(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"]["id"].as_str().unwrap().to_owned()
}

pub(crate) fn listings_path(connection: &str, query: &str) -> String {
    format!("/api/v1/connections/{connection}/listings?{query}")
}

async fn woocommerce_lists_pages_searches_and_says_mapped(backend: Backend) {
    let (ebay, etsy) = (FakeEbay::start().await, FakeEtsy::start().await);
    let app = spawn(backend, &ebay, &etsy).await;
    let tenant = app.tenant(10).await;
    let store = FakeWooCommerce::start().await;
    let catalog = &store.catalog;
    catalog.put_product(product(601, "Alpha eBook", "ALPHA"));
    catalog.put_product(product(602, "Beta Plugin", "BETA"));
    catalog.put_variation(602, variation(6021, "BETA-1", &[("Sites", "1")]));
    catalog.put_variation(602, variation(6022, "BETA-5", &[("Sites", "5")]));
    catalog.put_product(product(603, "Gamma Course", ""));
    catalog.put_product(product(604, "Delta Fonts", "DELTA"));
    catalog.put_product(product(605, "Epsilon Theme", "EPS"));
    let mut draft = product(606, "Aardvark Draft", "DRAFT");
    draft["status"] = "draft".into();
    catalog.put_product(draft);
    let connection = woo_connection(&app, &tenant, &store).await;
    let alpha = product_mapped(
        &app,
        &tenant,
        "P-ALPHA",
        json!({"mappings": {"woocommerce_product_id": 601}}),
    )
    .await;
    let beta5 = product_mapped(
        &app,
        &tenant,
        "P-BETA5",
        json!({"listing_ids": ["woocommerce:602:6022"]}),
    )
    .await;

    let (ids, pages) = all_pages(&app, &tenant.key, &listings_path(&connection, "limit=2")).await;
    assert_eq!(
        ids,
        [
            "woocommerce:601",
            "woocommerce:602",
            "woocommerce:604",
            "woocommerce:605",
            "woocommerce:603"
        ],
        "published products by name, the draft left out"
    );
    assert_eq!(pages, 3);

    let (status, body) = app
        .get(&listings_path(&connection, "limit=2"), &tenant.key)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let first = &body["data"][0];
    assert_eq!(first["title"], "Alpha eBook");
    assert_eq!(first["sku"], "ALPHA");
    assert_eq!(first["mapping"]["woocommerce_product_id"], 601);
    assert_eq!(first["mapped"], true);
    assert_eq!(first["mapped_to"]["id"], alpha.as_str());
    assert_eq!(first["mapped_to"]["sku"], "P-ALPHA");
    let beta = &body["data"][1];
    assert_eq!(
        beta["mapped"], false,
        "only one variation is mapped: {beta}"
    );
    assert_eq!(beta["mapped_to"], Value::Null);
    let variations = beta["variations"].as_array().unwrap();
    assert_eq!(variations.len(), 2);
    assert_eq!(variations[0]["id"], "woocommerce:602:6021");
    assert_eq!(variations[0]["sku"], "BETA-1");
    assert_eq!(
        variations[0]["attributes"],
        json!([{"name": "Sites", "value": "1"}])
    );
    assert_eq!(variations[0]["mapped"], false);
    assert_eq!(variations[1]["mapping"]["woocommerce_variation_id"], 6022);
    assert_eq!(variations[1]["mapped_to"]["id"], beta5.as_str());

    let (status, body) = app
        .get(&listings_path(&connection, "q=Plugin"), &tenant.key)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let found: Vec<&Value> = body["data"].as_array().unwrap().iter().collect();
    assert_eq!(found.len(), 1, "{body}");
    assert_eq!(found[0]["id"], "woocommerce:602");
    assert!(body["meta"]["next_cursor"].is_null(), "{body}");
    let asked = catalog.product_queries();
    assert!(
        asked
            .iter()
            .any(|q| q.contains("search=plugin") && q.contains("status=publish")),
        "the store searched: {asked:?}"
    );
}

pub(crate) fn ebay_items() -> Vec<TradingItem> {
    vec![
        TradingItem::new("110000000001", "Plugin licence", Some("PLUGIN"))
            .with_variation(Some("PLUGIN-1"), &[("Sites", "1")])
            .with_variation(None, &[("Sites", "5")]),
        TradingItem::new("110000000002", "Rust eBook", Some("EBOOK-RUST")),
        TradingItem::new("110000000003", "Video course", None),
        TradingItem::new("110000000004", "Go eBook & notes", Some("EBOOK-GO")),
        TradingItem::new("110000000005", "Zig eBook", Some("EBOOK-ZIG")),
    ]
}

async fn ebay_lists_pages_searches_and_says_mapped(backend: Backend) {
    let (ebay, etsy) = (FakeEbay::start().await, FakeEtsy::start().await);
    for item in ebay_items() {
        ebay.trading.put(item);
    }
    let app = spawn(backend, &ebay, &etsy).await;
    let tenant = app.tenant(10).await;
    let connection = connect(
        &app,
        &tenant,
        json!({"platform": "ebay", "verification_token": "v".repeat(40),
               "access_token": fake_ebay::SELLER_TOKEN}),
    )
    .await;
    let rust = product_mapped(
        &app,
        &tenant,
        "P-RUST",
        json!({"mappings": {"ebay_item_id": "110000000002"}}),
    )
    .await;
    let plugin1 = product_mapped(
        &app,
        &tenant,
        "P-PLUGIN1",
        json!({"listing_ids": ["ebay:110000000001:PLUGIN-1"]}),
    )
    .await;

    let (ids, pages) = all_pages(&app, &tenant.key, &listings_path(&connection, "limit=2")).await;
    let expected: Vec<String> = (1..=5).map(|n| format!("ebay:11000000000{n}")).collect();
    assert_eq!(ids, expected);
    assert_eq!(pages, 3);
    assert_eq!(
        ebay.trading.pages_requested(),
        [(2, 1), (2, 2), (2, 3)],
        "GetMyeBaySelling paged with EntriesPerPage and PageNumber"
    );

    let (status, body) = app
        .get(&listings_path(&connection, "limit=2"), &tenant.key)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let plugin = &body["data"][0];
    assert_eq!(plugin["title"], "Plugin licence");
    assert_eq!(plugin["mapped"], false, "{plugin}");
    let variations = plugin["variations"].as_array().unwrap();
    assert_eq!(variations[0]["id"], "ebay:110000000001:PLUGIN-1");
    assert_eq!(variations[0]["mapping"]["ebay_sku"], "PLUGIN-1");
    assert_eq!(variations[0]["mapped_to"]["id"], plugin1.as_str());
    assert_eq!(
        variations[1]["id"],
        Value::Null,
        "no SKU: not pickable alone"
    );
    assert_eq!(
        variations[1]["attributes"],
        json!([{"name": "Sites", "value": "5"}])
    );
    assert_eq!(variations[1]["mapped"], false);
    let rust_entry = &body["data"][1];
    assert_eq!(rust_entry["mapping"]["ebay_item_id"], "110000000002");
    assert_eq!(rust_entry["mapped_to"]["id"], rust.as_str());

    // Searched here, page after page of eBay's list: one match a page.
    let (ids, pages) = all_pages(
        &app,
        &tenant.key,
        &listings_path(&connection, "limit=1&q=ebook"),
    )
    .await;
    assert_eq!(
        ids,
        [
            "ebay:110000000002",
            "ebay:110000000004",
            "ebay:110000000005"
        ]
    );
    assert_eq!(pages, 3);
    let (_, body) = app
        .get(&listings_path(&connection, "q=plugin-1"), &tenant.key)
        .await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["data"][0]["id"], "ebay:110000000001");
    let (_, body) = app
        .get(&listings_path(&connection, "limit=2&q=ebook"), &tenant.key)
        .await;
    assert_eq!(
        body["data"][1]["title"], "Go eBook & notes",
        "XML escapes read back"
    );
}

async fn etsy_lists_pages_searches_and_says_mapped(backend: Backend) {
    let (ebay, etsy) = (FakeEbay::start().await, FakeEtsy::start().await);
    let shops = etsy.listings();
    let shop: u64 = SHOP_ID.parse().unwrap();
    shops.put_listing(
        SHOP_ID,
        etsy_shop::listing(shop, 1001, "Weekly planner", &["PLAN"]),
    );
    shops.put_inventory(1001, vec![etsy_shop::product(11, "PLAN", &[])]);
    shops.put_listing(
        SHOP_ID,
        etsy_shop::listing(shop, 1002, "Font bundle", &["F-P", "F-C"]),
    );
    shops.put_inventory(
        1002,
        vec![
            etsy_shop::product(21, "F-P", &[("Licence", "Personal")]),
            etsy_shop::product(22, "F-C", &[("Licence", "Commercial")]),
        ],
    );
    shops.put_listing(
        SHOP_ID,
        etsy_shop::listing(shop, 1003, "Sticker sheet", &[]),
    );
    let mut sold_out = etsy_shop::listing(shop, 1004, "Old font", &[]);
    sold_out["state"] = "sold_out".into();
    shops.put_listing(SHOP_ID, sold_out);
    let app = spawn(backend, &ebay, &etsy).await;
    let tenant = app.tenant(10).await;
    let connection = connect(
        &app,
        &tenant,
        json!({"platform": "etsy", "shop_id": SHOP_ID, "access_token": etsy.issue_access_token()}),
    )
    .await;
    let fonts = product_mapped(
        &app,
        &tenant,
        "P-FONTS",
        json!({"listing_ids": ["etsy:1002"]}),
    )
    .await;

    let (ids, pages) = all_pages(&app, &tenant.key, &listings_path(&connection, "limit=2")).await;
    assert_eq!(ids, ["etsy:1001", "etsy:1002", "etsy:1003"], "active only");
    assert_eq!(pages, 2);
    let asked = shops.listing_queries();
    assert!(
        asked
            .iter()
            .any(|q| q.contains("state=active") && q.contains("limit=2") && q.contains("offset=2")),
        "{asked:?}"
    );

    let (status, body) = app
        .get(&listings_path(&connection, "limit=2"), &tenant.key)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let planner = &body["data"][0];
    assert_eq!(planner["sku"], "PLAN");
    assert_eq!(
        planner["variations"],
        json!([]),
        "one product: no variations"
    );
    assert_eq!(planner["mapped"], false);
    let font = &body["data"][1];
    assert_eq!(font["mapping"]["etsy_listing_id"], 1002);
    assert_eq!(font["mapped_to"]["id"], fonts.as_str());
    let variations = font["variations"].as_array().unwrap();
    assert_eq!(variations.len(), 2);
    assert_eq!(variations[1]["variation_id"], "22");
    assert_eq!(variations[1]["sku"], "F-C");
    assert_eq!(
        variations[1]["attributes"],
        json!([{"name": "Licence", "value": "Commercial"}])
    );
    assert_eq!(variations[1]["id"], Value::Null, "mapped with its listing");
    assert_eq!(variations[1]["mapped_to"]["id"], fonts.as_str());

    let (status, body) = app
        .get(&listings_path(&connection, "q=STICKER"), &tenant.key)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["data"][0]["id"], "etsy:1003");
    assert_eq!(
        body["data"][0]["variations"],
        json!([]),
        "no inventory record"
    );
}

on_both_backends!(
    woocommerce_lists_pages_searches_and_says_mapped,
    ebay_lists_pages_searches_and_says_mapped,
    etsy_lists_pages_searches_and_says_mapped,
);
