//! The provider's key set (RFC 7517): which published keys may verify which tokens.
//!
//! Only signature keys of supported types and sane sizes are kept. A key that names its `alg`
//! verifies that algorithm only; a key without `alg` verifies the algorithms of its type and curve.
//! Symmetric (`oct`) keys are never kept, so a token signed with HMAC over a published key
//! (algorithm confusion) has nothing to verify against.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::Value;

use crate::algorithm::Algorithm;

/// A key that may verify signatures, with what it may verify.
///
/// The key is parsed once, when the key set is built, for each algorithm it may verify: an RSA
/// key's Montgomery context, for one, costs about as much to set up as a tenth of a verification,
/// and the key set is used for thousands of verifications before it changes.
pub(crate) struct VerificationKey {
    verifiers: Vec<(Algorithm, ParsedPublicKey)>,
    kind: KeyKind,
    alg: Option<Algorithm>,
    /// The JWK members that define the key, to recognise it in a refetched set.
    fingerprint: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

impl VerificationKey {
    /// Whether a token signed with `alg` may be verified with this key.
    pub(crate) fn permits(&self, alg: Algorithm) -> bool {
        let fits_kind = match self.kind {
            KeyKind::Rsa => alg.is_rsa(),
            KeyKind::EcP256 => alg == Algorithm::ES256,
            KeyKind::EcP384 => alg == Algorithm::ES384,
            KeyKind::Ed25519 => alg == Algorithm::EdDSA,
        };
        fits_kind && self.alg.is_none_or(|published| published == alg)
    }

    /// Whether `signature` (the decoded JWS signature) is `alg`'s signature of `message`.
    pub(crate) fn verifies(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        self.verifiers
            .iter()
            .find(|(parsed_for, _)| *parsed_for == alg)
            .is_some_and(|(_, key)| key.verify_sig(message, signature).is_ok())
    }
}

/// aws-lc-rs's verification algorithm for a JOSE algorithm (RFC 7518 §3; ECDSA signatures in
/// JWS are the fixed-size `r || s` form).
fn verification_algorithm(alg: Algorithm) -> &'static dyn VerificationAlgorithm {
    match alg {
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
        Algorithm::EdDSA => &signature::ED25519,
    }
}

/// The number of significant bits of a big-endian unsigned integer.
fn bit_length(magnitude: &[u8]) -> usize {
    match magnitude.iter().position(|b| *b != 0) {
        Some(first) => (magnitude.len() - first) * 8 - magnitude[first].leading_zeros() as usize,
        None => 0,
    }
}

/// The DER `RSAPublicKey` (RFC 8017 A.1.1) of a modulus and exponent, as aws-lc-rs parses it.
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn push_length(out: &mut Vec<u8>, len: usize) {
        match len {
            0..=0x7f => out.push(len as u8),
            0x80..=0xff => out.extend_from_slice(&[0x81, len as u8]),
            _ => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
        }
    }
    fn push_integer(out: &mut Vec<u8>, magnitude: &[u8]) {
        let start = magnitude
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(magnitude.len());
        let magnitude = &magnitude[start..];
        // A leading 1 bit would make the (signed) INTEGER negative.
        let pad = magnitude.first().is_none_or(|b| b & 0x80 != 0);
        out.push(0x02);
        push_length(out, magnitude.len() + usize::from(pad));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(magnitude);
    }
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    push_integer(&mut body, n);
    push_integer(&mut body, e);
    let mut der = Vec::with_capacity(body.len() + 4);
    der.push(0x30);
    push_length(&mut der, body.len());
    der.extend_from_slice(&body);
    der
}

/// The keys in force, with the issuer they vouch for.
pub(crate) struct KeySet {
    by_kid: HashMap<String, Arc<VerificationKey>>,
    /// The only key, when the set has exactly one: tokens without `kid` may use it.
    only: Option<Arc<VerificationKey>>,
    pub(crate) issuer: String,
    /// When the set was fetched: wall-clock seconds since the epoch, the clock every request
    /// reads anyway for `exp`, so that a request reads the clock once.
    pub(crate) fetched_at: f64,
    /// Distinguishes key sets, so caches can drop what an older set vouched for.
    pub(crate) generation: u64,
}

impl KeySet {
    /// The key for a token's `kid` (or, without one, the set's only key).
    pub(crate) fn find(&self, kid: Option<&str>) -> Option<&Arc<VerificationKey>> {
        match kid {
            Some(kid) => self.by_kid.get(kid),
            None => self.only.as_ref(),
        }
    }

    /// Whether `key` is still published under `kid`.
    pub(crate) fn still_holds(&self, kid: Option<&str>, key: &Arc<VerificationKey>) -> bool {
        self.find(kid)
            .is_some_and(|current| Arc::ptr_eq(current, key))
    }

    /// Keeps the previous set's key objects where the same `kid` still publishes the same key,
    /// so tokens they verified stay cached across a refetch; changed or removed keys do not.
    pub(crate) fn carry_over(&mut self, previous: &KeySet) {
        for (kid, key) in &mut self.by_kid {
            if let Some(old) = previous
                .by_kid
                .get(kid)
                .filter(|old| old.fingerprint == key.fingerprint)
            {
                if self
                    .only
                    .as_ref()
                    .is_some_and(|only| Arc::ptr_eq(only, key))
                {
                    self.only = Some(Arc::clone(old));
                }
                *key = Arc::clone(old);
            }
        }
    }

    /// Number of usable keys.
    pub(crate) fn len(&self) -> usize {
        self.by_kid.len().max(usize::from(self.only.is_some()))
    }
}

/// The members of a JWK this crate reads.
#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    key_ops: Option<Vec<String>>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

/// Why a key was left out (logged at debug level, never an error: one odd key must not cost
/// the others).
fn parse_key(raw: &RawJwk, allowed: &[Algorithm]) -> Result<VerificationKey, &'static str> {
    if raw.use_.as_deref().is_some_and(|u| u != "sig") {
        return Err("not a signature key");
    }
    if raw
        .key_ops
        .as_ref()
        .is_some_and(|ops| !ops.iter().any(|op| op == "verify"))
    {
        return Err("key_ops does not allow verify");
    }
    let alg = match raw.alg.as_deref() {
        None => None,
        // RFC 9864's fully-specified name for EdDSA on Ed25519, which keys may publish.
        Some("Ed25519") => Some(Algorithm::EdDSA),
        Some(name) => Some(Algorithm::from_name(name).ok_or("unsupported alg")?),
    };
    let b64 = |part: &Option<String>| -> Result<Vec<u8>, &'static str> {
        URL_SAFE_NO_PAD
            .decode(part.as_deref().ok_or("missing key member")?)
            .map_err(|_| "bad base64url")
    };
    let (kind, public_key) = match (raw.kty.as_str(), raw.crv.as_deref()) {
        ("RSA", _) => {
            let n = b64(&raw.n)?;
            let e = b64(&raw.e)?;
            // 2048 to 8192 bits: smaller keys are breakable, larger ones are a CPU-exhaustion lever.
            if !(2048..=8192).contains(&bit_length(&n)) {
                return Err("RSA modulus size out of range");
            }
            if e.is_empty() || e.len() > 8 || e.last().is_some_and(|b| b & 1 == 0) {
                return Err("bad RSA exponent");
            }
            (KeyKind::Rsa, rsa_public_key_der(&n, &e))
        }
        ("EC", Some(curve @ ("P-256" | "P-384"))) => {
            let (kind, size) = if curve == "P-256" {
                (KeyKind::EcP256, 32)
            } else {
                (KeyKind::EcP384, 48)
            };
            let (x, y) = (b64(&raw.x)?, b64(&raw.y)?);
            if x.len() != size || y.len() != size {
                return Err("EC coordinates of the wrong size");
            }
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (kind, point)
        }
        ("OKP", Some("Ed25519")) => {
            let x = b64(&raw.x)?;
            if x.len() != 32 {
                return Err("Ed25519 key of the wrong size");
            }
            (KeyKind::Ed25519, x)
        }
        _ => return Err("unsupported key type"),
    };
    let members = [
        &Some(raw.kty.clone()),
        &raw.crv,
        &raw.alg,
        &raw.n,
        &raw.e,
        &raw.x,
        &raw.y,
    ];
    let fingerprint = members.map(|m| m.as_deref().unwrap_or_default()).join("|");
    let mut key = VerificationKey {
        verifiers: Vec::new(),
        kind,
        alg,
        fingerprint,
    };
    for &alg in allowed {
        if key.permits(alg)
            && !key
                .verifiers
                .iter()
                .any(|(parsed_for, _)| *parsed_for == alg)
        {
            let parsed = ParsedPublicKey::new(verification_algorithm(alg), &public_key)
                .map_err(|_| "the key material is not a valid public key")?;
            key.verifiers.push((alg, parsed));
        }
    }
    if key.verifiers.is_empty() {
        return Err("no allowed algorithm fits this key");
    }
    Ok(key)
}

/// Builds a key set from a JWKS document, keeping at most `max_keys` usable keys. The set
/// vouches for `issuer`; `generation` and `fetched_at` (wall-clock seconds) are recorded as given.
pub(crate) fn key_set_from_jwks(
    document: &Value,
    allowed: &[Algorithm],
    max_keys: usize,
    issuer: String,
    generation: u64,
    fetched_at: f64,
) -> Result<KeySet, String> {
    let keys = document
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("no `keys` array in the JWKS")?;
    let mut by_kid = HashMap::new();
    let mut without_kid = Vec::new();
    for entry in keys {
        let parsed = RawJwk::deserialize(entry)
            .map_err(|e| e.to_string())
            .and_then(|raw| {
                let key = parse_key(&raw, allowed).map_err(str::to_owned)?;
                Ok((raw.kid, key))
            });
        match parsed {
            Ok(_) if by_kid.len() + without_kid.len() >= max_keys => {
                log::warn!(
                    "oidc-actix: the JWKS has more than {max_keys} usable keys; ignoring the rest"
                );
                break;
            }
            Ok((Some(kid), key)) => match by_kid.entry(kid) {
                Entry::Occupied(first) => log::warn!(
                    "oidc-actix: the JWKS publishes kid {:?} twice; keeping the first",
                    first.key()
                ),
                Entry::Vacant(slot) => {
                    slot.insert(Arc::new(key));
                }
            },
            Ok((None, key)) => without_kid.push(Arc::new(key)),
            Err(why) => log::debug!("oidc-actix: ignoring a JWKS entry: {why}"),
        }
    }
    let only = match (by_kid.len(), without_kid.len()) {
        (1, 0) => by_kid.values().next().cloned(),
        (0, 1) => without_kid.pop(),
        _ => None,
    };
    if by_kid.is_empty() && only.is_none() {
        return Err("the JWKS holds no usable signature key".to_owned());
    }
    Ok(KeySet {
        by_kid,
        only,
        issuer,
        fetched_at,
        generation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ALL: &[Algorithm] = Algorithm::ALL;

    fn rsa(kid: &str, alg: Option<&str>) -> Value {
        let n = URL_SAFE_NO_PAD.encode([0xC5u8; 256]);
        let mut jwk = json!({"kty": "RSA", "kid": kid, "n": n, "e": "AQAB"});
        if let Some(alg) = alg {
            jwk["alg"] = json!(alg);
        }
        jwk
    }

    fn set(keys: Vec<Value>) -> Result<KeySet, String> {
        key_set_from_jwks(
            &json!({ "keys": keys }),
            ALL,
            8,
            "https://idp".into(),
            1,
            0.0,
        )
    }

    #[test]
    fn a_published_alg_pins_the_key_to_it() {
        let keys = set(vec![rsa("a", Some("RS256")), rsa("b", None)]).unwrap();
        let a = keys.find(Some("a")).unwrap();
        assert!(a.permits(Algorithm::RS256));
        assert!(!a.permits(Algorithm::RS384));
        assert!(!a.permits(Algorithm::PS256));
        let b = keys.find(Some("b")).unwrap();
        assert!(b.permits(Algorithm::PS512));
        assert!(!b.permits(Algorithm::ES256));
        assert!(
            keys.find(None).is_none(),
            "two keys: a token without kid names none"
        );
    }

    #[test]
    fn unusable_keys_are_ignored() {
        let small = json!({"kty": "RSA", "kid": "small", "n": URL_SAFE_NO_PAD.encode([0xC5u8; 128]), "e": "AQAB"});
        let enc = {
            let mut k = rsa("enc", None);
            k["use"] = json!("enc");
            k
        };
        let oct = json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"});
        let hs = rsa("hs", Some("HS256"));
        let bad_ec = json!({"kty": "EC", "crv": "P-256", "kid": "ec", "x": "AAAA", "y": "AAAA"});
        let keys = set(vec![small, enc, oct, hs, bad_ec, rsa("ok", None)]).unwrap();
        assert_eq!(keys.len(), 1);
        assert!(keys.find(Some("ok")).is_some());
        assert!(
            keys.find(None).is_some(),
            "the only key serves tokens without kid"
        );
    }

    /// A modulus of 256 bytes is not necessarily 2048 bits: its first byte may have leading
    /// zero bits. Counted in bytes, a 2041-bit key passed the 2048-bit floor.
    #[test]
    fn rsa_moduli_are_bounded_in_bits() {
        let with_first = |first: u8, len: usize| {
            let mut n = vec![0xC5u8; len];
            n[0] = first;
            let mut jwk = rsa("k", None);
            jwk["n"] = json!(URL_SAFE_NO_PAD.encode(&n));
            jwk
        };
        assert!(set(vec![with_first(0x7F, 256)]).is_err(), "2047 bits");
        assert!(set(vec![with_first(0x01, 256)]).is_err(), "2041 bits");
        assert!(set(vec![with_first(0x80, 256)]).is_ok(), "2048 bits");
        assert!(set(vec![with_first(0xFF, 1024)]).is_ok(), "8192 bits");
        assert!(set(vec![with_first(0x01, 1025)]).is_err(), "8193 bits");
        assert_eq!(bit_length(&[0, 0, 0x01, 0xFF]), 9);
        assert_eq!(bit_length(&[0, 0]), 0);
    }

    /// RFC 9864's fully-specified `Ed25519` names the same verification as `EdDSA` on Ed25519.
    #[cfg(feature = "testing")]
    #[test]
    fn an_ed25519_key_may_publish_the_rfc_9864_alg() {
        let mut jwk = crate::testing::TestKey::EdDsa.public_jwk();
        jwk["alg"] = json!("Ed25519");
        let keys = set(vec![jwk.clone()]).expect("an Ed25519 key under its RFC 9864 name");
        let key = keys.find(jwk["kid"].as_str()).unwrap();
        assert!(key.permits(Algorithm::EdDSA));
        assert!(!key.permits(Algorithm::ES256));
        jwk["alg"] = json!("Ed448");
        assert!(set(vec![jwk]).is_err());
    }

    #[test]
    fn an_empty_or_useless_set_is_an_error() {
        assert!(set(vec![]).is_err());
        assert!(set(vec![json!({"kty": "oct", "k": "c2VjcmV0"})]).is_err());
        assert!(key_set_from_jwks(&json!({"nokeys": []}), ALL, 8, String::new(), 1, 0.0).is_err());
    }

    #[test]
    fn unchanged_keys_survive_a_refetch_and_changed_ones_do_not() {
        let old = set(vec![
            rsa("same", None),
            rsa("changed", None),
            rsa("gone", None),
        ])
        .unwrap();
        let mut changed = rsa("changed", None);
        changed["n"] = json!(URL_SAFE_NO_PAD.encode([0xC7u8; 256]));
        let mut new = set(vec![rsa("same", None), changed]).unwrap();
        new.carry_over(&old);
        assert!(Arc::ptr_eq(
            new.find(Some("same")).unwrap(),
            old.find(Some("same")).unwrap()
        ));
        assert!(!new.still_holds(Some("changed"), old.find(Some("changed")).unwrap()));
        assert!(!new.still_holds(Some("gone"), old.find(Some("gone")).unwrap()));
    }

    #[test]
    fn the_number_of_keys_is_bounded() {
        let keys: Vec<Value> = (0..20).map(|i| rsa(&format!("k{i}"), None)).collect();
        assert_eq!(set(keys).unwrap().len(), 8);
    }

    #[cfg(feature = "testing")]
    #[test]
    fn the_rsa_public_key_der_is_what_aws_lc_derives_from_the_private_key() {
        use crate::testing::TestKey;
        use aws_lc_rs::signature::{KeyPair as _, RsaKeyPair};
        for test_key in [TestKey::Rs256, TestKey::Ps256] {
            let jwk = test_key.public_jwk();
            let member = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
            let expected = RsaKeyPair::from_der(test_key.private_key_der()).unwrap();
            assert_eq!(
                rsa_public_key_der(&member("n"), &member("e")),
                expected.public_key().as_ref()
            );
        }
        // A leading zero byte is dropped, a leading 1 bit gets its zero pad.
        assert_eq!(
            rsa_public_key_der(&[0x00, 0x80], &[0x01]),
            [0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x01]
        );
    }

    #[test]
    fn keys_outside_the_allowed_algorithms_are_dropped() {
        let doc = json!({"keys": [rsa("r", None)]});
        assert!(key_set_from_jwks(&doc, &[Algorithm::ES256], 8, String::new(), 1, 0.0).is_err());
    }
}
