//! The `claims` target: claim constraints and the flattened roles.

use oidc_actix::__fuzz;
use oidc_actix::{ClaimConstraints, ClaimValue};
use serde_json::{Map, Value, json};

use super::{Outcome, Seed};

/// Claim-constraint matching: the input is two JSON texts, the constraints (py-oidc-auth's
/// object form) and the token's claims (an object).
///
/// Invariants: accepted constraints have one rule per key, in order, each with a valid path and
/// at least one value; the constraints hold exactly when each rule holds alone and when the
/// model below (`model_satisfied`) says so; the flattened roles are sorted, unique, taken
/// from the four role claims, and each satisfies a `roles` constraint.
pub fn run(data: &[u8]) -> Outcome {
    let mut texts = serde_json::Deserializer::from_slice(data).into_iter::<Value>();
    let Some(Ok(constraints)) = texts.next() else {
        return Outcome::Rejected;
    };
    let Some(Ok(Value::Object(claims))) = texts.next() else {
        return Outcome::Rejected;
    };
    check_flattened_roles(&claims);
    let Ok(parsed) = ClaimConstraints::from_json(&constraints) else {
        return Outcome::Rejected;
    };
    let Value::Object(object) = &constraints else {
        panic!("from_json accepted a non-object: {constraints}");
    };
    assert_eq!(parsed.rules().len(), object.len(), "one rule per key");
    for (rule, (path, _)) in parsed.rules().iter().zip(object) {
        assert_eq!(rule.path(), path, "rules keep the keys' order");
        assert!(!rule.values().is_empty(), "a rule without values: {path}");
        assert!(
            !path.split('.').any(str::is_empty),
            "accepted an empty segment: {path:?}"
        );
    }
    // Debug output quotes user strings; it must not panic on any of them.
    let _ = format!("{parsed:?}");
    let satisfied = parsed.is_satisfied_by(&claims);
    let each = object.iter().all(|(path, values)| {
        let mut single = Map::new();
        single.insert(path.clone(), values.clone());
        ClaimConstraints::from_json(&Value::Object(single))
            .expect("a key of accepted constraints is accepted alone")
            .is_satisfied_by(&claims)
    });
    assert_eq!(satisfied, each, "all keys must hold, and nothing else");
    assert_eq!(
        satisfied,
        model_satisfied(&parsed, &claims),
        "the matcher disagrees with the documented semantics"
    );
    Outcome::from_bool(satisfied)
}

/// The documented semantics of claim constraints (see `claims.rs`), written independently:
/// collect every value at the path, then compare.
fn model_satisfied(constraints: &ClaimConstraints, claims: &Map<String, Value>) -> bool {
    fn at<'a>(node: &'a Value, segments: &[&str], out: &mut Vec<&'a Value>) {
        let Some((first, rest)) = segments.split_first() else {
            out.push(node);
            return;
        };
        if let Value::Object(members) = node {
            if *first == "*" {
                members.values().for_each(|child| at(child, rest, out));
            } else if let Some(child) = members.get(*first) {
                at(child, rest, out);
            }
        }
    }
    fn equal(want: &ClaimValue, have: &Value) -> bool {
        match (want, have) {
            (ClaimValue::Str(want), Value::String(have)) => want == have,
            (ClaimValue::Bool(want), Value::Bool(have)) => want == have,
            (ClaimValue::Int(want), Value::Number(have)) => have.as_i64() == Some(*want),
            _ => false,
        }
    }
    let root = Value::Object(claims.clone());
    let roles = model_roles(claims);
    constraints.rules().iter().all(|rule| {
        let segments: Vec<&str> = rule.path().split('.').collect();
        let mut found = Vec::new();
        at(&root, &segments, &mut found);
        let direct = found.iter().any(|claim| {
            rule.values().iter().any(|want| match claim {
                Value::Array(items) => items.iter().any(|item| equal(want, item)),
                scalar => equal(want, scalar),
            })
        });
        let role_like = matches!(
            rule.path(),
            "roles" | "groups" | "realm_access.roles" | "resource_access.*.roles"
        );
        direct
            || role_like
                && rule.values().iter().any(
                    |want| matches!(want, ClaimValue::Str(want) if roles.contains(&want.as_ref())),
                )
    })
}

/// The strings of the arrays at the four role claims.
fn model_roles(claims: &Map<String, Value>) -> Vec<&str> {
    fn strings(value: Option<&Value>) -> Vec<&str> {
        value
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }
    let mut roles = Vec::new();
    roles.extend(strings(claims.get("groups")));
    roles.extend(strings(claims.get("roles")));
    roles.extend(strings(
        claims.get("realm_access").and_then(|r| r.get("roles")),
    ));
    if let Some(Value::Object(clients)) = claims.get("resource_access") {
        for client in clients.values() {
            roles.extend(strings(client.get("roles")));
        }
    }
    roles
}

fn check_flattened_roles(claims: &Map<String, Value>) {
    let roles = __fuzz::flattened_roles(claims);
    assert!(
        roles.windows(2).all(|pair| pair[0] < pair[1]),
        "flattened roles are not sorted and unique: {roles:?}"
    );
    let mut model = model_roles(claims);
    model.sort_unstable();
    model.dedup();
    assert_eq!(roles, model, "flattened roles are not the four role claims");
    for role in roles {
        let constraint = ClaimConstraints::new().require("roles", [role]);
        assert!(
            constraint.is_satisfied_by(claims),
            "a flattened role does not satisfy a `roles` constraint: {role:?}"
        );
    }
}

/// Constraints of every kind against a Keycloak-like claims set.
pub fn seeds() -> Vec<Seed> {
    use Outcome::{Accepted, Rejected};
    let mut seeds = Vec::new();
    let keycloak = json!({
        "sub": "u1", "email": "jane@example.org", "email_verified": true, "level": 3,
        "groups": ["/admins", "staff"],
        "realm_access": {"roles": ["offline_access", "uma_authorization"]},
        "resource_access": {"app": {"roles": ["editor"]}, "other": {"roles": ["admins"]}},
    });
    let constraints = [
        ("any-value", json!({"groups": ["nope", "staff"]}), Accepted),
        (
            "all-keys",
            json!({"groups": ["staff"], "email": "john@example.org"}),
            Rejected,
        ),
        (
            "dotted",
            json!({"resource_access.app.roles": ["editor"]}),
            Accepted,
        ),
        (
            "wildcard",
            json!({"resource_access.*.roles": "admins"}),
            Accepted,
        ),
        (
            "role-fallback",
            json!({"groups": ["offline_access"]}),
            Accepted,
        ),
        (
            "strict-client",
            json!({"resource_access.app.roles": ["admins"]}),
            Rejected,
        ),
        (
            "types",
            json!({"email_verified": true, "level": [2, 3]}),
            Accepted,
        ),
        ("string-is-not-int", json!({"level": "3"}), Rejected),
        ("empty", json!({}), Accepted),
        ("empty-list", json!({"groups": []}), Rejected),
        ("float", json!({"level": 1.5}), Rejected),
        ("empty-segment", json!({"a..b": "x"}), Rejected),
    ];
    for (name, constraint, expected) in constraints {
        let data = format!("{constraint}\n{keycloak}");
        seeds.push(Seed::new("claims", name, data.into_bytes(), expected));
    }
    seeds
}
