//! Telling the marketplace an order is done: which calls a delivered order is due (an eBay
//! shipping fulfilment per line, an Etsy shipment or a WooCommerce completion per order), the
//! connection setting that turns them off, and what each platform answer means (done, worth
//! retrying, refused for good). No SQL and no HTTP: the store asks [`calls_due`] in the
//! transaction that records units sent, the job asks [`verdict`] of each answer.

use serde::{Deserialize, Serialize};

/// The audit trail's actions of a fulfilment call.
pub mod audit {
    /// The platform took the call (or had it already: an eBay line already fulfilled).
    pub const FULFILMENT_DONE: &str = "fulfilment_done";
    /// The call failed in a way worth retrying; when it is retried.
    pub const FULFILMENT_RETRY: &str = "fulfilment_retry";
    /// The platform refused the call for good, or it kept failing past the retry window.
    pub const FULFILMENT_REFUSED: &str = "fulfilment_refused";
    /// The connection's setting is off: nothing was sent to the platform.
    pub const FULFILMENT_SKIPPED: &str = "fulfilment_skipped";
    /// A delivery through the platform: the units' codes and links taken and their tokens
    /// held (not charged) while the call is made.
    pub const RESERVED: &str = "reserved";
    /// The platform took the delivery: the held tokens charged, the units sent.
    pub const DELIVERED_THROUGH_PLATFORM: &str = "delivered_through_platform";
    /// The platform refused the delivery: codes back in stock, held tokens back on the balance.
    pub const RELEASED: &str = "released";
}

/// Statuses of a fulfilment row.
pub const PENDING: &str = "pending";
pub const DONE: &str = "done";
pub const REFUSED: &str = "refused";
pub const SKIPPED: &str = "skipped";

/// The whole order, as the `target` of an Etsy or WooCommerce call.
pub const WHOLE_ORDER: &str = "";

/// Kinds of a fulfilment call: a plain mark of an order delivered by email, or the delivery
/// itself made through the marketplace (Etsy's `note_to_buyer`, emailed to the buyer by Etsy).
pub const MARK: &str = "mark";
pub const DELIVER: &str = "deliver";

/// Whether an order held as `hold_status` on `platform` is delivered through the platform
/// itself: an Etsy order without a usable buyer email (Etsy withholds it from many apps) gets
/// its codes and links in the note of its shipment, so it need not wait for the seller.
pub fn delivers_through_platform(platform: &str, hold_status: &str) -> bool {
    platform == "etsy" && hold_status == super::review::NEEDS_ADDRESS
}

/// A connection's settings, stored as a JSON object; an absent field takes its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectionSettings {
    /// Tell the platform once an order is delivered: eBay gets a shipping fulfilment (no
    /// carrier, no tracking) per line, Etsy marks the receipt shipped (and emails the buyer),
    /// WooCommerce sets the order `completed`. On unless turned off.
    pub mark_fulfilled: bool,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings {
            mark_fulfilled: true,
        }
    }
}

impl ConnectionSettings {
    /// Reads the stored JSON; anything unreadable is the defaults (the column is ours).
    pub fn from_stored(json: &str) -> Self {
        serde_json::from_str(json).unwrap_or_default()
    }

    pub fn to_stored(self) -> String {
        serde_json::to_string(&self).expect("settings serialise")
    }
}

/// One line of an order as the ledger has it right after recording units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineState {
    /// The platform's line id (eBay `lineItemId`).
    pub line_item_id: String,
    /// The item's delivery status (`order_items.delivery_status`).
    pub delivery_status: String,
    /// Units of the line whose email went out.
    pub units_sent: i64,
}

/// A call that is due: `target` is the line for eBay, [`WHOLE_ORDER`] otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallDue {
    pub target: String,
    pub quantity: i64,
}

fn done(line: &LineState) -> bool {
    line.delivery_status == "delivered" && line.units_sent > 0
}

/// The calls an order in `order_status` on `platform` is due now that its lines are as
/// `lines` say. eBay: each line whose every unit is sent (units a refund revoked do not
/// count), with the units sent. Etsy and WooCommerce: the whole order once every line is
/// delivered or revoked and one at least delivered (a line no product maps keeps it open:
/// something else, perhaps physical, is still to ship). A refunded or cancelled order is due
/// nothing. Calls already made are the store's to skip (one per target, ever).
pub fn calls_due(platform: &str, order_status: &str, lines: &[LineState]) -> Vec<CallDue> {
    if matches!(order_status, "refunded" | "cancelled") {
        return Vec::new();
    }
    match platform {
        "ebay" => lines
            .iter()
            .filter(|line| done(line) && !line.line_item_id.is_empty())
            .map(|line| CallDue {
                target: line.line_item_id.clone(),
                quantity: line.units_sent,
            })
            .collect(),
        "etsy" | "woocommerce" => {
            let closed = lines
                .iter()
                .all(|line| done(line) || line.delivery_status == "revoked");
            if !closed || !lines.iter().any(done) {
                return Vec::new();
            }
            vec![CallDue {
                target: WHOLE_ORDER.to_owned(),
                quantity: lines.iter().map(|line| line.units_sent).sum(),
            }]
        }
        _ => Vec::new(),
    }
}

/// What a platform's answer to a fulfilment call means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Done,
    Retry,
    Refused,
}

/// How a failed call reads, in the platform's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure<'a> {
    /// The HTTP status, when the platform answered.
    pub status: Option<u16>,
    /// eBay's `errorId`, when the answer had one.
    pub error_id: Option<u64>,
    /// Worth retrying as such (the network, a timeout, 5xx, 429).
    pub transient: bool,
    pub platform: &'a str,
}

/// eBay's `32210` (a duplicate line item: the line is in a fulfilment already) and `34500` (a
/// fulfilment exists, "use PUT"): the line is fulfilled, which is what the call was for.
const EBAY_ALREADY_FULFILLED: [u64; 2] = [32210, 34500];

/// What a failed call means: eBay's 409 and its "already fulfilled" codes are done; the
/// network, 5xx and 429 are retried, and so is a refused token (401/403: it is refreshed or
/// the seller reconnects, then the call goes through); any other answer is a refusal.
pub fn verdict(failure: Failure<'_>) -> Verdict {
    if failure.platform == "ebay"
        && (failure.status == Some(409)
            || failure
                .error_id
                .is_some_and(|id| EBAY_ALREADY_FULFILLED.contains(&id)))
    {
        return Verdict::Done;
    }
    if failure.transient || matches!(failure.status, Some(401 | 403)) {
        return Verdict::Retry;
    }
    Verdict::Refused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, status: &str, sent: i64) -> LineState {
        LineState {
            line_item_id: id.into(),
            delivery_status: status.into(),
            units_sent: sent,
        }
    }

    #[test]
    fn ebay_is_told_line_by_line_once_every_unit_is_sent() {
        let lines = [line("1", "delivered", 2), line("2", "queued", 1)];
        assert_eq!(
            calls_due("ebay", "processing", &lines),
            vec![CallDue {
                target: "1".into(),
                quantity: 2
            }]
        );
        assert!(calls_due("ebay", "refunded", &lines).is_empty());
    }

    #[test]
    fn etsy_and_woocommerce_wait_for_every_line() {
        let open = [line("1", "delivered", 1), line("2", "unmapped", 0)];
        assert!(calls_due("etsy", "processing", &open).is_empty());
        let closed = [line("1", "delivered", 1), line("2", "revoked", 0)];
        assert_eq!(
            calls_due("woocommerce", "delivered", &closed),
            vec![CallDue {
                target: WHOLE_ORDER.into(),
                quantity: 1
            }]
        );
        let all_revoked = [line("1", "revoked", 0)];
        assert!(calls_due("etsy", "delivered", &all_revoked).is_empty());
    }

    #[test]
    fn answers_read_as_done_retry_or_refused() {
        let ebay = |status, error_id| Failure {
            status: Some(status),
            error_id,
            transient: status >= 500,
            platform: "ebay",
        };
        assert_eq!(verdict(ebay(409, None)), Verdict::Done);
        assert_eq!(verdict(ebay(400, Some(32210))), Verdict::Done);
        assert_eq!(verdict(ebay(400, Some(32200))), Verdict::Refused);
        assert_eq!(verdict(ebay(500, Some(30500))), Verdict::Retry);
        assert_eq!(verdict(ebay(401, Some(1001))), Verdict::Retry);
        let etsy_conflict = Failure {
            status: Some(409),
            error_id: None,
            transient: false,
            platform: "etsy",
        };
        assert_eq!(verdict(etsy_conflict), Verdict::Refused);
    }

    #[test]
    fn settings_default_on() {
        assert!(ConnectionSettings::from_stored("{}").mark_fulfilled);
        assert!(!ConnectionSettings::from_stored(r#"{"mark_fulfilled":false}"#).mark_fulfilled);
    }
}
