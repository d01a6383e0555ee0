//! What the ledger does not decide on its own: the quantity caps (an order over them waits
//! for the seller as `needs_review` and makes no ledger row until approved), an order without
//! an address its email can go to (`needs_address`, until the seller enters one), why a line waits
//! unmapped, which orders still take a resend or a replacement, what a resend charges, and
//! how many units a partial refund revokes. No SQL: the store reads the numbers and asks.

use shared::internal::Platform;

use super::ledger::{IntakeItem, TOKENS_PER_UNIT};
use super::orders::PlatformItem;

/// The status of an order waiting for the seller's approval, and its audit action.
pub const NEEDS_REVIEW: &str = "needs_review";
/// The audit action of an approval.
pub const APPROVED: &str = "approved";
/// The audit action of a partial refund (some lines' units revoked).
pub const PARTIALLY_REFUNDED: &str = "partially_refunded";
/// The alert an order waiting for review raises (subject: the order id).
pub const ORDER_NEEDS_REVIEW_ALERT: &str = "order_needs_review";

/// How many units the ledger takes in on its own: each unit is a ledger row, a token and an
/// allocation in the intake transaction, so a line of 4,294,967,295 units must not get there.
/// Set by `--max-units-per-line` and `--max-units-per-order` (defaults 100 and 500).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantityCaps {
    pub per_line: i64,
    pub per_order: i64,
}

/// Why an order must wait for the seller before any unit is made, or None when it is within
/// the caps. Every line counts, mapped or not (an unmapped line is delivered once mapped),
/// less the units already refunded.
pub fn over_caps(items: &[IntakeItem], caps: QuantityCaps) -> Option<String> {
    let units = |i: &IntakeItem| units_to_deliver(i.quantity, i.refunded);
    if let Some(line) = items.iter().find(|i| units(i) > caps.per_line) {
        return Some(format!(
            "line {} asks for {} units, over the cap of {} units per line",
            line.line_item_id,
            units(line),
            caps.per_line
        ));
    }
    let total = items
        .iter()
        .fold(0i64, |sum, i| sum.saturating_add(units(i)));
    (total > caps.per_order).then(|| {
        format!(
            "the order asks for {total} units, over the cap of {} units per order",
            caps.per_order
        )
    })
}

/// The status of an order whose buyer email cannot take an email, and its audit action:
/// nothing is made, allocated or charged until the seller enters an address.
pub const NEEDS_ADDRESS: &str = "needs_address";
/// The alert an order without a usable address raises (subject: the order id).
pub const ORDER_NEEDS_ADDRESS_ALERT: &str = "order_needs_address";
/// The audit action of a buyer email the seller set.
pub const BUYER_EMAIL_CHANGED: &str = "buyer_email_changed";

/// Why an order waits for the seller before any unit is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// The order's status (and its waiting items'): [`NEEDS_REVIEW`] or [`NEEDS_ADDRESS`].
    pub status: &'static str,
    /// The alert it raises.
    pub alert: &'static str,
    pub reason: String,
}

/// Whether an order of `status` waits for the seller ([`hold_for`]).
pub fn is_held(status: &str) -> bool {
    status == NEEDS_REVIEW || status == NEEDS_ADDRESS
}

/// Why a new order must wait for the seller, or None when its units are made now: over the
/// quantity caps first (an approval then checks the address), else without a usable address.
pub fn hold_for(items: &[IntakeItem], caps: QuantityCaps, buyer_email: &str) -> Option<Hold> {
    if let Some(reason) = over_caps(items, caps) {
        return Some(Hold {
            status: NEEDS_REVIEW,
            alert: ORDER_NEEDS_REVIEW_ALERT,
            reason,
        });
    }
    address_hold(buyer_email)
}

/// The hold of an order whose buyer email cannot take an email, or None when it can.
pub fn address_hold(buyer_email: &str) -> Option<Hold> {
    unusable_address(buyer_email).map(|reason| Hold {
        status: NEEDS_ADDRESS,
        alert: ORDER_NEEDS_ADDRESS_ALERT,
        reason,
    })
}

/// Why `email` cannot take a delivery email, or None when it can. Checked as the mailer
/// parses it, so no unit is charged or given a code for an address its email then fails on.
/// The address itself stays out of the reason (it is shown and kept apart from the buyer).
pub fn unusable_address(email: &str) -> Option<String> {
    if email.trim().is_empty() {
        return Some(
            "the platform gave no buyer email; enter the buyer's address to deliver".into(),
        );
    }
    match email.parse::<lettre::Address>() {
        Ok(_) => None,
        Err(error) => Some(format!(
            "the buyer email is not an address an email can go to ({error}); enter the buyer's \
             address to deliver"
        )),
    }
}

/// Why the buyer email of an order of `status` cannot be changed, or None when it can: a
/// refunded or cancelled order is closed.
pub fn address_change_refused(status: &str) -> Option<String> {
    matches!(status, "refunded" | "cancelled")
        .then(|| format!("the order is {status}: its buyer email is no longer changed"))
}

/// Why a line waits unmapped: the platform identity no active product maps.
pub fn unmapped_reason(platform: Platform, item: &PlatformItem) -> String {
    let listing = &item.listing;
    let what = match platform {
        Platform::Woocommerce => match &listing.variation_id {
            Some(variation) => format!(
                "WooCommerce product {} (variation {variation})",
                listing.product_id
            ),
            None => format!("WooCommerce product {}", listing.product_id),
        },
        Platform::Ebay => match &item.sku {
            Some(sku) => format!("eBay item {} (SKU {sku})", listing.product_id),
            None => format!("eBay item {}", listing.product_id),
        },
        Platform::Etsy => format!("Etsy listing {}", listing.product_id),
    };
    format!("no active product is mapped to {what}; it is delivered once one is")
}

/// Why an order of `status` takes no resend or replacement (its deliveries were revoked),
/// or None when it does.
pub fn redelivery_refused(status: &str) -> Option<String> {
    matches!(status, "refunded" | "cancelled").then(|| {
        format!("the order is {status}: its deliveries were revoked and are not sent again")
    })
}

/// Units one approval makes at most: an approval makes every unit in one transaction that
/// holds the write gate, so even the seller cannot have 4,294,967,295 of them made at once.
pub const APPROVAL_UNIT_CEILING: i64 = 10_000;

/// Why an order of `status` cannot be approved, or None when it waits for review.
pub fn approval_refused(status: &str) -> Option<String> {
    (status != NEEDS_REVIEW).then(|| format!("the order is {status}, not waiting for review"))
}

/// Why an approval of `units` units in all is refused although the order waits (more than
/// one approval may make), or None.
pub fn approval_too_large(units: i64) -> Option<String> {
    (units > APPROVAL_UNIT_CEILING).then(|| {
        format!(
            "the order asks for {units} units, more than the {APPROVAL_UNIT_CEILING} one approval \
             delivers; refund or cancel it on the platform"
        )
    })
}

/// What a resend costs: one token per unit sent again. A unit whose email failed was never
/// delivered, so sending it again is free; waiting and revoked units are not sent again, and
/// an unmapped line has no unit at all.
pub fn resend_cost(sent_units: i64) -> i64 {
    sent_units.max(0) * TOKENS_PER_UNIT
}

/// How many more units of a line of `quantity` to revoke when `refunded` of them are refunded
/// in all: `made` units exist (units refunded before they were made never were), `revoked`
/// of them are revoked already. Never more than is left to revoke.
pub fn units_to_revoke(quantity: i64, made: i64, refunded: i64, revoked: i64) -> i64 {
    let never_made = quantity - made;
    (refunded.min(quantity) - never_made - revoked).clamp(0, (made - revoked).max(0))
}

/// How many units of a line the ledger makes: its quantity less the units refunded.
pub fn units_to_deliver(quantity: i64, refunded: i64) -> i64 {
    (quantity - refunded.max(0)).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::orders::ListingRef;

    fn line(id: &str, quantity: i64) -> IntakeItem {
        IntakeItem {
            line_item_id: id.into(),
            name: id.into(),
            quantity,
            refunded: 0,
            product: None,
            platform_line: None,
            waiting_reason: None,
        }
    }

    #[test]
    fn an_order_without_a_usable_address_waits_for_one() {
        let caps = QuantityCaps {
            per_line: 10,
            per_order: 10,
        };
        let items = [line("a", 1)];
        assert_eq!(hold_for(&items, caps, "buyer@example.com"), None);
        for bad in ["", "  ", "not-an-address", "@example.com", "buyer@"] {
            let hold = hold_for(&items, caps, bad).expect(bad);
            assert_eq!(hold.status, NEEDS_ADDRESS, "{bad:?}");
            assert_eq!(hold.alert, ORDER_NEEDS_ADDRESS_ALERT);
            assert!(
                hold.reason.contains("enter the buyer's address"),
                "{}",
                hold.reason
            );
        }
        // Over the caps, review comes first; the approval checks the address.
        let hold = hold_for(&[line("a", 11)], caps, "").unwrap();
        assert_eq!(hold.status, NEEDS_REVIEW);
        assert!(is_held(NEEDS_ADDRESS) && is_held(NEEDS_REVIEW) && !is_held("processing"));
        assert!(address_change_refused("refunded").is_some());
        assert!(address_change_refused(NEEDS_ADDRESS).is_none());
    }

    #[test]
    fn an_order_over_a_cap_waits_with_the_reason() {
        let caps = QuantityCaps {
            per_line: 100,
            per_order: 500,
        };
        assert_eq!(over_caps(&[line("a", 100), line("b", 100)], caps), None);
        let huge = over_caps(&[line("a", 1), line("b", 4_294_967_295)], caps).unwrap();
        assert!(huge.contains("line b asks for 4294967295 units"), "{huge}");
        let wide: Vec<IntakeItem> = (0..6).map(|n| line(&n.to_string(), 100)).collect();
        let total = over_caps(&wide, caps).unwrap();
        assert!(total.contains("600 units, over the cap of 500"), "{total}");
        assert_eq!(
            over_caps(
                &[line("a", i64::MAX), line("b", i64::MAX)],
                QuantityCaps {
                    per_line: i64::MAX,
                    per_order: 500
                }
            )
            .map(|r| r.contains("per order")),
            Some(true),
            "the sum saturates instead of overflowing"
        );
    }

    #[test]
    fn an_unmapped_line_names_what_is_missing() {
        let item = PlatformItem {
            line_item_id: "3302".into(),
            listing: ListingRef {
                product_id: "777".into(),
                variation_id: None,
            },
            title: "Ebook".into(),
            sku: Some("EB".into()),
            quantity: 1,
            refunded: 0,
        };
        assert!(unmapped_reason(Platform::Woocommerce, &item).contains("WooCommerce product 777"));
        assert!(unmapped_reason(Platform::Ebay, &item).contains("eBay item 777 (SKU EB)"));
        assert!(unmapped_reason(Platform::Etsy, &item).contains("Etsy listing 777"));
    }

    #[test]
    fn closed_orders_take_no_redelivery_and_only_reviewed_ones_are_approved() {
        assert!(redelivery_refused("refunded").is_some());
        assert!(redelivery_refused("cancelled").is_some());
        assert_eq!(redelivery_refused("delivered"), None);
        assert_eq!(redelivery_refused("failed"), None);
        assert_eq!(approval_refused(NEEDS_REVIEW), None);
        assert!(approval_refused("delivered").is_some());
        assert_eq!(approval_too_large(APPROVAL_UNIT_CEILING), None);
        assert!(approval_too_large(4_294_967_295).is_some());
    }

    #[test]
    fn a_resend_charges_the_units_sent_again_and_failed_ones_are_free() {
        assert_eq!(resend_cost(3), 3);
        assert_eq!(resend_cost(0), 0);
        assert_eq!(resend_cost(-1), 0);
    }

    #[test]
    fn a_partial_refund_revokes_up_to_the_refunded_units() {
        assert_eq!(units_to_revoke(3, 3, 1, 0), 1);
        assert_eq!(
            units_to_revoke(3, 3, 1, 1),
            0,
            "a repeated refund revokes nothing more"
        );
        assert_eq!(
            units_to_revoke(3, 3, 5, 1),
            2,
            "never more than the line has"
        );
        assert_eq!(
            units_to_revoke(3, 2, 1, 0),
            0,
            "refunded before it was made"
        );
        assert_eq!(units_to_revoke(3, 2, 2, 0), 1);
        assert_eq!(
            units_to_revoke(3, 0, 3, 0),
            0,
            "an unmapped line has no unit"
        );
        assert_eq!(units_to_deliver(3, 1), 2);
        assert_eq!(units_to_deliver(3, 4), 0);
        assert_eq!(units_to_deliver(3, -2), 3);
    }
}
