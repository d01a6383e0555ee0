//! API key scopes: what each one allows, and the rule that a key with none has them all.

/// Every scope a key can carry, `resource:read` / `resource:write`.
pub const ALL_SCOPES: [&str; 12] = [
    "products:read",
    "products:write",
    "orders:read",
    "orders:write",
    "templates:read",
    "templates:write",
    "connections:read",
    "connections:write",
    "keys:read",
    "keys:write",
    "events:read",
    "events:write",
];

/// Parses a scope list (comma or space separated); the unknown one is the error.
pub fn parse_scopes<S: AsRef<str>>(items: &[S]) -> Result<Vec<String>, String> {
    let mut scopes: Vec<String> = Vec::new();
    for item in items {
        for scope in item.as_ref().split([',', ' ']).filter(|s| !s.is_empty()) {
            if !ALL_SCOPES.contains(&scope) {
                return Err(scope.to_owned());
            }
            if !scopes.iter().any(|s| s == scope) {
                scopes.push(scope.to_owned());
            }
        }
    }
    Ok(scopes)
}

/// Whether a key whose stored scopes are `granted` (space separated) may use `needed`.
pub fn allows(granted: &str, needed: &str) -> bool {
    granted.trim().is_empty() || granted.split(' ').any(|s| s == needed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_scopes_allow_everything() {
        assert!(allows("", "orders:write"));
        assert!(allows("orders:read products:read", "orders:read"));
        assert!(!allows("orders:read", "orders:write"));
    }

    #[test]
    fn scope_lists_are_checked_and_deduplicated() {
        assert_eq!(
            parse_scopes(&["orders:read,orders:read products:read"]).unwrap(),
            vec!["orders:read", "products:read"]
        );
        assert_eq!(
            parse_scopes(&["orders:admin"]),
            Err("orders:admin".to_owned())
        );
    }
}
