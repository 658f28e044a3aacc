//! The `jwt` target: JWT header and payload parsing and validation.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oidc_actix::__fuzz::KeySet;
use oidc_actix::Algorithm;
use oidc_actix::testing::{TEST_AUDIENCE, TestKey, TokenBuilder};
use serde_json::{Map, Value, json};

use super::{ISSUER, LEEWAY, NOW, Outcome, Seed, key_members, split_mode, verify, with_mode};

/// The keys the signed-token mode signs with: one per key type, EdDSA and RS256 first because
/// their signatures are deterministic (so a corpus input always yields the same token).
pub(crate) const SIGNERS: [TestKey; 4] = [
    TestKey::EdDsa,
    TestKey::Rs256,
    TestKey::Es256,
    TestKey::Ps384,
];

/// Every test key, published with its `kid` and `alg`.
fn fixed_keys() -> &'static KeySet {
    static KEYS: OnceLock<KeySet> = OnceLock::new();
    KEYS.get_or_init(|| {
        let jwks = TestKey::jwks(TestKey::ALL.iter().copied());
        KeySet::from_jwks(&jwks, Algorithm::ALL, 32, ISSUER, 1)
            .unwrap_or_else(|why| panic!("the test keys form a key set: {why}"))
    })
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
pub fn run(data: &[u8]) -> Outcome {
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
    let raw = signer.sign_compact(header, payload);
    check_token(&raw, flags & 4 != 0, Some(signer))
}

fn check_token(raw: &str, audience: bool, signer: Option<TestKey>) -> Outcome {
    let keys = fixed_keys();
    let Ok(verified) = verify(raw, keys, audience, Algorithm::ALL) else {
        return Outcome::Rejected;
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
    assert!(key == verified.key, "verified with another key");
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
        // One private key per public key: equal public members are the same key.
        assert!(
            key_members(&published.public_jwk()) == key_members(&signer.public_jwk()),
            "a token signed by {signer} verified with the key of {published}"
        );
    }
    Outcome::Accepted
}

/// Whole tokens (mode `0`): valid ones for every algorithm, and one per rule they may break;
/// and header and payload texts for the harness to sign (mode `1`).
pub fn seeds() -> Vec<Seed> {
    use Outcome::{Accepted, Rejected};
    let mut seeds = Vec::new();
    let mut add = |name: &str, data: Vec<u8>, expected| {
        seeds.push(Seed::new("jwt", name, data, expected));
    };
    let token = || {
        TokenBuilder::new(ISSUER)
            .claim("iat", json!(NOW))
            .claim("exp", json!(NOW + 300))
    };
    for key in TestKey::PER_ALGORITHM.iter().chain([&TestKey::Rsa2]) {
        let raw = token().key(*key).sign();
        add(
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
        add(name, with_mode("0", raw.as_bytes()), expected);
    }
    // jwt, mode 1: header and payload, signed by the harness.
    let payload = json!({"iss": ISSUER, "aud": TEST_AUDIENCE, "sub": "u", "iat": NOW,
                         "exp": NOW + 300, "scope": "openid", "nonce": "n"})
    .to_string();
    for (flags, key) in ["0", "1", "2", "3"].into_iter().zip(SIGNERS) {
        let header = json!({"alg": key.algorithm().name(), "typ": "JWT", "kid": key.kid()});
        let body = format!("{flags}{header}\n{payload}");
        add(
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
        add(name, with_mode("1", body.as_bytes()), expected);
    }

    seeds
}
