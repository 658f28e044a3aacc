//! The provider's discovery document and key set, and how they are kept fresh.
//!
//! Requests read the current key set through an [`ArcSwapOption`]: no lock, no I/O. Fetches run
//! in a spawned task, one at a time (single-flight: concurrent requests that need a fetch wait on
//! the same one), and are rate-limited:
//!
//! * after a failure, the next attempt waits a backoff (1 s doubling to 15 s), so a provider that
//!   is down costs it one request per backoff and one that comes back is used again within 15 s;
//! * a token with an unknown `kid` may cause a fetch at most once per
//!   `jwks_refetch_cooldown`, so forged `kid`s cannot turn into traffic towards the provider;
//! * a key set older than `jwks_ttl` is refreshed in the background while requests keep using it;
//!   a failed refresh keeps the keys we have.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwapOption, Guard};
use futures::FutureExt as _;
use futures::channel::oneshot;
use futures::future::Shared;

use crate::algorithm::Algorithm;
use crate::clock;
use crate::discovery::ProviderMetadata;
use crate::fetch::{FetchError, get_json, is_insecure};
use crate::jwks::{KeySet, key_set_from_jwks};

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(15);

/// Why the provider's keys could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProviderError {
    /// The discovery document could not be fetched or read.
    Discovery(FetchError),
    /// Neither the discovery document nor the configuration names a `jwks_uri`.
    NoJwksUri,
    /// Neither the discovery document nor the configuration names an `issuer`.
    NoIssuer,
    /// The discovery document names another issuer than the one its URL is for (OpenID Connect
    /// Discovery §4.3). Configure `issuer` to accept it anyway.
    IssuerMismatch {
        /// The issuer the discovery URL is for: the URL without `/.well-known/openid-configuration`.
        expected: String,
        /// The document's `issuer`.
        found: String,
    },
    /// An endpoint is plain `http` on a host other than loopback, and `allow_insecure_http` is off.
    InsecureUrl {
        /// The discovery member (`jwks_uri`, `token_endpoint`, …).
        member: &'static str,
        /// Its value.
        url: String,
    },
    /// The key set could not be fetched or read.
    Jwks(FetchError),
    /// The key set holds no key this configuration can use.
    NoUsableKeys(String),
    /// A fetch is not allowed yet (backoff after a failure).
    Backoff,
    /// The fetch was abandoned (its runtime shut down).
    Abandoned,
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Discovery(e) => write!(f, "discovery document: {e}"),
            Self::NoJwksUri => {
                f.write_str("no jwks_uri in the discovery document or configuration")
            }
            Self::NoIssuer => f.write_str("no issuer in the discovery document or configuration"),
            Self::IssuerMismatch { expected, found } => write!(
                f,
                "the discovery document at {expected}/.well-known/openid-configuration names the \
                 issuer {found:?}, not {expected:?} (OpenID Connect Discovery §4.3); set \
                 `issuer` if that is intended"
            ),
            Self::InsecureUrl { member, url } => write!(
                f,
                "`{member}` is plain http to a host other than loopback ({url}); set \
                 `allow_insecure_http` for development"
            ),
            Self::Jwks(e) => write!(f, "key set: {e}"),
            Self::NoUsableKeys(why) => write!(f, "key set: {why}"),
            Self::Backoff => f.write_str("waiting before the next attempt after a failure"),
            Self::Abandoned => f.write_str("the fetch was abandoned"),
        }
    }
}

impl std::error::Error for ProviderError {}

/// Why a fetch is wanted; each reason has its own rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// No keys yet.
    Initial,
    /// A token names a `kid` the current set does not have.
    UnknownKid,
    /// The current set is older than its TTL.
    Stale,
}

/// A fetch in progress, which any number of requests may await.
pub(crate) type PendingFetch = Shared<oneshot::Receiver<Result<(), ProviderError>>>;

/// Where the provider is and how its keys are kept: the part of the configuration the
/// provider service reads.
#[derive(Debug, Clone)]
pub(crate) struct ProviderSettings {
    /// The discovery document's URL, if any.
    pub(crate) discovery_url: Option<String>,
    /// Overrides the discovery document's `jwks_uri`.
    pub(crate) jwks_uri: Option<String>,
    /// Overrides the discovery document's `issuer`.
    pub(crate) issuer: Option<String>,
    /// The timeout of each fetch.
    pub(crate) timeout: Duration,
    /// How long a key set is used before a background refresh.
    pub(crate) jwks_ttl: Duration,
    /// The least time between two fetches caused by unknown `kid`s.
    pub(crate) jwks_refetch_cooldown: Duration,
    /// The most keys kept from one set.
    pub(crate) max_keys: usize,
    /// The algorithms keys are parsed for.
    pub(crate) algorithms: Vec<Algorithm>,
    /// Whether discovered endpoints may be plain `http` beyond loopback.
    pub(crate) allow_insecure_http: bool,
}

/// What a discovery URL ends with; the rest is the issuer it is for (Discovery §4.1).
const WELL_KNOWN: &str = "/.well-known/openid-configuration";

/// The provider as a service: its discovery document and key set, fetched and kept fresh.
pub(crate) struct Provider {
    settings: ProviderSettings,
    metadata: ArcSwapOption<ProviderMetadata>,
    /// When `metadata` was fetched, in milliseconds since `epoch`: it is read again once it is
    /// older than the key set's TTL, so a provider's moved endpoints are picked up.
    metadata_fetched_ms: AtomicU64,
    keys: ArcSwapOption<KeySet>,
    generation: AtomicU64,
    /// Milliseconds since `epoch` before which a stale key set is not refreshed again; read
    /// without the lock so stale-but-working keys cost requests nothing.
    next_stale_refresh_ms: AtomicU64,
    epoch: Instant,
    state: Mutex<FetchState>,
}

#[derive(Default)]
struct FetchState {
    in_flight: Option<PendingFetch>,
    failures: u32,
    retry_at: Option<Instant>,
    last_unknown_kid_fetch: Option<Instant>,
}

impl Provider {
    pub(crate) fn new(settings: ProviderSettings) -> Self {
        Self {
            settings,
            metadata: ArcSwapOption::empty(),
            metadata_fetched_ms: AtomicU64::new(0),
            keys: ArcSwapOption::empty(),
            generation: AtomicU64::new(0),
            next_stale_refresh_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            state: Mutex::new(FetchState::default()),
        }
    }

    /// The current key set, if one was ever loaded. Lock-free.
    pub(crate) fn keys(&self) -> Guard<Option<Arc<KeySet>>> {
        self.keys.load()
    }

    /// Starts a background refresh if `keys` has outlived its TTL (rate-limited without a lock).
    /// `now` is the request's reading of the wall clock (see [`KeySet::fetched_at`]); a clock
    /// set back to before the fetch counts as stale too, and that refresh restarts the age.
    pub(crate) fn refresh_if_stale(self: &Arc<Self>, keys: &KeySet, now: f64) {
        if !outlived(keys.fetched_at, now, self.settings.jwks_ttl) {
            return;
        }
        let now_ms = self.epoch.elapsed().as_millis() as u64;
        if now_ms < self.next_stale_refresh_ms.load(Ordering::Relaxed) {
            return;
        }
        self.next_stale_refresh_ms
            .store(now_ms + 1000, Ordering::Relaxed);
        // Fire and forget: the spawned fetch completes whether or not anyone waits for it.
        drop(self.begin(Reason::Stale));
    }

    fn lock(&self) -> MutexGuard<'_, FetchState> {
        // The state stays consistent at every step, so a panic elsewhere cannot corrupt it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins the fetch in progress or starts one, if its rate limit allows; `None` otherwise.
    /// Must run inside an actix (tokio local) runtime.
    pub(crate) fn begin(self: &Arc<Self>, reason: Reason) -> Option<PendingFetch> {
        let mut state = self.lock();
        if let Some(pending) = &state.in_flight {
            return Some(pending.clone());
        }
        let now = Instant::now();
        if state.retry_at.is_some_and(|at| now < at) {
            return None;
        }
        if reason == Reason::UnknownKid {
            if state
                .last_unknown_kid_fetch
                .is_some_and(|at| now < at + self.settings.jwks_refetch_cooldown)
            {
                return None;
            }
            state.last_unknown_kid_fetch = Some(now);
        }
        let (done, pending) = oneshot::channel();
        let pending = pending.shared();
        state.in_flight = Some(pending.clone());
        drop(state);
        let guard = FetchGuard {
            provider: Arc::clone(self),
            outcome: None,
        };
        actix_rt::spawn(guard.run(done));
        Some(pending)
    }

    /// Fetches now (single-flight, ignoring the unknown-kid cooldown but not the backoff).
    pub(crate) async fn refresh_now(self: &Arc<Self>) -> Result<(), ProviderError> {
        match self.begin(Reason::Initial) {
            Some(pending) => pending.await.unwrap_or(Err(ProviderError::Abandoned)),
            None => Err(ProviderError::Backoff),
        }
    }

    /// Whether there is a discovery document to load at all (not with `jwks_uri` and `issuer`
    /// overrides alone).
    pub(crate) fn has_discovery(&self) -> bool {
        self.settings.discovery_url.is_some()
    }

    /// The discovery document, if loaded.
    pub(crate) fn metadata(&self) -> Option<Arc<ProviderMetadata>> {
        self.metadata.load_full()
    }

    async fn fetch(&self) -> Result<(), ProviderError> {
        let settings = &self.settings;
        let metadata = match &settings.discovery_url {
            Some(url) => Some(self.discovery(url).await?),
            None => None,
        };
        let from_discovery = |name| {
            metadata
                .as_deref()
                .and_then(|m| m.endpoint(name))
                .map(str::to_owned)
        };
        let jwks_uri = settings
            .jwks_uri
            .clone()
            .or_else(|| from_discovery("jwks_uri"))
            .ok_or(ProviderError::NoJwksUri)?;
        let issuer = settings
            .issuer
            .clone()
            .or_else(|| from_discovery("issuer"))
            .ok_or(ProviderError::NoIssuer)?;
        let document = get_json(&jwks_uri, settings.timeout)
            .await
            .map_err(ProviderError::Jwks)?;
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let mut keys = key_set_from_jwks(
            &document,
            &settings.algorithms,
            settings.max_keys,
            issuer,
            generation,
            clock::now(),
        )
        .map_err(ProviderError::NoUsableKeys)?;
        if let Some(previous) = self.keys.load().as_deref() {
            keys.carry_over(previous);
        }
        log::debug!(
            "oidc-actix: loaded {} signing keys from {jwks_uri}",
            keys.len()
        );
        self.keys.store(Some(Arc::new(keys)));
        Ok(())
    }

    /// The discovery document: the one at hand while it is younger than the key set's TTL, else
    /// fetched and checked again.
    ///
    /// A failed re-read keeps the document at hand for another TTL and fails this fetch: the
    /// backoff then spaces the attempts, each one request to a provider that is down, and the
    /// next attempt loads the key set with the document at hand.
    async fn discovery(&self, url: &str) -> Result<Arc<ProviderMetadata>, ProviderError> {
        let current = self.metadata.load_full();
        let age_ms = self
            .elapsed_ms()
            .saturating_sub(self.metadata_fetched_ms.load(Ordering::Relaxed));
        if let Some(current) = &current
            && u128::from(age_ms) < self.settings.jwks_ttl.as_millis()
        {
            return Ok(Arc::clone(current));
        }
        let fetched = ProviderMetadata::fetch(url, self.settings.timeout)
            .await
            .map_err(ProviderError::Discovery)
            .and_then(|fetched| self.check_discovered(url, fetched));
        if fetched.is_ok() || current.is_some() {
            self.metadata_fetched_ms
                .store(self.elapsed_ms(), Ordering::Relaxed);
        }
        let fetched = Arc::new(fetched?);
        self.metadata.store(Some(Arc::clone(&fetched)));
        Ok(fetched)
    }

    /// Kept only if it names what we need, for the issuer its URL is for, over transports we
    /// allow: a document without `jwks_uri` or `issuer` is fetched again at the next attempt,
    /// so fixing the provider is enough.
    fn check_discovered(
        &self,
        url: &str,
        metadata: ProviderMetadata,
    ) -> Result<ProviderMetadata, ProviderError> {
        let settings = &self.settings;
        if settings.jwks_uri.is_none() && metadata.endpoint("jwks_uri").is_none() {
            return Err(ProviderError::NoJwksUri);
        }
        let found = metadata.endpoint("issuer");
        if settings.issuer.is_none() {
            let found = found.ok_or(ProviderError::NoIssuer)?;
            if let Some(expected) = url.strip_suffix(WELL_KNOWN)
                && found != expected
            {
                return Err(ProviderError::IssuerMismatch {
                    expected: expected.to_owned(),
                    found: found.to_owned(),
                });
            }
        }
        if !settings.allow_insecure_http
            && let Some((member, url)) = metadata.urls().find(|(_, url)| is_insecure(url))
        {
            return Err(ProviderError::InsecureUrl {
                member,
                url: url.to_owned(),
            });
        }
        Ok(metadata)
    }

    fn elapsed_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn finish(&self, outcome: &Result<(), ProviderError>) {
        let mut state = self.lock();
        state.in_flight = None;
        match outcome {
            Ok(()) => {
                state.failures = 0;
                state.retry_at = None;
            }
            Err(error) => {
                state.failures = state.failures.saturating_add(1);
                let backoff = backoff_after(state.failures);
                state.retry_at = Some(Instant::now() + backoff);
                log::warn!(
                    "oidc-actix: cannot load the provider's keys ({error}); next attempt in {backoff:?}"
                );
            }
        }
    }
}

/// The wait after the `failures`-th failed fetch in a row: 1 s, doubling, capped at 15 s.
pub(crate) fn backoff_after(failures: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1 << failures.clamp(1, 5).saturating_sub(1))
        .min(MAX_BACKOFF)
}

/// Runs one fetch and always settles the shared state, even if the task is dropped mid-way.
struct FetchGuard {
    provider: Arc<Provider>,
    outcome: Option<Result<(), ProviderError>>,
}

impl FetchGuard {
    async fn run(mut self, done: oneshot::Sender<Result<(), ProviderError>>) {
        let outcome = self.provider.fetch().await;
        self.outcome = Some(outcome.clone());
        drop(self);
        // Nobody may be waiting (a background refresh); that is fine.
        let _ = done.send(outcome);
    }
}

impl Drop for FetchGuard {
    fn drop(&mut self) {
        let outcome = self.outcome.take().unwrap_or(Err(ProviderError::Abandoned));
        self.provider.finish(&outcome);
    }
}

/// Whether a key set fetched at `fetched_at` is past `ttl` at `now` (wall-clock seconds), or
/// the clock has been set back to before its fetch.
fn outlived(fetched_at: f64, now: f64, ttl: Duration) -> bool {
    !(0.0..ttl.as_secs_f64()).contains(&(now - fetched_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_one_second_to_fifteen() {
        let waits: Vec<u64> = (0..=7).map(|n| backoff_after(n).as_secs()).collect();
        assert_eq!(waits, [1, 1, 2, 4, 8, 15, 15, 15]);
    }

    #[test]
    fn a_key_set_is_stale_past_its_ttl_and_when_the_clock_went_back() {
        let ttl = Duration::from_secs(900);
        let fetched = 1_800_000_000.0;
        assert!(!outlived(fetched, fetched, ttl));
        assert!(!outlived(fetched, fetched + 899.9, ttl));
        assert!(outlived(fetched, fetched + 900.0, ttl));
        assert!(outlived(fetched, fetched - 0.5, ttl));
    }
}
