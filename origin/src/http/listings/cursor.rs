//! The listing pickers' cursor: where in the platform's own list the next page starts, bound
//! to the connection and the search it was issued for. Opaque to clients (base64url of a
//! small JSON document); one that does not decode, or belongs to another list, is a 400.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::http::error::ApiError;

/// A place in a platform's list of listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Listings read from the platform a page (the request's `limit`, fixed by the first page).
    pub per_page: u32,
    /// How many of the platform's listings come before this place (in its own order, of its
    /// own search where it searches).
    pub offset: u64,
}

/// The most listings a cursor may skip: far past any seller's catalogue, short of overflow.
const MAX_OFFSET: u64 = 10_000_000;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    v: u8,
    /// Connection id.
    c: String,
    /// Search digest ("" without a search).
    s: String,
    n: u32,
    o: u64,
}

fn search_digest(search: Option<&str>) -> String {
    search.map_or_else(String::new, |q| {
        hex::encode(&Sha256::digest(q.as_bytes())[..8])
    })
}

/// The cursor of `position` in the list of `connection_id` searched for `search`.
pub fn encode(connection_id: &str, search: Option<&str>, position: Position) -> String {
    let wire = Wire {
        v: 1,
        c: connection_id.to_owned(),
        s: search_digest(search),
        n: position.per_page,
        o: position.offset,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&wire).expect("a cursor serialises"))
}

/// Reads a cursor [`encode`] issued for this connection and search; anything else is a 400
/// naming `cursor`.
pub fn decode(
    cursor: &str,
    connection_id: &str,
    search: Option<&str>,
    max_per_page: u32,
) -> Result<Position, ApiError> {
    let foreign = || {
        ApiError::invalid(
            "cursor",
            "the cursor is not one this API issued for this connection's listings",
            "pass meta.next_cursor of the previous page unchanged",
        )
    };
    let wire: Wire = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|raw| serde_json::from_slice(&raw).ok())
        .ok_or_else(foreign)?;
    if wire.v != 1
        || wire.c != connection_id
        || !(1..=max_per_page).contains(&wire.n)
        || wire.o > MAX_OFFSET
    {
        return Err(foreign());
    }
    if wire.s != search_digest(search) {
        return Err(ApiError::invalid(
            "cursor",
            "the cursor belongs to another search",
            "send the same q as the first page, or start again without a cursor",
        ));
    }
    Ok(Position {
        per_page: wire.n,
        offset: wire.o,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_stay_with_their_list() {
        let at = Position {
            per_page: 10,
            offset: 30,
        };
        let cursor = encode("con_1", Some("ebook"), at);
        assert_eq!(decode(&cursor, "con_1", Some("ebook"), 100).unwrap(), at);
        assert!(decode(&cursor, "con_2", Some("ebook"), 100).is_err());
        assert!(decode(&cursor, "con_1", None, 100).is_err());
        assert!(decode(&cursor, "con_1", Some("ebook"), 5).is_err());
        assert!(decode("not a cursor", "con_1", None, 100).is_err());
        let forged =
            URL_SAFE_NO_PAD.encode(br#"{"v":1,"c":"con_1","s":"","n":10,"o":99999999999}"#);
        assert!(decode(&forged, "con_1", None, 100).is_err());
    }
}
