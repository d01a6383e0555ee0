//! The delivery ledger's rules: what a unit needs, whether it can be allocated and charged,
//! how a batch charges each tenant's balance, when the low-stock and low-tokens alerts fire
//! and clear, and the names of the audit trail's actions. No SQL: the store's transactions
//! read the numbers, ask these functions, and write what they answer.

use std::collections::BTreeMap;

use super::review::QuantityCaps;

/// A paid order as the pipeline takes it in, its items already mapped to products.
#[derive(Debug, Clone)]
pub struct OrderIntake {
    pub tenant_id: String,
    pub platform: String,
    /// The order's scope (`events::order_scope`): its connection for WooCommerce, else empty.
    pub connection_id: String,
    pub platform_order_id: String,
    pub buyer_email: String,
    pub buyer_name: Option<String>,
    pub buyer_platform_id: Option<String>,
    pub currency: Option<String>,
    pub items: Vec<IntakeItem>,
}

#[derive(Debug, Clone)]
pub struct IntakeItem {
    pub line_item_id: String,
    pub name: String,
    pub quantity: i64,
    /// Units the platform says were refunded on their own (a partial refund): not delivered.
    pub refunded: i64,
    /// `(product id, product type)` when a mapping matched.
    pub product: Option<(String, String)>,
    /// The platform's line as JSON (`orders::PlatformItem`), kept on the order item: what an
    /// unmapped line is matched against later, and the line an approved order delivers.
    pub platform_line: Option<String>,
    /// Why the line waits (no product maps it), shown to the seller.
    pub waiting_reason: Option<String>,
}

/// What each allocation applies: limits of the download links made for FILE/HYBRID units,
/// and the balance under which a low-tokens alert is recorded.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryPolicy {
    pub link_ttl_ms: i64,
    pub max_downloads: i64,
    pub low_tokens: i64,
    /// Orders over these wait for the seller's review instead (`review::over_caps`).
    pub caps: QuantityCaps,
}

/// What delivering one unit costs: one token, whatever the product.
pub const TOKENS_PER_UNIT: i64 = 1;

/// What one unit of a product type needs besides its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitNeeds {
    /// A license code (CODE and HYBRID).
    pub code: bool,
    /// Download links to the product's files (FILE and HYBRID).
    pub files: bool,
}

impl UnitNeeds {
    pub fn of(product_type: &str) -> Self {
        UnitNeeds {
            code: matches!(product_type, "CODE" | "HYBRID"),
            files: matches!(product_type, "FILE" | "HYBRID"),
        }
    }
}

/// How one unit's allocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocation {
    Allocated,
    AwaitingStock,
    AwaitingTokens,
}

impl Allocation {
    /// The ledger status a waiting unit is parked in (also its audit action).
    pub fn waiting_status(self) -> Option<&'static str> {
        match self {
            Allocation::Allocated => None,
            Allocation::AwaitingStock => Some(audit::AWAITING_STOCK),
            Allocation::AwaitingTokens => Some(audit::AWAITING_TOKENS),
        }
    }
}

/// Whether a balance pays for one more unit. Asked before a code is taken, so a unit that
/// cannot be paid for takes no code.
pub fn can_pay_unit(balance: i64) -> bool {
    balance >= TOKENS_PER_UNIT
}

/// How a unit's allocation ends: tokens are checked first, then the code it needs (None
/// when it was not tried, because the unit needs no code or cannot be paid for).
pub fn allocation(balance: i64, needs: UnitNeeds, code_taken: bool) -> Allocation {
    if !can_pay_unit(balance) {
        Allocation::AwaitingTokens
    } else if needs.code && !code_taken {
        Allocation::AwaitingStock
    } else {
        Allocation::Allocated
    }
}

/// A charge the balance cannot pay: what there is and what was needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shortfall {
    pub balance: i64,
    pub needed: i64,
}

/// Charges `needed` tokens at once (a resend, a replaced code): the new balance, or the
/// shortfall when the balance is too low (then nothing is charged).
pub fn charge(balance: i64, needed: i64) -> Result<i64, Shortfall> {
    if balance >= needed {
        Ok(balance - needed)
    } else {
        Err(Shortfall { balance, needed })
    }
}

/// The balances a batch charges, per tenant: each balance is read once (the store opens it),
/// charged unit by unit in memory, and written once at the end as the sum charged.
#[derive(Debug, Default)]
pub struct TenantCharges {
    /// Per tenant: `(balance now, tokens charged so far)`.
    balances: BTreeMap<String, (i64, i64)>,
}

impl TenantCharges {
    /// The tenant's balance in this batch, if it was read already.
    pub fn balance(&self, tenant_id: &str) -> Option<i64> {
        self.balances.get(tenant_id).map(|(balance, _)| *balance)
    }

    /// Starts counting from the balance as read.
    pub fn open(&mut self, tenant_id: &str, balance: i64) {
        self.balances
            .entry(tenant_id.to_owned())
            .or_insert((balance, 0));
    }

    /// Charges one unit of an opened balance; the new balance.
    pub fn charge_unit(&mut self, tenant_id: &str) -> i64 {
        let entry = self
            .balances
            .get_mut(tenant_id)
            .expect("the balance is read before a charge");
        entry.0 -= TOKENS_PER_UNIT;
        entry.1 += TOKENS_PER_UNIT;
        entry.0
    }

    /// What to take from each tenant's stored balance: only tenants actually charged.
    pub fn totals(&self) -> impl Iterator<Item = (&str, i64)> {
        self.balances
            .iter()
            .filter(|(_, (_, charged))| *charged > 0)
            .map(|(tenant_id, (_, charged))| (tenant_id.as_str(), *charged))
    }
}

/// The low-tokens alert fires after a charge leaves the balance under the policy's threshold.
pub fn low_tokens_fires(balance: i64, threshold: i64) -> bool {
    balance < threshold
}

/// The low-tokens alert clears once the balance is back at the threshold its detail records
/// (1 when the detail names none).
pub fn low_tokens_clears(balance: i64, recorded_threshold: Option<i64>) -> bool {
    balance >= recorded_threshold.unwrap_or(1)
}

/// The threshold a low-tokens alert's detail JSON records.
pub fn recorded_threshold(detail: &str) -> Option<i64> {
    serde_json::from_str::<serde_json::Value>(detail)
        .ok()
        .and_then(|d| d["threshold"].as_i64())
}

/// The low-stock alert fires, as the product shows it, when an allocation leaves the
/// available codes down to (or under) the product's threshold; a threshold of 0 turns it off.
/// A unit that finds no code at all raises it regardless (see [`low_stock_when_out`]).
pub fn low_stock_fires(available: i64, threshold: i64) -> bool {
    threshold > 0 && available <= threshold
}

/// The low-stock alert a unit parked for want of a code raises: zero available.
pub fn low_stock_when_out() -> i64 {
    0
}

/// The low-stock alert clears once the available codes are above the product's threshold.
pub fn low_stock_clears(available: i64, threshold: i64) -> bool {
    available > threshold
}

/// Alert kinds.
pub mod alerts {
    pub const LOW_TOKENS: &str = "low_tokens";
    pub const LOW_STOCK: &str = "low_stock";
}

/// The actions of an order's audit trail. A refund or cancellation is recorded under the
/// order's new status (`refunded`, `cancelled`); a sent email under what the sender names.
pub mod audit {
    pub const ORDER_CREATED: &str = "order_created";
    pub const RECEIVED: &str = "received";
    pub const MAPPED: &str = "mapped";
    pub const ALLOCATED: &str = "allocated";
    pub const CHARGED: &str = "charged";
    pub const AWAITING_STOCK: &str = "awaiting_stock";
    pub const AWAITING_TOKENS: &str = "awaiting_tokens";
    pub const FAILED: &str = "failed";
    pub const RESEND_REQUESTED: &str = "resend_requested";
    pub const CODE_REPLACED: &str = "code_replaced";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_product_type_needs_its_own_parts() {
        assert_eq!(
            UnitNeeds::of("CODE"),
            UnitNeeds {
                code: true,
                files: false
            }
        );
        assert_eq!(
            UnitNeeds::of("FILE"),
            UnitNeeds {
                code: false,
                files: true
            }
        );
        assert_eq!(
            UnitNeeds::of("HYBRID"),
            UnitNeeds {
                code: true,
                files: true
            }
        );
        assert_eq!(
            UnitNeeds::of("OTHER"),
            UnitNeeds {
                code: false,
                files: false
            }
        );
    }

    #[test]
    fn a_unit_without_tokens_waits_for_tokens_before_stock() {
        let code = UnitNeeds::of("CODE");
        assert_eq!(allocation(0, code, false), Allocation::AwaitingTokens);
        assert_eq!(allocation(-3, code, true), Allocation::AwaitingTokens);
        assert_eq!(allocation(1, code, false), Allocation::AwaitingStock);
        assert_eq!(allocation(1, code, true), Allocation::Allocated);
        assert_eq!(
            allocation(1, UnitNeeds::of("FILE"), false),
            Allocation::Allocated
        );
        assert!(!can_pay_unit(0));
        assert!(can_pay_unit(1));
    }

    #[test]
    fn waiting_units_are_parked_under_their_reason() {
        assert_eq!(Allocation::Allocated.waiting_status(), None);
        assert_eq!(
            Allocation::AwaitingStock.waiting_status(),
            Some("awaiting_stock")
        );
        assert_eq!(
            Allocation::AwaitingTokens.waiting_status(),
            Some("awaiting_tokens")
        );
    }

    #[test]
    fn a_charge_takes_all_or_nothing() {
        assert_eq!(charge(5, 3), Ok(2));
        assert_eq!(charge(3, 3), Ok(0));
        assert_eq!(
            charge(2, 3),
            Err(Shortfall {
                balance: 2,
                needed: 3
            })
        );
    }

    #[test]
    fn a_batch_charges_each_tenant_once_per_unit_and_writes_sums() {
        let mut charges = TenantCharges::default();
        assert_eq!(charges.balance("a"), None);
        charges.open("a", 3);
        charges.open("b", 10);
        assert_eq!(charges.charge_unit("a"), 2);
        assert_eq!(charges.charge_unit("a"), 1);
        // Opening again keeps the count of this batch.
        charges.open("a", 3);
        assert_eq!(charges.balance("a"), Some(1));
        assert_eq!(charges.totals().collect::<Vec<_>>(), vec![("a", 2)]);
    }

    #[test]
    fn low_tokens_fires_under_the_threshold_and_clears_at_the_recorded_one() {
        assert!(low_tokens_fires(4, 5));
        assert!(!low_tokens_fires(5, 5));
        assert!(low_tokens_clears(5, Some(5)));
        assert!(!low_tokens_clears(4, Some(5)));
        assert!(low_tokens_clears(1, None));
        assert!(!low_tokens_clears(0, None));
        assert_eq!(
            recorded_threshold(r#"{"token_balance":2,"threshold":5}"#),
            Some(5)
        );
        assert_eq!(recorded_threshold("not json"), None);
    }

    #[test]
    fn low_stock_fires_down_to_the_threshold_and_clears_above_it() {
        assert!(low_stock_fires(3, 3));
        assert!(low_stock_fires(0, 3));
        assert!(!low_stock_fires(4, 3));
        assert!(!low_stock_fires(0, 0), "a zero threshold turns it off");
        assert!(low_stock_clears(4, 3));
        assert!(!low_stock_clears(3, 3));
        assert_eq!(low_stock_when_out(), 0);
    }
}
