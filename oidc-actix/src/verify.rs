//! Token verification: header, key, signature, then the registered claims (RFC 7519 §4.1).
//!
//! Pure: given the token, the key set, the rules and the time, it decides. It knows nothing of
//! requests, the handle, the cache, the provider or the clock, so the bearer extractor, the
//! login callback's ID-token check and the fuzz targets all run the very same checks.
//!
//! The order matters for cost and for safety: size first (no work for absurd input), then the
//! header (cheap, rejects `none`, HMAC and unknown `crit`), then the key and its algorithm
//! binding, then the signature, and only then is the payload parsed.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::algorithm::Algorithm;
use crate::error::InvalidToken;
use crate::jwks::{KeySet, VerificationKey};
use crate::strict_json;

/// The JOSE header members this validator reads. Others (`jku`, `x5u`, `jwk`, …) are ignored:
/// keys come from the provider's key set only, never from the token.
#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    typ: Option<String>,
    /// Present (`Some`) whatever its value, `null` included: RFC 7515 §4.1.11 allows no null,
    /// and serde would read a null `Option` as absent.
    #[serde(default, deserialize_with = "present")]
    crit: Option<Value>,
}

fn present<'de, D: serde::Deserializer<'de>>(value: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(value).map(Some)
}

/// What a token must satisfy besides its signature: the configuration's part of verification
/// (the key set brings the keys and the issuer).
#[derive(Clone, Copy)]
pub(crate) struct TokenRules<'a> {
    pub(crate) audience: Option<&'a str>,
    pub(crate) leeway: Duration,
    pub(crate) algorithms: &'a [Algorithm],
    pub(crate) max_token_bytes: usize,
    /// The media type the header's `typ` must name (`at+jwt`: RFC 9068 access tokens), if any.
    pub(crate) token_type: Option<&'a str>,
}

/// A token whose signature and claims hold.
pub(crate) struct Verified {
    /// The decoded payload, a JSON object, and the same parsed.
    pub(crate) payload_json: Vec<u8>,
    pub(crate) payload: Map<String, Value>,
    pub(crate) kid: Option<String>,
    pub(crate) key: Arc<VerificationKey>,
    pub(crate) exp: u64,
}

/// Why verification stopped.
pub(crate) enum Failure {
    /// The token is invalid whatever the key set holds.
    Invalid(InvalidToken),
    /// No key for the token's `kid`: a fresher key set might have it.
    UnknownKid,
}

impl Failure {
    /// Why the token is rejected, once no fresher key set can help.
    pub(crate) fn reason(self) -> InvalidToken {
        match self {
            Self::Invalid(why) => why,
            Self::UnknownKid => InvalidToken::UnknownKey,
        }
    }
}

impl From<InvalidToken> for Failure {
    fn from(why: InvalidToken) -> Self {
        Self::Invalid(why)
    }
}

/// Decodes a base64url segment holding a JSON object.
fn decode_object(segment: &str, what: &'static str) -> Result<Vec<u8>, InvalidToken> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| InvalidToken::Malformed(what))?;
    // Serde would also read a struct from a JSON array; JOSE headers and claims sets are
    // objects (RFC 7515 §4, RFC 7519 §7.2), in UTF-8 (RFC 7515 §5.2) even in members that
    // serde skips without looking.
    if bytes.trim_ascii_start().starts_with(b"{") && std::str::from_utf8(&bytes).is_ok() {
        Ok(bytes)
    } else {
        Err(InvalidToken::Malformed(what))
    }
}

fn numeric(claim: Option<&Value>, name: &'static str) -> Result<Option<f64>, InvalidToken> {
    match claim {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(InvalidToken::InvalidClaim(name)),
        Some(_) => Err(InvalidToken::InvalidClaim(name)),
    }
}

/// A token whose form and header passed the checks that need no key.
pub(crate) struct Parsed<'t> {
    header: Header,
    alg: Algorithm,
    signing_input: &'t str,
    payload_b64: &'t str,
    signature_b64: &'t str,
}

/// The checks that need no key: size, shape, header, algorithm allow-list, `typ`, `crit`.
/// Run first, so malformed input never costs a key fetch.
pub(crate) fn parse<'t>(raw: &'t str, rules: &TokenRules<'_>) -> Result<Parsed<'t>, InvalidToken> {
    if raw.len() > rules.max_token_bytes {
        return Err(InvalidToken::TooLarge);
    }
    let mut segments = raw.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(InvalidToken::Malformed("not three segments"));
    };
    // Parsed strictly, as the payload is, members this validator never reads included: serde
    // skips them without looking, so a lone UTF-16 surrogate (`"\ud800"`, not a character) or a
    // name twice (RFC 7515 §4 wants them unique) passed there (found by the differential fuzz
    // target). The header is small and read only on a cache miss.
    let header = strict_json::object(&decode_object(header_b64, "header")?)
        .map_err(|_| InvalidToken::Malformed("header"))?;
    let header = Header::deserialize(Value::Object(header))
        .map_err(|_| InvalidToken::Malformed("header"))?;
    let alg = Algorithm::from_name(&header.alg)
        .filter(|alg| rules.algorithms.contains(alg))
        .ok_or_else(|| InvalidToken::DisallowedAlgorithm(header.alg.chars().take(16).collect()))?;
    // A `typ` is a media type whose `application/` prefix may be left out (RFC 7515 §4.1.9),
    // compared without regard to case.
    let typ = header.typ.as_deref().map(|typ| {
        let typ = typ.to_ascii_lowercase();
        match typ.strip_prefix("application/") {
            Some(short) => short.to_owned(),
            None => typ,
        }
    });
    if let Some(typ) = &typ
        && !matches!(typ.as_str(), "jwt" | "at+jwt")
    {
        return Err(InvalidToken::UnsupportedType);
    }
    if let Some(required) = rules.token_type
        && typ.as_deref() != Some(required)
    {
        return Err(InvalidToken::WrongType);
    }
    if header.crit.is_some() {
        return Err(InvalidToken::UnsupportedCritical);
    }
    Ok(Parsed {
        header,
        alg,
        signing_input: &raw[..header_b64.len() + 1 + payload_b64.len()],
        payload_b64,
        signature_b64,
    })
}

/// Verifies `raw` against `keys`.
pub(crate) fn verify(
    raw: &str,
    keys: &KeySet,
    rules: &TokenRules<'_>,
    now: f64,
) -> Result<Verified, Failure> {
    check(parse(raw, rules)?, keys, rules, now)
}

/// The checks that need the key set: key and algorithm binding, signature, then the claims.
pub(crate) fn check(
    parsed: Parsed<'_>,
    keys: &KeySet,
    rules: &TokenRules<'_>,
    now: f64,
) -> Result<Verified, Failure> {
    let Parsed {
        header,
        alg,
        signing_input,
        payload_b64,
        signature_b64,
    } = parsed;
    let key = keys.find(header.kid.as_deref()).ok_or(match header.kid {
        Some(_) => Failure::UnknownKid,
        None => Failure::Invalid(InvalidToken::UnknownKey),
    })?;
    if !key.permits(alg) {
        return Err(InvalidToken::KeyAlgorithmMismatch.into());
    }
    // The largest signature is RSA-8192's 1024 bytes (the key-size cap); anything longer is
    // not a signature of ours, and the stack buffer spares an allocation per verification.
    let mut signature = [0u8; 1024];
    let verified = URL_SAFE_NO_PAD
        .decode_slice(signature_b64, &mut signature)
        .is_ok_and(|len| key.verifies(alg, signing_input.as_bytes(), &signature[..len]));
    if !verified {
        return Err(InvalidToken::BadSignature.into());
    }
    let payload_json = decode_object(payload_b64, "payload")?;
    // One strict parse serves every check and every later reader (see `strict_json`).
    let payload =
        strict_json::object(&payload_json).map_err(|_| InvalidToken::Malformed("payload"))?;
    let leeway = rules.leeway.as_secs_f64();
    let exp = numeric(payload.get("exp"), "exp")?.ok_or(InvalidToken::MissingExpiry)?;
    if now >= exp + leeway {
        return Err(InvalidToken::Expired.into());
    }
    if numeric(payload.get("nbf"), "nbf")?.is_some_and(|nbf| now + leeway < nbf) {
        return Err(InvalidToken::NotYetValid.into());
    }
    if numeric(payload.get("iat"), "iat")?.is_some_and(|iat| now + leeway < iat) {
        return Err(InvalidToken::IssuedInFuture.into());
    }
    if payload.get("iss").and_then(Value::as_str) != Some(keys.issuer.as_str()) {
        return Err(InvalidToken::WrongIssuer.into());
    }
    // StringOrURI or an array of them (RFC 7519 §4.1.3), whether or not an audience is checked:
    // a list that holds ours beside a number is malformed, not ours.
    let aud_is_well_formed = match payload.get("aud") {
        None | Some(Value::String(_)) => true,
        Some(Value::Array(auds)) => auds.iter().all(Value::is_string),
        Some(_) => false,
    };
    if !aud_is_well_formed {
        return Err(InvalidToken::InvalidClaim("aud").into());
    }
    if let Some(audience) = rules.audience {
        let ours = match payload.get("aud") {
            Some(Value::String(aud)) => aud == audience,
            Some(Value::Array(auds)) => auds.iter().any(|aud| aud.as_str() == Some(audience)),
            _ => false,
        };
        if !ours {
            return Err(InvalidToken::WrongAudience.into());
        }
    }
    for name in ["sub", "scope", "nonce"] {
        if payload.get(name).is_some_and(|v| !v.is_string()) {
            return Err(InvalidToken::InvalidClaim(name).into());
        }
    }
    Ok(Verified {
        payload_json,
        payload,
        kid: header.kid,
        key: Arc::clone(key),
        exp: exp.max(0.0) as u64,
    })
}
