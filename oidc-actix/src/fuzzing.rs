//! Entry points for the fuzz targets in `fuzz/` and for their corpus replay in
//! `tests/fuzz_corpus.rs`. Not a public API: enabled by the `fuzzing` feature, it may change in
//! any release.
//!
//! Each function takes the fuzzer's bytes, runs one parser or decision of the crate on them, and
//! panics when an invariant breaks (besides any panic of the code under test). Inputs that start
//! with a mode byte pick a sub-target by `mode % 2`; committed seeds use the ASCII digits `0` and
//! `1` so that they stay readable. Every check runs against fixed keys, secrets and clock values,
//! so a corpus file gives the same outcome on every run.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::algorithm::Algorithm;
use crate::claims::flattened_roles;
use crate::discovery::ProviderMetadata;
use crate::jwks::{KeySet, key_set_from_jwks};
use crate::login_state::{LoginState, StateError, StateSealer};
use crate::testing::{TEST_AUDIENCE, TestKey};
use crate::verify::{Failure, TokenRules, verify};
use crate::{ClaimConstraints, ClaimValue};

/// The issuer of the fixed key set and of the seed tokens.
pub const ISSUER: &str = "https://idp.fuzz.example";
/// The fixed clock of the token checks (2025-06-15), so that corpus tokens never expire.
pub const NOW: i64 = 1_750_000_000;
/// The leeway of the token checks, the library's default.
const LEEWAY: Duration = Duration::from_secs(60);
/// The largest token the checks read, the library's default.
const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// The secret of the fixed state sealer.
const STATE_SECRET: &[u8] = b"oidc-actix fuzzing state secret";
/// The token route's path, for the default redirect URI.
const TOKEN_PATH: &str = "/api/auth/v2/token";
/// The keys the signed-token mode signs with: one per key type, EdDSA and RS256 first because
/// their signatures are deterministic (so a corpus input always yields the same token).
const SIGNERS: [TestKey; 4] = [
    TestKey::EdDsa,
    TestKey::Rs256,
    TestKey::Es256,
    TestKey::Ps384,
];

/// How one input ended, so the corpus replay can check that the seeds reach the deep paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Went all the way: a token verified, constraints held, a form was built, a state opened,
    /// a document was read, arguments were accepted.
    Accepted,
    /// Refused somewhere on the way (the expected fate of most fuzz inputs).
    Rejected,
}

impl Outcome {
    fn from_bool(accepted: bool) -> Self {
        if accepted {
            Self::Accepted
        } else {
            Self::Rejected
        }
    }
}

/// A seed input: which target it feeds, a file name, the bytes, and the outcome it must have.
#[derive(Debug, Clone)]
pub struct Seed {
    /// The fuzz target.
    pub target: &'static str,
    /// The file name under `fuzz/corpus/<target>/`.
    pub name: String,
    /// The input.
    pub data: Vec<u8>,
    /// What the target's function must return for it.
    pub expected: Outcome,
}

/// A fuzz target's function.
pub type Target = fn(&[u8]) -> Outcome;

/// The fuzz targets whose functions live in this module, with those functions. (`macro_args`
/// lives in `fuzz/macro_args.rs`: a proc-macro crate cannot export its parser.)
pub const TARGETS: [(&str, Target); 5] = [
    ("jwt", jwt),
    ("claims", claims),
    ("token_route", token_route),
    ("state", state),
    ("provider_documents", provider_documents),
];

fn split_mode(data: &[u8]) -> Option<(u8, &[u8])> {
    data.split_first().map(|(mode, rest)| (mode % 2, rest))
}

// ---------------------------------------------------------------------------------------------
// JWT header and payload parsing and validation

/// Every test key, published with its `kid` and `alg`.
fn fixed_keys() -> &'static KeySet {
    static KEYS: OnceLock<KeySet> = OnceLock::new();
    KEYS.get_or_init(|| {
        let jwks = TestKey::jwks(TestKey::ALL.iter().copied());
        key_set_from_jwks(&jwks, Algorithm::ALL, 32, ISSUER.to_owned(), 1, 0.0)
            .unwrap_or_else(|why| panic!("the test keys form a key set: {why}"))
    })
}

fn rules(audience: bool, algorithms: &[Algorithm]) -> TokenRules<'_> {
    TokenRules {
        audience: audience.then_some(TEST_AUDIENCE),
        leeway: LEEWAY,
        algorithms,
        max_token_bytes: MAX_TOKEN_BYTES,
    }
}

fn jws_algorithm(alg: Algorithm) -> jsonwebtoken::Algorithm {
    match alg {
        Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
        Algorithm::RS384 => jsonwebtoken::Algorithm::RS384,
        Algorithm::RS512 => jsonwebtoken::Algorithm::RS512,
        Algorithm::PS256 => jsonwebtoken::Algorithm::PS256,
        Algorithm::PS384 => jsonwebtoken::Algorithm::PS384,
        Algorithm::PS512 => jsonwebtoken::Algorithm::PS512,
        Algorithm::ES256 => jsonwebtoken::Algorithm::ES256,
        Algorithm::ES384 => jsonwebtoken::Algorithm::ES384,
        Algorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
    }
}

/// `header` and `payload` (any bytes) signed by `key` with its algorithm, whatever the header
/// says.
fn sign(key: TestKey, header: &[u8], payload: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &key.material().encoding_key(),
        jws_algorithm(key.algorithm()),
    )
    .unwrap_or_else(|e| panic!("test key {key} signs: {e}"));
    format!("{input}.{signature}")
}

/// JWT parsing and validation against a fixed key set (every [`TestKey`]) at [`NOW`].
///
/// * mode `0`: the rest is the token, as a client would send it;
/// * mode `1`: the next byte picks a signing key (bits 0–1) and whether an audience is
///   configured (bit 2); the rest is the header and the payload, split at the first `\n`. Both
///   are signed as they are, so the fuzzer explores the checks behind the signature.
///
/// Invariants of an accepted token: the `iss` is the key set's, `exp` is a number not yet past
/// (with the leeway), `nbf` and `iat` are not in the future, the audience is ours when one is
/// configured, `sub` and `scope` are strings, the header's `kid` names the key that verified and
/// its `alg` is one that key may verify; in mode `1` that key is the signer's.
pub fn jwt(data: &[u8]) -> Outcome {
    let Some((mode, rest)) = split_mode(data) else {
        return Outcome::Rejected;
    };
    if mode == 0 {
        let Ok(raw) = std::str::from_utf8(rest) else {
            return Outcome::Rejected;
        };
        return check_token(raw, true, None);
    }
    let Some((&flags, body)) = rest.split_first() else {
        return Outcome::Rejected;
    };
    let signer = SIGNERS[usize::from(flags & 3)];
    let (header, payload) = match body.iter().position(|b| *b == b'\n') {
        Some(at) => (&body[..at], &body[at + 1..]),
        None => (body, &[][..]),
    };
    check_token(&sign(signer, header, payload), flags & 4 != 0, Some(signer))
}

fn check_token(raw: &str, audience: bool, signer: Option<TestKey>) -> Outcome {
    let keys = fixed_keys();
    let rules = rules(audience, Algorithm::ALL);
    let verified = match verify(raw, keys, &rules, NOW as f64) {
        Ok(verified) => verified,
        Err(Failure::Invalid(_) | Failure::UnknownKid) => return Outcome::Rejected,
    };
    let decode = |segment: &str| -> Map<String, Value> {
        let bytes = URL_SAFE_NO_PAD
            .decode(segment)
            .unwrap_or_else(|e| panic!("accepted token with a segment that is not base64url: {e}"));
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("accepted token with a segment that is not an object: {e}"))
    };
    let header = decode(raw.split('.').next().unwrap_or_default());
    let payload: Map<String, Value> = serde_json::from_slice(&verified.payload_json)
        .unwrap_or_else(|e| panic!("a verified payload does not parse as a claims map: {e}"));
    assert_eq!(
        payload.get("iss").and_then(Value::as_str),
        Some(ISSUER),
        "accepted a token of another issuer"
    );
    let number = |name: &str| payload.get(name).map(|v| v.as_f64());
    let leeway = LEEWAY.as_secs_f64();
    let now = NOW as f64;
    let Some(Some(exp)) = number("exp") else {
        panic!(
            "accepted a token without a numeric exp: {:?}",
            payload.get("exp")
        );
    };
    assert!(now < exp + leeway, "accepted an expired token (exp {exp})");
    assert_eq!(
        verified.exp,
        exp.max(0.0) as u64,
        "the cached expiry is not exp"
    );
    for name in ["nbf", "iat"] {
        match number(name) {
            None => {}
            Some(Some(at)) => assert!(at <= now + leeway, "accepted a future {name} ({at})"),
            Some(None) => panic!("accepted a non-numeric {name}"),
        }
    }
    if audience {
        let ours = match payload.get("aud") {
            Some(Value::String(aud)) => aud == TEST_AUDIENCE,
            Some(Value::Array(auds)) => auds.iter().any(|aud| aud == TEST_AUDIENCE),
            _ => false,
        };
        assert!(ours, "accepted a token for another audience");
    }
    for name in ["sub", "scope", "nonce"] {
        assert!(
            payload.get(name).is_none_or(Value::is_string),
            "accepted a non-string {name}"
        );
    }
    let kid = header.get("kid").and_then(Value::as_str);
    assert_eq!(verified.kid.as_deref(), kid, "verified under another kid");
    let Some(kid) = kid else {
        panic!("accepted a token without kid although the key set has several keys");
    };
    let key = keys
        .find(Some(kid))
        .expect("the verifying key is in the set");
    assert!(Arc::ptr_eq(key, &verified.key), "verified with another key");
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(Algorithm::from_name)
        .expect("an accepted token names a supported alg");
    assert!(key.permits(alg), "the key does not permit the token's alg");
    let published = TestKey::ALL
        .iter()
        .find(|test_key| test_key.kid() == kid)
        .expect("every kid of the fixed set is a test key's");
    assert_eq!(
        published.algorithm(),
        alg,
        "a key verified another alg than its own"
    );
    if let Some(signer) = signer {
        assert!(
            published.material() == signer.material(),
            "a token signed by {signer} verified with the key of {published}"
        );
    }
    Outcome::Accepted
}

// ---------------------------------------------------------------------------------------------
// Claim constraints

/// Claim-constraint matching: the input is two JSON texts, the constraints (py-oidc-auth's
/// object form) and the token's claims (an object).
///
/// Invariants: accepted constraints have one rule per key, in order, each with a valid path and
/// at least one value; the constraints hold exactly when each rule holds alone and when the
/// model below (`model_satisfied`) says so; the flattened roles are sorted, unique, taken
/// from the four role claims, and each satisfies a `roles` constraint.
pub fn claims(data: &[u8]) -> Outcome {
    let mut texts = serde_json::Deserializer::from_slice(data).into_iter::<Value>();
    let Some(Ok(constraints)) = texts.next() else {
        return Outcome::Rejected;
    };
    let Some(Ok(Value::Object(claims))) = texts.next() else {
        return Outcome::Rejected;
    };
    check_flattened_roles(&claims);
    let Ok(parsed) = ClaimConstraints::from_json(&constraints) else {
        return Outcome::Rejected;
    };
    let Value::Object(object) = &constraints else {
        panic!("from_json accepted a non-object: {constraints}");
    };
    assert_eq!(parsed.rules().len(), object.len(), "one rule per key");
    for (rule, (path, _)) in parsed.rules().iter().zip(object) {
        assert_eq!(rule.path(), path, "rules keep the keys' order");
        assert!(!rule.values().is_empty(), "a rule without values: {path}");
        assert!(
            !path.split('.').any(str::is_empty),
            "accepted an empty segment: {path:?}"
        );
    }
    // Debug output quotes user strings; it must not panic on any of them.
    let _ = format!("{parsed:?}");
    let satisfied = parsed.is_satisfied_by(&claims);
    let each = object.iter().all(|(path, values)| {
        let mut single = Map::new();
        single.insert(path.clone(), values.clone());
        ClaimConstraints::from_json(&Value::Object(single))
            .expect("a key of accepted constraints is accepted alone")
            .is_satisfied_by(&claims)
    });
    assert_eq!(satisfied, each, "all keys must hold, and nothing else");
    assert_eq!(
        satisfied,
        model_satisfied(&parsed, &claims),
        "the matcher disagrees with the documented semantics"
    );
    Outcome::from_bool(satisfied)
}

/// The documented semantics of claim constraints (see `claims.rs`), written independently:
/// collect every value at the path, then compare.
fn model_satisfied(constraints: &ClaimConstraints, claims: &Map<String, Value>) -> bool {
    fn at<'a>(node: &'a Value, segments: &[&str], out: &mut Vec<&'a Value>) {
        let Some((first, rest)) = segments.split_first() else {
            out.push(node);
            return;
        };
        if let Value::Object(members) = node {
            if *first == "*" {
                members.values().for_each(|child| at(child, rest, out));
            } else if let Some(child) = members.get(*first) {
                at(child, rest, out);
            }
        }
    }
    fn equal(want: &ClaimValue, have: &Value) -> bool {
        match (want, have) {
            (ClaimValue::Str(want), Value::String(have)) => want == have,
            (ClaimValue::Bool(want), Value::Bool(have)) => want == have,
            (ClaimValue::Int(want), Value::Number(have)) => have.as_i64() == Some(*want),
            _ => false,
        }
    }
    let root = Value::Object(claims.clone());
    let roles = model_roles(claims);
    constraints.rules().iter().all(|rule| {
        let segments: Vec<&str> = rule.path().split('.').collect();
        let mut found = Vec::new();
        at(&root, &segments, &mut found);
        let direct = found.iter().any(|claim| {
            rule.values().iter().any(|want| match claim {
                Value::Array(items) => items.iter().any(|item| equal(want, item)),
                scalar => equal(want, scalar),
            })
        });
        let role_like = matches!(
            rule.path(),
            "roles" | "groups" | "realm_access.roles" | "resource_access.*.roles"
        );
        direct
            || role_like
                && rule.values().iter().any(
                    |want| matches!(want, ClaimValue::Str(want) if roles.contains(&want.as_ref())),
                )
    })
}

/// The strings of the arrays at the four role claims.
fn model_roles(claims: &Map<String, Value>) -> Vec<&str> {
    fn strings(value: Option<&Value>) -> Vec<&str> {
        value
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }
    let mut roles = Vec::new();
    roles.extend(strings(claims.get("groups")));
    roles.extend(strings(claims.get("roles")));
    roles.extend(strings(
        claims.get("realm_access").and_then(|r| r.get("roles")),
    ));
    if let Some(Value::Object(clients)) = claims.get("resource_access") {
        for client in clients.values() {
            roles.extend(strings(client.get("roles")));
        }
    }
    roles
}

fn check_flattened_roles(claims: &Map<String, Value>) {
    let roles = flattened_roles(claims);
    assert!(
        roles.windows(2).all(|pair| pair[0] < pair[1]),
        "flattened roles are not sorted and unique: {roles:?}"
    );
    let mut model = model_roles(claims);
    model.sort_unstable();
    model.dedup();
    assert_eq!(roles, model, "flattened roles are not the four role claims");
    for role in roles {
        let constraint = ClaimConstraints::new().require("roles", [role]);
        assert!(
            constraint.is_satisfied_by(claims),
            "a flattened role does not satisfy a `roles` constraint: {role:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The token route

/// Content types the form mode picks from (absent, the form type in several spellings, and
/// types the route refuses).
const CONTENT_TYPES: [&str; 8] = [
    "",
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=UTF-8",
    " Application/X-WWW-Form-URLencoded ;",
    "application/json",
    "text/plain",
    "multipart/form-data; boundary=x",
    ";",
];
/// The configured `proxy`, if any, the default redirect URI derives from.
const PROXIES: [Option<&str>; 3] = [
    None,
    Some("https://app.example.org/base/"),
    Some("http://localhost:8080"),
];
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The pure steps of the token route (`routes/token.rs`); the route reaches them through this
/// type because the `routes` module is private.
pub(crate) struct TokenRoute;

/// The token route's form parsing and dispatch, and the normalisation of the provider's answer.
///
/// * mode `0`: the next byte picks the `Content-Type` (`% 8`) and the configured proxy
///   (`/ 8 % 3`); the rest is the request body. Invariants: a refused body is a 400 or 415; an
///   accepted grant is the one `grant_type` names (or the first of code, refresh token and
///   device code), carries the form's values, never forwards a sealed state as `code_verifier`,
///   uses the state's redirect URI, and a sealed state is accepted once only.
/// * mode `1`: the rest is the provider's token answer (JSON). Invariants: the six-field answer
///   has a non-empty access token and token type, the provider's values where it gave them, and
///   a refresh expiry in the future for a refresh token of unknown lifetime.
pub fn token_route(data: &[u8]) -> Outcome {
    match split_mode(data) {
        Some((0, rest)) => token_form(rest),
        Some((_, rest)) => token_answer(rest),
        None => Outcome::Rejected,
    }
}

/// The first non-empty value of the first of `names` that has one (how the route reads fields).
fn field(form: &[(String, String)], names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| {
        form.iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.clone())
    })
}

fn token_form(rest: &[u8]) -> Outcome {
    let Some((&choice, body)) = rest.split_first() else {
        return Outcome::Rejected;
    };
    let content_type = CONTENT_TYPES[usize::from(choice % 8)];
    let proxy = PROXIES[usize::from(choice / 8 % 3)];
    let form = match TokenRoute::parse_form(content_type, body) {
        Ok(form) => form,
        Err(status) => {
            let status = status.as_u16();
            assert!(
                status == 400 || status == 415,
                "a refused form body answers {status}"
            );
            return Outcome::Rejected;
        }
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        assert!(form.is_empty(), "a blank body is an empty form");
    }
    let sealer = StateSealer::new(STATE_SECRET);
    let upstream = match TokenRoute::upstream_form(&form, &sealer, proxy, TOKEN_PATH) {
        Ok(upstream) => upstream,
        Err(why) => {
            assert!(!why.is_empty(), "an empty error detail");
            return Outcome::Rejected;
        }
    };
    let sent = |name: &str| {
        upstream
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    };
    let explicit = field(&form, &["grant_type"]);
    let code = field(&form, &["code"]);
    let refresh = field(&form, &["refresh-token", "refresh_token"]);
    let device = field(&form, &["device-code", "device_code"]);
    let grant_type = sent("grant_type").expect("every upstream form names its grant");
    if let Some(explicit) = &explicit {
        assert_eq!(explicit, grant_type, "grant_type was not obeyed");
    }
    match grant_type {
        "authorization_code" => {
            assert_eq!(sent("code"), code.as_deref(), "the code was not forwarded");
            let verifier = sent("code_verifier").unwrap_or_default();
            assert!(
                !StateSealer::is_sealed(verifier),
                "a sealed state was forwarded to the provider"
            );
            let given = field(&form, &["code_verifier"]);
            let redirect_uri = sent("redirect_uri").unwrap_or_default();
            match given.as_deref() {
                Some(sealed) if StateSealer::is_sealed(sealed) => {
                    let replay = TokenRoute::upstream_form(&form, &sealer, proxy, TOKEN_PATH);
                    assert_eq!(
                        replay,
                        Err(StateError::Replayed.detail()),
                        "a sealed state was accepted twice"
                    );
                    let state = sealer.open(sealed).expect("a consumed state opens");
                    assert_eq!(
                        verifier, state.verifier,
                        "the state's verifier was not used"
                    );
                    assert_eq!(redirect_uri, state.redirect_uri, "the login's redirect_uri");
                }
                other => {
                    assert_eq!(verifier, other.unwrap_or_default(), "the verifier changed");
                    let expected = field(&form, &["redirect_uri"])
                        .or_else(|| proxy.map(|p| format!("{}{TOKEN_PATH}", origin(p))))
                        .unwrap_or_default();
                    assert_eq!(redirect_uri, expected, "the redirect_uri");
                }
            }
        }
        "refresh_token" => {
            assert!(explicit.is_some() || code.is_none(), "a code comes first");
            assert_eq!(sent("refresh_token"), refresh.as_deref());
        }
        DEVICE_GRANT => {
            assert!(
                explicit.is_some() || code.is_none() && refresh.is_none(),
                "a code or refresh token comes first"
            );
            assert_eq!(sent("device_code"), device.as_deref());
        }
        other => panic!("unknown upstream grant {other:?}"),
    }
    Outcome::Accepted
}

/// `scheme://authority` of a URL (what Python's `urljoin` keeps for an absolute path).
fn origin(url: &str) -> &str {
    let start = url.find("://").map_or(0, |i| i + 3);
    url[start..].find('/').map_or(url, |i| &url[..start + i])
}

fn token_answer(rest: &[u8]) -> Outcome {
    let Ok(Value::Object(answer)) = serde_json::from_slice::<Value>(rest) else {
        return Outcome::Rejected;
    };
    let Ok(token) = TokenRoute::normalise(&answer, NOW) else {
        assert!(
            answer
                .get("access_token")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty),
            "an answer with an access token was refused"
        );
        return Outcome::Rejected;
    };
    assert!(!token.access_token.is_empty() && !token.token_type.is_empty());
    assert_eq!(
        answer.get("access_token").and_then(Value::as_str),
        Some(token.access_token.as_str())
    );
    let refresh = answer.get("refresh_token").and_then(Value::as_str);
    assert_eq!(token.refresh_token, refresh.unwrap_or_default());
    let given = |names: &[&str]| names.iter().any(|name| answer.contains_key(*name));
    if !token.refresh_token.is_empty()
        && !given(&["refresh_exp", "refresh_expires", "refresh_expires_at"])
    {
        assert!(
            token.refresh_expires > NOW,
            "a refresh token of unknown lifetime is already expired ({})",
            token.refresh_expires
        );
    }
    Outcome::Accepted
}

// ---------------------------------------------------------------------------------------------
// The login state

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Sealed login states, with a fixed secret.
///
/// * mode `0`: the rest is a state to open and consume. Invariants: only a sealed state opens;
///   it re-seals to an equal state; it is consumed once.
/// * mode `1`: the next byte holds flags (bit 0: expired), the one after a tamper position, and
///   the rest is the verifier, redirect URI, nonce and id, separated by NUL bytes. Invariants:
///   `open(seal(s)) == s` for a live state and `Expired` for an old one; a sealed state hides
///   the verifier; changing any one character, truncating, or another secret makes it invalid.
pub fn state(data: &[u8]) -> Outcome {
    let sealer = StateSealer::new(STATE_SECRET);
    match split_mode(data) {
        Some((0, rest)) => {
            let Ok(sealed) = std::str::from_utf8(rest) else {
                return Outcome::Rejected;
            };
            let Ok(state) = sealer.open(sealed) else {
                return Outcome::Rejected;
            };
            assert!(StateSealer::is_sealed(sealed));
            assert_eq!(sealer.open(&sealer.seal(&state)), Ok(state.clone()));
            assert_eq!(sealer.consume(sealed), Ok(state));
            assert_eq!(sealer.consume(sealed), Err(StateError::Replayed));
            Outcome::Accepted
        }
        Some((_, rest)) => state_round_trip(&sealer, rest),
        None => Outcome::Rejected,
    }
}

fn state_round_trip(sealer: &StateSealer, rest: &[u8]) -> Outcome {
    let [flags, position, fields @ ..] = rest else {
        return Outcome::Rejected;
    };
    let mut parts = fields
        .split(|b| *b == 0)
        .map(|part| String::from_utf8_lossy(part).into_owned());
    let mut next = || parts.next().unwrap_or_default();
    let expired = flags & 1 != 0;
    let now = unix_now();
    let state = LoginState {
        verifier: next(),
        redirect_uri: next(),
        nonce: next(),
        expires: if expired { now - 1 } else { now + 600 },
        id: next(),
    };
    let sealed = sealer.seal(&state);
    assert!(StateSealer::is_sealed(&sealed));
    assert!(!sealed.contains('|'), "py-oidc-auth-client splits on `|`");
    if state.verifier.len() >= 16 {
        assert!(!sealed.contains(&state.verifier), "the verifier shows");
    }
    let opened = sealer.open(&sealed);
    if expired {
        assert_eq!(opened, Err(StateError::Expired));
    } else {
        assert_eq!(opened, Ok(state.clone()));
        assert_eq!(sealer.consume(&sealed), Ok(state));
        assert_eq!(sealer.consume(&sealed), Err(StateError::Replayed));
    }
    let bytes = sealed.as_bytes();
    let at = usize::from(*position) * bytes.len() / 256;
    let mut tampered = bytes.to_vec();
    // Another base64url character (the prefix too becomes something else than `oa1.`).
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ASCII stays ASCII");
    assert_eq!(
        sealer.open(&tampered),
        Err(StateError::Invalid),
        "a state tampered at {at} opened"
    );
    assert_eq!(
        sealer.open(&sealed[..sealed.len() - 1]),
        Err(StateError::Invalid),
        "a truncated state opened"
    );
    assert_eq!(
        StateSealer::new(b"another secret").open(&sealed),
        Err(StateError::Invalid),
        "a state opened with another secret"
    );
    Outcome::from_bool(!expired)
}

// ---------------------------------------------------------------------------------------------
// JWKS and discovery documents

/// The allowed-algorithm lists the JWKS mode picks from.
const ALLOWED: [&[Algorithm]; 4] = [
    Algorithm::ALL,
    &[Algorithm::RS256],
    &[Algorithm::ES256, Algorithm::ES384],
    &[Algorithm::EdDSA, Algorithm::PS512],
];

/// One token per test key, signed once.
fn probe_tokens() -> &'static [(TestKey, String)] {
    static TOKENS: OnceLock<Vec<(TestKey, String)>> = OnceLock::new();
    TOKENS.get_or_init(|| {
        TestKey::ALL
            .iter()
            .map(|&key| {
                let header = json!({"alg": key.algorithm().name(), "kid": key.kid()});
                let payload = json!({"iss": ISSUER, "exp": NOW + 300, "sub": "probe"});
                (
                    key,
                    sign(
                        key,
                        header.to_string().as_bytes(),
                        payload.to_string().as_bytes(),
                    ),
                )
            })
            .collect()
    })
}

/// The JWK members that carry a key, decoded (RSA moduli without leading zero bytes).
fn key_members(jwk: &Value) -> Option<Vec<Vec<u8>>> {
    let kty = jwk.get("kty")?.as_str()?;
    let names: &[&str] = match kty {
        "RSA" => &["n", "e"],
        "EC" => &["crv", "x", "y"],
        _ => &["crv", "x"],
    };
    names
        .iter()
        .map(|name| {
            let text = jwk.get(*name)?.as_str()?;
            if *name == "crv" {
                return Some(text.as_bytes().to_vec());
            }
            let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
            let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
            Some(bytes[start..].to_vec())
        })
        .collect()
}

/// Provider documents, from bytes to JSON to what the provider keeps.
///
/// * mode `0`: the next byte picks the most keys kept (`% 4 + 1`) and the allowed algorithms
///   (`/ 4 % 4`); the rest is a JWKS. Invariants: a key set has between one and that many keys;
///   a token without `kid` finds a key only in a one-key set; rebuilding the same document and
///   carrying the first set over keeps every key; a token signed by a test key verifies only
///   where the document publishes that key's public members under its `kid`.
/// * mode `1`: the rest is a discovery document. Invariants: only a JSON object whose known
///   endpoints are strings is accepted, and an endpoint is read exactly when it is non-empty.
pub fn provider_documents(data: &[u8]) -> Outcome {
    match split_mode(data) {
        Some((0, rest)) => jwks_document(rest),
        Some((_, rest)) => discovery_document(rest),
        None => Outcome::Rejected,
    }
}

fn jwks_document(rest: &[u8]) -> Outcome {
    let Some((&choice, body)) = rest.split_first() else {
        return Outcome::Rejected;
    };
    let max_keys = usize::from(choice % 4) + 1;
    let allowed = ALLOWED[usize::from(choice / 4 % 4)];
    let Ok(document) = serde_json::from_slice::<Value>(body) else {
        return Outcome::Rejected;
    };
    let Ok(keys) = key_set_from_jwks(&document, allowed, max_keys, ISSUER.to_owned(), 7, 0.0)
    else {
        return Outcome::Rejected;
    };
    assert!(
        (1..=max_keys).contains(&keys.len()),
        "{} keys kept, at most {max_keys} allowed",
        keys.len()
    );
    assert_eq!((keys.issuer.as_str(), keys.generation), (ISSUER, 7));
    if keys.find(None).is_some() {
        assert_eq!(
            keys.len(),
            1,
            "a token without kid may use the only key only"
        );
    }
    let entries = document["keys"].as_array().map_or(&[][..], Vec::as_slice);
    let kids: Vec<&str> = entries
        .iter()
        .filter_map(|entry| entry.get("kid")?.as_str())
        .collect();
    let mut again = key_set_from_jwks(&document, allowed, max_keys, ISSUER.to_owned(), 8, 0.0)
        .expect("the same document builds again");
    again.carry_over(&keys);
    for kid in &kids {
        if let Some(key) = keys.find(Some(kid)) {
            assert!(
                allowed.iter().any(|alg| key.permits(*alg)),
                "a kept key verifies none of the allowed algorithms"
            );
            assert!(
                again.still_holds(Some(kid), key),
                "an unchanged key was not carried over"
            );
        }
    }
    let rules = rules(false, allowed);
    for (test_key, token) in probe_tokens() {
        if verify(token, &keys, &rules, NOW as f64).is_err() {
            continue;
        }
        let published = test_key.public_jwk();
        let genuine = key_members(&published);
        assert!(
            entries.iter().any(|entry| {
                entry.get("kid").and_then(Value::as_str) == Some(test_key.kid())
                    && key_members(entry) == genuine
            }),
            "a token of {test_key} verified, but the document does not publish its key"
        );
    }
    Outcome::Accepted
}

fn discovery_document(rest: &[u8]) -> Outcome {
    let Ok(document) = serde_json::from_slice::<Value>(rest) else {
        return Outcome::Rejected;
    };
    let known = [
        "issuer",
        "jwks_uri",
        "authorization_endpoint",
        "token_endpoint",
    ];
    let well_formed = document.as_object().is_some_and(|members| {
        known
            .iter()
            .all(|name| members.get(*name).is_none_or(Value::is_string))
    });
    let Ok(metadata) = ProviderMetadata::from_document(document.clone()) else {
        assert!(!well_formed, "a well-formed discovery document was refused");
        return Outcome::Rejected;
    };
    assert!(well_formed, "a malformed discovery document was accepted");
    let names = document
        .as_object()
        .map(|members| members.keys().map(String::as_str).collect::<Vec<_>>())
        .unwrap_or_default();
    for name in known.iter().copied().chain(names) {
        let expected = document[name].as_str().filter(|s| !s.is_empty());
        assert_eq!(metadata.endpoint(name), expected, "endpoint {name:?}");
    }
    Outcome::Accepted
}

// ---------------------------------------------------------------------------------------------
// Seeds

/// Far enough in the future (2100-01-01) for seed states to stay live.
const SEED_STATE_EXPIRY: u64 = 4_102_444_800;

/// The seed inputs of every target of this module, each with the outcome it must have. The
/// committed corpora start from these (`fuzz/run.sh --seed` writes them).
pub fn seeds() -> Vec<Seed> {
    let mut seeds = Vec::new();
    let mut add = |target: &'static str, name: &str, data: Vec<u8>, expected: Outcome| {
        seeds.push(Seed {
            target,
            name: format!("seed-{name}"),
            data,
            expected,
        });
    };
    let with_mode = |mode: &str, rest: &[u8]| [mode.as_bytes(), rest].concat();
    use Outcome::{Accepted, Rejected};

    // jwt, mode 0: whole tokens.
    let token = || {
        crate::testing::TokenBuilder::new(ISSUER)
            .claim("iat", json!(NOW))
            .claim("exp", json!(NOW + 300))
    };
    for key in TestKey::PER_ALGORITHM.iter().chain([&TestKey::Rsa2]) {
        let raw = token().key(*key).sign();
        add(
            "jwt",
            &format!("valid-{key}"),
            with_mode("0", raw.as_bytes()),
            Accepted,
        );
    }
    let tokens = [
        (
            "fractional-exp",
            token().claim("exp", json!(NOW as f64 + 0.5)).sign(),
            Accepted,
        ),
        (
            "aud-list",
            token().claim("aud", json!(["x", TEST_AUDIENCE])).sign(),
            Accepted,
        ),
        (
            "groups",
            token().claim("groups", json!(["admins"])).sign(),
            Accepted,
        ),
        ("no-typ", token().without_header("typ").sign(), Accepted),
        (
            "at-jwt",
            token().header("typ", json!("at+jwt")).sign(),
            Accepted,
        ),
        (
            "expired",
            token().claim("exp", json!(NOW - 120)).sign(),
            Rejected,
        ),
        (
            "within-leeway",
            token().claim("exp", json!(NOW - 30)).sign(),
            Accepted,
        ),
        (
            "future-nbf",
            token().claim("nbf", json!(NOW + 120)).sign(),
            Rejected,
        ),
        (
            "future-iat",
            token().claim("iat", json!(NOW + 120)).sign(),
            Rejected,
        ),
        ("no-exp", token().without_claim("exp").sign(), Rejected),
        (
            "string-exp",
            token().claim("exp", json!("soon")).sign(),
            Rejected,
        ),
        (
            "other-issuer",
            token().issuer("https://evil.example").sign(),
            Rejected,
        ),
        (
            "other-audience",
            token().audience("someone-else").sign(),
            Rejected,
        ),
        (
            "numeric-sub",
            token().claim("sub", json!(7)).sign(),
            Rejected,
        ),
        ("unknown-kid", token().kid(Some("nobody")).sign(), Rejected),
        ("no-kid", token().kid(None).sign(), Rejected),
        (
            "crit",
            token().header("crit", json!(["exp"])).sign(),
            Rejected,
        ),
        (
            "typ-jose",
            token().header("typ", json!("JOSE+JSON")).sign(),
            Rejected,
        ),
        (
            "alg-lies",
            token().header("alg", json!("RS384")).sign(),
            Rejected,
        ),
        ("alg-none", token().unsigned(), Rejected),
        ("hs256", token().sign_hs256(b"secret"), Rejected),
        ("forged", token().sign_with_unpublished_key(), Rejected),
        (
            "two-segments",
            "eyJhbGciOiJSUzI1NiJ9.e30".to_owned(),
            Rejected,
        ),
    ];
    for (name, raw, expected) in tokens {
        add("jwt", name, with_mode("0", raw.as_bytes()), expected);
    }
    // jwt, mode 1: header and payload, signed by the harness.
    let payload = json!({"iss": ISSUER, "aud": TEST_AUDIENCE, "sub": "u", "iat": NOW,
                         "exp": NOW + 300, "scope": "openid", "nonce": "n"})
    .to_string();
    for (flags, key) in ["0", "1", "2", "3"].into_iter().zip(SIGNERS) {
        let header = json!({"alg": key.algorithm().name(), "typ": "JWT", "kid": key.kid()});
        let body = format!("{flags}{header}\n{payload}");
        add(
            "jwt",
            &format!("signed-{key}"),
            with_mode("1", body.as_bytes()),
            Accepted,
        );
    }
    let ed_header = r#"{"alg":"EdDSA","kid":"ed25519-EdDSA"}"#;
    let signed = [
        (
            "signed-audience",
            format!("4{ed_header}\n{payload}"),
            Accepted,
        ),
        (
            "signed-duplicate-exp",
            format!(
                r#"0{ed_header}
{{"iss":"{ISSUER}","exp":{},"exp":{}}}"#,
                NOW + 300,
                NOW - 300
            ),
            Rejected,
        ),
        (
            "signed-array-payload",
            format!("0{ed_header}\n[1,2]"),
            Rejected,
        ),
        (
            "signed-numeric-nonce",
            format!(
                r#"0{ed_header}
{{"iss":"{ISSUER}","exp":{},"nonce":5}}"#,
                NOW + 300
            ),
            Rejected,
        ),
        (
            "signed-rsa-kid",
            format!(
                r#"0{{"alg":"EdDSA","kid":"rsa1-RS256"}}
{payload}"#
            ),
            Rejected,
        ),
    ];
    for (name, body, expected) in signed {
        add("jwt", name, with_mode("1", body.as_bytes()), expected);
    }

    // claims: constraints, then claims.
    let keycloak = json!({
        "sub": "u1", "email": "jane@example.org", "email_verified": true, "level": 3,
        "groups": ["/admins", "staff"],
        "realm_access": {"roles": ["offline_access", "uma_authorization"]},
        "resource_access": {"app": {"roles": ["editor"]}, "other": {"roles": ["admins"]}},
    });
    let constraints = [
        ("any-value", json!({"groups": ["nope", "staff"]}), Accepted),
        (
            "all-keys",
            json!({"groups": ["staff"], "email": "john@example.org"}),
            Rejected,
        ),
        (
            "dotted",
            json!({"resource_access.app.roles": ["editor"]}),
            Accepted,
        ),
        (
            "wildcard",
            json!({"resource_access.*.roles": "admins"}),
            Accepted,
        ),
        (
            "role-fallback",
            json!({"groups": ["offline_access"]}),
            Accepted,
        ),
        (
            "strict-client",
            json!({"resource_access.app.roles": ["admins"]}),
            Rejected,
        ),
        (
            "types",
            json!({"email_verified": true, "level": [2, 3]}),
            Accepted,
        ),
        ("string-is-not-int", json!({"level": "3"}), Rejected),
        ("empty", json!({}), Accepted),
        ("empty-list", json!({"groups": []}), Rejected),
        ("float", json!({"level": 1.5}), Rejected),
        ("empty-segment", json!({"a..b": "x"}), Rejected),
    ];
    for (name, constraint, expected) in constraints {
        let data = format!("{constraint}\n{keycloak}");
        add("claims", name, data.into_bytes(), expected);
    }

    // token_route, mode 0: a content type and proxy choice, then the body.
    let sealer = StateSealer::new(STATE_SECRET);
    let sealed = sealer.seal(&LoginState {
        verifier: "dBjftJeZ4CVP-mB92K27uhbUJU2p1r_wW1gXk-rIXfE".to_owned(),
        redirect_uri: "http://localhost:53100/callback".to_owned(),
        nonce: "n-0S6_WzA2Mj".to_owned(),
        expires: SEED_STATE_EXPIRY,
        id: "state-1".to_owned(),
    });
    let forms = [
        ("code", "1", "grant_type=authorization_code&code=abc&redirect_uri=http%3A%2F%2Flocalhost%3A53100%2Fcallback&code_verifier=xyz".to_owned(), Accepted),
        ("code-default-redirect", "9", "code=abc&code_verifier=xyz".to_owned(), Accepted),
        ("code-sealed-state", "A", format!("code=abc&code_verifier={sealed}"), Accepted),
        ("code-sealed-wrong-redirect", "1", format!("code=abc&redirect_uri=http%3A%2F%2Fevil%2Fcb&code_verifier={sealed}"), Rejected),
        ("refresh-hyphen", "0", "refresh-token=r1".to_owned(), Accepted),
        ("refresh-explicit", "1", "grant_type=refresh_token&refresh_token=r1&code=c".to_owned(), Accepted),
        ("device", "2", "device-code=d1".to_owned(), Accepted),
        ("device-explicit", "1", format!("grant_type={}&device_code=d1", DEVICE_GRANT.replace(':', "%3A")), Accepted),
        ("password", "1", "grant_type=password&username=u".to_owned(), Rejected),
        ("missing", "1", "refresh-token=".to_owned(), Rejected),
        ("json", "4", r#"{"code":"abc"}"#.to_owned(), Rejected),
        ("blank", "5", " \r\n".to_owned(), Rejected),
    ];
    for (name, choice, body, expected) in forms {
        add(
            "token_route",
            &format!("form-{name}"),
            with_mode("0", format!("{choice}{body}").as_bytes()),
            expected,
        );
    }
    let answers = [
        (
            "keycloak",
            json!({"access_token": "a", "token_type": "Bearer", "expires_in": 300,
                            "refresh_token": "r", "refresh_expires_in": 1800, "scope": "openid"}),
            Accepted,
        ),
        (
            "offline",
            json!({"access_token": "a", "expires_in": 300, "refresh_token": "r",
                           "refresh_expires_in": 0}),
            Accepted,
        ),
        (
            "absolute",
            json!({"access_token": "a", "expires_at": NOW + 60,
                            "refresh_expires": NOW + 120, "refresh_token": "r"}),
            Accepted,
        ),
        (
            "string-expiry",
            json!({"access_token": "a", "expires_in": " 300 "}),
            Accepted,
        ),
        ("no-access-token", json!({"token_type": "Bearer"}), Rejected),
    ];
    for (name, answer, expected) in answers {
        add(
            "token_route",
            &format!("answer-{name}"),
            with_mode("1", answer.to_string().as_bytes()),
            expected,
        );
    }

    // state, mode 0: strings to open; mode 1: states to seal.
    add(
        "state",
        "sealed",
        with_mode("0", sealed.as_bytes()),
        Accepted,
    );
    add("state", "prefix-only", with_mode("0", b"oa1."), Rejected);
    add(
        "state",
        "reference-format",
        with_mode("0", b"random|http://x/cb|verifier"),
        Rejected,
    );
    let fields =
        b"dBjftJeZ4CVP-mB92K27uhbUJU2p1r_wW1gXk-rIXfE\0http://localhost:53100/callback\0nonce\0id";
    add(
        "state",
        "round-trip",
        with_mode("1", &[b"0\x80".as_slice(), fields].concat()),
        Accepted,
    );
    add(
        "state",
        "expired",
        with_mode("1", &[b"1\x10".as_slice(), fields].concat()),
        Rejected,
    );

    // provider_documents, mode 0: a key-count and algorithm choice, then a JWKS.
    let all_keys = TestKey::jwks(TestKey::ALL.iter().copied()).to_string();
    let mut no_kid = TestKey::Es256.public_jwk();
    if let Some(jwk) = no_kid.as_object_mut() {
        jwk.remove("kid");
    }
    let mut enc = TestKey::Rs256.public_jwk();
    enc["use"] = json!("enc");
    let jwks = [
        ("all-keys", "3", all_keys.clone(), Accepted),
        ("all-keys-rs256-only", "7", all_keys.clone(), Accepted),
        ("all-keys-ec-only", ";", all_keys.clone(), Accepted),
        ("all-keys-one", "0", all_keys, Accepted),
        (
            "one-without-kid",
            "3",
            json!({"keys": [no_kid]}).to_string(),
            Accepted,
        ),
        (
            "unusable",
            "3",
            json!({"keys": [enc, {"kty": "oct", "k": "c2VjcmV0"},
            {"kty": "EC", "crv": "P-256", "kid": "ec", "x": "AAAA", "y": "AAAA"}]})
            .to_string(),
            Rejected,
        ),
        (
            "no-keys-member",
            "3",
            r#"{"nokeys":[]}"#.to_owned(),
            Rejected,
        ),
    ];
    for (name, choice, document, expected) in jwks {
        add(
            "provider_documents",
            &format!("jwks-{name}"),
            with_mode("0", format!("{choice}{document}").as_bytes()),
            expected,
        );
    }
    let discovery = [
        (
            "keycloak",
            json!({"issuer": ISSUER, "jwks_uri": format!("{ISSUER}/certs"),
            "authorization_endpoint": format!("{ISSUER}/auth"), "token_endpoint": format!("{ISSUER}/token"),
            "end_session_endpoint": "", "device_authorization_endpoint": format!("{ISSUER}/device"),
            "userinfo_endpoint": format!("{ISSUER}/userinfo")}),
            Accepted,
        ),
        ("numeric-issuer", json!({"issuer": 5}), Rejected),
        ("array", json!(["x"]), Rejected),
    ];
    for (name, document, expected) in discovery {
        add(
            "provider_documents",
            &format!("discovery-{name}"),
            with_mode("1", document.to_string().as_bytes()),
            expected,
        );
    }
    seeds
}
