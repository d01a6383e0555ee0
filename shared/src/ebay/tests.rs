use super::*;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::pkcs8::{DecodePrivateKey, EncodePublicKey};

const VECTOR: &str = include_str!("../../../fixtures/ebay/signed-test-vector.json");
const DELETION: &[u8] = include_bytes!("../../../fixtures/ebay/notification-account-deletion.body");
const ORDER: &[u8] = include_bytes!("../../../fixtures/ebay/notification-order-confirmation.body");
const KEY_RESPONSE: &[u8] = include_bytes!("../../../fixtures/ebay/public-key-response.json");

fn vector() -> serde_json::Value {
    serde_json::from_str(VECTOR).unwrap()
}

fn vector_header(case: usize) -> String {
    vector()["cases"][case]["x_ebay_signature"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A key pair of our own, derived from `seed` (tests stay free of randomness and repeatable),
/// and eBay-style material for it: (signing key, key-endpoint JSON).
fn generated_key(seed: &str) -> (SigningKey, Vec<u8>) {
    let scalar = Sha256::digest(format!("yoursender test key {seed}").as_bytes());
    let signing =
        SigningKey::from_slice(&scalar).expect("a SHA-256 digest is a valid P-256 scalar");
    let der = signing.verifying_key().to_public_key_der().unwrap();
    let pem_without_breaks = format!(
        "-----BEGIN PUBLIC KEY-----{}-----END PUBLIC KEY-----",
        STANDARD.encode(der.as_bytes())
    );
    let response = serde_json::json!({
        "key": pem_without_breaks, "algorithm": "ECDSA", "digest": "SHA1"
    });
    (signing, serde_json::to_vec(&response).unwrap())
}

fn sign_header(signing: &SigningKey, kid: &str, message: &[u8]) -> String {
    let signature: Signature = signing.sign_prehash(&Sha1::digest(message)).unwrap();
    let json = serde_json::json!({
        "alg": "ecdsa",
        "kid": kid,
        "signature": STANDARD.encode(signature.to_der().as_bytes()),
        "digest": "SHA1",
    });
    STANDARD.encode(serde_json::to_vec(&json).unwrap())
}

#[test]
fn fixture_vectors_verify_over_raw_bytes() {
    let key = EbayPublicKey::from_response_json(KEY_RESPONSE).unwrap();
    for (case, body) in [(0, DELETION), (1, ORDER)] {
        let header = SignatureHeader::parse(Some(&vector_header(case))).unwrap();
        assert_eq!(header.kid, "437676a4-b8db-4e5c-a512-57f4430c5ef9");
        assert_eq!(
            verify_ebay_signature(&key, &header, body),
            Ok(SignedForm::Raw)
        );
    }
}

#[test]
fn fixture_tampered_body_is_refused() {
    let key = EbayPublicKey::from_response_json(KEY_RESPONSE).unwrap();
    let header = SignatureHeader::parse(Some(&vector_header(2))).unwrap();
    let tampered = String::from_utf8(DELETION.to_vec())
        .unwrap()
        .replace("\"publishAttemptCount\":1", "\"publishAttemptCount\":2");
    assert_ne!(tampered.as_bytes(), DELETION);
    assert_eq!(
        verify_ebay_signature(&key, &header, tampered.as_bytes()),
        Err(EbayError::Mismatch)
    );
}

#[test]
fn fixture_signature_from_the_private_key_matches_the_public_key() {
    // The fixture's private key is the pair of its published public key.
    let private_pem = vector()["private_key_pem_pkcs8"]
        .as_str()
        .unwrap()
        .to_owned();
    let signing = SigningKey::from_pkcs8_pem(&private_pem).unwrap();
    let key = EbayPublicKey::from_response_json(KEY_RESPONSE).unwrap();
    assert_eq!(&key.verifying_key().unwrap(), signing.verifying_key());
}

#[test]
fn generated_key_verifies_and_other_key_does_not() {
    let (signing, response) = generated_key("k1");
    let (_, other_response) = generated_key("k2");
    let header = SignatureHeader::parse(Some(&sign_header(&signing, "kid-1", ORDER))).unwrap();
    let key = EbayPublicKey::from_response_json(&response).unwrap();
    let other = EbayPublicKey::from_response_json(&other_response).unwrap();
    assert_eq!(
        verify_ebay_signature(&key, &header, ORDER),
        Ok(SignedForm::Raw)
    );
    assert_eq!(
        verify_ebay_signature(&other, &header, ORDER),
        Err(EbayError::Mismatch)
    );
}

#[test]
fn signature_over_compact_json_verifies_a_reformatted_body() {
    // eBay's SDKs verify the compact re-serialisation; a body with whitespace must still pass
    // when the signature covers the compact form.
    let (signing, response) = generated_key("k3");
    let key = EbayPublicKey::from_response_json(&response).unwrap();
    let header = SignatureHeader::parse(Some(&sign_header(&signing, "kid-1", DELETION))).unwrap();
    let value: serde_json::Value = serde_json::from_slice(DELETION).unwrap();
    let pretty = serde_json::to_vec_pretty(&value).unwrap();
    assert_eq!(
        verify_ebay_signature(&key, &header, &pretty),
        Ok(SignedForm::CompactJson)
    );
    // Re-ordering keys changes the compact form: no longer valid.
    let reordered = br#"{"notification":{},"metadata":{}}"#;
    assert_eq!(
        verify_ebay_signature(&key, &header, reordered),
        Err(EbayError::Mismatch)
    );
}

#[test]
fn header_alg_is_case_insensitive_and_other_algorithms_are_refused() {
    let decoded = |alg: &str, digest: &str| {
        let sig = vector()["cases"][0]["x_ebay_signature_decoded"]["signature"]
            .as_str()
            .unwrap()
            .to_owned();
        let json = serde_json::json!({"alg": alg, "kid": "k1", "signature": sig, "digest": digest});
        STANDARD.encode(serde_json::to_vec(&json).unwrap())
    };
    assert!(SignatureHeader::parse(Some(&decoded("ECDSA", "SHA1"))).is_ok());
    assert!(SignatureHeader::parse(Some(&decoded("ecdsa", "sha1"))).is_ok());
    assert_eq!(
        SignatureHeader::parse(Some(&decoded("RSA", "SHA1"))),
        Err(EbayError::UnsupportedAlgorithm("RSA".into()))
    );
    assert_eq!(
        SignatureHeader::parse(Some(&decoded("ecdsa", "SHA256"))),
        Err(EbayError::UnsupportedAlgorithm("SHA256".into()))
    );
}

#[test]
fn malformed_headers_are_refused_with_a_reason() {
    assert_eq!(SignatureHeader::parse(None), Err(EbayError::MissingHeader));
    let cases = [
        ("%%%", "not base64"),
        (&STANDARD.encode("[1,2]"), "not the expected JSON object"),
        (
            &STANDARD.encode(r#"{"alg":"ecdsa","kid":"../x","signature":"AA==","digest":"SHA1"}"#),
            "kid is not a key id",
        ),
        (
            &STANDARD.encode(r#"{"alg":"ecdsa","kid":"k","signature":"AAAA","digest":"SHA1"}"#),
            "signature is not a DER ECDSA signature",
        ),
    ];
    for (value, reason) in cases {
        assert_eq!(
            SignatureHeader::parse(Some(value)),
            Err(EbayError::MalformedHeader(reason)),
            "{value}"
        );
    }
}

#[test]
fn keys_are_read_with_or_without_line_breaks_and_bad_keys_refused() {
    let key = EbayPublicKey::from_response_json(KEY_RESPONSE).unwrap();
    let b64 = STANDARD.encode(key.spki_der());
    let with_breaks = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----\n",
        &b64[..64],
        &b64[64..]
    );
    assert_eq!(EbayPublicKey::from_pem(&with_breaks).unwrap(), key);
    assert_eq!(
        EbayPublicKey::from_pem("MFkw"),
        Err(EbayError::MalformedKey("missing PEM armour"))
    );
    assert_eq!(
        EbayPublicKey::from_pem("-----BEGIN PUBLIC KEY-----AAAA-----END PUBLIC KEY-----"),
        Err(EbayError::MalformedKey("not a P-256 SubjectPublicKeyInfo"))
    );
    assert_eq!(
        EbayPublicKey::from_response_json(br#"{"key":"x","algorithm":"RSA","digest":"SHA1"}"#),
        Err(EbayError::UnsupportedAlgorithm("RSA".into()))
    );
}

#[test]
fn der_to_raw_gives_r_and_s_webcrypto_accepts() {
    let (signing, _) = generated_key("k4");
    let signature: Signature = signing.sign_prehash(&Sha1::digest(ORDER)).unwrap();
    let raw = der_signature_to_raw(signature.to_der().as_bytes()).unwrap();
    assert_eq!(Signature::from_slice(&raw).unwrap(), signature);
    // DER of the fixture (71 bytes, with a leading zero on r) still maps to 64 bytes.
    let header = SignatureHeader::parse(Some(&vector_header(0))).unwrap();
    assert_eq!(
        der_signature_to_raw(&header.signature_der).unwrap().len(),
        64
    );
    assert!(der_signature_to_raw(b"\x30\x00").is_err());
}

#[test]
fn challenge_answers_the_published_vector() {
    assert_eq!(
        ebay_challenge_response(
            "a8628072-3d33-45ee-9004-bee86830a22d",
            "71745723-d031-455c-bfa5-f90d11b4f20a",
            "http://www.testendpoint.com/webhook",
        ),
        "ca527df75caa230092d7e90484071e8f05d63068f1317973d6a3a42593734bbb"
    );
}

#[test]
fn challenge_answers_the_sdk_fixture() {
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("../../../fixtures/ebay/challenge.json")).unwrap();
    assert_eq!(
        ebay_challenge_response(
            fixture["challengeCode"].as_str().unwrap(),
            fixture["verificationToken"].as_str().unwrap(),
            fixture["endpoint"].as_str().unwrap(),
        ),
        fixture["response"]["body"]["challengeResponse"]
            .as_str()
            .unwrap()
    );
}

#[test]
fn compact_json_is_none_for_non_json() {
    assert_eq!(compact_json(b"not json"), None);
    assert_eq!(compact_json(b"{ \"a\" : 1 }").unwrap(), b"{\"a\":1}");
}
