//! The verified-token cache: a token seen before costs a hash lookup instead of a signature
//! verification.
//!
//! Each actix worker thread has its own cache (a `thread_local!`), so lookups take no lock and
//! never contend; a client's keep-alive connection stays on one worker, so its repeated token
//! hits. Entries are keyed by the exact token string and are never served:
//!
//! * at or past the token's `exp` (no leeway: the cache may only be stricter than verification);
//! * once the key that verified them is no longer published under the same `kid` (checked on
//!   every hit, and stale entries are purged when the next insert sees a new key set).
//!
//! The size is bounded per worker by `token_cache_capacity`: a full cache first drops expired
//! entries, then an arbitrary quarter of the rest (a `HashMap`'s order is random enough that an
//! attacker cannot pin entries).

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use crate::jwks::{KeySet, VerificationKey};
use crate::token::IdToken;

/// One verified token.
pub(crate) struct Entry {
    /// The `IdToken<C>` built for the claims type that verified it.
    token: Box<dyn Any>,
    kid: Option<String>,
    key: Arc<VerificationKey>,
    exp: u64,
}

impl Entry {
    pub(crate) fn new<C: 'static>(
        token: IdToken<C>,
        kid: Option<String>,
        key: Arc<VerificationKey>,
        exp: u64,
    ) -> Self {
        Self {
            token: Box::new(token),
            kid,
            key,
            exp,
        }
    }

    fn usable(&self, keys: &KeySet, now: f64) -> bool {
        now < self.exp as f64 && keys.still_holds(self.kid.as_deref(), &self.key)
    }
}

#[derive(Default)]
struct TokenCache {
    entries: HashMap<Box<str>, Entry>,
    /// The key-set generation the entries were last checked against.
    generation: u64,
}

thread_local! {
    /// One cache per `OidcAuth` instance (by id) on this thread.
    static CACHES: RefCell<HashMap<u64, TokenCache>> = RefCell::new(HashMap::new());
}

/// A cached token for `raw`, if it is still valid under `keys` and of claims type `C`.
pub(crate) fn get<C: 'static>(
    instance: u64,
    raw: &str,
    keys: &KeySet,
    now: f64,
) -> Option<IdToken<C>> {
    CACHES.with(|caches| {
        let caches = caches.borrow();
        let entry = caches.get(&instance)?.entries.get(raw)?;
        if !entry.usable(keys, now) {
            return None;
        }
        entry.token.downcast_ref::<IdToken<C>>().cloned()
    })
}

/// Remembers a verified token, keeping the cache within `capacity`.
pub(crate) fn insert(
    instance: u64,
    capacity: usize,
    raw: &str,
    entry: Entry,
    keys: &KeySet,
    now: f64,
) {
    if capacity == 0 {
        return;
    }
    CACHES.with(|caches| {
        let mut caches = caches.borrow_mut();
        let cache = caches.entry(instance).or_default();
        if cache.generation != keys.generation {
            cache.entries.retain(|_, entry| entry.usable(keys, now));
            cache.generation = keys.generation;
        }
        if cache.entries.len() >= capacity {
            cache.entries.retain(|_, entry| now < entry.exp as f64);
        }
        if cache.entries.len() >= capacity {
            let mut drop_count = capacity / 4 + 1;
            cache.entries.retain(|_, _| {
                drop_count = drop_count.saturating_sub(1);
                drop_count == 0
            });
        }
        cache.entries.insert(raw.into(), entry);
    });
}

/// The number of tokens cached for `instance` on this thread.
#[cfg(test)]
pub(crate) fn len(instance: u64) -> usize {
    CACHES.with(|caches| {
        caches
            .borrow()
            .get(&instance)
            .map_or(0, |cache| cache.entries.len())
    })
}
