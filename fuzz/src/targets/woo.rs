//! `shared::woo`: `X-WC-Webhook-Signature` and the creation ping.
//!
//! Properties: a header verifies exactly when it is (up to surrounding whitespace) the
//! signature WooCommerce makes for that secret and body, so no mutated signature, body or
//! secret is ever accepted; a missing header is `Missing`; a ping's id formats back to a ping
//! of the same id, and no signed delivery is a ping.

use shared::woo::{
    WooSignatureError, creation_ping_webhook_id, verify_woocommerce_signature,
    woocommerce_signature,
};

use crate::engine::{Case, Target};
use crate::seeds;

const SECRET: usize = 0;
const BODY: usize = 1;
const HEADER: usize = 2;

pub fn target() -> Target {
    Target {
        name: "woo",
        fields: &["secret", "body", "header"],
        dictionary: &[b"=", b"==", b"+", b"/", b" ", b"webhook_id=", b"\xc3\xa9"],
        seeds,
        check,
        max_field_len: 16 * 1024,
    }
}

fn seeds() -> Vec<Case> {
    let mut cases: Vec<Case> = seeds::woo_deliveries()
        .iter()
        .map(|(secret, body, signature)| Case::new([secret.as_bytes(), body, signature.as_bytes()]))
        .collect();
    cases.push(Case::new([b"s", b"webhook_id=42", b""]));
    cases.push(Case::new([
        b"",
        b"",
        b"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
    ]));
    cases
}

fn check(case: &Case) -> &'static str {
    let (secret, body, header) = (case.field(SECRET), case.field(BODY), case.text(HEADER));
    let expected = woocommerce_signature(secret, body);
    assert_eq!(
        verify_woocommerce_signature(secret, body, Some(&expected)),
        Ok(()),
        "a signature made by woocommerce_signature must verify"
    );
    assert_eq!(
        verify_woocommerce_signature(secret, body, None),
        Err(WooSignatureError::Missing)
    );
    let verdict = verify_woocommerce_signature(secret, body, Some(&header));
    assert_eq!(
        verdict.is_ok(),
        header.trim() == expected,
        "accepted iff the header is the signature; header {header:?}, expected {expected:?}, got {verdict:?}"
    );

    if let Some(id) = creation_ping_webhook_id(body, false) {
        let digits = body
            .strip_prefix(b"webhook_id=")
            .expect("a ping starts with webhook_id=");
        assert!(digits.iter().all(u8::is_ascii_digit), "{body:?}");
        assert_eq!(
            creation_ping_webhook_id(format!("webhook_id={id}").as_bytes(), false),
            Some(id)
        );
        assert_eq!(creation_ping_webhook_id(body, true), None);
        return "ping";
    }
    match verdict {
        Ok(()) => "accepted",
        Err(WooSignatureError::Missing) => unreachable!("the header was present"),
        Err(WooSignatureError::Malformed) => "malformed",
        Err(WooSignatureError::Mismatch) => "mismatch",
    }
}
