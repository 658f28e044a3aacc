//! The login `state`: sealed, expiring, single-use.
//!
//! py-oidc-auth puts the PKCE verifier in clear inside `state` (`random|redirect_uri|verifier`),
//! so it travels through the browser and the provider, and never checks `state` at the callback.
//! Here `state` is an AES-256-GCM sealed record `{verifier, redirect_uri, nonce, expiry, id}`:
//! nobody without the server key can read the verifier or forge a state, a state expires after
//! five minutes, and this instance accepts each one once. It holds no `|`, so py-oidc-auth-client
//! sends the whole state as `code_verifier`, and the token route unseals it back into the real
//! verifier. Instances that share a configured key accept each other's states.

use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::constant_time;
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use aws_lc_rs::rand;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::clock::now_secs;

/// How long a login may take between the redirect to the provider and the code exchange. Short,
/// because a sealed state is a bearer credential for its PKCE verifier (see the README's
/// security notes): five minutes leave a person ample time to log in at the provider.
pub(crate) const STATE_LIFETIME: Duration = Duration::from_secs(300);
/// The HKDF `info` the sealing key is derived with: binds the key to this one purpose, so the
/// same configured secret used elsewhere yields an unrelated key.
const KEY_LABEL: &[u8] = b"oidc-actix login state v1";
/// Marks a sealed state (and versions its format).
const PREFIX: &str = "oa1.";
/// The longest sealed state `open` reads: a bound on the work a forged one can cause.
const MAX_SEALED_CHARS: usize = 8192;
/// The longest redirect URI a login may carry. Its state then always opens: even if every
/// character doubled when serialised (`"` and `\`; the login route refuses control
/// characters, the only ones JSON escapes further), the sealed state stays well within
/// [`MAX_SEALED_CHARS`].
pub(crate) const MAX_REDIRECT_URI_BYTES: usize = 2048;
/// Bounds the memory of consumed states (about 100 bytes each); far above any real login rate.
const MAX_CONSUMED: usize = 100_000;

/// What a sealed state carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LoginState {
    /// The PKCE code verifier.
    #[serde(rename = "v")]
    pub(crate) verifier: String,
    /// The redirect URI the provider was given.
    #[serde(rename = "r")]
    pub(crate) redirect_uri: String,
    /// The OpenID Connect nonce the ID token must carry.
    #[serde(rename = "n")]
    pub(crate) nonce: String,
    /// Expiry, seconds since the epoch.
    #[serde(rename = "e")]
    pub(crate) expires: u64,
    /// Identifies the state for single use.
    #[serde(rename = "i")]
    pub(crate) id: String,
    /// The hash of the browser-binding cookie this login set, when binding is on
    /// ([`binding_hash`]): only that browser can finish the login, at the callback.
    #[serde(rename = "b", default, skip_serializing_if = "Option::is_none")]
    pub(crate) binding: Option<String>,
}

impl LoginState {
    /// Whether `cookie` (the request's binding cookie, if any) is the one this login set; a
    /// login without binding is any browser's.
    pub(crate) fn is_bound_to(&self, cookie: Option<&str>) -> bool {
        match (&self.binding, cookie) {
            (None, _) => true,
            (Some(hash), Some(cookie)) => constant_time::verify_slices_are_equal(
                hash.as_bytes(),
                binding_hash(cookie).as_bytes(),
            )
            .is_ok(),
            (Some(_), None) => false,
        }
    }
}

/// What a login state carries of its browser-binding cookie: base64url SHA-256 of its value.
pub(crate) fn binding_hash(cookie: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, cookie.as_bytes()))
}

/// Why a state was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateError {
    /// Not a state this server (or one sharing its key) sealed.
    Invalid,
    /// Older than [`STATE_LIFETIME`].
    Expired,
    /// Already used at the callback.
    Replayed,
    /// Bound to a browser that did not send its cookie (another browser, or none).
    OtherBrowser,
    /// Bound to a browser, and so finished at the callback only, not through the token route.
    BoundToBrowser,
}

impl StateError {
    pub(crate) fn detail(self) -> &'static str {
        match self {
            Self::Invalid => "Invalid state",
            Self::Expired => "Login state expired; start the login again",
            Self::Replayed => "Login state already used",
            Self::OtherBrowser => "Login state belongs to another browser",
            Self::BoundToBrowser => {
                "This login is bound to the browser that started it: it finishes at the callback"
            }
        }
    }
}

/// Seals and opens states, and remembers which were consumed.
pub(crate) struct StateSealer {
    key: LessSafeKey,
    consumed: Mutex<Consumed>,
}

/// The states used at the callback or the token route and not expired yet, by expiry: a state
/// presented again carries the same expiry and id, so one ordered set answers "used before?" and
/// gives up its expired entries from the front, in O(expired).
struct Consumed {
    states: BTreeSet<(u64, String)>,
    capacity: usize,
}

impl Consumed {
    /// Records `state` as used; `false` if it already was.
    ///
    /// A full set evicts the state that expires first rather than refusing: refusing would let
    /// anyone who consumes `capacity` states (they are free to obtain) lock every user out of
    /// login. An evicted state could be presented once more, but only until it expires, and
    /// only with a code the provider has already redeemed once (codes are single-use too).
    fn insert(&mut self, state: &LoginState, now: u64) -> bool {
        while self
            .states
            .first()
            .is_some_and(|(expires, _)| *expires <= now)
        {
            self.states.pop_first();
        }
        let entry = (state.expires, state.id.clone());
        if self.states.contains(&entry) {
            return false;
        }
        if self.states.len() >= self.capacity {
            self.states.pop_first();
        }
        self.states.insert(entry)
    }
}

/// `n` random bytes, base64url-encoded.
pub(crate) fn random_token(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    // The system RNG failing is not something a web server can recover from meaningfully; an
    // all-zero value would be a silent security failure, so refuse loudly instead.
    rand::fill(&mut buffer).expect("the system random number generator failed");
    URL_SAFE_NO_PAD.encode(buffer)
}

/// The PKCE S256 challenge of a verifier (RFC 7636 §4.2).
pub(crate) fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()))
}

impl StateSealer {
    /// A sealer keyed by HKDF-SHA256 of `secret` with a fixed context label (RFC 5869; the
    /// configuration requires 32 bytes or more of secret).
    pub(crate) fn new(secret: &[u8]) -> Self {
        let key: UnboundKey = Salt::new(HKDF_SHA256, &[])
            .extract(secret)
            .expand(&[KEY_LABEL], &AES_256_GCM)
            .expect("an AES-256 key is a valid HKDF-SHA256 output length")
            .into();
        Self {
            key: LessSafeKey::new(key),
            consumed: Mutex::new(Consumed {
                states: BTreeSet::new(),
                capacity: MAX_CONSUMED,
            }),
        }
    }

    /// A new state for a login towards `redirect_uri`, bound to the browser that holds the
    /// cookie `binding` if one is given.
    pub(crate) fn issue(&self, redirect_uri: &str, binding: Option<&str>) -> LoginState {
        LoginState {
            verifier: random_token(32),
            redirect_uri: redirect_uri.to_owned(),
            nonce: random_token(16),
            expires: now_secs() + STATE_LIFETIME.as_secs(),
            id: random_token(12),
            binding: binding.map(binding_hash),
        }
    }

    /// The sealed, URL-safe form of `state`.
    pub(crate) fn seal(&self, state: &LoginState) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce).expect("the system random number generator failed");
        let mut sealed = serde_json::to_vec(state).expect("a LoginState always serializes");
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(PREFIX),
                &mut sealed,
            )
            .expect("AES-GCM sealing of a small buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// Whether `value` looks like a sealed state (rather than a plain PKCE verifier).
    pub(crate) fn is_sealed(value: &str) -> bool {
        value.starts_with(PREFIX)
    }

    /// Opens a sealed state and checks its expiry.
    pub(crate) fn open(&self, sealed: &str) -> Result<LoginState, StateError> {
        let encoded = sealed.strip_prefix(PREFIX).ok_or(StateError::Invalid)?;
        if encoded.len() > MAX_SEALED_CHARS {
            return Err(StateError::Invalid);
        }
        let mut bytes = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| StateError::Invalid)?;
        if bytes.len() < NONCE_LEN {
            return Err(StateError::Invalid);
        }
        let (nonce, ciphertext) = bytes.split_at_mut(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| StateError::Invalid)?;
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(PREFIX), ciphertext)
            .map_err(|_| StateError::Invalid)?;
        let state: LoginState = serde_json::from_slice(plain).map_err(|_| StateError::Invalid)?;
        if now_secs() >= state.expires {
            return Err(StateError::Expired);
        }
        Ok(state)
    }

    /// Opens a state and marks it used: a second call with the same state fails.
    pub(crate) fn consume(&self, sealed: &str) -> Result<LoginState, StateError> {
        self.consume_if(sealed, |_| Ok(()))
    }

    /// Opens a state and, if `check` accepts it, marks it used: a state refused by `check`
    /// (another browser's) stays usable by the one it belongs to.
    pub(crate) fn consume_if(
        &self,
        sealed: &str,
        check: impl FnOnce(&LoginState) -> Result<(), StateError>,
    ) -> Result<LoginState, StateError> {
        let state = self.open(sealed)?;
        check(&state)?;
        let now = now_secs();
        let mut consumed = self.consumed.lock().unwrap_or_else(PoisonError::into_inner);
        if consumed.insert(&state, now) {
            Ok(state)
        } else {
            Err(StateError::Replayed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_state_round_trips_and_hides_the_verifier() {
        let sealer = StateSealer::new(b"key");
        let state = sealer.issue("http://localhost:53100/callback", None);
        let sealed = sealer.seal(&state);
        assert!(!sealed.contains('|'));
        assert!(!sealed.contains(&state.verifier));
        assert!(StateSealer::is_sealed(&sealed));
        assert_eq!(sealer.open(&sealed).unwrap(), state);
        assert_eq!(state.verifier.len(), 43);
    }

    #[test]
    fn states_are_bound_to_the_key_and_tamper_evident() {
        let sealer = StateSealer::new(b"key");
        let sealed = sealer.seal(&sealer.issue("http://x/cb", None));
        assert_eq!(
            StateSealer::new(b"other").open(&sealed),
            Err(StateError::Invalid)
        );
        assert!(
            StateSealer::new(b"key").open(&sealed).is_ok(),
            "instances sharing a key agree"
        );
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 5;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            sealer.open(&String::from_utf8(tampered).unwrap()),
            Err(StateError::Invalid)
        );
        for junk in ["", "oa1.", "oa1.!!!", "random|http://x|verifier"] {
            assert_eq!(sealer.open(junk), Err(StateError::Invalid), "{junk}");
        }
    }

    #[test]
    fn expired_and_replayed_states_are_refused() {
        let sealer = StateSealer::new(b"key");
        let mut state = sealer.issue("http://x/cb", None);
        state.expires = now_secs() - 1;
        assert_eq!(sealer.open(&sealer.seal(&state)), Err(StateError::Expired));
        let sealed = sealer.seal(&sealer.issue("http://x/cb", None));
        assert!(sealer.consume(&sealed).is_ok());
        assert_eq!(sealer.consume(&sealed), Err(StateError::Replayed));
    }

    /// The attack: states are free (`GET /login`), so anyone could consume `MAX_CONSUMED` of
    /// them; the full set then refused every further login as "already used" until they expired.
    #[test]
    fn a_flood_of_consumed_states_never_locks_a_fresh_login_out() {
        let sealer = StateSealer::new(b"key");
        let now = now_secs();
        let mut flood = sealer.issue("http://x/cb", None);
        {
            let mut consumed = sealer.consumed.lock().unwrap();
            for i in 0..MAX_CONSUMED + 1000 {
                flood.id = format!("flood-{i}");
                // Spread over the lifetime, so what is evicted is what expires first.
                flood.expires = now + 1 + (i as u64 % STATE_LIFETIME.as_secs());
                assert!(consumed.insert(&flood, now));
            }
            assert_eq!(consumed.states.len(), MAX_CONSUMED);
        }
        let login = sealer.seal(&sealer.issue("http://x/cb", None));
        assert!(sealer.consume(&login).is_ok(), "a fresh login is refused");
        assert_eq!(sealer.consume(&login), Err(StateError::Replayed));
        let consumed = sealer.consumed.lock().unwrap();
        assert_eq!(consumed.states.len(), MAX_CONSUMED);
        assert!(
            consumed.states.first().unwrap().0 > now + 1,
            "the states expiring first were evicted first"
        );
    }

    #[test]
    fn expired_consumed_states_are_purged_from_the_front() {
        let sealer = StateSealer::new(b"key");
        let mut consumed = sealer.consumed.lock().unwrap();
        let mut state = sealer.issue("http://x/cb", None);
        for (id, expires) in [("a", 10), ("b", 20), ("c", 30)] {
            state.id = id.to_owned();
            state.expires = expires;
            assert!(consumed.insert(&state, 0));
        }
        state.id = "d".to_owned();
        state.expires = 40;
        assert!(consumed.insert(&state, 20));
        let left: Vec<&str> = consumed.states.iter().map(|(_, id)| id.as_str()).collect();
        assert_eq!(left, ["c", "d"]);
    }

    #[test]
    fn a_bound_state_belongs_to_its_cookie_and_stays_usable_when_refused() {
        let sealer = StateSealer::new(b"key");
        let state = sealer.issue("http://x/cb", Some("the cookie"));
        assert!(state.is_bound_to(Some("the cookie")));
        assert!(!state.is_bound_to(Some("another cookie")));
        assert!(!state.is_bound_to(None));
        assert!(!sealer.seal(&state).contains("the cookie"));
        let sealed = sealer.seal(&state);
        let by_cookie = |cookie: Option<&'static str>| {
            move |state: &LoginState| {
                if state.is_bound_to(cookie) {
                    Ok(())
                } else {
                    Err(StateError::OtherBrowser)
                }
            }
        };
        assert_eq!(
            sealer.consume_if(&sealed, by_cookie(None)),
            Err(StateError::OtherBrowser)
        );
        assert!(
            sealer
                .consume_if(&sealed, by_cookie(Some("the cookie")))
                .is_ok()
        );
        assert_eq!(
            sealer.consume_if(&sealed, by_cookie(Some("the cookie"))),
            Err(StateError::Replayed)
        );
        let unbound = sealer.issue("http://x/cb", None);
        assert!(unbound.is_bound_to(None) && unbound.is_bound_to(Some("any")));
    }

    #[test]
    fn the_pkce_challenge_is_unpadded_base64url_sha256() {
        // Known answer computed independently: base64url(sha256(verifier)) without padding.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU2p1r_wW1gXk-rIXfE"),
            "Sv3mTBdOOGVE7pI1u13xwWKDgbqStXLTfEZlW5fkxoA"
        );
    }
}
