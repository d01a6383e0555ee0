//! eBay Marketplace notifications: the `X-EBAY-SIGNATURE` header, eBay's public keys, ECDSA
//! verification, and the endpoint challenge.
//!
//! eBay signs with ECDSA P-256 over SHA-1 and sends a DER signature inside a base64 JSON header.
//! What exactly is signed is undocumented: eBay's SDKs verify a compact re-serialisation of the
//! parsed message. We verify the raw bytes first and fall back to that re-serialisation.
//! This module is the reference implementation; the edge verifies with WebCrypto (cheaper in
//! Wasm) using [`der_signature_to_raw`] and [`EbayPublicKey::spki_der`], and its tests compare
//! against this. What the app's one endpoint reads of a notification is in [`app`].

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::Deserialize;
use sha1::{Digest, Sha1};
use sha2::Sha256;

pub mod app;

pub const SIGNATURE_HEADER: &str = "X-EBAY-SIGNATURE";

/// Standard base64 that accepts input with or without padding, as eBay's values vary.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a notification or a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EbayError {
    #[error("the X-EBAY-SIGNATURE header is missing")]
    MissingHeader,
    #[error("the X-EBAY-SIGNATURE header is malformed: {0}")]
    MalformedHeader(&'static str),
    #[error("unsupported signature algorithm {0:?} (expected ECDSA with SHA1)")]
    UnsupportedAlgorithm(String),
    #[error("the public key is malformed: {0}")]
    MalformedKey(&'static str),
    #[error("the signature does not match the message")]
    Mismatch,
}

/// The decoded `X-EBAY-SIGNATURE` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    /// Key id, to fetch the public key with.
    pub kid: String,
    /// The DER-encoded ECDSA signature.
    pub signature_der: Vec<u8>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: String,
    signature: String,
    digest: String,
}

impl SignatureHeader {
    /// Parses the header value: base64 of `{"alg","kid","signature","digest"}`.
    pub fn parse(value: Option<&str>) -> Result<Self, EbayError> {
        let value = value.ok_or(EbayError::MissingHeader)?.trim();
        let json = BASE64
            .decode(value)
            .map_err(|_| EbayError::MalformedHeader("not base64"))?;
        let raw: RawHeader = serde_json::from_slice(&json)
            .map_err(|_| EbayError::MalformedHeader("not the expected JSON object"))?;
        if !raw.alg.eq_ignore_ascii_case("ecdsa") {
            return Err(EbayError::UnsupportedAlgorithm(raw.alg));
        }
        if !raw.digest.eq_ignore_ascii_case("sha1") {
            return Err(EbayError::UnsupportedAlgorithm(raw.digest));
        }
        if raw.kid.is_empty() || raw.kid.len() > 128 || !raw.kid.bytes().all(is_kid_byte) {
            return Err(EbayError::MalformedHeader("kid is not a key id"));
        }
        let signature_der = BASE64
            .decode(raw.signature.trim())
            .map_err(|_| EbayError::MalformedHeader("signature is not base64"))?;
        Signature::from_der(&signature_der)
            .map_err(|_| EbayError::MalformedHeader("signature is not a DER ECDSA signature"))?;
        Ok(SignatureHeader {
            kid: raw.kid,
            signature_der,
        })
    }
}

// A kid goes into a URL path; allow only what eBay's ids are made of.
fn is_kid_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// A public key as eBay's `public_key/{kid}` endpoint returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EbayPublicKey {
    spki_der: Vec<u8>,
}

#[derive(Deserialize)]
struct RawKey {
    key: String,
    algorithm: String,
    digest: String,
}

impl EbayPublicKey {
    /// Reads the endpoint's JSON answer `{key, algorithm, digest}`.
    pub fn from_response_json(body: &[u8]) -> Result<Self, EbayError> {
        let raw: RawKey = serde_json::from_slice(body)
            .map_err(|_| EbayError::MalformedKey("not the expected JSON object"))?;
        if !raw.algorithm.eq_ignore_ascii_case("ecdsa") {
            return Err(EbayError::UnsupportedAlgorithm(raw.algorithm));
        }
        if !raw.digest.eq_ignore_ascii_case("sha1") {
            return Err(EbayError::UnsupportedAlgorithm(raw.digest));
        }
        Self::from_pem(&raw.key)
    }

    /// Reads a PEM public key, with or without its line breaks (eBay strips them).
    pub fn from_pem(pem: &str) -> Result<Self, EbayError> {
        let inner = pem
            .trim()
            .strip_prefix("-----BEGIN PUBLIC KEY-----")
            .and_then(|rest| rest.strip_suffix("-----END PUBLIC KEY-----"))
            .ok_or(EbayError::MalformedKey("missing PEM armour"))?;
        let base64: String = inner.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let spki_der = BASE64
            .decode(base64)
            .map_err(|_| EbayError::MalformedKey("PEM body is not base64"))?;
        let key = EbayPublicKey { spki_der };
        key.verifying_key()?;
        Ok(key)
    }

    /// The SubjectPublicKeyInfo DER bytes, as WebCrypto's `importKey("spki", …)` wants them.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    pub fn verifying_key(&self) -> Result<VerifyingKey, EbayError> {
        VerifyingKey::from_public_key_der(&self.spki_der)
            .map_err(|_| EbayError::MalformedKey("not a P-256 SubjectPublicKeyInfo"))
    }
}

/// Which bytes a valid signature covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedForm {
    /// The body exactly as received.
    Raw,
    /// The compact JSON re-serialisation of the body, in received key order.
    CompactJson,
}

/// Verifies a notification against the key named by its header.
pub fn verify_ebay_signature(
    key: &EbayPublicKey,
    header: &SignatureHeader,
    body: &[u8],
) -> Result<SignedForm, EbayError> {
    let verifying_key = key.verifying_key()?;
    let signature = Signature::from_der(&header.signature_der)
        .map_err(|_| EbayError::MalformedHeader("signature is not a DER ECDSA signature"))?;
    let verify = |message: &[u8]| {
        verifying_key
            .verify_prehash(&Sha1::digest(message), &signature)
            .is_ok()
    };
    if verify(body) {
        return Ok(SignedForm::Raw);
    }
    match compact_json(body) {
        Some(compact) if compact != body && verify(&compact) => Ok(SignedForm::CompactJson),
        _ => Err(EbayError::Mismatch),
    }
}

/// The compact JSON re-serialisation eBay's SDKs verify, keeping the received key order.
/// `None` when the body is not JSON.
pub fn compact_json(body: &[u8]) -> Option<Vec<u8>> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    serde_json::to_vec(&value).ok()
}

/// Converts a DER ECDSA signature to the fixed 64-byte `r || s` form WebCrypto verifies.
pub fn der_signature_to_raw(der: &[u8]) -> Result<[u8; 64], EbayError> {
    let signature = Signature::from_der(der)
        .map_err(|_| EbayError::MalformedHeader("signature is not a DER ECDSA signature"))?;
    Ok(signature.to_bytes().into())
}

/// The answer to eBay's endpoint challenge: hex SHA-256 of code, token and endpoint, in order.
pub fn ebay_challenge_response(
    challenge_code: &str,
    verification_token: &str,
    endpoint: &str,
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(challenge_code.as_bytes());
    hasher.update(verification_token.as_bytes());
    hasher.update(endpoint.as_bytes());
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests;
