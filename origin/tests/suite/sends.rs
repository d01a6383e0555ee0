//! Delivery emails through a real SMTP server (the loopback fake of `e2e::harness::fake_smtp`)
//! that stalls, drops connections and answers 4xx/5xx, on both backends: every unit ends
//! delivered exactly once, or failed with the reason. Also the parts of a delivery a buyer
//! meets later: download links that expire or run out, and the seller's own template.

use crate::common;
use crate::pipeline::{
    actions, codes, count_status, ingest, item_statuses, outbox, product, upload_file, wait_orders,
    woo_order,
};

use std::collections::HashSet;
use std::time::Duration;

use common::{Backend, Tenant, TestApp, assert_error};
use e2e::harness::fake_smtp::{AcceptedMessage, FakeSmtp, Fault, Stage};
use e2e::harness::outbox::{download_paths, quoted_printable_text};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};

/// An app that mails through `smtp_url`, with short timeouts and immediate retries so the
/// faults below play out in seconds.
async fn smtp_app(
    backend: Backend,
    smtp_url: &str,
    configure: impl FnOnce(&mut origin::config::PipelineSettings),
) -> TestApp {
    let url = smtp_url.to_owned();
    TestApp::spawn_configured(backend, 64 * 1024, move |p| {
        p.smtp_url = Some(SecretString::from(url));
        p.sending.smtp_timeout = Duration::from_millis(700);
        p.sending.retry_schedule_secs = vec![0];
        p.tick = Duration::from_millis(50);
        configure(p);
    })
    .await
}

/// The accepted messages carrying `text`.
fn carrying<'a>(accepted: &'a [AcceptedMessage], text: &str) -> Vec<&'a AcceptedMessage> {
    accepted
        .iter()
        .filter(|m| quoted_printable_text(&m.data).contains(text))
        .collect()
}

fn distinct_message_ids(accepted: &[AcceptedMessage]) -> usize {
    accepted
        .iter()
        .map(|m| m.message_id.clone().expect("every email has a Message-ID"))
        .collect::<HashSet<_>>()
        .len()
}

async fn order_json(app: &TestApp, tenant: &Tenant, id: &Value) -> Value {
    let (status, body) = app
        .get(
            &format!("/api/v1/orders/{}", id.as_str().unwrap()),
            &tenant.key,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].clone()
}

async fn smtp_deliveries_survive_stalls_drops_and_4xx_exactly_once(backend: Backend) {
    let fake = FakeSmtp::start().await;
    let transient = [
        (Stage::Greeting, Fault::Drop),
        (
            Stage::Greeting,
            Fault::Reply(421, "4.3.2 shutting down".into()),
        ),
        (Stage::MailFrom, Fault::Reply(451, "4.3.0 try again".into())),
        (
            Stage::RcptTo,
            Fault::Reply(450, "4.2.1 mailbox busy".into()),
        ),
        (Stage::Data, Fault::Drop),
        // Longer than the client's timeout: it gives up, nothing is committed.
        (Stage::EndOfData, Fault::Stall(Duration::from_secs(3))),
        (Stage::EndOfData, Fault::Drop),
        (
            Stage::EndOfData,
            Fault::Reply(452, "4.3.1 out of storage".into()),
        ),
    ];
    for (stage, fault) in transient {
        fake.fail(stage, fault, 1);
    }
    let app = smtp_app(backend, &fake.url(), |_| {}).await;
    let tenant = app.tenant(10).await;
    product(&app, &tenant, "CODE", 601, &codes("SMTP", 3)).await;
    for n in 0..3u64 {
        let body = woo_order(6100 + n, 601, 1);
        ingest(&app, &tenant, "woocommerce", &format!("evt_s{n}"), &body).await;
    }
    wait_orders(&app, &tenant, "three delivered", |o| {
        o.len() == 3 && count_status(o, "delivered") == 3
    })
    .await;
    // Give a repeat every chance to show up before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let accepted = fake.accepted();
    assert_eq!(accepted.len(), 3, "one email per unit: {accepted:#?}");
    assert_eq!(distinct_message_ids(&accepted), 3, "{accepted:#?}");
    for code in codes("SMTP", 3) {
        assert_eq!(carrying(&accepted, &code).len(), 1, "{code}: {accepted:#?}");
    }
    assert!(fake.connections() >= 6, "the faults were met");
}

async fn a_permanent_refusal_fails_the_unit_with_the_reason(backend: Backend) {
    let fake = FakeSmtp::start().await;
    fake.fail(
        Stage::RcptTo,
        Fault::Reply(550, "5.1.1 no such mailbox".into()),
        1,
    );
    let app = smtp_app(backend, &fake.url(), |_| {}).await;
    let tenant = app.tenant(10).await;
    product(&app, &tenant, "CODE", 602, &codes("PERM", 2)).await;
    ingest(
        &app,
        &tenant,
        "woocommerce",
        "evt_p",
        &woo_order(6200, 602, 1),
    )
    .await;
    let all = wait_orders(&app, &tenant, "the unit failed", |o| {
        o.len() == 1 && item_statuses(o, "failed") == 1
    })
    .await;
    assert_eq!(all[0]["status"], "failed");
    let order = order_json(&app, &tenant, &all[0]["id"]).await;
    assert!(actions(&order).contains(&"failed".to_owned()), "{order}");
    assert!(
        order.to_string().contains("no such mailbox"),
        "the reason is on the order: {order}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(fake.accepted().is_empty(), "not retried after a 5xx");
}

async fn an_outage_longer_than_any_old_retry_is_delivered_when_the_server_returns(
    backend: Backend,
) {
    // Nothing listens at first: connections are refused.
    let port = e2e::harness::free_port();
    let app = smtp_app(backend, &format!("smtp://127.0.0.1:{port}"), |_| {}).await;
    let tenant = app.tenant(10).await;
    product(&app, &tenant, "CODE", 603, &codes("OUT", 2)).await;
    ingest(
        &app,
        &tenant,
        "woocommerce",
        "evt_o",
        &woo_order(6300, 603, 1),
    )
    .await;
    // Many more failed attempts than the five retries that used to end in `failed`.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let all = wait_orders(&app, &tenant, "the order", |o| o.len() == 1).await;
    assert_eq!(item_statuses(&all, "failed"), 0, "{all:#?}");
    assert_eq!(all[0]["status"], "processing", "{all:#?}");
    // The server comes back, answering 421 a while longer.
    let fake = FakeSmtp::start_on(port).await;
    fake.fail(
        Stage::Greeting,
        Fault::Reply(421, "4.3.2 not yet".into()),
        8,
    );
    wait_orders(&app, &tenant, "delivered", |o| {
        count_status(o, "delivered") == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let accepted = fake.accepted();
    assert_eq!(accepted.len(), 1, "{accepted:#?}");
    assert_eq!(carrying(&accepted, "OUT-0000").len(), 1);
}

async fn a_send_slower_than_its_lease_is_sent_once(backend: Backend) {
    let fake = FakeSmtp::start().await;
    // Slower than the lease, within the SMTP timeout: the claim must hold meanwhile, while
    // the send loop looks for units whose lease ran out.
    fake.fail(
        Stage::EndOfData,
        Fault::Stall(Duration::from_millis(4_000)),
        1,
    );
    let app = smtp_app(backend, &fake.url(), |p| {
        p.lease_ms = 1_500;
        p.sending.smtp_timeout = Duration::from_secs(6);
    })
    .await;
    let tenant = app.tenant(10).await;
    product(&app, &tenant, "CODE", 604, &codes("LEASE", 2)).await;
    ingest(
        &app,
        &tenant,
        "woocommerce",
        "evt_l",
        &woo_order(6400, 604, 1),
    )
    .await;
    wait_orders(&app, &tenant, "delivered", |o| {
        count_status(o, "delivered") == 1
    })
    .await;
    // Count once the slow send is over, and after a repeat had every chance to show up.
    while fake.is_stalling() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let accepted = fake.accepted();
    assert_eq!(accepted.len(), 1, "never claimed again: {accepted:#?}");
    assert_eq!(balance_of(&app, &tenant).await, 9);
}

async fn balance_of(app: &TestApp, tenant: &Tenant) -> i64 {
    let (_, body) = app.get("/api/v1/tenant", &tenant.key).await;
    body["data"]["token_balance"].as_i64().unwrap()
}

async fn a_code_replaced_during_its_send_gets_its_own_email(backend: Backend) {
    let fake = FakeSmtp::start().await;
    // The first try fails, so the send loop holds the retry; that one stalls in flight.
    fake.fail(
        Stage::MailFrom,
        Fault::Reply(451, "4.3.0 try again".into()),
        1,
    );
    fake.fail(
        Stage::EndOfData,
        Fault::Stall(Duration::from_millis(2_000)),
        1,
    );
    let app = smtp_app(backend, &fake.url(), |p| {
        p.sending.smtp_timeout = Duration::from_secs(5);
    })
    .await;
    let tenant = app.tenant(10).await;
    product(&app, &tenant, "CODE", 605, &codes("REP", 3)).await;
    ingest(
        &app,
        &tenant,
        "woocommerce",
        "evt_r",
        &woo_order(6500, 605, 1),
    )
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !fake.is_stalling() {
        assert!(
            std::time::Instant::now() < deadline,
            "the send never stalled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all = wait_orders(&app, &tenant, "the order", |o| o.len() == 1).await;
    let (order_id, item_id) = (
        all[0]["id"].as_str().unwrap(),
        all[0]["items"][0]["id"].as_str().unwrap(),
    );
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{order_id}/items/{item_id}/replace"),
            &tenant.key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The email in flight carries the old code; the new code must go out in its own.
    let accepted = fake
        .wait_until("the new code's email", Duration::from_secs(20), |m| {
            !carrying(m, "REP-0001").is_empty()
        })
        .await;
    let all = wait_orders(&app, &tenant, "delivered", |o| {
        count_status(o, "delivered") == 1
    })
    .await;
    assert_eq!(all[0]["items"][0]["license_code"], "REP-0001");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let accepted_now = fake.accepted();
    assert_eq!(accepted_now.len(), 2, "old then new: {accepted_now:#?}");
    assert_eq!(carrying(&accepted, "REP-0000").len(), 1, "{accepted:#?}");
    assert_eq!(distinct_message_ids(&accepted_now), 2);
}

/// A delivered FILE order's download path (through the edge), with the app's outbox read.
async fn delivered_link(app: &TestApp, tenant: &Tenant, woo_id: u64) -> String {
    let product_id = product(app, tenant, "FILE", woo_id, &[]).await;
    upload_file(app, tenant, &product_id, b"%PDF-1.7 the guide").await;
    let body = woo_order(woo_id * 10, woo_id, 1);
    ingest(app, tenant, "woocommerce", &format!("evt_f{woo_id}"), &body).await;
    wait_orders(app, tenant, "delivered", |o| {
        count_status(o, "delivered") == 1
    })
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(path) = outbox(app).iter().flat_map(|e| download_paths(e)).next() {
            return format!("{}{path}", app.base);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no link in the outbox"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn download(app: &TestApp, url: &str) -> (StatusCode, Vec<u8>) {
    let response = app.client.get(url).send().await.unwrap();
    (response.status(), response.bytes().await.unwrap().to_vec())
}

async fn an_expired_download_link_is_refused(backend: Backend) {
    let app = TestApp::spawn_configured(backend, 64 * 1024, |p| p.link_ttl_ms = 3_000).await;
    let tenant = app.tenant(10).await;
    let url = delivered_link(&app, &tenant, 606).await;
    let (status, bytes) = download(&app, &url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, b"%PDF-1.7 the guide");
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    let (status, body) = common::send(app.client.get(&url)).await;
    let error = assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
    assert!(
        error["message"].as_str().unwrap().contains("expired"),
        "{body}"
    );
}

async fn a_download_link_is_refused_after_its_last_download(backend: Backend) {
    let app = TestApp::spawn_configured(backend, 64 * 1024, |p| p.max_downloads = 2).await;
    let tenant = app.tenant(10).await;
    let url = delivered_link(&app, &tenant, 607).await;
    for _ in 0..2 {
        let (status, bytes) = download(&app, &url).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(bytes, b"%PDF-1.7 the guide");
    }
    let (status, body) = common::send(app.client.get(&url)).await;
    let error = assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
    assert!(
        error["message"].as_str().unwrap().contains("used as often"),
        "{body}"
    );
}

async fn a_custom_template_is_used_in_a_real_delivery(backend: Backend) {
    let fake = FakeSmtp::start().await;
    let app = smtp_app(backend, &fake.url(), |_| {}).await;
    let tenant = app.tenant(10).await;
    let template = json!({
        "name": "Friendly", "is_default": true,
        "subject": "Thanks from {{ shop.name }}, order {{ order.platform_order_id }}",
        "body": "Dear {{ buyer.name }},\n{% for item in items %}[{{ item.name }}] key={{ item.code }}\n{% endfor %}See you soon!\n",
    });
    let (status, body) = app.post("/api/v1/templates", &tenant.key, template).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    product(&app, &tenant, "CODE", 608, &codes("TPL", 2)).await;
    ingest(
        &app,
        &tenant,
        "woocommerce",
        "evt_t",
        &woo_order(6800, 608, 1),
    )
    .await;
    let accepted = fake
        .wait_until("the email", Duration::from_secs(20), |m| !m.is_empty())
        .await;
    let text = quoted_printable_text(&accepted[0].data);
    assert!(
        text.contains("Subject: Thanks from Test shop, order 6800"),
        "{text}"
    );
    assert!(text.contains("[Product 608] key=TPL-0000"), "{text}");
    assert!(text.contains("See you soon!"), "{text}");
    assert!(
        !text.contains("is here"),
        "not the built-in template: {text}"
    );
}

on_both_backends!(
    smtp_deliveries_survive_stalls_drops_and_4xx_exactly_once,
    a_permanent_refusal_fails_the_unit_with_the_reason,
    an_outage_longer_than_any_old_retry_is_delivered_when_the_server_returns,
    a_send_slower_than_its_lease_is_sent_once,
    a_code_replaced_during_its_send_gets_its_own_email,
    an_expired_download_link_is_refused,
    a_download_link_is_refused_after_its_last_download,
    a_custom_template_is_used_in_a_real_delivery,
);
