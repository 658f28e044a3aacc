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
//! A token is admitted on its second verification on a worker, not its first: the first one
//! only leaves an 8-byte fingerprint in a fixed table. A token sent once (a client that fetches
//! a new token per request, a flood of distinct tokens) then costs no cache memory at all, and
//! the entries' allocations — some fifteen per token, freed later in bulk on eviction — are
//! spent only on tokens that come back. A token that is reused pays one extra verification per
//! worker over its lifetime.
//!
//! The size is bounded per worker by `token_cache_capacity`: a full cache first drops expired
//! entries, then an arbitrary quarter of the rest (in the map's order, which the tokens'
//! signatures decide: an attacker cannot pin entries).

use std::any::Any;
use std::borrow::Borrow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;

use crate::jwks::{KeySet, VerificationKey};
use crate::token::IdToken;

/// Hashes a token by its last 8 bytes, which lie in the signature, and its length.
///
/// Hashing all ~1 KiB of a token with SipHash was a fifth of a cache hit's cost. The tail of the
/// signature is as unpredictable as a hash (it is one, or an RSA/ECDSA value over one), and only
/// tokens whose signature verified are ever inserted, so nobody can fill a bucket on purpose.
/// A forged token may copy a cached token's tail: the lookup then compares the whole token and
/// misses, exactly as with any other hash.
#[derive(Default)]
struct SignatureTailHasher(u64);

impl Hasher for SignatureTailHasher {
    fn write(&mut self, bytes: &[u8]) {
        let tail = &bytes[bytes.len().saturating_sub(8)..];
        let mut word = [0u8; 8];
        word[..tail.len()].copy_from_slice(tail);
        self.mix(u64::from_le_bytes(word) ^ (bytes.len() as u64).rotate_left(48));
    }

    fn write_u8(&mut self, byte: u8) {
        self.mix(u64::from(byte));
    }

    // A byte slice's hash writes its length first (`TokenKey` hashes as `[u8]`); `write` mixes
    // the length in already, so this writes nothing (the default would hash the length's
    // bytes as another slice).
    fn write_usize(&mut self, _length: usize) {}

    fn finish(&self) -> u64 {
        self.0
    }
}

impl SignatureTailHasher {
    /// A multiply-fold step (as in FxHash and foldhash): spreads every input bit over the
    /// high bits, which the map's probing reads.
    fn mix(&mut self, word: u64) {
        let product = u128::from(self.0 ^ word) * 0x9E37_79B9_7F4A_7C15;
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }
}

/// One verified token.
pub(crate) struct Entry {
    /// The encoded token: the same allocation as the `IdToken`'s own copy.
    raw: Arc<str>,
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
            raw: Arc::clone(token.raw_shared()),
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

type TailHash = BuildHasherDefault<SignatureTailHasher>;

/// A cache key: the token, looked up by the request header's bytes (no UTF-8 check on a hit).
struct TokenKey(Arc<str>);

impl Borrow<[u8]> for TokenKey {
    fn borrow(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

// Hashed and compared as the bytes it borrows as, as `Borrow` requires.
impl Hash for TokenKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.as_bytes().hash(state);
    }
}

impl PartialEq for TokenKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes() == other.0.as_bytes()
    }
}

impl Eq for TokenKey {}

struct TokenCache {
    entries: HashMap<TokenKey, Entry, TailHash>,
    /// The key-set generation the entries were last checked against. Every entry's key is
    /// published in that set: a lookup or an insert with another set [adopts](Self::adopt) it
    /// first, dropping the entries it does not vouch for.
    generation: u64,
    /// Fingerprints of tokens verified once and not admitted yet, one per slot (a newer
    /// token takes over a slot: the older one is then admitted a sighting later).
    seen_once: Box<[u64]>,
}

impl TokenCache {
    /// Brings the entries to the generation of `keys`: drops every entry whose key `keys` does
    /// not publish (or that has expired). Then a hit needs to look at `exp` only. Done by the
    /// first lookup or insert after a key-set change, not by every hit until an insert: after
    /// a refetch (an unknown-kid flood, the TTL) a reused token would otherwise pay the key
    /// check on every request.
    fn adopt(&mut self, keys: &KeySet, now: f64) {
        if self.generation != keys.generation {
            self.entries.retain(|_, entry| entry.usable(keys, now));
            self.generation = keys.generation;
        }
    }

    fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::default(),
            generation: 0,
            seen_once: vec![0; (capacity * 2).next_power_of_two().max(64)].into_boxed_slice(),
        }
    }

    /// Whether `raw`, just verified, is being seen for the second time (and so is admitted).
    fn admits(&mut self, raw: &[u8]) -> bool {
        let fingerprint = TailHash::default().hash_one(raw);
        let slot = &mut self.seen_once[fingerprint as usize % self.seen_once.len()];
        if *slot == fingerprint {
            *slot = 0;
            true
        } else {
            *slot = fingerprint;
            false
        }
    }
}

thread_local! {
    /// One cache per `OidcAuth` instance (by id) on this thread. An application has one or
    /// two instances: a short list is faster to search than a hashed map.
    static CACHES: RefCell<Vec<(u64, TokenCache)>> = const { RefCell::new(Vec::new()) };
}

fn cache_of(caches: &mut [(u64, TokenCache)], instance: u64) -> Option<&mut TokenCache> {
    caches
        .iter_mut()
        .find_map(|(id, cache)| (*id == instance).then_some(cache))
}

/// A cached token for `raw`, if it is still valid under `keys` and of claims type `C`.
pub(crate) fn get<C: 'static>(
    instance: u64,
    raw: &[u8],
    keys: &KeySet,
    now: f64,
) -> Option<IdToken<C>> {
    CACHES.with(|caches| {
        let mut caches = caches.borrow_mut();
        let cache = cache_of(&mut caches, instance)?;
        cache.adopt(keys, now);
        let entry = cache.entries.get(raw)?;
        if now >= entry.exp as f64 {
            return None;
        }
        entry.token.downcast_ref::<IdToken<C>>().cloned()
    })
}

/// Remembers a token that has just been verified, if this is its second verification here
/// (see the module docs); `entry` is only built then. Keeps the cache within `capacity`.
pub(crate) fn insert(
    instance: u64,
    capacity: usize,
    raw: &str,
    entry: impl FnOnce() -> Entry,
    keys: &KeySet,
    now: f64,
) {
    if capacity == 0 {
        return;
    }
    CACHES.with(|caches| {
        let mut caches = caches.borrow_mut();
        let index = match caches.iter().position(|(id, _)| *id == instance) {
            Some(index) => index,
            None => {
                caches.push((instance, TokenCache::new(capacity)));
                caches.len() - 1
            }
        };
        let cache = &mut caches[index].1;
        if !cache.admits(raw.as_bytes()) {
            return;
        }
        let entry = entry();
        cache.adopt(keys, now);
        if cache.entries.len() >= capacity {
            cache.entries.retain(|_, entry| now < entry.exp as f64);
        }
        if cache.entries.len() >= capacity {
            let mut drop_count = capacity / 4 + 1;
            cache.entries.retain(|_, _| {
                if drop_count == 0 {
                    return true;
                }
                drop_count -= 1;
                false
            });
        }
        cache
            .entries
            .insert(TokenKey(Arc::clone(&entry.raw)), entry);
    });
}

/// The number of tokens cached for `instance` on this thread.
#[cfg(test)]
pub(crate) fn len(instance: u64) -> usize {
    CACHES
        .with(|caches| cache_of(&mut caches.borrow_mut(), instance).map_or(0, |c| c.entries.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::Algorithm;
    use crate::jwks::key_set_from_jwks;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::{Value, json};

    fn keys(kids: &[&str], generation: u64) -> KeySet {
        let n = URL_SAFE_NO_PAD.encode([0xC5u8; 256]);
        let jwks: Vec<Value> = kids
            .iter()
            .map(|kid| json!({"kty": "RSA", "kid": kid, "n": n, "e": "AQAB"}))
            .collect();
        key_set_from_jwks(
            &json!({ "keys": jwks }),
            Algorithm::ALL,
            8,
            "iss".into(),
            generation,
            0.0,
        )
        .unwrap()
    }

    fn token(raw: &str) -> IdToken {
        IdToken::from_json(raw, &json!({ "sub": raw }), 1000)
    }

    fn remember(
        instance: u64,
        capacity: usize,
        raw: &str,
        exp: u64,
        kid: &str,
        keys: &KeySet,
        now: f64,
    ) {
        // Twice: a token is admitted on its second verification.
        for _ in 0..2 {
            let key = Arc::clone(keys.find(Some(kid)).unwrap());
            insert(
                instance,
                capacity,
                raw,
                || Entry::new(token(raw), Some(kid.to_owned()), key, exp),
                keys,
                now,
            );
        }
    }

    #[test]
    fn entries_are_served_until_exp_only() {
        let keys = keys(&["a"], 1);
        remember(101, 10, "t1", 1000, "a", &keys, 500.0);
        assert_eq!(
            get::<crate::Claims>(101, b"t1", &keys, 999.0)
                .unwrap()
                .sub
                .as_deref(),
            Some("t1")
        );
        assert!(get::<crate::Claims>(101, b"t1", &keys, 1000.0).is_none());
        assert!(get::<crate::Claims>(101, b"t2", &keys, 500.0).is_none());
        assert!(
            get::<crate::Claims>(102, b"t1", &keys, 500.0).is_none(),
            "caches are per instance"
        );
    }

    #[test]
    fn entries_die_with_their_key() {
        let old = keys(&["a", "b"], 1);
        remember(103, 10, "by-a", 1000, "a", &old, 500.0);
        remember(103, 10, "by-b", 1000, "b", &old, 500.0);
        // The provider rotates `a` out; `b` stays (the same key object, see `carry_over`).
        let mut new = keys(&["b"], 2);
        new.carry_over(&old);
        assert!(get::<crate::Claims>(103, b"by-b", &new, 500.0).is_some());
        assert_eq!(
            len(103),
            1,
            "the first lookup under the new key set purged the entry of the removed key"
        );
        assert!(get::<crate::Claims>(103, b"by-a", &new, 500.0).is_none());
        remember(103, 10, "fresh", 1000, "b", &new, 500.0);
        assert_eq!(len(103), 2);
    }

    #[test]
    fn a_straggler_from_an_older_key_set_never_makes_a_withdrawn_key_hit() {
        // A request that loaded the old set concludes after one that used the new set: the
        // cache goes back a generation, and what it holds must still be judged by the set a
        // lookup brings. Losing an entry is a miss (verified again); serving one is not.
        let old = keys(&["a"], 1);
        let new = keys(&["b"], 2);
        let get = |raw: &[u8], keys| get::<crate::Claims>(108, raw, keys, 500.0).is_some();
        remember(108, 10, "by-b", 1000, "b", &new, 500.0);
        remember(108, 10, "by-a", 1000, "a", &old, 500.0);
        assert!(
            get(b"by-a", &old),
            "the straggler's own set still vouches for it"
        );
        assert!(!get(b"by-a", &new));
        assert!(
            !get(b"by-b", &new),
            "dropped when the straggler's set was adopted"
        );
        remember(108, 10, "by-b", 1000, "b", &new, 500.0);
        assert!(get(b"by-b", &new));
        assert!(!get(b"by-a", &new));
        assert!(!get(b"by-a", &old), "dropped when the new set was adopted");
        assert!(!get(b"by-b", &old));
    }

    #[test]
    fn the_size_stays_within_capacity() {
        let keys = keys(&["a"], 1);
        for i in 0..500 {
            remember(104, 64, &format!("t{i}"), 1000, "a", &keys, 500.0);
            assert!(len(104) <= 64);
        }
        assert!(
            get::<crate::Claims>(104, b"t499", &keys, 500.0).is_some(),
            "the newest entry is kept"
        );
        for capacity in 1..=3 {
            for i in 0..20 {
                remember(
                    110 + capacity as u64,
                    capacity,
                    &format!("s{i}"),
                    1000,
                    "a",
                    &keys,
                    500.0,
                );
                assert!(
                    len(110 + capacity as u64) <= capacity,
                    "capacity {capacity}"
                );
            }
        }
        remember(105, 0, "t", 1000, "a", &keys, 500.0);
        assert_eq!(len(105), 0, "capacity 0 disables the cache");
    }

    #[test]
    fn a_token_is_admitted_on_its_second_verification() {
        let keys = keys(&["a"], 1);
        let verified_once = |raw: &str| {
            let key = Arc::clone(keys.find(Some("a")).unwrap());
            insert(
                107,
                64,
                raw,
                || Entry::new(token(raw), Some("a".to_owned()), key, 1000),
                &keys,
                500.0,
            );
        };
        verified_once("once");
        assert_eq!(
            len(107),
            0,
            "the first verification leaves a fingerprint only"
        );
        for i in 0..1000 {
            verified_once(&format!("distinct-{i}"));
        }
        assert_eq!(len(107), 0, "tokens seen once take no entries");
        verified_once("twice");
        verified_once("twice");
        assert_eq!(len(107), 1);
        assert!(get::<crate::Claims>(107, b"twice", &keys, 500.0).is_some());
    }

    #[test]
    fn a_token_copying_a_cached_tokens_signature_tail_is_a_miss() {
        // The same length and the same last 8 bytes, all the hash reads: the same hash (asserted
        // first). Only the whole token hits.
        let keys = keys(&["a"], 1);
        let cached = "header.claims-of-alice.signature-tail-0123456789";
        let forged = "header.claims-of-mallo.signature-tail-0123456789";
        assert_eq!(
            TailHash::default().hash_one(cached.as_bytes()),
            TailHash::default().hash_one(forged.as_bytes())
        );
        remember(109, 10, cached, 1000, "a", &keys, 500.0);
        assert!(get::<crate::Claims>(109, forged.as_bytes(), &keys, 500.0).is_none());
        let hit = get::<crate::Claims>(109, cached.as_bytes(), &keys, 500.0).unwrap();
        assert_eq!(hit.sub.as_deref(), Some(cached));
    }

    #[test]
    fn a_different_claims_type_is_a_miss() {
        #[derive(serde::Deserialize)]
        struct Other {}
        let keys = keys(&["a"], 1);
        remember(106, 10, "t", 1000, "a", &keys, 500.0);
        assert!(get::<Other>(106, b"t", &keys, 500.0).is_none());
    }
}
