//! The `differential` target: oidc-actix's token verification against jsonwebtoken's `decode`.
//!
//! The same token and key set go through `oidc_actix::__fuzz::verify` and through
//! jsonwebtoken 12's `decode` (the `aws_lc_rs` provider, as the workspace uses it) with the
//! `Validation` that says what oidc-actix checks; the target fails when oidc-actix accepts a
//! token that jsonwebtoken rejects. Where oidc-actix is stricter, the input is `Rejected`; the
//! seeds named `stricter-…` are those cases, one each, and `tests/fuzz_corpus.rs` checks that
//! jsonwebtoken accepts every one of them and oidc-actix none (see [`run`] for the list). Five
//! accepted differences, harmless by design, go the other way (oidc-actix accepts, jsonwebtoken
//! refuses): each is detected from the input, jsonwebtoken's verdict then reads those members as
//! oidc-actix does, and the `difference-…` seeds check both verdicts (see [`run`]).

use std::str::FromStr as _;
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{DecodingKey, EncodingKey, Validation};
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
/// passes if one verifies it). With `differences`, the accepted differences (see [`run`]) are
/// allowed for: the input's own members of those classes are read as oidc-actix reads them.
fn jsonwebtoken_verdict(
    raw: &str,
    setup: Setup,
    jwks: &Value,
    differences: bool,
) -> Result<Value, String> {
    let unread_header = differences
        .then(|| header_without_unread_members(raw))
        .flatten();
    let header = match &unread_header {
        None => jsonwebtoken::decode_header(raw).map_err(|e| format!("header: {e}"))?,
        Some(header) => serde_json::from_value(Value::Object(header.clone()))
            .map_err(|e| format!("header: {e}"))?,
    };
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
        let decoded = if differences {
            let jwk = minimal_rsa_integers(&without_unread_jwk_members(jwk));
            decode_with(raw, setup, &jwk, differences, unread_header.as_ref())
        } else {
            decode_with(raw, setup, jwk, differences, None)
        };
        match decoded {
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
///
/// With `differences`, an `exp` beyond jsonwebtoken's `u64` ([`exp_beyond_u64`]) or a negative
/// `nbf` ([`negative_nbf`]) in the token goes unchecked by jsonwebtoken, every other check
/// staying; with `unread_header` (see [`header_without_unread_members`]), the token is checked
/// as if its header were that one.
fn decode_with(
    raw: &str,
    setup: Setup,
    jwk: &Value,
    differences: bool,
    unread_header: Option<&Map<String, Value>>,
) -> Result<Value, String> {
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
    let claims = differences.then(|| claims_of(raw)).flatten();
    let endless = claims.as_ref().is_some_and(exp_beyond_u64);
    if claims.as_ref().is_some_and(negative_nbf) {
        validation.validate_nbf = false;
    }
    validation.validate_exp = !endless;
    let exp: &[&str] = if endless { &[] } else { &["exp"] };
    if setup.audience {
        validation.set_audience(&[TEST_AUDIENCE]);
        validation.set_required_spec_claims(&[exp, &["iss", "aud"]].concat());
    } else {
        validation.validate_aud = false;
        validation.set_required_spec_claims(&[exp, &["iss"]].concat());
    }
    match unread_header {
        None => jsonwebtoken::decode::<Value>(raw, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| e.to_string()),
        Some(header) => decode_under(raw, header, &key, &validation),
    }
}

/// The header members jsonwebtoken's `Header` gives a type (RFC 7515 §4.1, RFC 7516's `enc`
/// and `zip`, RFC 8555's `url` and `nonce`, RFC 7797's `b64`), which oidc-actix never reads: it
/// reads `alg`, `kid`, `typ` and `crit` alone.
const UNREAD_HEADER_MEMBERS: [&str; 12] = [
    "cty", "jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256", "enc", "zip", "url", "nonce", "b64",
];

/// Accepted difference 3, header members nobody reads: the token's header without the members
/// of [`UNREAD_HEADER_MEMBERS`], when jsonwebtoken refuses the header as it is (one of them
/// has another JSON type than its `Header` gives it, such as `"x5c": 5`, or `b64` is not
/// `true`) but reads it without them. Harmless: oidc-actix never reads those members, so
/// their type cannot change what it verifies (RFC 7797's `b64` means something only when `crit`
/// names it, and oidc-actix refuses every `crit`). `None` for any other header.
fn header_without_unread_members(raw: &str) -> Option<Map<String, Value>> {
    let header: Map<String, Value> = serde_json::from_slice(&segment(raw, 0)?).ok()?;
    let read_by_jsonwebtoken = |header: &Map<String, Value>| {
        serde_json::from_value::<jsonwebtoken::Header>(Value::Object(header.clone())).is_ok()
            && header
                .get("b64")
                .is_none_or(|b64| *b64 == Value::Bool(true))
    };
    if read_by_jsonwebtoken(&header) {
        return None;
    }
    let mut stripped = header;
    stripped.retain(|name, _| !UNREAD_HEADER_MEMBERS.contains(&name.as_str()));
    read_by_jsonwebtoken(&stripped).then_some(stripped)
}

/// jsonwebtoken's `decode` of `raw` as if its header were `header`: the algorithm within the
/// allowed ones and the signature over the token's own header and payload, checked by
/// jsonwebtoken's `crypto::verify`; then the claims through `decode`'s own checks, the payload
/// signed again with HMAC under `header` (its `alg` made `HS256`), since no other entry point of
/// jsonwebtoken checks claims.
fn decode_under(
    raw: &str,
    header: &Map<String, Value>,
    key: &DecodingKey,
    validation: &Validation,
) -> Result<Value, String> {
    const RESIGNING_SECRET: &[u8] = b"differential: the claims, re-signed";
    let (message, signature) = raw.rsplit_once('.').ok_or("InvalidToken")?;
    let (_, payload) = message.split_once('.').ok_or("InvalidToken")?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(|alg| jsonwebtoken::Algorithm::from_str(alg).ok())
        .filter(|alg| validation.algorithms.contains(alg))
        .ok_or("InvalidAlgorithm")?;
    if !jsonwebtoken::crypto::verify(signature, message.as_bytes(), key, alg)
        .map_err(|e| e.to_string())?
    {
        return Err("InvalidSignature".to_owned());
    }
    let mut header = header.clone();
    header.insert("alg".to_owned(), json!("HS256"));
    let header = URL_SAFE_NO_PAD.encode(Value::Object(header).to_string());
    let message = format!("{header}.{payload}");
    let hmac = jsonwebtoken::Algorithm::HS256;
    let resigned = (|| {
        let signature = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &EncodingKey::from_secret(RESIGNING_SECRET)?,
            hmac,
        )?;
        let mut validation = validation.clone();
        validation.algorithms = vec![hmac];
        jsonwebtoken::decode::<Value>(
            format!("{message}.{signature}"),
            &DecodingKey::from_secret(RESIGNING_SECRET)?,
            &validation,
        )
    })();
    resigned.map(|data| data.claims).map_err(|e| e.to_string())
}

/// Segment `index` of a compact token, base64url-decoded.
fn segment(raw: &str, index: usize) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(raw.split('.').nth(index)?).ok()
}

/// The token's claims set, if it is a JSON object.
fn claims_of(raw: &str) -> Option<Map<String, Value>> {
    serde_json::from_slice(&segment(raw, 1)?).ok()
}

/// Accepted difference 1, an endless `exp`: a number at or above 2⁶⁴ (`1e20`,
/// `18446744073709551616`), which jsonwebtoken's `u64` NumericDate cannot hold (it reports the
/// claim missing). Harmless: such an `exp` lies 584 billion years ahead, as endless as
/// 2⁶⁴ − 1, which both accept; oidc-actix reads NumericDate as a JSON number (RFC 7519 §2).
fn exp_beyond_u64(claims: &Map<String, Value>) -> bool {
    claims
        .get("exp")
        .and_then(Value::as_f64)
        .is_some_and(|exp| exp >= 18_446_744_073_709_551_616.0)
}

/// Accepted difference 2, a negative `nbf` (`-1`, `-0.5`), which jsonwebtoken's `u64`
/// NumericDate cannot hold (an invalid format to it). Harmless: a time before 1970 is in the
/// past, so the token is valid from then on, as for `nbf: 0`. (A negative `exp` is expired to
/// both; jsonwebtoken does not read `iat`.)
fn negative_nbf(claims: &Map<String, Value>) -> bool {
    claims
        .get("nbf")
        .and_then(Value::as_f64)
        .is_some_and(|nbf| nbf < 0.0)
}

/// The JWK members jsonwebtoken's `Jwk` gives a type (RFC 7517 §4.6–4.9), which oidc-actix
/// never reads: it reads `kty`, `use`, `key_ops`, `alg`, `kid` and the key's own members.
const UNREAD_JWK_MEMBERS: [&str; 4] = ["x5u", "x5c", "x5t", "x5t#S256"];

/// Accepted difference 4, JWK members nobody reads: the JWK without those of
/// [`UNREAD_JWK_MEMBERS`], which jsonwebtoken cannot read as a `Jwk` when one has another JSON
/// type (`"x5c": 5`). Harmless: neither `DecodingKey::from_jwk` nor oidc-actix reads them, so
/// they cannot change the key.
fn without_unread_jwk_members(jwk: &Value) -> Value {
    let mut jwk = jwk.clone();
    if let Some(members) = jwk.as_object_mut() {
        members.retain(|name, _| !UNREAD_JWK_MEMBERS.contains(&name.as_str()));
    }
    jwk
}

/// Accepted difference 5, RSA integers with leading zero octets: an RSA JWK's `n` and `e`
/// without them (`"e": "AAEAAQ"` read as `AQAB`), which aws-lc-rs, under jsonwebtoken, refuses
/// as a key. Harmless: the integer is the same (RFC 7518 §6.3.1 asks for the minimal octets;
/// oidc-actix strips the zeros, as many libraries do).
fn minimal_rsa_integers(jwk: &Value) -> Value {
    let mut jwk = jwk.clone();
    if jwk.get("kty").and_then(Value::as_str) != Some("RSA") {
        return jwk;
    }
    for name in ["n", "e"] {
        let octets = jwk
            .get(name)
            .and_then(Value::as_str)
            .and_then(|text| URL_SAFE_NO_PAD.decode(text).ok());
        if let Some(octets) = octets {
            let zeros = octets.iter().take_while(|octet| **octet == 0).count();
            if zeros > 0 && zeros < octets.len() {
                jwk[name] = json!(URL_SAFE_NO_PAD.encode(&octets[zeros..]));
            }
        }
    }
    jwk
}

/// The verdicts on one input: the token, oidc-actix's, and jsonwebtoken's for each `differences`
/// asked for (see [`jsonwebtoken_verdict`]).
type Verdicts = (String, Result<Verified, String>, Vec<Result<Value, String>>);

/// The verdicts at one clock second. jsonwebtoken reads the wall clock in whole seconds; oidc-
/// actix is given the same second (so a sub-second difference of the clocks never shows as
/// one of the validators), and the comparison is repeated when the second changed meanwhile.
fn verdicts_of(case: &Case<'_>, differences: &[bool]) -> Verdicts {
    let jwks = case.jwks();
    loop {
        let now = jsonwebtoken::get_current_timestamp();
        let raw = case.token(now);
        let ours = oidc_actix_verdict(&raw, case, &jwks, now);
        let theirs = differences
            .iter()
            .map(|&differences| jsonwebtoken_verdict(&raw, case.setup, &jwks, differences))
            .collect();
        if jsonwebtoken::get_current_timestamp() == now {
            return (raw, ours, theirs);
        }
    }
}

/// One input's verdicts, with why not: oidc-actix's, jsonwebtoken's, and jsonwebtoken's with
/// the accepted differences allowed for (see [`run`]); `None`: not an input of this target.
pub fn verdicts(data: &[u8]) -> Option<[Result<(), String>; 3]> {
    let (_, ours, theirs) = verdicts_of(&Case::parse(data)?, &[false, true]);
    let [strict, allowing] = <[_; 2]>::try_from(theirs).ok()?;
    Some([ours.map(drop), strict.map(drop), allowing.map(drop)])
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
/// Both refuse (seeds `refused-…`) HMAC, even over a published `oct` JWK (neither allow-list has
/// it), and bytes that are not UTF-8 in the claims set. RSA keys under 2048 bits are not
/// compared by running (no test key is smaller): jsonwebtoken's verifiers are aws-lc-rs's
/// `RSA_*_2048_8192_*`, as oidc-actix's are.
///
/// Where oidc-actix accepts what jsonwebtoken refuses by design (the accepted differences, each
/// detected from the input by its own function, which says why it is harmless; a
/// `difference-…` seed of each is checked), jsonwebtoken's verdict reads the input's members of
/// that class as oidc-actix reads them, and every other check of jsonwebtoken stays:
///
/// 1. an `exp` at or above 2⁶⁴, beyond jsonwebtoken's `u64` ([`exp_beyond_u64`]);
/// 2. a negative `nbf` ([`negative_nbf`]);
/// 3. header members oidc-actix never reads (`cty`, `jwk`, `x5c`, `url`, `nonce`, `zip`, `b64`
///    …) of a type jsonwebtoken refuses ([`header_without_unread_members`]);
/// 4. JWK members oidc-actix never reads (`x5u`, `x5c`, `x5t`, `x5t#S256`) of a type
///    jsonwebtoken refuses ([`without_unread_jwk_members`]);
/// 5. an RSA JWK's `n` or `e` with leading zero octets ([`minimal_rsa_integers`]).
pub fn run(data: &[u8]) -> Outcome {
    let Some(case) = Case::parse(data) else {
        return Outcome::Rejected;
    };
    let (raw, ours, theirs) = verdicts_of(&case, &[true]);
    let Ok(verified) = ours else {
        return Outcome::Rejected;
    };
    let claims = theirs
        .into_iter()
        .next()
        .expect("one verdict")
        .unwrap_or_else(|why| {
            panic!("oidc-actix accepted a token that jsonwebtoken rejects ({why}): {raw}")
        });
    let payload: Value = serde_json::from_slice(&verified.payload_json)
        .unwrap_or_else(|e| panic!("a verified payload does not parse: {e}"));
    assert_eq!(payload, claims, "the validators read other claims: {raw}");
    Outcome::Accepted
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
/// oidc-actix alone refuses (`stricter-…`, one per case [`run`] lists), and where oidc-actix
/// alone accepts (`difference-…`, one per accepted difference).
pub fn seeds() -> Vec<Seed> {
    let mut seeds = Vec::new();
    let mut add = |name: &str, data: Vec<u8>| {
        let expected = if name.starts_with("valid-") || name.starts_with("difference-") {
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
        // Found by this target: an `aud` list of ours beside a number passed oidc-actix.
        (
            "refused-aud-list-with-number",
            with(&[("aud", &format!(r#"["{TEST_AUDIENCE}",5]"#))]),
        ),
        ("difference-exp-beyond-u64", with(&[("exp", "1e20")])),
        ("difference-negative-nbf", with(&[("nbf", "-0.5")])),
        (
            "difference-header-x5c-number",
            signed(
                '4',
                &json!({"alg": "EdDSA", "kid": TestKey::EdDsa.kid(), "x5c": 5, "b64": false}),
                &valid,
                None,
            ),
        ),
        (
            "difference-jwk-x5c-number",
            patched('8', json!({"x5c": 5, "x5t": 5})),
        ),
        (
            "stricter-jwk-key-ops-sign",
            patched('8', json!({"key_ops": ["sign"]})),
        ),
    ];
    for (name, data) in inputs {
        add(name, data);
    }
    let rsa = TestKey::Rs256.public_jwk();
    let zero_led = |name: &str| {
        let octets = URL_SAFE_NO_PAD
            .decode(rsa[name].as_str().expect("an RSA JWK member"))
            .expect("base64url");
        json!(URL_SAFE_NO_PAD.encode([&[0][..], &octets].concat()))
    };
    add(
        "difference-rsa-leading-zeros",
        signed(
            '9',
            &header(TestKey::Rs256),
            &valid,
            Some(json!({"n": zero_led("n"), "e": zero_led("e")})),
        ),
    );
    let mut not_utf8 = with(&[("x", "\"Z\"")]);
    let at = not_utf8
        .windows(3)
        .position(|w| w == b"\"Z\"")
        .expect("the marker is in the input");
    not_utf8[at + 1] = 0xFF;
    add("refused-claim-not-utf8", not_utf8);
    seeds
}
