//! `shared::envelope` and `shared::error`: the `{data, meta, error}` answer, and the edge
//! config the worker reads out of one (`Envelope<EdgeConfig>`).
//!
//! Properties: an envelope that parses serialises to one that parses back equal (JSON numbers
//! compared as numbers); `error_json` writes an envelope that reads back with its code, the
//! status that code travels with, its message and request id, whatever the message; an error
//! code reads only from its own name; and a connection the edge config picks for a delivery is
//! the one named, or one whose store URL matches the source, or the only one.

use serde_json::{Value, json};
use shared::envelope::{Envelope, error_json};
use shared::error::ErrorCode;
use shared::internal::{EdgeConfig, normalise_store_url};

use crate::engine::{Case, Target};
use crate::seeds;

const JSON: usize = 0;
const MESSAGE: usize = 1;
const SOURCE: usize = 2;

pub fn target() -> Target {
    Target {
        name: "envelope",
        fields: &["json", "message", "source"],
        dictionary: &[
            b"\"data\"",
            b"\"meta\"",
            b"\"error\"",
            b"\"code\"",
            b"\"status\"",
            b"\"request_id\"",
            b"\"next_cursor\"",
            b"\"NOT_FOUND\"",
            b"\"woocommerce\"",
            b"\"connections\"",
            b"\"store_url\"",
            b"null",
            b"://",
            b"/",
            b"\\u0000",
            b"\xe2\x80\xa8",
        ],
        seeds,
        check,
        max_field_len: 16 * 1024,
    }
}

fn seeds() -> Vec<Case> {
    let config = json!({
        "data": {
            "tenant_id": "ten_1",
            "woocommerce": {"connections": [
                {"id": "con_1", "store_url": "https://Shop.example.com", "secrets": [
                    {"secret": "s1", "valid_until_ms": 1764000000000u64}, {"secret": "s2"}
                ], "active": true},
                {"id": "con_2", "store_url": "http://other.example/shop", "secrets": [], "active": false}
            ]},
            "ebay": {"verification_token": "t", "endpoint_url": "https://edge.test/webhooks/ebay/ten_1", "active": true}
        },
        "meta": {"request_id": "req_1"},
        "error": null
    });
    let woo_order: Value =
        serde_json::from_slice(seeds::WOO_CREATED_BODY).expect("the fixture is JSON");
    let listed =
        json!({"data": [woo_order], "meta": {"next_cursor": "c2", "limit": 25}, "error": null});
    let failed = error_json(ErrorCode::NotFound, "no such product", Some("req_2"));
    vec![
        Case::new([
            config.to_string().as_bytes(),
            b"the origin is unavailable",
            b"https://shop.example.com/",
        ]),
        Case::new([
            listed.to_string().as_bytes(),
            b"",
            b"HTTP://OTHER.example/shop/",
        ]),
        Case::new([failed.as_bytes(), "\u{2028}\"é\\".as_bytes(), b""]),
        Case::new([seeds::WOO_REST_ERRORS, b"x", b"shop.example.com"]),
    ]
}

/// JSON equality with numbers compared by value (a float may print in another form).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || x.as_f64().zip(y.as_f64()).is_some_and(|(x, y)| x == y)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, vx), (ky, vy))| kx == ky && same_json(vx, vy))
        }
        _ => a == b,
    }
}

fn check(case: &Case) -> &'static str {
    let message = case.text(MESSAGE);
    for code in ErrorCode::ALL {
        let text = error_json(code, &message, Some(&message));
        let back: Envelope<Value> = serde_json::from_str(&text).expect("error_json reads back");
        let error = back.error.expect("an error envelope has an error");
        assert_eq!(back.data, None);
        assert_eq!(
            (error.code, error.status, error.message.as_str()),
            (code, code.http_status(), message.as_str())
        );
        assert_eq!(back.meta.request_id.as_deref(), Some(message.as_str()));
    }
    let quoted = serde_json::to_string(&message).expect("a string serialises");
    if let Ok(code) = serde_json::from_str::<ErrorCode>(&quoted) {
        assert_eq!(
            serde_json::to_string(&code).expect("a code serialises"),
            quoted
        );
    }

    let json = case.field(JSON);
    let mut outcome = "not an envelope";
    if let Ok(envelope) = serde_json::from_slice::<Envelope<Value>>(json) {
        let first = serde_json::to_value(&envelope).expect("an envelope serialises");
        let again: Envelope<Value> =
            serde_json::from_value(first.clone()).expect("a written envelope reads back");
        let second = serde_json::to_value(&again).expect("an envelope serialises");
        assert!(same_json(&first, &second), "{first} became {second}");
        outcome = if envelope.error.is_some() {
            "error envelope"
        } else {
            "data envelope"
        };
    }
    if let Ok(envelope) = serde_json::from_slice::<Envelope<EdgeConfig>>(json) {
        let written = serde_json::to_string(&envelope).expect("serialises");
        let again: Envelope<EdgeConfig> = serde_json::from_str(&written).expect("reads back");
        assert_eq!(again.data, envelope.data);
        outcome = "edge config";
        let source = case.text(SOURCE);
        let Some(woo) = envelope.data.and_then(|config| config.woocommerce) else {
            return outcome;
        };
        let normalised = normalise_store_url(&source);
        assert_eq!(
            normalise_store_url(&normalised),
            normalised,
            "normalising is idempotent"
        );
        if let Some(found) = woo.connection_for(None, Some(&source)) {
            assert!(
                normalise_store_url(&found.store_url) == normalised || woo.connections.len() == 1,
                "picked {} for source {source:?}",
                found.store_url
            );
            outcome = "edge config, connection found";
        }
        for connection in &woo.connections {
            let named = woo
                .connection_for(Some(&connection.id), Some(&source))
                .expect("a named connection is found");
            assert_eq!(named.id, connection.id);
        }
    }
    outcome
}
