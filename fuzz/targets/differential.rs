//! The `differential` target: oidc-actix's token verification against jsonwebtoken's `decode`.
//!
//! The same token and key set go through `oidc_actix::__fuzz::verify` and through
//! jsonwebtoken 12's `decode` (the `aws_lc_rs` provider, as the workspace uses it) with the
//! `Validation` that says what oidc-actix checks; the target fails when oidc-actix accepts a
//! token that jsonwebtoken rejects. Where oidc-actix is stricter, the input is `Rejected`; the
//! seeds named `stricter-…` are those cases, one each, and `tests/fuzz_corpus.rs` checks that
//! jsonwebtoken accepts every one of them and oidc-actix none (see [`run`] for the list).

use std::str::FromStr as _;
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{DecodingKey, Validation};
use oidc_actix::__fuzz::{self, KeySet, Verified};
use oidc_actix::Algorithm;
use oidc_actix::testing::{TEST_AUDIENCE, TestKey, TokenBuilder};
use serde_json::{Map, Value, json};

use super::jwt::SIGNERS;
use super::{ISSUER, MAX_TOKEN_BYTES, NOW, Outcome, Seed, split_mode, with_mode};

/// The leeways that bits 4–5 of the flags byte pick, in seconds. Index 3, that of the ASCII
/// digits, is the library's default.
const LEEWAYS: [u64; 4] = [0, 1, 3600, 60];

/// `exp` of the whole tokens of the seeds (mode `0`, signed once): 3000-01-01, so that an input
/// derived from one keeps its outcome for as long as this code is read. Mode `1` writes times
/// relative to the clock instead (`NOW`).
const FAR_FUTURE: i64 = 32_503_680_000;

/// Every test key, published with its `kid` and `alg`.
fn fixed_jwks() -> &'static (Value, KeySet) {
    static KEYS: OnceLock<(Value, KeySet)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let jwks = TestKey::jwks(TestKey::ALL.iter().copied());
        let keys = KeySet::from_jwks(&jwks, Algorithm::ALL, 32, ISSUER, 1)
            .unwrap_or_else(|why| panic!("the test keys form a key set: {why}"));
        (jwks, keys)
    })
}

/// What the flags byte says.
#[derive(Clone, Copy)]
struct Setup {
    /// The key that signs (mode `1`) and whose JWK the one-key set publishes.
    signer: TestKey,
    /// Whether our audience is required.
    audience: bool,
    /// Whether the key set is the signer's JWK alone (patched by the input) rather than every
    /// test key.
    single_key: bool,
    leeway: u64,
}

impl Setup {
    fn from_flags(flags: u8) -> Self {
        Self {
            signer: SIGNERS[usize::from(flags & 3)],
            audience: flags & 4 != 0,
            single_key: flags & 8 != 0,
            leeway: LEEWAYS[usize::from(flags >> 4 & 3)],
        }
    }
}

/// One input: the setup, the token (or how to sign it), and the JWK patch.
struct Case<'a> {
    setup: Setup,
    token: Token<'a>,
    patch: Option<Map<String, Value>>,
}

enum Token<'a> {
    /// A whole token, as a client would send it.
    Whole(&'a str),
    /// Header and payload bytes for the signer to sign, the payload's `NOW` written out first.
    Signed { header: &'a [u8], payload: &'a [u8] },
}

impl<'a> Case<'a> {
    /// Reads an input (see [`run`]); `None` when it is not one.
    fn parse(data: &'a [u8]) -> Option<Self> {
        let (mode, rest) = split_mode(data)?;
        let (&flags, rest) = rest.split_first()?;
        let mut lines = rest.splitn(if mode == 0 { 2 } else { 3 }, |b| *b == b'\n');
        let token = if mode == 0 {
            Token::Whole(std::str::from_utf8(lines.next()?).ok()?)
        } else {
            let header = lines.next()?;
            let payload = lines.next().unwrap_or_default();
            Token::Signed { header, payload }
        };
        let patch = match lines.next() {
            None => None,
            Some(text) => Some(serde_json::from_slice(text).ok()?),
        };
        Some(Self {
            setup: Setup::from_flags(flags),
            token,
            patch,
        })
    }

    /// The token at `now`.
    fn token(&self, now: u64) -> String {
        match self.token {
            Token::Whole(raw) => raw.to_owned(),
            Token::Signed { header, payload } => self
                .setup
                .signer
                .sign_compact(header, &written_out(payload, now)),
        }
    }

    /// The JWKS document both validators get.
    fn jwks(&self) -> Value {
        if !self.setup.single_key {
            return fixed_jwks().0.clone();
        }
        let mut jwk = self.setup.signer.public_jwk();
        for (name, value) in self.patch.iter().flatten() {
            match value {
                Value::Null => jwk.as_object_mut().map(|jwk| jwk.remove(name)),
                _ => jwk
                    .as_object_mut()
                    .map(|jwk| jwk.insert(name.clone(), value.clone())),
            };
        }
        json!({ "keys": [jwk] })
    }
}

/// `payload` with each `NOW` written out as the decimal `now`, and each `NOW+k` / `NOW-k` (up
/// to 18 digits) as `now ± k`, so that times relative to the clock survive mutation.
fn written_out(payload: &[u8], now: u64) -> Vec<u8> {
    const MARK: &[u8] = b"NOW";
    let mut out = Vec::with_capacity(payload.len() + 16);
    let mut rest = payload;
    while let Some(at) = rest.windows(MARK.len()).position(|w| w == MARK) {
        out.extend_from_slice(&rest[..at]);
        rest = &rest[at + MARK.len()..];
        let mut value = i128::from(now);
        if let Some((&sign @ (b'+' | b'-'), tail)) = rest.split_first() {
            let digits = tail
                .iter()
                .take(18)
                .take_while(|b| b.is_ascii_digit())
                .count();
            if digits > 0 {
                let offset = tail[..digits]
                    .iter()
                    .fold(0i128, |n, d| n * 10 + i128::from(d - b'0'));
                value = if sign == b'+' {
                    value + offset
                } else {
                    value - offset
                };
                rest = &tail[digits..];
            }
        }
        out.extend_from_slice(value.to_string().as_bytes());
    }
    out.extend_from_slice(rest);
    out
}

/// oidc-actix's verdict: the library's checks at `now`, against the case's key set.
fn oidc_actix_verdict(
    raw: &str,
    case: &Case<'_>,
    jwks: &Value,
    now: u64,
) -> Result<Verified, String> {
    let built;
    let keys = if case.setup.single_key {
        built = KeySet::from_jwks(jwks, Algorithm::ALL, 32, ISSUER, 1)?;
        &built
    } else {
        &fixed_jwks().1
    };
    __fuzz::verify(
        raw,
        keys,
        case.setup.audience.then_some(TEST_AUDIENCE),
        Algorithm::ALL,
        Duration::from_secs(case.setup.leeway),
        MAX_TOKEN_BYTES,
        now as f64,
    )
}

/// jsonwebtoken's verdict, with the claims it decoded. The key is picked as a jsonwebtoken user
/// picks it: the first JWK with the header's `kid`; without `kid`, each JWK in turn (the token
/// passes if one verifies it).
fn jsonwebtoken_verdict(raw: &str, setup: Setup, jwks: &Value) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(raw).map_err(|e| format!("header: {e}"))?;
    let entries = jwks["keys"].as_array().map_or(&[][..], Vec::as_slice);
    let candidates: Vec<&Value> = match &header.kid {
        Some(kid) => entries
            .iter()
            .filter(|jwk| jwk.get("kid").and_then(Value::as_str) == Some(kid))
            .take(1)
            .collect(),
        None => entries.iter().collect(),
    };
    let mut why = "no JWK with this kid".to_owned();
    for jwk in candidates {
        match decode_with(raw, setup, jwk) {
            Ok(claims) => return Ok(claims),
            Err(error) => why = error,
        }
    }
    Err(why)
}

/// `decode` with the key of `jwk` and the `Validation` equivalent to oidc-actix's rules:
///
/// * algorithms: those the JWK's `alg` names, else those of its key type and curve (RSA: RS\*
///   and PS\*; P-256: ES256; P-384: ES384; Ed25519: EdDSA), within oidc-actix's allow-list
///   (which has no HMAC); RFC 9864's JWK `alg` `Ed25519`, which jsonwebtoken 12 does not know,
///   is read as `EdDSA`, as oidc-actix reads it;
/// * `exp` validated and required, `nbf` validated (jsonwebtoken's default is not to), the same
///   leeway (jsonwebtoken applies it to both, as oidc-actix does);
/// * the issuer set and `iss` required;
/// * with an audience, it set and `aud` required; without, `validate_aud = false`
///   (jsonwebtoken's default refuses every `aud` when no audience is set; oidc-actix reads none).
fn decode_with(raw: &str, setup: Setup, jwk: &Value) -> Result<Value, String> {
    let mut jwk = jwk.clone();
    if jwk.get("alg").and_then(Value::as_str) == Some("Ed25519") {
        jwk["alg"] = json!("EdDSA");
    }
    let jwk: Jwk = serde_json::from_value(jwk).map_err(|e| format!("JWK: {e}"))?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("JWK: {e}"))?;
    use jsonwebtoken::Algorithm as J;
    let by_key: Vec<J> = match (&jwk.common.key_algorithm, &jwk.algorithm) {
        (Some(alg), _) => J::try_from(*alg).into_iter().collect(),
        (None, AlgorithmParameters::RSA(_)) => {
            vec![J::RS256, J::RS384, J::RS512, J::PS256, J::PS384, J::PS512]
        }
        (None, AlgorithmParameters::EllipticCurve(ec)) => match ec.curve {
            EllipticCurve::P256 => vec![J::ES256],
            EllipticCurve::P384 => vec![J::ES384],
            _ => vec![],
        },
        (None, AlgorithmParameters::OctetKeyPair(okp)) if okp.curve == EllipticCurve::Ed25519 => {
            vec![J::EdDSA]
        }
        (None, AlgorithmParameters::OctetKey(_)) => vec![J::HS256, J::HS384, J::HS512],
        (None, _) => vec![],
    };
    let algorithms: Vec<J> = by_key
        .into_iter()
        .filter(|alg| {
            Algorithm::ALL
                .iter()
                .any(|ours| J::from_str(ours.name()).ok() == Some(*alg))
        })
        .collect();
    let Some(&first) = algorithms.first() else {
        return Err("no allowed algorithm fits this JWK".to_owned());
    };
    let mut validation = Validation::new(first);
    validation.algorithms = algorithms;
    validation.leeway = setup.leeway;
    validation.validate_nbf = true;
    validation.set_issuer(&[ISSUER]);
    if setup.audience {
        validation.set_audience(&[TEST_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    } else {
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "iss"]);
    }
    jsonwebtoken::decode::<Value>(raw, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| e.to_string())
}

/// Both verdicts on one input: the token, oidc-actix's, and jsonwebtoken's.
type Verdicts = (String, Result<Verified, String>, Result<Value, String>);

/// Both verdicts at one clock second. jsonwebtoken reads the wall clock in whole seconds; oidc-
/// actix is given the same second (so a sub-second difference of the clocks never shows as
/// one of the validators), and the comparison is repeated when the second changed meanwhile.
fn verdicts_of(case: &Case<'_>) -> Verdicts {
    let jwks = case.jwks();
    loop {
        let now = jsonwebtoken::get_current_timestamp();
        let raw = case.token(now);
        let ours = oidc_actix_verdict(&raw, case, &jwks, now);
        let theirs = jsonwebtoken_verdict(&raw, case.setup, &jwks);
        if jsonwebtoken::get_current_timestamp() == now {
            return (raw, ours, theirs);
        }
    }
}

/// Whether each validator accepts an input (`None`: not an input of this target), with why
/// not: oidc-actix's, then jsonwebtoken's.
pub fn verdicts(data: &[u8]) -> Option<(Result<(), String>, Result<(), String>)> {
    let (_, ours, theirs) = verdicts_of(&Case::parse(data)?);
    Some((ours.map(drop), theirs.map(drop)))
}

/// Runs one token and key set through both validators, and fails when oidc-actix accepts what
/// jsonwebtoken rejects; when both accept, they must have read the same claims.
///
/// The input is a mode byte, a flags byte and the rest:
///
/// * flags: bits 0–1 pick the signer (EdDSA, RS256, ES256, PS384 test keys), bit 2 requires our
///   audience, bit 3 makes the key set the signer's JWK alone (else every test key), bits 4–5
///   the leeway (0, 1, 3600 s, or 60 s for the ASCII digits);
/// * mode `0`: the rest is a whole token, then optionally `\n` and a JSON object patching the
///   one-key set's JWK (each member replaces the JWK's, `null` removes it);
/// * mode `1`: the header and the payload, split at the first `\n`, signed by the signer as
///   they are, after each `NOW`, `NOW+k`, `NOW-k` in the payload is written out as the clock
///   second (plus or minus `k`); then optionally `\n` and the JWK patch.
///
/// Where oidc-actix is stricter than jsonwebtoken (each found by running; a seed of each is
/// checked): it refuses
///
/// * a header `typ` other than `JWT`, `at+jwt`, `application/jwt`, `application/at+jwt` (any
///   case); any `crit`, even `["b64"]` with `"b64": true`, and `"crit": null`;
/// * a token without `kid` when the key set has several keys (jsonwebtoken has no key set:
///   its user, modelled here, tries each key);
/// * a duplicated member name anywhere in the claims set (jsonwebtoken keeps the last);
/// * a claims set that is a JSON array (jsonwebtoken reads its registered claims by position);
/// * `iat` in the future beyond the leeway (jsonwebtoken does not read `iat`); an `iat`, `sub`,
///   `scope` or `nonce` of the wrong type; an `iss` that is an array holding ours;
/// * `exp` exactly `now - leeway` (expired at that second: RFC 7519 §4.1.4 "on or after"), and
///   a fractional `exp` or `nbf` that jsonwebtoken rounds to the accepted side;
/// * a JWK with `use` other than `sig`, or `key_ops` without `verify` (jsonwebtoken's
///   `DecodingKey::from_jwk` reads neither);
/// * a token over 16 KiB (the library's default `max_token_bytes`).
///
/// Where oidc-actix accepts what jsonwebtoken refuses, by design and harmless, the classes of
/// [`Difference`] (a `differs-…` seed each): they are told from the input itself, never from
/// jsonwebtoken's error, and anything else oidc-actix accepts and jsonwebtoken refuses fails.
///
/// Both refuse (seeds `refused-…`) HMAC, even over a published `oct` JWK (neither allow-list has
/// it), and bytes that are not UTF-8 in the claims set. RSA keys under 2048 bits are not
/// compared by running (no test key is smaller): jsonwebtoken's verifiers are aws-lc-rs's
/// `RSA_*_2048_8192_*`, as oidc-actix's are.
pub fn run(data: &[u8]) -> Outcome {
    let Some(case) = Case::parse(data) else {
        return Outcome::Rejected;
    };
    let (raw, ours, theirs) = verdicts_of(&case);
    let Ok(verified) = ours else {
        return Outcome::Rejected;
    };
    let claims = match theirs {
        Ok(claims) => claims,
        Err(why) => match Difference::of(&raw, &case.jwks()) {
            // Accepted here, refused there, by design: nothing more to compare.
            Some(_) => return Outcome::Accepted,
            None => panic!("oidc-actix accepted a token that jsonwebtoken rejects ({why}): {raw}"),
        },
    };
    let payload: Value = serde_json::from_slice(&verified.payload_json)
        .unwrap_or_else(|e| panic!("a verified payload does not parse: {e}"));
    assert_eq!(payload, claims, "the validators read other claims: {raw}");
    Outcome::Accepted
}

/// Why oidc-actix may accept a token that jsonwebtoken refuses: each a difference of
/// representation or of members neither the checks nor the key choice read, found by this
/// target (`HARDENING.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Difference {
    /// `exp` or `nbf` is a number outside jsonwebtoken's `u64` seconds (negative, or 2⁶⁴ and
    /// more). RFC 7519's NumericDate is any JSON number: an expiry past every clock, a start
    /// before 1970; oidc-actix compares them as they are.
    NumericDateBeyondU64,
    /// The header has a member oidc-actix never reads (`x5c`, `jwk`, `cty`, `url`, `zip`, …)
    /// with a JSON type jsonwebtoken's `Header` refuses, or has `b64` (RFC 7797), whose
    /// unencoded payloads need `crit`, which oidc-actix refuses: keys come from the key set
    /// only, and the signature is checked over the encoded payload as always.
    UnreadHeaderMember,
    /// A JWK member oidc-actix never reads (`x5c`, `x5u`, `x5t`, …) has a JSON type
    /// jsonwebtoken's `Jwk` refuses.
    UnreadJwkMember,
    /// An RSA JWK's `n` or `e` starts with a zero byte (RFC 7518 §6.3.1 asks for the shortest
    /// form): the same integer, which oidc-actix reads leniently.
    RsaLeadingZeros,
}

impl Difference {
    /// The class of `raw` against `jwks`, if it is one.
    fn of(raw: &str, jwks: &Value) -> Option<Self> {
        let part = |index: usize| -> Option<Value> {
            let segment = raw.split('.').nth(index)?;
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).ok()?).ok()
        };
        let beyond_u64 = |value: &Value| {
            value
                .as_f64()
                .is_some_and(|seconds| !(0.0..18_446_744_073_709_551_616.0).contains(&seconds))
        };
        if let Some(payload) = part(1)
            && ["exp", "nbf"]
                .iter()
                .any(|name| payload.get(name).is_some_and(beyond_u64))
        {
            return Some(Self::NumericDateBeyondU64);
        }
        if let Some(header) = part(0)
            && (header.get("b64").is_some()
                || serde_json::from_value::<jsonwebtoken::Header>(header).is_err())
        {
            return Some(Self::UnreadHeaderMember);
        }
        let keys = jwks["keys"].as_array()?;
        for jwk in keys {
            let read: Map<String, Value> = [
                "kty", "use", "key_ops", "alg", "kid", "n", "e", "crv", "x", "y",
            ]
            .iter()
            .filter_map(|name| Some((name.to_string(), jwk.get(*name)?.clone())))
            .collect();
            let parses = |jwk: Value| serde_json::from_value::<Jwk>(jwk).is_ok();
            if !parses(jwk.clone()) && parses(Value::Object(read)) {
                return Some(Self::UnreadJwkMember);
            }
            let leading_zero = |name: &str| {
                jwk.get(name)
                    .and_then(Value::as_str)
                    .and_then(|text| URL_SAFE_NO_PAD.decode(text).ok())
                    .is_some_and(|bytes| bytes.len() > 1 && bytes[0] == 0)
            };
            if jwk["kty"] == "RSA" && (leading_zero("n") || leading_zero("e")) {
                return Some(Self::RsaLeadingZeros);
            }
        }
        None
    }
}

/// A mode-`1` input: flags, header and payload, and a JWK patch if any.
fn signed(flags: char, header: &Value, payload: &str, patch: Option<Value>) -> Vec<u8> {
    let mut body = format!("{flags}{header}\n{payload}");
    if let Some(patch) = patch {
        body += &format!("\n{patch}");
    }
    with_mode("1", body.as_bytes())
}

/// A claims-set text for mode `1`: our issuer and audience, a `sub`, `iat` now and `exp` in
/// 300 s, with each `(name, value text)` of `changes` replacing a member or added after them
/// (an empty text removes the member).
fn claims_text(changes: &[(&str, &str)]) -> String {
    let audience = format!("\"{TEST_AUDIENCE}\"");
    let issuer = format!("\"{ISSUER}\"");
    let mut members: Vec<(&str, &str)> = vec![
        ("iss", &issuer),
        ("aud", &audience),
        ("sub", "\"u\""),
        ("iat", "NOW"),
        ("exp", "NOW+300"),
    ];
    for &(name, value) in changes {
        match members.iter_mut().find(|(known, _)| *known == name) {
            Some(member) => member.1 = value,
            None => members.push((name, value)),
        }
    }
    let members: Vec<String> = members
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!("\"{name}\":{value}"))
        .collect();
    format!("{{{}}}", members.join(","))
}

/// Inputs that both validators accept (`valid-…`), that both refuse (`refused-…`), where
/// oidc-actix alone refuses (`stricter-…`, one per case [`run`] lists), and where it alone
/// accepts (`differs-…`, one or more per [`Difference`]).
pub fn seeds() -> Vec<Seed> {
    let mut seeds = Vec::new();
    let mut add = |name: &str, data: Vec<u8>| {
        let expected = if name.starts_with("valid-") || name.starts_with("differs-") {
            Outcome::Accepted
        } else {
            Outcome::Rejected
        };
        seeds.push(Seed::new("differential", name, data, expected));
    };
    // Mode 0: whole tokens, signed once, valid until the year 3000.
    let token = |key: TestKey| {
        TokenBuilder::new(ISSUER)
            .key(key)
            .claim("iat", json!(NOW))
            .claim("exp", json!(FAR_FUTURE))
    };
    let whole = |flags: &str, raw: &str| with_mode("0", format!("{flags}{raw}").as_bytes());
    for key in TestKey::PER_ALGORITHM.iter().chain([&TestKey::Rsa2]) {
        add(&format!("valid-{key}"), whole("4", &token(*key).sign()));
    }
    let rs = || token(TestKey::Rs256);
    let whole_tokens = [
        ("refused-expired", "4", rs().claim("exp", json!(NOW)).sign()),
        (
            "refused-other-audience",
            "4",
            rs().audience("someone").sign(),
        ),
        (
            "refused-other-issuer",
            "0",
            rs().issuer("https://evil.example").sign(),
        ),
        ("refused-no-exp", "0", rs().without_claim("exp").sign()),
        (
            "refused-string-exp",
            "0",
            rs().claim("exp", json!("soon")).sign(),
        ),
        ("refused-unknown-kid", "0", rs().kid(Some("nobody")).sign()),
        ("refused-alg-none", "0", rs().unsigned()),
        ("refused-hs256", "0", rs().sign_hs256(b"secret")),
        ("refused-forged", "0", rs().sign_with_unpublished_key()),
        (
            "refused-alg-lies",
            "0",
            rs().header("alg", json!("RS384")).sign(),
        ),
        (
            "refused-two-segments",
            "0",
            "eyJhbGciOiJSUzI1NiJ9.e30".to_owned(),
        ),
        ("stricter-no-kid-several-keys", "0", rs().kid(None).sign()),
        (
            "stricter-typ-jose",
            "0",
            rs().header("typ", json!("JOSE")).sign(),
        ),
        (
            "stricter-crit-null",
            "0",
            rs().header("crit", Value::Null).sign(),
        ),
        (
            "stricter-crit-b64",
            "0",
            rs().header("crit", json!(["b64"]))
                .header("b64", json!(true))
                .sign(),
        ),
        (
            "stricter-numeric-sub",
            "0",
            rs().claim("sub", json!(7)).sign(),
        ),
        (
            "stricter-list-scope",
            "0",
            rs().claim("scope", json!(["openid"])).sign(),
        ),
        (
            "stricter-numeric-nonce",
            "0",
            rs().claim("nonce", json!(5)).sign(),
        ),
        (
            "stricter-iss-list",
            "0",
            rs().claim("iss", json!([ISSUER])).sign(),
        ),
        (
            "stricter-too-large",
            "0",
            rs().claim("filler", json!("x".repeat(MAX_TOKEN_BYTES)))
                .sign(),
        ),
    ];
    for (name, flags, raw) in whole_tokens {
        add(name, whole(flags, &raw));
    }
    // HMAC over a published `oct` key: outside both allow-lists.
    let hs256 = rs().kid(None).sign_hs256(b"secret");
    let oct = json!({"kty": "oct", "k": "c2VjcmV0", "alg": "HS256", "n": null, "e": null});
    add(
        "refused-hs256-oct-key",
        whole("8", &format!("{hs256}\n{oct}")),
    );
    // Mode 1: header and payload signed by the harness, times relative to the clock.
    let header =
        |key: TestKey| json!({"alg": key.algorithm().name(), "typ": "JWT", "kid": key.kid()});
    let valid = claims_text(&[]);
    for (flags, key) in ['4', '5', '6', '7'].into_iter().zip(SIGNERS) {
        add(
            &format!("valid-signed-{key}"),
            signed(flags, &header(key), &valid, None),
        );
    }
    let ed = header(TestKey::EdDsa);
    let with = |changes: &[(&str, &str)]| signed('4', &ed, &claims_text(changes), None);
    let patched = |flags, patch| signed(flags, &ed, &valid, Some(patch));
    let audiences = format!(r#"["x","{TEST_AUDIENCE}"]"#);
    let inputs = [
        (
            "valid-no-audience",
            signed('0', &ed, &claims_text(&[("aud", "")]), None),
        ),
        (
            "valid-one-key-no-kid",
            signed('8', &json!({"alg": "EdDSA"}), &valid, None),
        ),
        (
            "valid-jwk-without-alg",
            signed(
                '9',
                &header(TestKey::Rs256),
                &valid,
                Some(json!({"alg": null})),
            ),
        ),
        (
            "valid-jwk-alg-ed25519",
            patched('8', json!({"alg": "Ed25519"})),
        ),
        ("valid-fractional-exp", with(&[("exp", "NOW+0.5")])),
        ("valid-aud-list", with(&[("aud", &audiences)])),
        ("valid-nbf-within-leeway", with(&[("nbf", "NOW+60")])),
        ("valid-exp-within-leeway", with(&[("exp", "NOW-59")])),
        ("refused-future-nbf", with(&[("nbf", "NOW+61")])),
        ("refused-expired", with(&[("exp", "NOW-61")])),
        (
            "refused-expired-no-leeway",
            signed('@', &ed, &claims_text(&[("exp", "NOW-1")]), None),
        ),
        (
            "refused-rsa-kid",
            signed('4', &header(TestKey::Rs256), &valid, None),
        ),
        ("refused-no-audience-claim", with(&[("aud", "")])),
        ("refused-no-issuer", with(&[("iss", "")])),
        ("stricter-future-iat", with(&[("iat", "NOW+61")])),
        ("stricter-string-iat", with(&[("iat", "\"now\"")])),
        ("stricter-exp-at-leeway", with(&[("exp", "NOW-60")])),
        // `NOW-61` then `.6`: 60.4 s ago, which jsonwebtoken rounds to 60.
        ("stricter-fractional-exp", with(&[("exp", "NOW-61.6")])),
        ("stricter-fractional-nbf", with(&[("nbf", "NOW+60.4")])),
        (
            "stricter-duplicate-claim",
            signed('4', &ed, &valid.replace('}', r#","x":1,"x":2}"#), None),
        ),
        (
            "stricter-array-payload",
            signed(
                '0',
                &ed,
                &format!(r#"[NOW+300,0,"u","{ISSUER}","x"]"#),
                None,
            ),
        ),
        ("stricter-jwk-use-enc", patched('8', json!({"use": "enc"}))),
        ("differs-exp-beyond-u64", with(&[("exp", "1e20")])),
        ("differs-negative-nbf", with(&[("nbf", "-1")])),
        (
            "differs-header-x5c-number",
            signed(
                '4',
                &json!({"alg": "EdDSA", "kid": TestKey::EdDsa.kid(), "x5c": 5}),
                &valid,
                None,
            ),
        ),
        (
            "differs-header-b64",
            signed(
                '4',
                &json!({"alg": "EdDSA", "kid": TestKey::EdDsa.kid(), "b64": false}),
                &valid,
                None,
            ),
        ),
        ("differs-jwk-x5t-number", patched('8', json!({"x5t": 5}))),
        (
            "differs-rsa-e-leading-zero",
            signed(
                '9',
                &header(TestKey::Rs256),
                &valid,
                Some(json!({"e": "AAEAAQ"})),
            ),
        ),
        (
            "stricter-jwk-key-ops-sign",
            patched('8', json!({"key_ops": ["sign"]})),
        ),
    ];
    for (name, data) in inputs {
        add(name, data);
    }
    let mut not_utf8 = with(&[("x", "\"Z\"")]);
    let at = not_utf8
        .windows(3)
        .position(|w| w == b"\"Z\"")
        .expect("the marker is in the input");
    not_utf8[at + 1] = 0xFF;
    add("refused-claim-not-utf8", not_utf8);
    seeds
}
