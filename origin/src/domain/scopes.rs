//! API key scopes: what each one allows, and a key's grant: `*` (every scope) or a list,
//! and when one grant covers another (a key can hand out only what it holds).

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

/// The scope name that stands for every scope; only a key holding it can grant it.
pub const EVERY_SCOPE: &str = "*";

/// What a key holds: every scope (`*`), or exactly the scopes listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    Every,
    Only(Vec<Scope>),
}

impl Grant {
    /// Parses a requested scope list (comma or space separated). `*` is every scope; an
    /// empty list is an error (it no longer means every scope), and so is an unknown name.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Grant, GrantError> {
        let names: Vec<&str> = items
            .iter()
            .flat_map(|item| item.as_ref().split([',', ' ']))
            .filter(|s| !s.is_empty())
            .collect();
        if names.is_empty() {
            return Err(GrantError::Empty);
        }
        if names.contains(&EVERY_SCOPE) {
            return Ok(Grant::Every);
        }
        let mut scopes: Vec<Scope> = Vec::new();
        for name in names {
            let scope = Scope::from_name(name).ok_or_else(|| GrantError::Unknown(name.into()))?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        Ok(Grant::Only(scopes))
    }

    /// Reads a stored scope list. `*` is every scope, and so is the empty list keys made
    /// before `*` existed were stored with; names this build does not know are dropped.
    pub fn from_stored(stored: &str) -> Grant {
        let names: Vec<&str> = stored.split(' ').filter(|s| !s.is_empty()).collect();
        if names.is_empty() || names.contains(&EVERY_SCOPE) {
            return Grant::Every;
        }
        Grant::Only(names.into_iter().filter_map(Scope::from_name).collect())
    }

    /// The stored form: `*`, or the names space separated.
    pub fn stored(&self) -> String {
        self.names().join(" ")
    }

    /// The names as the API shows them: `["*"]` or each scope's name.
    pub fn names(&self) -> Vec<String> {
        match self {
            Grant::Every => vec![EVERY_SCOPE.to_owned()],
            Grant::Only(scopes) => scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        }
    }

    /// Whether the grant allows `needed`.
    pub fn allows(&self, needed: Scope) -> bool {
        match self {
            Grant::Every => true,
            Grant::Only(scopes) => scopes.contains(&needed),
        }
    }

    /// Whether this grant holds everything `other` does; if not, the first name it lacks
    /// (`*` when `other` is every scope and this is not).
    pub fn covers(&self, other: &Grant) -> Result<(), &'static str> {
        match (self, other) {
            (Grant::Every, _) => Ok(()),
            (Grant::Only(_), Grant::Every) => Err(EVERY_SCOPE),
            (Grant::Only(_), Grant::Only(wanted)) => {
                match wanted.iter().find(|s| !self.allows(**s)) {
                    Some(missing) => Err(missing.as_str()),
                    None => Ok(()),
                }
            }
        }
    }
}

/// Why a requested scope list was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantError {
    Empty,
    Unknown(String),
}

impl std::fmt::Display for GrantError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GrantError::Empty => f.write_str("name at least one scope, or \"*\" for every scope"),
            GrantError::Unknown(name) => write!(f, "unknown scope {name:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_is_an_explicit_star_and_legacy_empty_reads_as_it() {
        assert!(Grant::from_stored("*").allows(Scope::OrdersWrite));
        assert!(Grant::from_stored("").allows(Scope::OrdersWrite));
        let reader = Grant::from_stored("orders:read products:read");
        assert!(reader.allows(Scope::OrdersRead));
        assert!(!reader.allows(Scope::OrdersWrite));
        assert!(Grant::from_stored("alerts:read").allows(Scope::AlertsRead));
        assert_eq!(Grant::parse::<&str>(&[]), Err(GrantError::Empty));
        assert_eq!(Grant::parse(&[" , "]), Err(GrantError::Empty));
        assert_eq!(Grant::parse(&["*"]), Ok(Grant::Every));
        assert_eq!(Grant::Every.stored(), "*");
        assert_eq!(Grant::Every.names(), vec!["*"]);
    }

    #[test]
    fn scope_lists_are_checked_and_deduplicated() {
        assert_eq!(
            Grant::parse(&["orders:read,orders:read products:read"]).unwrap(),
            Grant::Only(vec![Scope::OrdersRead, Scope::ProductsRead])
        );
        assert_eq!(
            Grant::parse(&["orders:admin"]),
            Err(GrantError::Unknown("orders:admin".to_owned()))
        );
        assert_eq!(
            Grant::parse(&["tenant:read"]),
            Err(GrantError::Unknown("tenant:read".to_owned()))
        );
        let stored = Grant::parse(&["keys:write", "orders:read"])
            .unwrap()
            .stored();
        assert_eq!(stored, "keys:write orders:read");
        assert_eq!(
            Grant::from_stored(&stored),
            Grant::Only(vec![Scope::KeysWrite, Scope::OrdersRead])
        );
    }

    #[test]
    fn a_grant_covers_only_what_it_holds() {
        let keys = Grant::Only(vec![Scope::KeysWrite]);
        assert_eq!(keys.covers(&Grant::Every), Err("*"));
        assert_eq!(
            keys.covers(&Grant::Only(vec![Scope::KeysWrite, Scope::OrdersRead])),
            Err("orders:read")
        );
        assert_eq!(keys.covers(&keys.clone()), Ok(()));
        assert_eq!(keys.covers(&Grant::Only(vec![])), Ok(()));
        assert_eq!(Grant::Every.covers(&Grant::Every), Ok(()));
        assert_eq!(Grant::Every.covers(&keys), Ok(()));
    }

    #[test]
    fn every_scope_round_trips_its_name() {
        for scope in Scope::ALL {
            assert_eq!(Scope::from_name(scope.as_str()), Some(scope));
        }
    }
}
