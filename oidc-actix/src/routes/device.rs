//! `POST device`: starts the device authorization grant (RFC 8628) for CLI clients.

use actix_web::{HttpResponse, ResponseError};
use serde_json::{Map, Value, json};

use super::as_int;
use super::login::scope_list;
use super::upstream::{self, UpstreamError};
use crate::config::OidcAuth;

/// The polling interval when the provider names none (RFC 8628 §3.2).
const DEFAULT_INTERVAL: i64 = 5;

/// The device-start JSON (**wire format**): the client fails on a missing field.
fn device_answer(answer: &Map<String, Value>) -> Result<Value, UpstreamError> {
    let text = |name: &'static str| {
        answer
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                UpstreamError::BadGateway(format!("upstream_malformed_response, missing: {name}"))
            })
    };
    let expires_in = answer.get("expires_in").and_then(as_int).ok_or_else(|| {
        UpstreamError::BadGateway("upstream_malformed_response, missing: expires_in".to_owned())
    })?;
    Ok(json!({
        "device_code": text("device_code")?,
        "user_code": text("user_code")?,
        "verification_uri": text("verification_uri")?,
        "verification_uri_complete": answer.get("verification_uri_complete").and_then(Value::as_str),
        "expires_in": expires_in,
        "interval": answer.get("interval").and_then(as_int).filter(|i| *i > 0).unwrap_or(DEFAULT_INTERVAL),
    }))
}

/// Reads no input: py-oidc-auth-client posts an empty form, and whatever a body holds is ignored.
pub(super) async fn device(auth: OidcAuth) -> HttpResponse {
    let config = auth.config();
    let scope = scope_list(
        config.scopes.iter().map(String::as_str),
        config.offline_access,
    );
    let started = upstream::post_form(
        &auth,
        "device_authorization_endpoint",
        vec![("scope", scope)],
    )
    .await;
    match started.and_then(|answer| device_answer(&answer)) {
        Ok(body) => HttpResponse::Ok()
            .insert_header(("cache-control", "no-store"))
            .json(body),
        Err(e) => e.error_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(value: Value) -> Map<String, Value> {
        let Value::Object(map) = value else {
            unreachable!("test answers are objects")
        };
        map
    }

    #[test]
    fn the_device_answer_has_every_wire_field() {
        let body = device_answer(&answer(
            json!({"device_code": "d", "user_code": "U", "verification_uri": "v",
                                                 "expires_in": "600"}),
        ))
        .unwrap();
        assert_eq!(body["interval"], 5);
        assert_eq!(body["expires_in"], 600);
        assert_eq!(body["verification_uri_complete"], Value::Null);
        let missing = device_answer(&answer(
            json!({"device_code": "d", "verification_uri": "v", "expires_in": 1}),
        ));
        assert_eq!(
            missing.unwrap_err().to_string(),
            "Failed to contact OIDC endpoint: upstream_malformed_response, missing: user_code"
        );
    }
}
