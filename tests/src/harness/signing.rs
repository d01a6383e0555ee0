//! Signing deliveries the way the platforms do: eBay's `X-EBAY-SIGNATURE` with a key pair the
//! test generates, and WooCommerce's HMAC (from `shared`, the same function the edge checks with).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use rand_core::OsRng;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

pub use shared::woo::woocommerce_signature;

/// A P-256 key pair standing in for one of eBay's notification keys.
pub struct EbayTestKey {
    pub kid: String,
    signing: SigningKey,
}

impl EbayTestKey {
    pub fn generate(kid: &str) -> Self {
        EbayTestKey {
            kid: kid.to_owned(),
            signing: SigningKey::random(&mut OsRng),
        }
    }

    /// The public key as eBay's `key` field carries it: PEM with the line breaks stripped.
    pub fn public_key_pem_one_line(&self) -> String {
        self.signing
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("encode the public key")
            .replace('\n', "")
    }

    /// The public-key endpoint's JSON answer for this key.
    pub fn key_response(&self) -> Value {
        json!({ "key": self.public_key_pem_one_line(), "algorithm": "ECDSA", "digest": "SHA1" })
    }

    /// `X-EBAY-SIGNATURE` for `message`: base64 of `{"alg","kid","signature","digest"}` with a
    /// DER ECDSA signature over SHA-1 of the bytes.
    pub fn signature_header(&self, message: &[u8]) -> String {
        let signature: Signature = self
            .signing
            .sign_prehash(&Sha1::digest(message))
            .expect("sign the digest");
        let header = json!({
            "alg": "ecdsa",
            "kid": self.kid,
            "signature": BASE64.encode(signature.to_der().as_bytes()),
            "digest": "SHA1",
        });
        BASE64.encode(serde_json::to_vec(&header).unwrap())
    }
}
