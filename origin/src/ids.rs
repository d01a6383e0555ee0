//! Identifiers and time: ids are a short prefix plus a UUIDv7, so they sort by creation time
//! and keyset pagination on `id` walks rows newest first without an extra column.

/// A new id such as `prd_0190f5c2…` (prefix, underscore, 32 hex digits).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// RFC 3339 (UTC, milliseconds) for a stored millisecond timestamp.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_creation() {
        let first = new_id("ord");
        let second = new_id("ord");
        assert!(first < second, "{first} !< {second}");
        assert_eq!(first.len(), 4 + 32);
        assert!(shared::internal::is_plausible_tenant_id(&new_id("ten")));
    }

    #[test]
    fn timestamps_render_as_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    }
}
