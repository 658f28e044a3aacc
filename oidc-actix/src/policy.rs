//! What a route demands of an authenticated token: scopes, then claims.

use std::fmt;

use serde_json::{Map, Value};

use crate::claims::{ClaimConstraints, RoleScope};
use crate::error::AuthError;

/// The requirements of one route: scopes that must all be granted, and claim constraints.
///
/// `claims: None` means "the configured default claims apply" (py-oidc-auth's
/// `claims if claims is not None else config.claims`); `Some(ClaimConstraints::new())` switches
/// the defaults off for this route. The macros build a `Policy` in a `static`; code without
/// macros builds one with [`Policy::authenticated`] and the `with_*` methods and passes it to
/// [`Authenticated::authorize`](crate::Authenticated::authorize).
#[derive(Clone)]
pub struct Policy {
    scopes: ScopeList,
    claims: Option<ClaimConstraints>,
}

#[derive(Clone)]
enum ScopeList {
    Static(&'static [&'static str]),
    Owned(Vec<String>),
}

impl ScopeList {
    fn iter(&self) -> impl Iterator<Item = &str> {
        let (fixed, owned): (&[&str], &[String]) = match self {
            Self::Static(list) => (list, &[]),
            Self::Owned(list) => (&[], list),
        };
        fixed
            .iter()
            .copied()
            .chain(owned.iter().map(String::as_str))
    }

    fn is_empty(&self) -> bool {
        match self {
            Self::Static(list) => list.is_empty(),
            Self::Owned(list) => list.is_empty(),
        }
    }
}

/// A scope string that is not a space-separated list of RFC 6749 §3.3 scope tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidScopes(String);

impl fmt::Display for InvalidScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidScopes {}

/// Splits a space-separated scope string, checking each scope token (RFC 6749 §3.3:
/// `%x21 / %x23-5B / %x5D-7E`).
pub(crate) fn parse_scopes(scopes: &str) -> Result<Vec<String>, InvalidScopes> {
    let mut list: Vec<String> = Vec::new();
    for scope in scopes.split_whitespace() {
        if let Some(bad) = scope
            .chars()
            .find(|&c| !matches!(c, '\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E'))
        {
            return Err(InvalidScopes(format!(
                "scope {scope:?} contains {bad:?}, which RFC 6749 does not allow"
            )));
        }
        if !list.iter().any(|known| known == scope) {
            list.push(scope.to_owned());
        }
    }
    Ok(list)
}

/// What the configuration adds to every route's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PolicyDefaults {
    /// The claim constraints of a route that names none.
    pub(crate) claims: ClaimConstraints,
    /// The client whose `resource_access` roles alone count as roles (the strict preset);
    /// `None`: every client's (py-oidc-auth).
    pub(crate) role_client: Option<String>,
}

impl PolicyDefaults {
    /// No default claims, every client's roles.
    pub(crate) const NONE: PolicyDefaults = PolicyDefaults {
        claims: ClaimConstraints::new(),
        role_client: None,
    };

    /// Whether these are [`NONE`](Self::NONE)'s, so that nothing needs to be carried.
    pub(crate) fn is_none(&self) -> bool {
        self.claims.is_empty() && self.role_client.is_none()
    }
}

impl Policy {
    /// The policy of `#[auth::required]` without arguments: any valid token, default claims apply.
    pub const DEFAULT: Policy = Policy::new(&[], None);

    /// A policy from literals, usable in `const` and `static` items (what the macros generate).
    pub const fn new(scopes: &'static [&'static str], claims: Option<ClaimConstraints>) -> Self {
        Self {
            scopes: ScopeList::Static(scopes),
            claims,
        }
    }

    /// Any valid token; the configured default claims apply.
    pub fn authenticated() -> Self {
        Self::DEFAULT
    }

    /// Requires every scope of a space-separated list, such as `"profile email"`.
    pub fn with_scopes(self, scopes: &str) -> Result<Self, InvalidScopes> {
        Ok(Self {
            scopes: ScopeList::Owned(parse_scopes(scopes)?),
            ..self
        })
    }

    /// Replaces the configured default claim constraints for this route.
    pub fn with_claims(self, claims: ClaimConstraints) -> Self {
        Self {
            claims: Some(claims),
            ..self
        }
    }

    /// Checks scopes first, then claims (the reference's order, which its tests pin).
    /// `payload` is only called when there is something to check.
    pub(crate) fn check<'p>(
        &self,
        payload: impl FnOnce() -> &'p Map<String, Value>,
        defaults: &PolicyDefaults,
    ) -> Result<(), AuthError> {
        let claims = self.claims.as_ref().unwrap_or(&defaults.claims);
        if self.scopes.is_empty() && claims.is_empty() {
            return Ok(());
        }
        let payload = payload();
        let granted = payload
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut missing: Vec<String> = self
            .scopes
            .iter()
            .filter(|want| !granted.split_whitespace().any(|have| have == *want))
            .map(str::to_owned)
            .collect();
        if !missing.is_empty() {
            missing.sort_unstable();
            missing.dedup();
            return Err(AuthError::InsufficientScope { missing });
        }
        let scope = match &defaults.role_client {
            Some(client) => RoleScope::Client(client),
            None => RoleScope::AnyClient,
        };
        if claims.is_satisfied_within(payload, scope) {
            Ok(())
        } else {
            Err(AuthError::InsufficientClaims)
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("scopes", &self.scopes.iter().collect::<Vec<_>>())
            .field("claims", &self.claims)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload(value: Value) -> Map<String, Value> {
        let Value::Object(map) = value else {
            unreachable!("test payloads are objects")
        };
        map
    }

    #[test]
    fn missing_scopes_are_sorted_and_only_the_missing_ones() {
        let policy = Policy::authenticated()
            .with_scopes("superuser profile admin")
            .unwrap();
        let token = payload(json!({"scope": "openid profile"}));
        let err = policy.check(|| &token, &PolicyDefaults::NONE);
        assert_eq!(
            err,
            Err(AuthError::InsufficientScope {
                missing: vec!["admin".into(), "superuser".into()]
            })
        );
        assert_eq!(
            err.unwrap_err().to_string(),
            "Token missing required scopes: admin, superuser"
        );
    }

    #[test]
    fn scopes_are_checked_before_claims() {
        let policy = Policy::authenticated()
            .with_scopes("impossible")
            .unwrap()
            .with_claims(ClaimConstraints::new().require("groups", ["nope"]));
        let token = payload(json!({"scope": "a"}));
        assert!(matches!(
            policy.check(|| &token, &PolicyDefaults::NONE),
            Err(AuthError::InsufficientScope { .. })
        ));
    }

    #[test]
    fn route_claims_override_defaults_and_absent_claims_use_them() {
        let defaults = PolicyDefaults {
            claims: ClaimConstraints::new().require("groups", ["admins"]),
            role_client: None,
        };
        let token = payload(json!({"groups": ["users"]}));
        assert_eq!(
            Policy::DEFAULT.check(|| &token, &defaults),
            Err(AuthError::InsufficientClaims)
        );
        let off = Policy::authenticated().with_claims(ClaimConstraints::new());
        assert_eq!(off.check(|| &token, &defaults), Ok(()));
        let users = Policy::authenticated()
            .with_claims(ClaimConstraints::new().require("groups", ["users"]));
        assert_eq!(users.check(|| &token, &defaults), Ok(()));
        assert_eq!(
            Policy::authenticated()
                .with_claims(ClaimConstraints::new())
                .check(
                    || unreachable!("nothing to check: the payload is not parsed"),
                    &defaults
                ),
            Ok(())
        );
    }

    /// The strict preset's role scope: a role of another client under `resource_access` no
    /// longer satisfies a role-like constraint; the named client's and the realm's still do.
    #[test]
    fn under_a_role_client_other_clients_roles_do_not_count() {
        let token = payload(json!({
            "realm_access": {"roles": ["users"]},
            "resource_access": {"other": {"roles": ["admins"]}, "my-api": {"roles": ["editors"]}},
        }));
        let wants = |role: &str| {
            Policy::authenticated().with_claims(ClaimConstraints::new().require("groups", [role]))
        };
        let any = PolicyDefaults::NONE;
        let strict = PolicyDefaults {
            claims: ClaimConstraints::new(),
            role_client: Some("my-api".to_owned()),
        };
        assert_eq!(wants("admins").check(|| &token, &any), Ok(()));
        assert_eq!(
            wants("admins").check(|| &token, &strict),
            Err(AuthError::InsufficientClaims)
        );
        assert_eq!(wants("editors").check(|| &token, &strict), Ok(()));
        assert_eq!(wants("users").check(|| &token, &strict), Ok(()));
    }

    #[test]
    fn scope_strings_are_validated_and_deduplicated() {
        assert_eq!(parse_scopes(" a  b a ").unwrap(), ["a", "b"]);
        assert!(parse_scopes("a\"b").is_err());
        assert!(parse_scopes("caf\u{e9}").is_err());
        assert!(parse_scopes("").unwrap().is_empty());
    }
}
