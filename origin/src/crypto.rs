//! Secrets at rest and signed links: platform secrets are sealed with the master key
//! (XChaCha20-Poly1305, random nonce), upload URLs carry an HMAC made with a key derived from it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretSlice};
use sha2::{Digest, Sha256};

/// Why a sealed value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the master key must be 64 hex digits (32 bytes)")]
    BadMasterKey,
    #[error("the sealed value is corrupt or was sealed with another master key")]
    Corrupt,
}

/// The master key and what is derived from it. Never printed.
#[derive(Clone)]
pub struct MasterKey {
    cipher_key: SecretSlice<u8>,
    link_key: SecretSlice<u8>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// Parses 64 hex digits.
    pub fn from_hex(hex_key: &str) -> Result<Self, SealError> {
        let bytes = hex::decode(hex_key.trim()).map_err(|_| SealError::BadMasterKey)?;
        if bytes.len() != 32 {
            return Err(SealError::BadMasterKey);
        }
        let link_key = Sha256::new()
            .chain_update(b"yoursender signed links v1")
            .chain_update(&bytes)
            .finalize()
            .to_vec();
        Ok(MasterKey {
            cipher_key: bytes.into(),
            link_key: link_key.into(),
        })
    }

    /// Encrypts `plaintext`; the result is `v1.` + base64url(nonce ‖ ciphertext).
    pub fn seal(&self, plaintext: &[u8]) -> String {
        let cipher = XChaCha20Poly1305::new_from_slice(self.cipher_key.expose_secret())
            .expect("the key length was checked at construction");
        let mut nonce = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(&XNonce::from(nonce), plaintext)
            .expect("encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("v1.{}", URL_SAFE_NO_PAD.encode(out))
    }

    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, SealError> {
        let raw = sealed
            .strip_prefix("v1.")
            .and_then(|b| URL_SAFE_NO_PAD.decode(b).ok())
            .filter(|raw| raw.len() > 24)
            .ok_or(SealError::Corrupt)?;
        let cipher = XChaCha20Poly1305::new_from_slice(self.cipher_key.expose_secret())
            .expect("the key length was checked at construction");
        let (nonce, ciphertext) = raw.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| SealError::Corrupt)?;
        cipher
            .decrypt(&XNonce::from(nonce), ciphertext)
            .map_err(|_| SealError::Corrupt)
    }

    /// Encrypts `plaintext` bound to `context` (associated data: what the value belongs
    /// to); the result is `v2.` + base64url(nonce ‖ ciphertext). It opens only with the same
    /// context, so a sealed value copied elsewhere does not open.
    pub fn seal_bound(&self, plaintext: &[u8], context: &[u8]) -> String {
        let cipher = XChaCha20Poly1305::new_from_slice(self.cipher_key.expose_secret())
            .expect("the key length was checked at construction");
        let mut nonce = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext,
            aad: context,
        };
        let sealed = cipher
            .encrypt(&XNonce::from(nonce), payload)
            .expect("encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("v2.{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens what [`MasterKey::seal_bound`] sealed with this `context`; a `v1.` value (sealed
    /// before values were bound) opens without one, to be sealed bound on its next write.
    pub fn open_bound(&self, sealed: &str, context: &[u8]) -> Result<Vec<u8>, SealError> {
        let Some(encoded) = sealed.strip_prefix("v2.") else {
            return self.open(sealed);
        };
        let raw = URL_SAFE_NO_PAD
            .decode(encoded)
            .ok()
            .filter(|raw| raw.len() > 24)
            .ok_or(SealError::Corrupt)?;
        let cipher = XChaCha20Poly1305::new_from_slice(self.cipher_key.expose_secret())
            .expect("the key length was checked at construction");
        let (nonce, ciphertext) = raw.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| SealError::Corrupt)?;
        let payload = Payload {
            msg: ciphertext,
            aad: context,
        };
        cipher
            .decrypt(&XNonce::from(nonce), payload)
            .map_err(|_| SealError::Corrupt)
    }

    /// Hex HMAC over `message` with the link key.
    pub fn sign_link(&self, message: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.link_key.expose_secret())
            .expect("HMAC accepts keys of any length");
        mac.update(message.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Constant-time check of a link signature made by [`MasterKey::sign_link`].
    pub fn verify_link(&self, message: &str, signature_hex: &str) -> bool {
        let Ok(claimed) = hex::decode(signature_hex) else {
            return false;
        };
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.link_key.expose_secret())
            .expect("HMAC accepts keys of any length");
        mac.update(message.as_bytes());
        mac.verify_slice(&claimed).is_ok()
    }
}

/// `n` random bytes as lower-case hex (webhook secrets the origin makes up).
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::from_hex(&"11".repeat(32)).unwrap()
    }

    #[test]
    fn sealed_values_open_only_with_the_same_key() {
        let sealed = key().seal(b"wc-secret");
        assert!(!sealed.contains("wc-secret"));
        assert_eq!(key().open(&sealed).unwrap(), b"wc-secret");
        let other = MasterKey::from_hex(&"22".repeat(32)).unwrap();
        assert!(other.open(&sealed).is_err());
        assert!(key().open("v1.AAAA").is_err());
        assert_ne!(key().seal(b"x"), key().seal(b"x"), "nonces are random");
    }

    #[test]
    fn bound_values_open_only_in_their_context_and_old_ones_still_open() {
        let sealed = key().seal_bound(b"token", b"tenant_a/con_1");
        assert!(sealed.starts_with("v2."));
        assert_eq!(
            key().open_bound(&sealed, b"tenant_a/con_1").unwrap(),
            b"token"
        );
        assert!(key().open_bound(&sealed, b"tenant_a/con_2").is_err());
        assert!(key().open_bound(&sealed, b"tenant_b/con_1").is_err());
        assert!(key().open(&sealed).is_err());
        let old = key().seal(b"token");
        assert_eq!(key().open_bound(&old, b"anything").unwrap(), b"token");
    }

    #[test]
    fn master_key_must_be_32_bytes_of_hex() {
        assert!(MasterKey::from_hex("abcd").is_err());
        assert!(MasterKey::from_hex(&"zz".repeat(32)).is_err());
        assert!(!format!("{:?}", key()).contains("11"));
    }

    #[test]
    fn link_signatures_verify_and_refuse_changes() {
        let sig = key().sign_link("file_1:123");
        assert!(key().verify_link("file_1:123", &sig));
        assert!(!key().verify_link("file_1:124", &sig));
        assert!(!key().verify_link("file_1:123", "zz"));
    }
}
