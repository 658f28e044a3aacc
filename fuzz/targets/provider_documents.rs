//! The `provider_documents` target: the provider's key set (JWKS) and discovery documents.

use std::sync::OnceLock;

use oidc_actix::__fuzz::{self, KeySet};
use oidc_actix::Algorithm;
use oidc_actix::testing::TestKey;
use serde_json::{Value, json};

use super::{ISSUER, NOW, Outcome, Seed, key_members, split_mode, verify, with_mode};

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
                    key.sign_compact(
                        header.to_string().as_bytes(),
                        payload.to_string().as_bytes(),
                    ),
                )
            })
            .collect()
    })
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
pub fn run(data: &[u8]) -> Outcome {
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
    let Ok(keys) = KeySet::from_jwks(&document, allowed, max_keys, ISSUER, 7) else {
        return Outcome::Rejected;
    };
    let (count, issuer, generation) = keys.summary();
    assert!(
        (1..=max_keys).contains(&count),
        "{count} keys kept, at most {max_keys} allowed"
    );
    assert_eq!((issuer, generation), (ISSUER, 7));
    if keys.find(None).is_some() {
        assert_eq!(count, 1, "a token without kid may use the only key only");
    }
    let entries = document["keys"].as_array().map_or(&[][..], Vec::as_slice);
    let kids: Vec<&str> = entries
        .iter()
        .filter_map(|entry| entry.get("kid")?.as_str())
        .collect();
    let mut again = KeySet::from_jwks(&document, allowed, max_keys, ISSUER, 8)
        .expect("the same document builds again");
    again.carry_over(&keys);
    for kid in &kids {
        if let Some(key) = keys.find(Some(kid)) {
            assert!(
                allowed.iter().any(|alg| key.permits(*alg)),
                "a kept key verifies none of the allowed algorithms"
            );
            assert!(
                again.still_holds(Some(kid), &key),
                "an unchanged key was not carried over"
            );
        }
    }
    for (test_key, token) in probe_tokens() {
        if verify(token, &keys, false, allowed).is_err() {
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
    let members = document
        .as_object()
        .map(|members| members.keys().map(String::as_str).collect::<Vec<_>>())
        .unwrap_or_default();
    let names: Vec<&str> = known.iter().copied().chain(members).collect();
    let Ok(endpoints) = __fuzz::discovery_endpoints(document.clone(), &names) else {
        assert!(!well_formed, "a well-formed discovery document was refused");
        return Outcome::Rejected;
    };
    assert!(well_formed, "a malformed discovery document was accepted");
    for (name, endpoint) in names.iter().zip(endpoints) {
        let expected = document[name].as_str().filter(|s| !s.is_empty());
        assert_eq!(endpoint.as_deref(), expected, "endpoint {name:?}");
    }
    Outcome::Accepted
}

/// Key sets of every test key under several limits, and unusable ones (mode `0`); discovery
/// documents (mode `1`).
pub fn seeds() -> Vec<Seed> {
    use Outcome::{Accepted, Rejected};
    let mut seeds = Vec::new();
    let mut add = |name: &str, data: Vec<u8>, expected| {
        seeds.push(Seed::new("provider_documents", name, data, expected));
    };
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
            &format!("discovery-{name}"),
            with_mode("1", document.to_string().as_bytes()),
            expected,
        );
    }
    seeds
}
