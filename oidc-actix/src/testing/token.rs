//! Building signed (and deliberately broken) tokens.

use serde_json::{Map, Value, json};

use super::keys::{TestKey, signing_input};
use super::{TEST_AUDIENCE, TEST_SUBJECT};
use crate::Algorithm;

/// Seconds since the epoch, by the library's one clock.
fn unix_now() -> i64 {
    i64::try_from(crate::clock::now_secs()).unwrap_or(i64::MAX)
}

/// Builds a JWT for tests: valid by default, and easy to break one property at a time.
///
/// Get one from [`MockIdp::token`](super::MockIdp::token) (issuer and signing key of that
/// provider) or [`TokenBuilder::new`]. The default token is a header
/// `{"alg": "RS256", "typ": "JWT", "kid": …}` and the claims
///
/// | claim | value |
/// |---|---|
/// | `iss` | the issuer |
/// | `sub`, `preferred_username` | [`TEST_SUBJECT`] |
/// | `aud` | [`TEST_AUDIENCE`] |
/// | `iat` | now |
/// | `exp` | now + 300 s |
/// | `scope` | `openid profile email` |
///
/// Times are relative to when the builder was created. [`sign`](Self::sign) gives a token the
/// validator accepts; the other finishing methods ([`unsigned`](Self::unsigned),
/// [`sign_hs256`](Self::sign_hs256), [`sign_with_unpublished_key`](Self::sign_with_unpublished_key))
/// give attacks it must reject.
///
/// ```
/// use serde_json::json;
/// use oidc_actix::testing::{TestKey, TokenBuilder};
///
/// let token = TokenBuilder::new("https://idp.example.org")
///     .sub("alice")
///     .scope("openid reports:read")
///     .claim("groups", json!(["staff"]))
///     .key(TestKey::Es256)
///     .expires_in(60)
///     .sign();
/// assert_eq!(token.split('.').count(), 3);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct TokenBuilder {
    key: TestKey,
    /// `None`: the key's own kid; `Some(None)`: no kid at all.
    kid: Option<Option<String>>,
    header: Map<String, Value>,
    removed_header: Vec<String>,
    claims: Map<String, Value>,
    now: i64,
}

impl TokenBuilder {
    /// A builder for tokens from `issuer`, signed with [`TestKey::Rs256`].
    pub fn new(issuer: impl Into<String>) -> Self {
        Self::with_key(issuer.into(), TestKey::Rs256)
    }

    pub(crate) fn with_key(issuer: String, key: TestKey) -> Self {
        let now = unix_now();
        let claims = [
            ("iss", json!(issuer)),
            ("sub", json!(TEST_SUBJECT)),
            ("preferred_username", json!(TEST_SUBJECT)),
            ("aud", json!(TEST_AUDIENCE)),
            ("iat", json!(now)),
            ("exp", json!(now + 300)),
            ("scope", json!("openid profile email")),
        ];
        Self {
            key,
            kid: None,
            header: Map::new(),
            removed_header: Vec::new(),
            claims: claims
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
            now,
        }
    }

    /// Sets `sub`.
    // Named after the claim, like the other setters; nobody will mistake it for subtraction.
    #[allow(clippy::should_implement_trait)]
    pub fn sub(self, sub: impl Into<String>) -> Self {
        self.claim("sub", Value::String(sub.into()))
    }

    /// Sets `iss`.
    pub fn issuer(self, issuer: impl Into<String>) -> Self {
        self.claim("iss", Value::String(issuer.into()))
    }

    /// Sets `aud` to one audience (for several, use `.claim("aud", json!([...]))`).
    pub fn audience(self, audience: impl Into<String>) -> Self {
        self.claim("aud", Value::String(audience.into()))
    }

    /// Sets `scope`, a space-separated list.
    pub fn scope(self, scope: impl Into<String>) -> Self {
        self.claim("scope", Value::String(scope.into()))
    }

    /// Sets `exp` to `seconds` from now; negative for a token that has already expired.
    pub fn expires_in(self, seconds: i64) -> Self {
        let exp = self.now.saturating_add(seconds);
        self.claim("exp", json!(exp))
    }

    /// Sets `nbf` to `seconds` from now; positive for a token that is not valid yet.
    pub fn not_before(self, seconds: i64) -> Self {
        let nbf = self.now.saturating_add(seconds);
        self.claim("nbf", json!(nbf))
    }

    /// Sets `iat` to `seconds` from now; positive for a token issued in the future.
    pub fn issued_at(self, seconds: i64) -> Self {
        let iat = self.now.saturating_add(seconds);
        self.claim("iat", json!(iat))
    }

    /// Sets any claim, replacing the default if there is one (`.claim("exp", json!("soon"))`
    /// makes a malformed token).
    pub fn claim(mut self, name: impl Into<String>, value: Value) -> Self {
        self.claims.insert(name.into(), value);
        self
    }

    /// Removes a claim, default or not (`.without_claim("exp")`).
    pub fn without_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Signs with `key` (its algorithm and, unless [`kid`](Self::kid) says otherwise, its `kid`).
    pub fn key(mut self, key: TestKey) -> Self {
        self.key = key;
        self
    }

    /// Signs with the default key of `alg`, [`TestKey::for_algorithm`].
    pub fn algorithm(self, alg: Algorithm) -> Self {
        self.key(TestKey::for_algorithm(alg))
    }

    /// Overrides the header's `kid`: `Some("other")` names another key, `None` leaves `kid` out.
    pub fn kid(mut self, kid: Option<&str>) -> Self {
        self.kid = Some(kid.map(str::to_owned));
        self
    }

    /// Sets a header member, replacing the computed one if any: `typ`, `crit`, `jku`, or even
    /// `alg` (which then lies about how the token was signed).
    pub fn header(mut self, name: impl Into<String>, value: Value) -> Self {
        let name = name.into();
        self.removed_header.retain(|removed| *removed != name);
        self.header.insert(name, value);
        self
    }

    /// Leaves a header member out: `.without_header("typ")`, or even `"alg"` (a malformed
    /// token).
    pub fn without_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self.removed_header.push(name.to_owned());
        self
    }

    /// The claims the token will carry.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The key the token will be signed with.
    pub fn signing_key(&self) -> TestKey {
        self.key
    }

    /// The header and claims as JSON bytes, `alg` given.
    fn header_and_claims(&self, alg: &str) -> (Vec<u8>, Vec<u8>) {
        let kid = match &self.kid {
            None => Some(self.key.kid()),
            Some(kid) => kid.as_deref(),
        };
        let mut header = Map::new();
        header.insert("alg".to_owned(), json!(alg));
        header.insert("typ".to_owned(), json!("JWT"));
        if let Some(kid) = kid {
            header.insert("kid".to_owned(), json!(kid));
        }
        for (name, value) in &self.header {
            header.insert(name.clone(), value.clone());
        }
        for name in &self.removed_header {
            header.remove(name);
        }
        // Serializing a map of JSON values cannot fail: every key is a string.
        let bytes = |map: &Map<String, Value>| serde_json::to_vec(map).unwrap_or_default();
        (bytes(&header), bytes(&self.claims))
    }

    /// The encoded header and claims, `alg` given.
    fn signing_input(&self, alg: &str) -> String {
        let (header, claims) = self.header_and_claims(alg);
        signing_input(&header, &claims)
    }

    fn signed_with(&self, material: super::keys::Material) -> String {
        let alg = self.key.algorithm();
        let (header, claims) = self.header_and_claims(alg.name());
        material.sign_compact(alg, &header, &claims)
    }

    /// Signs the token: the validator accepts it unless a claim or header was changed to make
    /// it fail.
    pub fn sign(&self) -> String {
        self.signed_with(self.key.material())
    }

    /// `Authorization: Bearer <token>` for [`sign`](Self::sign)'s token, ready for
    /// `TestRequest::insert_header`.
    pub fn authorization_header(&self) -> (&'static str, String) {
        ("authorization", format!("Bearer {}", self.sign()))
    }

    /// Attack: an unsecured JWT (RFC 7519 §6), `alg: "none"` and an empty signature.
    pub fn unsigned(&self) -> String {
        format!("{}.", self.signing_input("none"))
    }

    /// Attack: `alg: "HS256"`, signed with `secret` (possibly empty) as an HMAC key. Passing the
    /// bytes of a published public key tries the classic algorithm-confusion attack.
    pub fn sign_hs256(&self, secret: &[u8]) -> String {
        let input = self.signing_input("HS256");
        // jsonwebtoken refuses an empty secret, but HMAC pads short keys with zero bytes to the
        // block size (RFC 2104 §2), so the one-zero-byte key computes the same MAC.
        let secret = if secret.is_empty() {
            &[0u8][..]
        } else {
            secret
        };
        let signature = jsonwebtoken::EncodingKey::from_secret(secret)
            .and_then(|key| {
                jsonwebtoken::crypto::sign(input.as_bytes(), &key, jsonwebtoken::Algorithm::HS256)
            })
            // HMAC signs with any non-empty key.
            .expect("HMAC signs with any key");
        format!("{input}.{signature}")
    }

    /// Attack: a forgery. The header names the chosen key's `kid` and algorithm, but the
    /// signature comes from a key of the same type that no one publishes, so it must not verify.
    pub fn sign_with_unpublished_key(&self) -> String {
        self.signed_with(self.key.material().forger())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    fn decode(segment: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
    }

    fn parts(token: &str) -> (Value, Value, String) {
        let mut it = token.split('.');
        let header = decode(it.next().unwrap());
        let payload = decode(it.next().unwrap());
        let signature = it.next().unwrap().to_owned();
        assert!(it.next().is_none());
        (header, payload, signature)
    }

    #[test]
    fn defaults_are_a_plausible_access_token() {
        let (header, payload, signature) = parts(&TokenBuilder::new("https://idp").sign());
        assert_eq!(
            header,
            json!({"alg": "RS256", "typ": "JWT", "kid": "rsa1-RS256"})
        );
        assert_eq!(payload["iss"], "https://idp");
        assert_eq!(payload["sub"], TEST_SUBJECT);
        assert_eq!(payload["aud"], TEST_AUDIENCE);
        assert_eq!(payload["scope"], "openid profile email");
        let iat = payload["iat"].as_i64().unwrap();
        assert_eq!(payload["exp"].as_i64().unwrap(), iat + 300);
        assert!((iat - unix_now()).abs() <= 1);
        assert!(!signature.is_empty());
    }

    #[test]
    fn claims_and_header_can_be_changed_one_at_a_time() {
        let builder = TokenBuilder::new("https://idp")
            .sub("alice")
            .audience("other")
            .scope("a b")
            .expires_in(-10)
            .not_before(30)
            .issued_at(5)
            .claim("groups", json!(["x"]))
            .without_claim("preferred_username")
            .issuer("https://evil")
            .key(TestKey::Es384)
            .kid(None)
            .header("typ", json!("at+jwt"))
            .header("jku", json!("https://evil/jwks"))
            .without_header("nothing-to-remove");
        let now = builder.now;
        let (header, payload, _) = parts(&builder.sign());
        assert_eq!(
            header,
            json!({"alg": "ES384", "typ": "at+jwt", "jku": "https://evil/jwks"})
        );
        assert_eq!(payload["sub"], "alice");
        assert_eq!(payload["aud"], "other");
        assert_eq!(payload["scope"], "a b");
        assert_eq!(payload["exp"], now - 10);
        assert_eq!(payload["nbf"], now + 30);
        assert_eq!(payload["iat"], now + 5);
        assert_eq!(payload["iss"], "https://evil");
        assert_eq!(payload["groups"], json!(["x"]));
        assert!(payload.get("preferred_username").is_none());

        let (header, _, _) = parts(
            &TokenBuilder::new("i")
                .algorithm(Algorithm::PS256)
                .kid(Some("other"))
                .without_header("typ")
                .sign(),
        );
        assert_eq!(header, json!({"alg": "PS256", "kid": "other"}));
    }

    #[test]
    fn attack_helpers_shape_the_token_as_announced() {
        let builder = TokenBuilder::new("https://idp");
        let unsigned = builder.unsigned();
        assert!(unsigned.ends_with('.'));
        assert_eq!(parts(&unsigned).0["alg"], "none");
        assert_eq!(parts(&builder.sign_hs256(b"secret")).0["alg"], "HS256");
        let forged = builder.sign_with_unpublished_key();
        let genuine = builder.sign();
        let (forged_header, forged_payload, forged_signature) = parts(&forged);
        let (header, payload, signature) = parts(&genuine);
        assert_eq!(forged_header, header);
        assert_eq!(forged_payload, payload);
        assert_ne!(forged_signature, signature);
        let (name, value) = builder.authorization_header();
        assert_eq!(name, "authorization");
        assert!(value.starts_with("Bearer ey"));
    }
}
