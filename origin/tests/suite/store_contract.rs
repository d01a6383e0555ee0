//! The `Store` trait itself, run against both backends: what every implementation must
//! guarantee whatever HTTP does on top (tenant scoping, once-only events, atomic charges).

use crate::common;

use common::{Backend, TestApp};
use origin::ids::{new_id, now_ms};
use origin::store::{
    EventFilter, EventRow, KeyChange, PageQuery, ProductRow, StoreError, TemplateRow,
};

fn product(tenant: &str, sku: &str) -> ProductRow {
    ProductRow {
        id: new_id("prd"),
        tenant_id: tenant.to_owned(),
        sku: sku.to_owned(),
        name: "P".to_owned(),
        product_type: "CODE".to_owned(),
        status: "active".to_owned(),
        template_id: None,
        low_stock_threshold: 0,
        mappings: "{}".to_owned(),
        created_at: now_ms(),
        updated_at: now_ms(),
    }
}

fn event(tenant: &str, edge_id: &str, key: &str) -> EventRow {
    EventRow {
        id: new_id("evt"),
        tenant_id: tenant.to_owned(),
        platform: "ebay".to_owned(),
        status: "received".to_owned(),
        dedupe_key: key.to_owned(),
        edge_event_id: edge_id.to_owned(),
        headers: "{}".to_owned(),
        body: "{}".to_owned(),
        received_at: now_ms(),
        stored_at: now_ms(),
        attempts: 1,
        last_error: None,
        connection_id: None,
    }
}

async fn rows_are_scoped_by_tenant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (a, b) = (app.tenant(0).await, app.tenant(0).await);
    let store = app.store.as_ref();
    let p = product(&a.id, "SKU");
    store.insert_product(&p).await.unwrap();
    assert!(store.get_product(&a.id, &p.id).await.unwrap().is_some());
    assert!(store.get_product(&b.id, &p.id).await.unwrap().is_none());
    assert!(matches!(
        store.insert_product(&product(&a.id, "SKU")).await,
        Err(StoreError::DuplicateSku)
    ));
    store.insert_product(&product(&b.id, "SKU")).await.unwrap();

    // Another tenant's update touches nothing.
    let mut foreign = p.clone();
    foreign.tenant_id = b.id.clone();
    foreign.name = "hijacked".to_owned();
    store.update_product(&foreign).await.unwrap();
    assert_eq!(
        store.get_product(&a.id, &p.id).await.unwrap().unwrap().name,
        "P"
    );

    assert_eq!(
        store
            .import_codes(&a.id, &p.id, &["X".into(), "Y".into()], now_ms())
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .import_codes(&a.id, &p.id, &["Y".into(), "Z".into()], now_ms())
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.code_stock(&a.id, &p.id).await.unwrap().available, 3);
    assert_eq!(store.code_stock(&b.id, &p.id).await.unwrap().available, 0);
    let keys = store
        .list_api_keys(
            &b.id,
            &PageQuery {
                after: None,
                fetch: 10,
            },
        )
        .await
        .unwrap();
    assert!(keys.iter().all(|k| k.tenant_id == b.id));
    assert!(
        store
            .revoke_api_key(Some(&b.id), &keys[0].id, &KeyChange::by_operator(now_ms()))
            .await
            .unwrap()
            .is_some()
    );
    let a_keys = store
        .list_api_keys(
            &a.id,
            &PageQuery {
                after: None,
                fetch: 10,
            },
        )
        .await
        .unwrap();
    assert!(
        store
            .revoke_api_key(
                Some(&b.id),
                &a_keys[0].id,
                &KeyChange::by_operator(now_ms())
            )
            .await
            .unwrap()
            .is_none()
    );
}

async fn events_are_stored_once_and_charges_are_atomic(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.tenant(1).await;
    let store = app.store.as_ref();
    let first = store
        .ingest_event(&event(&t.id, "e1", "ebay:1"))
        .await
        .unwrap();
    assert!(!first.1);
    assert_eq!(
        store
            .ingest_event(&event(&t.id, "e2", "ebay:1"))
            .await
            .unwrap(),
        (first.0.clone(), true)
    );
    assert_eq!(
        store
            .ingest_event(&event(&t.id, "e1", "ebay:other"))
            .await
            .unwrap(),
        (first.0.clone(), true)
    );
    let mut dead = event(&t.id, "e3", "edge:e3");
    dead.status = "dead".to_owned();
    assert!(!store.record_dead_letter(&dead).await.unwrap().1);
    assert!(store.record_dead_letter(&dead).await.unwrap().1);
    let page = PageQuery {
        after: None,
        fetch: 10,
    };
    let filter = |status: &str| EventFilter {
        status: Some(status.to_owned()),
        platform: None,
        page: page.clone(),
    };
    assert_eq!(
        store
            .list_events(&t.id, &filter("received"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .list_events(&t.id, &filter("dead"))
            .await
            .unwrap()
            .len(),
        1
    );

    assert_eq!(
        store.add_tokens(&t.id, -2).await.unwrap(),
        None,
        "never below zero"
    );
    assert_eq!(store.add_tokens(&t.id, 4).await.unwrap(), Some(5));
    assert_eq!(store.add_tokens("ten_missing", 4).await.unwrap(), None);

    // One default template per tenant, whatever order templates are saved in.
    let template = |default: bool| TemplateRow {
        id: new_id("tpl"),
        tenant_id: t.id.clone(),
        name: "T".to_owned(),
        subject: "S".to_owned(),
        body: "B".to_owned(),
        is_default: i64::from(default),
        created_at: now_ms(),
        updated_at: now_ms(),
    };
    let (one, two, three) = (template(false), template(true), template(false));
    for row in [&one, &two, &three] {
        store.save_template(row, true).await.unwrap();
    }
    let all = store.list_templates(&t.id, &page).await.unwrap();
    let defaults: Vec<&str> = all
        .iter()
        .filter(|r| r.is_default == 1)
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(defaults, [two.id.as_str()]);
}

on_both_backends!(
    rows_are_scoped_by_tenant,
    events_are_stored_once_and_charges_are_atomic
);
