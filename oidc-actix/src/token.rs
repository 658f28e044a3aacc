//! The validated token that handlers receive.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::claims::{flattened_roles, visit_path};

/// The bounds on a claims type: deserializable, and shareable by the verified-token cache.
pub trait ClaimsType: DeserializeOwned + Send + Sync + 'static {}

impl<C: DeserializeOwned + Send + Sync + 'static> ClaimsType for C {}

/// A bearer token that passed validation, with its claims.
///
/// `IdToken` dereferences to its claims type, the standard [`Claims`] unless you bring your own
/// (any `serde::de::DeserializeOwned` type: `IdToken<MyClaims>`), so `token.sub` and
/// `token.preferred_username` read like py-oidc-auth's `IDToken`. Cloning is cheap (one `Arc`).
///
/// The raw token is kept for calls to other services ([`IdToken::raw`]) and is never printed:
/// `Debug` shows `[redacted]` in its place.
pub struct IdToken<C = Claims> {
    inner: Arc<TokenInner<C>>,
}

struct TokenInner<C> {
    /// Shared with the verified-token cache, which keys its entries by it.
    raw: Arc<str>,
    payload: Map<String, Value>,
    exp: u64,
    claims: C,
}

impl<C> Clone for IdToken<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C: DeserializeOwned> IdToken<C> {
    /// Builds the token from a verified payload: its JSON text and the same parsed (strictly:
    /// no duplicate names, so the claims type reads what the checks read).
    pub(crate) fn from_verified(
        raw: &str,
        payload_json: &[u8],
        payload: Map<String, Value>,
        exp: u64,
    ) -> Result<Self, serde_json::Error> {
        // From the text rather than from a clone of the map: no copy of every claim first.
        let claims = serde_json::from_slice(payload_json)?;
        Ok(Self {
            inner: Arc::new(TokenInner {
                raw: raw.into(),
                payload,
                exp,
                claims,
            }),
        })
    }

    /// A token from a payload given as JSON, for unit tests.
    #[cfg(test)]
    pub(crate) fn from_json(raw: &str, payload: &Value, exp: u64) -> Self {
        let text = payload.to_string();
        let Value::Object(map) = payload.clone() else {
            unreachable!("test payloads are objects")
        };
        Self::from_verified(raw, text.as_bytes(), map, exp).expect("the claims type fits")
    }
}

impl<C> IdToken<C> {
    /// The typed claims (also reachable through `Deref`).
    pub fn claims(&self) -> &C {
        &self.inner.claims
    }

    /// Every claim of the payload, as JSON.
    pub fn payload(&self) -> &Map<String, Value> {
        &self.inner.payload
    }

    /// The encoded token, for forwarding to another service. Treat it as a secret.
    pub fn raw(&self) -> &str {
        &self.inner.raw
    }

    /// The encoded token, shared.
    pub(crate) fn raw_shared(&self) -> &Arc<str> {
        &self.inner.raw
    }

    /// The claim at a dotted path (`"realm_access.roles"`), if present.
    pub fn claim(&self, path: &str) -> Option<&Value> {
        let mut first = None;
        visit_path(self.payload(), path, &mut |value| {
            first = first.or(Some(value));
        });
        first
    }

    /// The granted scopes: the `scope` claim split on whitespace.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.payload()
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .split_whitespace()
    }

    /// Whether the `scope` claim grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|granted| granted == scope)
    }

    /// The union of `realm_access.roles`, `groups`, `roles` and the roles of every client under
    /// `resource_access`, sorted and de-duplicated (py-oidc-auth's `flattened_roles`).
    pub fn flattened_roles(&self) -> Vec<&str> {
        flattened_roles(self.payload())
    }

    /// The `exp` claim, seconds since the epoch (validation guarantees it is present).
    pub fn expires_at(&self) -> u64 {
        self.inner.exp
    }
}

impl<C> Deref for IdToken<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.inner.claims
    }
}

impl<C: fmt::Debug> fmt::Debug for IdToken<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdToken")
            .field("claims", &self.inner.claims)
            .field("raw", &"[redacted]")
            .finish()
    }
}

/// The standard claims of an OpenID Connect access or ID token, as Keycloak, Auth0, Entra ID and
/// other providers send them. Every claim not named here is kept in [`Claims::extra`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Claims {
    /// Issuer.
    pub iss: Option<String>,
    /// Subject: the user's stable identifier at the provider.
    pub sub: Option<String>,
    /// Audience: one client id or several.
    pub aud: Option<Audience>,
    /// Expiry, seconds since the epoch.
    #[serde(default, deserialize_with = "numeric_date")]
    pub exp: Option<i64>,
    /// Issued at, seconds since the epoch.
    #[serde(default, deserialize_with = "numeric_date")]
    pub iat: Option<i64>,
    /// Not before, seconds since the epoch.
    #[serde(default, deserialize_with = "numeric_date")]
    pub nbf: Option<i64>,
    /// Nonce (ID tokens).
    pub nonce: Option<String>,
    /// Authorized party: the client the token was issued to.
    pub azp: Option<String>,
    /// Granted scopes, space-separated.
    pub scope: Option<String>,
    /// The user's login name.
    pub preferred_username: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Whether the provider verified the e-mail address.
    pub email_verified: Option<bool>,
    /// Full name.
    pub name: Option<String>,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Groups (Keycloak group paths such as `/admins`, or names).
    pub groups: Option<Vec<String>>,
    /// Roles (Entra ID app roles, Auth0 and others).
    pub roles: Option<Vec<String>>,
    /// Keycloak realm roles.
    pub realm_access: Option<Access>,
    /// Keycloak client roles, by client id.
    pub resource_access: Option<BTreeMap<String, Access>>,
    /// Every other claim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `aud` claim: a single audience or a list (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// One audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `audience` is (one of) the audience(s).
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(one) => one == audience,
            Self::Many(many) => many.iter().any(|a| a == audience),
        }
    }
}

/// Keycloak's `{"roles": [...]}` objects in `realm_access` and `resource_access`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Access {
    /// The roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Anything else the provider put there.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// NumericDate (RFC 7519 §2) may be fractional; whole seconds are what anyone needs.
fn numeric_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.map(|seconds| seconds as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token(payload: Value) -> IdToken {
        IdToken::from_json("h.p.s", &payload, 0)
    }

    #[test]
    fn standard_claims_are_typed_and_the_rest_kept() {
        let t = token(json!({
            "sub": "u1", "aud": ["a", "b"], "exp": 1.7e9, "jti": "j1",
            "realm_access": {"roles": ["r"]}, "resource_access": {"app": {"roles": ["x"]}},
        }));
        assert_eq!(t.sub.as_deref(), Some("u1"));
        assert!(t.aud.as_ref().unwrap().contains("b"));
        assert_eq!(t.exp, Some(1_700_000_000));
        assert_eq!(t.extra.get("jti"), Some(&json!("j1")));
        assert_eq!(t.realm_access.as_ref().unwrap().roles, ["r"]);
        assert_eq!(t.flattened_roles(), ["r", "x"]);
        assert_eq!(t.claim("resource_access.app.roles"), Some(&json!(["x"])));
        assert_eq!(t.claim("resource_access.nope"), None);
    }

    #[test]
    fn scopes_split_on_whitespace() {
        let t = token(json!({"scope": "openid  profile\temail"}));
        assert_eq!(
            t.scopes().collect::<Vec<_>>(),
            ["openid", "profile", "email"]
        );
        assert!(t.has_scope("email"));
        assert!(!t.has_scope("admin"));
    }

    #[test]
    fn debug_never_shows_the_raw_token() {
        let t = token(json!({"sub": "u1"}));
        let shown = format!("{t:?}");
        assert!(shown.contains("[redacted]"));
        assert!(!shown.contains("h.p.s"));
    }

    #[test]
    fn custom_claims_types_deserialize_from_the_payload() {
        #[derive(Deserialize)]
        struct Mine {
            tenant: String,
        }
        let t: IdToken<Mine> = IdToken::from_json("x", &json!({"tenant": "t1", "sub": "u"}), 0);
        assert_eq!(t.tenant, "t1");
        let text = json!({"sub": "u"}).to_string();
        let map = serde_json::from_str(&text).unwrap();
        assert!(IdToken::<Mine>::from_verified("x", text.as_bytes(), map, 0).is_err());
    }
}
