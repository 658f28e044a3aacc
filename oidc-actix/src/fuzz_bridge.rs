//! The crate-internal steps the fuzz targets in `fuzz/targets/` run: not a public API (the
//! `fuzzing` feature), it may change in any release. Plain data in and out, so that the targets
//! name no internal type; every internal path they reach is in this file.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::Algorithm;
use crate::discovery::ProviderMetadata;
use crate::jwks::{self, VerificationKey};
use crate::login_state::{self, StateError, StateSealer};
use crate::routes::token;
use crate::verify::{self, TokenRules};

/// A key set built from a JWKS document, as the provider keeps it.
pub struct KeySet(jwks::KeySet);

/// A key of a [`KeySet`]; keys are equal when they are the same object, as caches compare them.
#[derive(Clone)]
pub struct Key(Arc<VerificationKey>);

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Key {
    /// Whether a token signed with `alg` may be verified with this key.
    pub fn permits(&self, alg: Algorithm) -> bool {
        self.0.permits(alg)
    }
}

impl KeySet {
    /// The usable keys of a JWKS (at most `max_keys`) for `issuer`, or why there are none. Its
    /// age does not matter here: it is recorded as fetched at the epoch.
    pub fn from_jwks(
        jwks: &Value,
        allowed: &[Algorithm],
        max_keys: usize,
        issuer: &str,
        generation: u64,
    ) -> Result<Self, String> {
        jwks::key_set_from_jwks(jwks, allowed, max_keys, issuer.to_owned(), generation, 0.0)
            .map(Self)
    }

    /// The number of usable keys, the issuer and the generation.
    pub fn summary(&self) -> (usize, &str, u64) {
        (self.0.len(), &self.0.issuer, self.0.generation)
    }

    /// The key for a token's `kid` (without one, the set's only key).
    pub fn find(&self, kid: Option<&str>) -> Option<Key> {
        self.0.find(kid).cloned().map(Key)
    }

    /// Whether `key` is still published under `kid`.
    pub fn still_holds(&self, kid: Option<&str>, key: &Key) -> bool {
        self.0.still_holds(kid, &key.0)
    }

    /// Keeps `previous`'s key objects where the same `kid` still publishes the same key.
    pub fn carry_over(&mut self, previous: &KeySet) {
        self.0.carry_over(&previous.0);
    }
}

/// A token whose signature and claims hold.
pub struct Verified {
    /// The decoded payload, a JSON object.
    pub payload_json: Vec<u8>,
    /// The header's `kid`.
    pub kid: Option<String>,
    /// The key that verified the signature.
    pub key: Key,
    /// `exp` in whole seconds, as the token cache keeps it.
    pub exp: u64,
}

/// Verifies `raw` against `keys` at `now` (seconds since the epoch), or says why not.
pub fn verify(
    raw: &str,
    keys: &KeySet,
    audience: Option<&str>,
    algorithms: &[Algorithm],
    leeway: Duration,
    max_token_bytes: usize,
    now: f64,
) -> Result<Verified, String> {
    let rules = TokenRules {
        audience,
        leeway,
        algorithms,
        max_token_bytes,
        token_type: None,
    };
    match verify::verify(raw, &keys.0, &rules, now) {
        Ok(token) => Ok(Verified {
            payload_json: token.payload_json,
            kid: token.kid,
            key: Key(token.key),
            exp: token.exp,
        }),
        Err(failure) => Err(failure.reason().to_string()),
    }
}

/// The roles of a claims set, as `ClaimConstraints` match them (py-oidc-auth's `flattened_roles`).
pub fn flattened_roles(claims: &Map<String, Value>) -> Vec<&str> {
    crate::claims::flattened_roles(claims)
}

/// The endpoints `names` of a discovery document as the provider reads them, or why it refuses it.
pub fn discovery_endpoints(document: Value, names: &[&str]) -> Result<Vec<Option<String>>, String> {
    let metadata = ProviderMetadata::from_document(document).map_err(|why| why.to_string())?;
    Ok(names
        .iter()
        .map(|name| metadata.endpoint(name).map(str::to_owned))
        .collect())
}

/// What a sealed login state carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginState(login_state::LoginState);

impl LoginState {
    /// A state of these fields (`expires`: seconds since the epoch).
    pub fn new(verifier: &str, redirect_uri: &str, nonce: &str, expires: u64, id: &str) -> Self {
        let (verifier, redirect_uri) = (verifier.to_owned(), redirect_uri.to_owned());
        let (nonce, id) = (nonce.to_owned(), id.to_owned());
        Self(login_state::LoginState {
            verifier,
            redirect_uri,
            nonce,
            expires,
            id,
            binding: None,
        })
    }

    /// The PKCE code verifier and the redirect URI the provider was given.
    pub fn verifier_and_redirect_uri(&self) -> (&str, &str) {
        (&self.0.verifier, &self.0.redirect_uri)
    }
}

/// Seals, opens and consumes login states; a refused state is the detail the routes answer with.
pub struct Sealer(StateSealer);

impl Sealer {
    /// A sealer keyed by `secret`.
    pub fn new(secret: &[u8]) -> Self {
        Self(StateSealer::new(secret))
    }

    /// The sealed form of `state`.
    pub fn seal(&self, state: &LoginState) -> String {
        self.0.seal(&state.0)
    }

    /// Opens a sealed state.
    pub fn open(&self, sealed: &str) -> Result<LoginState, &'static str> {
        self.0
            .open(sealed)
            .map(LoginState)
            .map_err(StateError::detail)
    }

    /// Opens a sealed state and marks it used: it opens once only.
    pub fn consume(&self, sealed: &str) -> Result<LoginState, &'static str> {
        self.0
            .consume(sealed)
            .map(LoginState)
            .map_err(StateError::detail)
    }

    /// Whether `value` is a sealed state rather than a PKCE verifier.
    pub fn is_sealed(value: &str) -> bool {
        StateSealer::is_sealed(value)
    }
}

/// The token route's form of a request body, or the status it refuses the body with.
pub fn parse_form(content_type: &str, body: &[u8]) -> Result<Vec<(String, String)>, u16> {
    token::parse_form(content_type, body).map_err(|why| why.response().status().as_u16())
}

/// The form the token route sends the provider for a request's form, or the 400 detail.
pub fn upstream_form(
    form: &[(String, String)],
    sealer: &Sealer,
    proxy: Option<&str>,
    own_path: &str,
) -> Result<Vec<(&'static str, String)>, &'static str> {
    token::upstream_form(token::grant(form)?, &sealer.0, proxy, own_path)
}

/// The token route's answer (six-field JSON) for a provider's token answer at `now`, or why not.
pub fn normalise(answer: &Map<String, Value>, now: i64) -> Result<Value, String> {
    token::normalise(answer, now)
        .map(|token| json!(token))
        .map_err(|why| why.to_string())
}
