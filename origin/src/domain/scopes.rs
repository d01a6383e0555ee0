//! API key scopes: what each one allows, and the rule that a key with none has them all.

/// What a key may do, `resource:read` / `resource:write`. Stored space separated by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    ProductsRead,
    ProductsWrite,
    OrdersRead,
    OrdersWrite,
    TemplatesRead,
    TemplatesWrite,
    ConnectionsRead,
    ConnectionsWrite,
    KeysRead,
    KeysWrite,
    EventsRead,
    /// Replaying events.
    EventsWrite,
    /// The low-stock and low-token alerts.
    AlertsRead,
}

impl Scope {
    /// Every scope a key can carry.
    pub const ALL: [Scope; 13] = [
        Scope::ProductsRead,
        Scope::ProductsWrite,
        Scope::OrdersRead,
        Scope::OrdersWrite,
        Scope::TemplatesRead,
        Scope::TemplatesWrite,
        Scope::ConnectionsRead,
        Scope::ConnectionsWrite,
        Scope::KeysRead,
        Scope::KeysWrite,
        Scope::EventsRead,
        Scope::EventsWrite,
        Scope::AlertsRead,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::ProductsRead => "products:read",
            Scope::ProductsWrite => "products:write",
            Scope::OrdersRead => "orders:read",
            Scope::OrdersWrite => "orders:write",
            Scope::TemplatesRead => "templates:read",
            Scope::TemplatesWrite => "templates:write",
            Scope::ConnectionsRead => "connections:read",
            Scope::ConnectionsWrite => "connections:write",
            Scope::KeysRead => "keys:read",
            Scope::KeysWrite => "keys:write",
            Scope::EventsRead => "events:read",
            Scope::EventsWrite => "events:write",
            Scope::AlertsRead => "alerts:read",
        }
    }

    pub fn from_name(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == name)
    }

    /// Every scope's name, for error hints.
    pub fn names() -> String {
        Scope::ALL.map(Scope::as_str).join(", ")
    }
}

/// Parses a scope list (comma or space separated); the unknown one is the error.
pub fn parse_scopes<S: AsRef<str>>(items: &[S]) -> Result<Vec<Scope>, String> {
    let mut scopes: Vec<Scope> = Vec::new();
    for item in items {
        for name in item.as_ref().split([',', ' ']).filter(|s| !s.is_empty()) {
            let scope = Scope::from_name(name).ok_or_else(|| name.to_owned())?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
    }
    Ok(scopes)
}

/// The stored form of a scope list: names, space separated; empty means every scope.
pub fn stored(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The names in a stored scope list.
pub fn stored_names(stored: &str) -> Vec<String> {
    stored
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether a key whose stored scopes are `granted` (space separated) may use `needed`.
pub fn allows(granted: &str, needed: Scope) -> bool {
    granted.trim().is_empty() || granted.split(' ').any(|s| s == needed.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_scopes_allow_everything() {
        assert!(allows("", Scope::OrdersWrite));
        assert!(allows("orders:read products:read", Scope::OrdersRead));
        assert!(!allows("orders:read", Scope::OrdersWrite));
        assert!(allows("alerts:read", Scope::AlertsRead));
    }

    #[test]
    fn scope_lists_are_checked_and_deduplicated() {
        assert_eq!(
            parse_scopes(&["orders:read,orders:read products:read"]).unwrap(),
            vec![Scope::OrdersRead, Scope::ProductsRead]
        );
        assert_eq!(
            parse_scopes(&["orders:admin"]),
            Err("orders:admin".to_owned())
        );
        assert_eq!(
            parse_scopes(&["tenant:read"]),
            Err("tenant:read".to_owned())
        );
    }

    #[test]
    fn every_scope_round_trips_its_name() {
        for scope in Scope::ALL {
            assert_eq!(Scope::from_name(scope.as_str()), Some(scope));
        }
    }
}
