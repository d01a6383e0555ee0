//! `shared::ebay`: the `X-EBAY-SIGNATURE` header, eBay's public-key answer, verification.
//!
//! Properties: a parsed header has a key id safe in a URL path and a DER signature that
//! converts to WebCrypto's 64 bytes; a parsed key is a usable P-256 key that reads back from
//! its own PEM; and verification accepts only what the fixture's key really signed: the same
//! key, the same signature (r, s or its mirror s), over exactly the signed bytes (the body, or
//! for `CompactJson` a body whose compact form is them). No mutated body or signature passes.
//! The user a body names for the app's endpoint (`shared::ebay::app`) is safe in a lookup path.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use shared::ebay::app::{ebay_seller_route_path, is_plausible_user_id, notified_user};
use shared::ebay::{
    EbayError, EbayPublicKey, SignatureHeader, SignedForm, compact_json, der_signature_to_raw,
    verify_ebay_signature,
};

use crate::engine::{Case, Target};
use crate::seeds;

const HEADER: usize = 0;
const BODY: usize = 1;
const KEY: usize = 2;

pub fn target() -> Target {
    Target {
        name: "ebay",
        fields: &["header", "body", "key_response"],
        dictionary: &[
            b"\"alg\"",
            b"\"kid\"",
            b"\"signature\"",
            b"\"digest\"",
            b"ecdsa",
            b"SHA1",
            b"-----BEGIN PUBLIC KEY-----",
            b"-----END PUBLIC KEY-----",
            b"=",
            b"\\n",
            b"null",
        ],
        seeds,
        check,
        max_field_len: 16 * 1024,
    }
}

/// What the fixture's key signed: (normalised signature, the exact signed bytes).
struct Known {
    spki: Vec<u8>,
    signed: Vec<(Signature, Vec<u8>)>,
    seeds: Vec<Case>,
}

fn known() -> &'static Known {
    static KNOWN: OnceLock<Known> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let vector = seeds::ebay_vector();
        let key = EbayPublicKey::from_response_json(seeds::EBAY_KEY_RESPONSE)
            .expect("the fixture key parses");
        let mut signed = Vec::new();
        let mut cases = Vec::new();
        for case in vector["cases"].as_array().expect("cases") {
            let (Some(header), Some(decoded)) = (
                case["x_ebay_signature"].as_str(),
                case["x_ebay_signature_decoded"]["signature"].as_str(),
            ) else {
                continue;
            };
            let body = seeds::ebay_body(case["body_file"].as_str().expect("body_file"));
            let der = STANDARD.decode(decoded).expect("base64 signature");
            signed.push((normalised(&der), body.to_vec()));
            cases.push(Case::new([
                header.as_bytes(),
                body,
                seeds::EBAY_KEY_RESPONSE,
            ]));
        }
        // A signature over the compact form, for a pretty-printed body (the SDKs' form).
        let private = vector["private_key_pem_pkcs8"]
            .as_str()
            .expect("private key");
        let signing = SigningKey::from_pkcs8_pem(private).expect("the fixture private key");
        for body in [seeds::EBAY_DELETION, seeds::EBAY_REVOCATION] {
            let compact = compact_json(body).expect("the fixture body is JSON");
            let signature: Signature = signing
                .sign_prehash(&Sha1::digest(&compact))
                .expect("sign the digest");
            let header = header_for(&signature);
            let value: Value = serde_json::from_slice(body).expect("JSON");
            let pretty = serde_json::to_vec_pretty(&value).expect("serialise");
            signed.push((normalised(signature.to_der().as_bytes()), compact));
            cases.push(Case::new([
                header.as_bytes(),
                &pretty,
                seeds::EBAY_KEY_RESPONSE,
            ]));
        }
        cases.push(Case::new([b"", seeds::EBAY_ORDER, seeds::EBAY_KEY_ERRORS]));
        Known {
            spki: key.spki_der().to_vec(),
            signed,
            seeds: cases,
        }
    })
}

fn header_for(signature: &Signature) -> String {
    let header = json!({
        "alg": "ecdsa",
        "kid": seeds::ebay_vector()["kid"],
        "signature": STANDARD.encode(signature.to_der().as_bytes()),
        "digest": "SHA1",
    });
    STANDARD.encode(serde_json::to_vec(&header).expect("serialise"))
}

/// The signature with its low s: `(r, s)` and `(r, n - s)` verify alike.
fn normalised(der: &[u8]) -> Signature {
    let signature = Signature::from_der(der).expect("a DER signature");
    signature.normalize_s().unwrap_or(signature)
}

fn seeds() -> Vec<Case> {
    known().seeds.clone()
}

fn check(case: &Case) -> &'static str {
    let body = case.field(BODY);
    let header = SignatureHeader::parse(Some(&case.text(HEADER)));
    assert_eq!(SignatureHeader::parse(None), Err(EbayError::MissingHeader));
    if let Ok(header) = &header {
        assert!(
            !header.kid.is_empty()
                && header.kid.len() <= 128
                && header
                    .kid
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "the kid goes into a URL path: {:?}",
            header.kid
        );
        let raw = der_signature_to_raw(&header.signature_der).expect("a parsed DER converts");
        assert_eq!(
            Signature::from_slice(&raw).expect("64 bytes are r || s"),
            Signature::from_der(&header.signature_der).expect("DER")
        );
    }
    let key = EbayPublicKey::from_response_json(case.field(KEY));
    if let Ok(key) = &key {
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            STANDARD.encode(key.spki_der())
        );
        assert_eq!(
            EbayPublicKey::from_pem(&pem).as_ref(),
            Ok(key),
            "a key reads back from its PEM"
        );
        assert!(key.verifying_key().is_ok());
    }
    if let Ok(user) = notified_user(body) {
        assert!(
            is_plausible_user_id(&user.user_id),
            "the userId goes into a URL path: {:?}",
            user.user_id
        );
        let path = ebay_seller_route_path(&user.user_id);
        assert_eq!(path.matches('/').count(), 5, "one path segment: {path:?}");
    }
    if let Some(compact) = compact_json(body) {
        assert!(
            serde_json::from_slice::<Value>(&compact).is_ok(),
            "the compact form is JSON"
        );
    }
    let (header, key) = match (header, key) {
        (Ok(header), Ok(key)) => (header, key),
        (Err(_), Ok(_)) => return "header refused",
        (Ok(_), Err(_)) => return "key refused",
        (Err(_), Err(_)) => return "both refused",
    };
    let verdict = verify_ebay_signature(&key, &header, body);
    let Ok(form) = verdict else {
        return match verdict {
            Err(EbayError::Mismatch) => "mismatch",
            _ => "refused",
        };
    };
    let known = known();
    assert_eq!(
        key.spki_der(),
        known.spki.as_slice(),
        "only the fixture's key signed anything"
    );
    let signature = normalised(&header.signature_der);
    let message = match form {
        SignedForm::Raw => body.to_vec(),
        SignedForm::CompactJson => {
            let compact = compact_json(body).expect("a compact form exists");
            assert_ne!(compact, body, "CompactJson is only the fallback");
            compact
        }
    };
    assert!(
        known
            .signed
            .iter()
            .any(|(s, m)| *s == signature && *m == message),
        "accepted a signature the key never made over these bytes ({form:?})"
    );
    match form {
        SignedForm::Raw => "accepted raw",
        SignedForm::CompactJson => "accepted compact",
    }
}
