//! Claim constraints: which claim values a token must carry to reach a route.
//!
//! Semantics (a deliberate fix of py-oidc-auth, whose matcher ignores the keys; see the README):
//!
//! * a key is a dotted claim path (`realm_access.roles`, `resource_access.*.roles`, `email`); a `*`
//!   segment matches every member of an object;
//! * within one key, **any** listed value may match: equal to a string, boolean or integer claim,
//!   or contained in a list claim;
//! * **all** keys must match;
//! * the role-like keys `roles`, `groups`, `realm_access.roles` and `resource_access.*.roles` also
//!   match against the token's [flattened roles](crate::IdToken::flattened_roles), so
//!   `{"realm_access.roles": ["offline_access"]}` and `{"groups": ["admins"]}` pass wherever the
//!   reference passes them. Under the strict preset the flattened roles take from
//!   `resource_access` only the configured client's roles ([`RoleScope`]).

use std::borrow::Cow;
use std::fmt;

use serde_json::{Map, Value};

/// Whose roles under `resource_access` the flattened roles hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RoleScope<'a> {
    /// Every client's, as py-oidc-auth: a role `admins` of any client counts.
    AnyClient,
    /// Only this client's (the strict preset).
    Client(&'a str),
}

/// One acceptable value of a claim.
#[derive(Clone, PartialEq, Eq)]
pub enum ClaimValue {
    /// A string, equal to a string claim or an element of a list claim.
    Str(Cow<'static, str>),
    /// A boolean, such as `email_verified`.
    Bool(bool),
    /// An integer.
    Int(i64),
}

impl ClaimValue {
    /// A string value from a literal, usable in `const` and `static` items.
    pub const fn str(value: &'static str) -> Self {
        Self::Str(Cow::Borrowed(value))
    }

    fn matches(&self, claim: &Value) -> bool {
        match (self, claim) {
            (Self::Str(want), Value::String(have)) => want == have,
            (Self::Bool(want), Value::Bool(have)) => want == have,
            (Self::Int(want), Value::Number(have)) => have.as_i64() == Some(*want),
            (_, Value::Array(items)) => items
                .iter()
                .any(|item| !item.is_array() && self.matches(item)),
            _ => false,
        }
    }
}

impl fmt::Debug for ClaimValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Str(s) => fmt::Debug::fmt(s, f),
            Self::Bool(b) => fmt::Debug::fmt(b, f),
            Self::Int(i) => fmt::Debug::fmt(i, f),
        }
    }
}

impl From<&str> for ClaimValue {
    fn from(value: &str) -> Self {
        Self::Str(Cow::Owned(value.to_owned()))
    }
}

impl From<String> for ClaimValue {
    fn from(value: String) -> Self {
        Self::Str(Cow::Owned(value))
    }
}

impl From<bool> for ClaimValue {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

impl From<i64> for ClaimValue {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

/// One constraint: the claim at `path` must match one of `values`.
#[derive(Clone, PartialEq, Eq)]
pub struct ClaimRule {
    path: Cow<'static, str>,
    values: Cow<'static, [ClaimValue]>,
}

impl ClaimRule {
    /// A rule from literals, usable in `const` and `static` items (what the macros generate).
    pub const fn new(path: &'static str, values: &'static [ClaimValue]) -> Self {
        Self {
            path: Cow::Borrowed(path),
            values: Cow::Borrowed(values),
        }
    }

    /// The dotted claim path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The acceptable values; one match is enough.
    pub fn values(&self) -> &[ClaimValue] {
        &self.values
    }

    fn is_role_like(&self) -> bool {
        matches!(
            &*self.path,
            "roles" | "groups" | "realm_access.roles" | "resource_access.*.roles"
        )
    }

    fn is_satisfied_by(&self, claims: &Map<String, Value>, scope: RoleScope<'_>) -> bool {
        let mut found = false;
        visit_path(claims, &self.path, &mut |claim| {
            found = found || self.values.iter().any(|value| value.matches(claim));
        });
        if !found && self.is_role_like() {
            let roles = roles_within(claims, scope);
            found = self.values.iter().any(|value| match value {
                ClaimValue::Str(want) => roles.binary_search(&&**want).is_ok(),
                _ => false,
            });
        }
        found
    }
}

impl fmt::Debug for ClaimRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {:?}", self.path, self.values)
    }
}

/// A set of [`ClaimRule`]s that must all hold.
///
/// Build one with [`ClaimConstraints::new`] and [`require`](ClaimConstraints::require), or parse
/// the JSON object form with [`ClaimConstraints::from_json`] (what `OIDC_CLAIMS` holds in the
/// conformance example):
///
/// ```
/// use oidc_actix::ClaimConstraints;
///
/// let admins = ClaimConstraints::new().require("groups", ["admins"]);
/// let same = ClaimConstraints::from_json(&serde_json::json!({"groups": ["admins"]})).unwrap();
/// assert_eq!(admins, same);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClaimConstraints {
    rules: Cow<'static, [ClaimRule]>,
}

/// Why a claim-constraint object could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimsFormatError(pub(crate) String);

impl fmt::Display for ClaimsFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ClaimsFormatError {}

impl ClaimConstraints {
    /// No constraints: every authenticated token passes.
    pub const fn new() -> Self {
        Self {
            rules: Cow::Borrowed(&[]),
        }
    }

    /// Constraints from literals, usable in `const` and `static` items (what the macros generate).
    pub const fn from_static(rules: &'static [ClaimRule]) -> Self {
        Self {
            rules: Cow::Borrowed(rules),
        }
    }

    /// Adds a rule: the claim at `path` must match one of `values`.
    ///
    /// # Panics
    ///
    /// If `values` is empty or `path` is not a valid dotted path; both are programming errors in
    /// literal configuration. Use [`ClaimConstraints::from_json`] for configuration read at runtime.
    #[must_use]
    pub fn require<V, I>(mut self, path: &str, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<ClaimValue>,
    {
        let values: Vec<ClaimValue> = values.into_iter().map(Into::into).collect();
        if let Err(e) = check_rule(path, &values) {
            panic!("{e}");
        }
        self.rules.to_mut().push(ClaimRule {
            path: Cow::Owned(path.to_owned()),
            values: Cow::Owned(values),
        });
        self
    }

    /// Reads the py-oidc-auth form: a JSON object whose keys are claim paths and whose values are
    /// a string, boolean or integer, or a non-empty list of them.
    pub fn from_json(value: &Value) -> Result<Self, ClaimsFormatError> {
        let Value::Object(object) = value else {
            return Err(ClaimsFormatError(
                "claim constraints must be a JSON object".into(),
            ));
        };
        let mut rules = Vec::with_capacity(object.len());
        for (path, value) in object {
            let values = match value {
                Value::Array(items) => items
                    .iter()
                    .map(|v| scalar(path, v))
                    .collect::<Result<Vec<_>, _>>()?,
                other => vec![scalar(path, other)?],
            };
            check_rule(path, &values)?;
            rules.push(ClaimRule {
                path: Cow::Owned(path.clone()),
                values: Cow::Owned(values),
            });
        }
        Ok(Self {
            rules: Cow::Owned(rules),
        })
    }

    /// The rules, in the order they were given.
    pub fn rules(&self) -> &[ClaimRule] {
        &self.rules
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether every rule holds for these claims.
    pub fn is_satisfied_by(&self, claims: &Map<String, Value>) -> bool {
        self.is_satisfied_within(claims, RoleScope::AnyClient)
    }

    /// [`is_satisfied_by`](Self::is_satisfied_by), the flattened roles taken within `scope`.
    pub(crate) fn is_satisfied_within(
        &self,
        claims: &Map<String, Value>,
        scope: RoleScope<'_>,
    ) -> bool {
        self.rules
            .iter()
            .all(|rule| rule.is_satisfied_by(claims, scope))
    }
}

impl fmt::Debug for ClaimConstraints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.rules.iter()).finish()
    }
}

fn scalar(path: &str, value: &Value) -> Result<ClaimValue, ClaimsFormatError> {
    match value {
        Value::String(s) => Ok(ClaimValue::Str(Cow::Owned(s.clone()))),
        Value::Bool(b) => Ok(ClaimValue::Bool(*b)),
        Value::Number(n) => n.as_i64().map(ClaimValue::Int).ok_or_else(|| {
            ClaimsFormatError(format!(
                "claim `{path}`: only integer numbers are supported"
            ))
        }),
        _ => Err(ClaimsFormatError(format!(
            "claim `{path}`: values must be strings, booleans, integers or a list of them"
        ))),
    }
}

fn check_rule(path: &str, values: &[ClaimValue]) -> Result<(), ClaimsFormatError> {
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return Err(ClaimsFormatError(format!(
            "claim path `{path}` has an empty segment"
        )));
    }
    if values.is_empty() {
        return Err(ClaimsFormatError(format!(
            "claim `{path}` lists no acceptable value"
        )));
    }
    Ok(())
}

/// Calls `found` with every value at the dotted `path`; `*` walks every member of an object.
pub(crate) fn visit_path<'a>(
    claims: &'a Map<String, Value>,
    path: &str,
    found: &mut dyn FnMut(&'a Value),
) {
    let (head, rest) = match path.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (path, None),
    };
    let mut step = |value: &'a Value| match (rest, value) {
        (None, value) => found(value),
        (Some(rest), Value::Object(inner)) => visit_path(inner, rest, found),
        (Some(_), _) => {}
    };
    if head == "*" {
        claims.values().for_each(&mut step);
    } else if let Some(value) = claims.get(head) {
        step(value);
    }
}

/// The union of `realm_access.roles`, `groups`, `roles` and every `resource_access.*.roles`,
/// sorted and de-duplicated (py-oidc-auth's `flattened_roles`).
pub(crate) fn flattened_roles(claims: &Map<String, Value>) -> Vec<&str> {
    roles_within(claims, RoleScope::AnyClient)
}

/// [`flattened_roles`] with `resource_access` read within `scope`.
fn roles_within<'c>(claims: &'c Map<String, Value>, scope: RoleScope<'_>) -> Vec<&'c str> {
    let mut roles = Vec::new();
    let mut add = |value: &'c Value| {
        if let Value::Array(items) = value {
            roles.extend(items.iter().filter_map(Value::as_str));
        }
    };
    for path in ["realm_access.roles", "groups", "roles"] {
        visit_path(claims, path, &mut add);
    }
    match scope {
        RoleScope::AnyClient => visit_path(claims, "resource_access.*.roles", &mut add),
        RoleScope::Client(client) => {
            if let Some(roles) = claims
                .get("resource_access")
                .and_then(|clients| clients.get(client))
                .and_then(|client| client.get("roles"))
            {
                add(roles);
            }
        }
    }
    roles.sort_unstable();
    roles.dedup();
    roles
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("test claims are objects"),
        }
    }

    fn keycloak() -> Map<String, Value> {
        claims(json!({
            "sub": "u1",
            "email": "jane@example.org",
            "email_verified": true,
            "level": 3,
            "groups": ["/admins", "staff"],
            "realm_access": {"roles": ["offline_access", "uma_authorization"]},
            "resource_access": {"app": {"roles": ["editor"]}, "other": {"roles": ["admins"]}},
        }))
    }

    fn check(constraints: Value) -> bool {
        ClaimConstraints::from_json(&constraints)
            .unwrap()
            .is_satisfied_by(&keycloak())
    }

    #[test]
    fn any_value_within_a_key_all_keys_across() {
        assert!(check(json!({"groups": ["nope", "staff"]})));
        assert!(!check(json!({"groups": ["nope", "other"]})));
        assert!(check(
            json!({"groups": ["staff"], "email": "jane@example.org"})
        ));
        assert!(!check(
            json!({"groups": ["staff"], "email": "john@example.org"})
        ));
    }

    #[test]
    fn dotted_paths_walk_objects_and_wildcards() {
        assert!(check(json!({"resource_access.app.roles": ["editor"]})));
        assert!(!check(json!({"resource_access.app.roles": ["admins"]})));
        assert!(check(json!({"resource_access.*.roles": ["editor"]})));
        assert!(!check(json!({"realm_access.missing.deeper": ["x"]})));
    }

    #[test]
    fn role_like_keys_fall_back_to_flattened_roles() {
        // As in the reference: a realm role satisfies a `groups` constraint and vice versa.
        assert!(check(json!({"groups": ["offline_access"]})));
        assert!(check(json!({"realm_access.roles": ["staff"]})));
        assert!(check(json!({"roles": ["editor"]})));
        // A specific client path is strict: another client's role does not count.
        assert!(!check(json!({"resource_access.app.roles": ["admins"]})));
        // Non-role keys never consult roles.
        assert!(!check(json!({"email": ["offline_access"]})));
    }

    #[test]
    fn scalar_types_compare_by_type() {
        assert!(check(json!({"email_verified": true})));
        assert!(!check(json!({"email_verified": false})));
        assert!(check(json!({"level": [2, 3]})));
        assert!(!check(json!({"level": "3"})));
    }

    #[test]
    fn empty_constraints_pass_and_bad_forms_are_errors() {
        assert!(ClaimConstraints::new().is_satisfied_by(&keycloak()));
        assert!(ClaimConstraints::from_json(&json!([])).is_err());
        assert!(ClaimConstraints::from_json(&json!({"groups": []})).is_err());
        assert!(ClaimConstraints::from_json(&json!({"groups": [{"a": 1}]})).is_err());
        assert!(ClaimConstraints::from_json(&json!({"a..b": "x"})).is_err());
        assert!(ClaimConstraints::from_json(&json!({"n": 1.5})).is_err());
    }

    #[test]
    fn flattened_roles_are_the_sorted_union() {
        let claims = keycloak();
        assert_eq!(
            flattened_roles(&claims),
            [
                "/admins",
                "admins",
                "editor",
                "offline_access",
                "staff",
                "uma_authorization"
            ]
        );
    }
}
