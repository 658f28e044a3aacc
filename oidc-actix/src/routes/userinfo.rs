//! `GET userinfo`: the caller's user name, names and e-mail (py-oidc-auth §2.6, §2.11).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde_json::{Map, Value, json};

use super::upstream;
use crate::config::OidcAuth;
use crate::error::detail_response;
use crate::token::IdToken;

/// The output fields and the claim names tried for each, in order (hyphens also tried as `_`).
const FIELDS: [(&str, &[&str]); 4] = [
    ("email", &["mail", "email"]),
    (
        "username",
        &["preferred-username", "user-name", "uid", "username"],
    ),
    (
        "last_name",
        &["last-name", "family-name", "name", "surname"],
    ),
    ("first_name", &["first-name", "given-name"]),
];

/// Every claim, nested ones included, by lower-cased name with a string value; a claim nearer the
/// top wins over a deeper one of the same name.
fn flatten(claims: &Map<String, Value>) -> HashMap<String, String> {
    let mut found = HashMap::new();
    let mut level: Vec<&Map<String, Value>> = vec![claims];
    while !level.is_empty() {
        let mut next = Vec::new();
        for object in level {
            for (name, value) in object {
                let text = match value {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Bool(b) => Some(b.to_string()),
                    Value::Object(inner) => {
                        next.push(inner);
                        None
                    }
                    Value::Null | Value::Array(_) => None,
                };
                if let Some(text) = text.filter(|t| !t.is_empty()) {
                    found.entry(name.to_lowercase()).or_insert(text);
                }
            }
        }
        level = next;
    }
    found
}

/// py-oidc-auth's user-info mapping.
fn user_info(claims: &Map<String, Value>) -> Value {
    let flat = flatten(claims);
    let pick = |names: &[&str]| -> String {
        names
            .iter()
            .flat_map(|name| [name.to_string(), name.replace('-', "_")])
            .find_map(|name| flat.get(&name).cloned())
            .unwrap_or_default()
    };
    let [email, username, last, first] = FIELDS.map(|(_, names)| pick(names));
    // As py-oidc-auth: split "first last" at its first and last space.
    let full = format!("{first} {last}");
    let first_name = full.split(' ').next().unwrap_or_default();
    let last_name = full.rsplit(' ').next().unwrap_or_default();
    json!({
        "username": username,
        "last_name": last_name,
        "first_name": first_name,
        "pw_name": username,
        "email": email,
    })
}

fn has_username(info: &Value) -> bool {
    info["username"].as_str().is_some_and(|u| !u.is_empty())
}

/// Maps the token's claims; if they name no user, asks the provider's userinfo endpoint with the
/// caller's own `Authorization` header.
pub(super) async fn userinfo(token: IdToken, auth: OidcAuth, req: HttpRequest) -> HttpResponse {
    let info = user_info(token.payload());
    if has_username(&info) {
        return HttpResponse::Ok().json(info);
    }
    let authorization = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match upstream::fetch_userinfo(&auth, authorization).await {
        Ok(claims) => {
            let info = user_info(&claims);
            if has_username(&info) {
                HttpResponse::Ok().json(info)
            } else {
                detail_response(
                    StatusCode::NOT_FOUND,
                    "No user name in the token or the provider's userinfo",
                )
            }
        }
        Err(e) => e.error_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(value: Value) -> Map<String, Value> {
        let Value::Object(map) = value else {
            unreachable!("test claims are objects")
        };
        map
    }

    #[test]
    fn standard_claims_map_to_the_reference_fields() {
        let info = user_info(&claims(json!({
            "preferred_username": "jane", "email": "jane@example.org",
            "given_name": "Jane", "family_name": "Doe",
        })));
        assert_eq!(
            info,
            json!({"username": "jane", "last_name": "Doe", "first_name": "Jane",
                                "pw_name": "jane", "email": "jane@example.org"})
        );
    }

    #[test]
    fn hyphenated_nested_and_fallback_names() {
        let info = user_info(&claims(
            json!({"profile": {"preferred-username": "nested"}, "mail": "m@x", "email": "e@x"}),
        ));
        assert_eq!(info["username"], "nested");
        assert_eq!(info["email"], "m@x", "mail beats email");
        let info = user_info(&claims(json!({"uid": "u1", "name": "Jane Q Public"})));
        assert_eq!(info["username"], "u1");
        // As the reference: `name` only feeds last_name; first_name comes from given_name alone.
        assert_eq!(
            (info["first_name"].as_str(), info["last_name"].as_str()),
            (Some(""), Some("Public"))
        );
        let info = user_info(&claims(
            json!({"username": "top", "x": {"username": "deep"}}),
        ));
        assert_eq!(info["username"], "top", "top level wins");
        assert!(!has_username(&user_info(&claims(json!({"sub": "s"})))));
        let info = user_info(&claims(json!({"family_name": "Doe"})));
        assert_eq!(
            (info["first_name"].as_str(), info["last_name"].as_str()),
            (Some(""), Some("Doe"))
        );
    }
}
