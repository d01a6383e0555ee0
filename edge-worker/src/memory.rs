//! Isolate-local memory: maps a worker keeps to spare a KV read or a subrequest (tenant configs,
//! eBay key ids eBay does not know, the tenant of an API key). Losing one only costs that read.
//! Their keys come from requests, which a client can make up, so each map is bounded.

use std::cell::RefCell;
use std::collections::HashMap;

/// Entries one map keeps at most; at the bound it starts over, which a scan of made-up ids can
/// at worst keep emptying.
const LIMIT: usize = 10_000;

/// A bounded map from request-given keys to `V`, for a `thread_local!` (one per isolate).
pub struct IsolateMap<V>(RefCell<HashMap<String, V>>);

impl<V: Clone> IsolateMap<V> {
    pub fn new() -> Self {
        IsolateMap(RefCell::new(HashMap::new()))
    }

    pub fn get(&self, key: &str) -> Option<V> {
        self.0.borrow().get(key).cloned()
    }

    pub fn insert(&self, key: &str, value: V) {
        let mut map = self.0.borrow_mut();
        if map.len() >= LIMIT {
            map.clear();
        }
        map.insert(key.to_owned(), value);
    }
}
