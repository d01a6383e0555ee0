//! Download link tokens for `/d/{token}`.
//!
//! A token is the link's id and a truncated HMAC of it under the origin's link secret, so a
//! forged, mistyped or truncated token is refused before any database lookup. Expiry and the
//! download count live in the link's row, where they can change (revoked on refund).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::crypto::MasterKey;

/// 128 bits of tag: plenty against guessing, short enough for a link in an email.
const TAG_BYTES: usize = 16;

/// The key download tokens are signed with, derived from the master key: the jobs sign links
/// with it and `GET /d/{token}` checks them.
pub fn download_link_secret(master_key: &MasterKey) -> String {
    master_key.sign_link("download links v1")
}

/// The token to put in a download URL for `link_id` (which must not contain a `.`).
pub fn download_token(secret: &[u8], link_id: &str) -> String {
    let tag = mac(secret, link_id).finalize().into_bytes();
    format!("{link_id}.{}", URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES]))
}

/// The link id a token names, if the token is genuine.
pub fn verify_download_token<'t>(secret: &[u8], token: &'t str) -> Option<&'t str> {
    let (link_id, tag) = token.rsplit_once('.')?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    if link_id.is_empty() || tag.len() != TAG_BYTES {
        return None;
    }
    mac(secret, link_id)
        .verify_truncated_left(&tag)
        .ok()
        .map(|()| link_id)
}

fn mac(secret: &[u8], link_id: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(b"download-link\n");
    mac.update(link_id.as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"link-secret";

    #[test]
    fn a_token_names_its_link() {
        let token = download_token(SECRET, "dl_01HZX");
        assert!(token.starts_with("dl_01HZX."));
        assert_eq!(verify_download_token(SECRET, &token), Some("dl_01HZX"));
    }

    #[test]
    fn forged_truncated_and_foreign_tokens_are_refused() {
        let token = download_token(SECRET, "dl_1");
        let other_link = token.replacen("dl_1", "dl_2", 1);
        for bad in [
            other_link.as_str(),
            &token[..token.len() - 1],
            "dl_1",
            ".AAAAAAAAAAAAAAAAAAAAAA",
            "",
        ] {
            assert_eq!(verify_download_token(SECRET, bad), None, "{bad:?}");
        }
        assert_eq!(verify_download_token(b"other-secret", &token), None);
    }
}
