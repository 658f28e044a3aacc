//! `POST token`: the code, refresh and device-code grants, normalised to the six-field token
//! JSON py-oidc-auth-client reads.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use futures::StreamExt as _;
use serde::Serialize;
use serde_json::{Map, Value};

use super::upstream::{self, UpstreamError};
use super::{as_int, bad_request};
use crate::clock;
use crate::config::OidcAuth;
use crate::error::detail_response;
use crate::login_state::{LoginState, StateError, StateSealer};

/// The most a token request body may weigh.
const MAX_FORM_BYTES: usize = 64 * 1024;
/// Expiry used when the provider gives none for an access token (py-oidc-auth's default).
const DEFAULT_EXPIRES_IN: i64 = 180;
/// Refresh-token lifetime assumed when the provider gives none, or 0 (Keycloak's offline tokens):
/// long, rather than py-oidc-auth's "already expired".
const UNKNOWN_REFRESH_LIFETIME: i64 = 30 * 24 * 3600;
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The token JSON of py-oidc-auth (**wire format**: the client reads exactly these names, and the
/// two expiries as integers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct TokenResponse {
    pub(crate) access_token: String,
    pub(crate) token_type: String,
    pub(crate) expires: i64,
    pub(crate) refresh_token: String,
    pub(crate) refresh_expires: i64,
    pub(crate) scope: String,
}

/// A provider answer and its normalised form.
pub(crate) struct Exchange {
    pub(crate) raw: Map<String, Value>,
    pub(crate) token: TokenResponse,
}

fn first_int(answer: &Map<String, Value>, names: &[&str]) -> Option<i64> {
    names
        .iter()
        .filter_map(|name| answer.get(*name).and_then(as_int))
        .find(|value| *value > 0)
}

/// Normalises a provider token answer (py-oidc-auth §2.9, with its expiry bugs fixed).
pub(crate) fn normalise(
    answer: &Map<String, Value>,
    now: i64,
) -> Result<TokenResponse, UpstreamError> {
    let text = |name: &str| answer.get(name).and_then(Value::as_str).map(str::to_owned);
    let access_token = text("access_token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            UpstreamError::BadGateway("the token answer has no access_token".to_owned())
        })?;
    // Saturating: a provider's `expires_in` can be any number (`1e19` reads as `i64::MAX`), and
    // an overflow would panic in debug builds and wrap to an expiry in the past in release ones.
    let expires = first_int(answer, &["exp", "expires", "expires_at"]).unwrap_or_else(|| {
        now.saturating_add(
            answer
                .get("expires_in")
                .and_then(as_int)
                .unwrap_or(DEFAULT_EXPIRES_IN),
        )
    });
    let refresh_token = text("refresh_token").unwrap_or_default();
    let refresh_expires = match first_int(
        answer,
        &["refresh_exp", "refresh_expires", "refresh_expires_at"],
    ) {
        Some(at) => at,
        None if refresh_token.is_empty() => expires,
        None => match answer.get("refresh_expires_in").and_then(as_int) {
            Some(seconds) if seconds > 0 => now.saturating_add(seconds),
            _ => now + UNKNOWN_REFRESH_LIFETIME,
        },
    };
    Ok(TokenResponse {
        access_token,
        token_type: text("token_type")
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "Bearer".to_owned()),
        expires,
        refresh_token,
        refresh_expires,
        scope: text("scope").unwrap_or_default(),
    })
}

/// Runs a grant at the provider's token endpoint and normalises the answer.
pub(crate) async fn exchange(
    auth: &OidcAuth,
    form: Vec<(&'static str, String)>,
) -> Result<Exchange, UpstreamError> {
    let raw = upstream::post_form(auth, "token_endpoint", form).await?;
    let token = normalise(&raw, clock::now() as i64)?;
    Ok(Exchange { raw, token })
}

/// Reads the form body: absent or empty is an empty form; anything but form encoding is refused.
async fn read_form(
    req: &HttpRequest,
    mut body: web::Payload,
) -> Result<Vec<(String, String)>, HttpResponse> {
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|_| bad_request("Could not read the request body"))?;
        if bytes.len() + chunk.len() > MAX_FORM_BYTES {
            return Err(detail_response(
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                "Request body too large",
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    parse_form(content_type, &bytes).map_err(FormError::response)
}

/// Why a token request body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FormError {
    /// Not form-encoded (415).
    UnsupportedMediaType,
    /// Not a valid form (400).
    Invalid,
}

impl FormError {
    pub(crate) fn response(self) -> HttpResponse {
        match self {
            Self::UnsupportedMediaType => detail_response(
                actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Send the token request as application/x-www-form-urlencoded",
            ),
            Self::Invalid => bad_request("The request body is not a valid form"),
        }
    }
}

/// The form in a complete body, given its `Content-Type` (empty when absent).
pub(crate) fn parse_form(
    content_type: &str,
    bytes: &[u8],
) -> Result<Vec<(String, String)>, FormError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if !essence.is_empty() && essence != "application/x-www-form-urlencoded" {
        return Err(FormError::UnsupportedMediaType);
    }
    serde_urlencoded::from_bytes(bytes).map_err(|_| FormError::Invalid)
}

/// What the token route was asked to do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Grant {
    Code {
        code: String,
        redirect_uri: Option<String>,
        verifier: Option<String>,
    },
    Refresh(String),
    Device(String),
}

/// Picks the grant: an explicit `grant_type` decides; otherwise code, then refresh, then device
/// code (py-oidc-auth's order). Both the hyphenated names py-oidc-auth-client sends and the
/// RFC names are accepted.
pub(crate) fn grant(form: &[(String, String)]) -> Result<Grant, &'static str> {
    let field = |names: &[&str]| {
        names.iter().find_map(|name| {
            form.iter()
                .find(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| v.clone())
        })
    };
    let code = field(&["code"]);
    let refresh = field(&["refresh-token", "refresh_token"]);
    let device = field(&["device-code", "device_code"]);
    let code_grant = |code: String| Grant::Code {
        code,
        redirect_uri: field(&["redirect_uri"]),
        verifier: field(&["code_verifier"]),
    };
    match field(&["grant_type"]).as_deref() {
        Some("authorization_code") => code.map(code_grant).ok_or("Missing code"),
        Some("refresh_token") => refresh.map(Grant::Refresh).ok_or("Missing refresh_token"),
        Some(DEVICE_GRANT) => device.map(Grant::Device).ok_or("Missing device_code"),
        Some(_) => Err("Unsupported grant_type"),
        None => code
            .map(code_grant)
            .or(refresh.map(Grant::Refresh))
            .or(device.map(Grant::Device))
            .ok_or("Missing (device) code or refresh_token"),
    }
}

/// RFC 3986 reference resolution of an absolute path against the proxy URL, as Python's
/// `urljoin(proxy, path)` does for the default redirect URI.
fn join(proxy: &str, path: &str) -> String {
    let origin_end = proxy.find("://").map_or(0, |i| i + 3);
    let authority_end = proxy[origin_end..]
        .find('/')
        .map_or(proxy.len(), |i| origin_end + i);
    format!("{}{path}", &proxy[..authority_end])
}

/// The form to send to the provider's token endpoint for `grant`, or why the request is refused.
///
/// A sealed login state given as `code_verifier` is consumed here, and stands in for the PKCE
/// verifier and redirect URI it carries (see `state`): a sealed state never reaches the provider.
pub(crate) fn upstream_form(
    grant: Grant,
    sealer: &StateSealer,
    proxy: Option<&str>,
    own_path: &str,
) -> Result<Vec<(&'static str, String)>, &'static str> {
    Ok(match grant {
        Grant::Code {
            code,
            mut redirect_uri,
            verifier,
        } => {
            let verifier = match verifier {
                Some(sealed) if StateSealer::is_sealed(&sealed) => {
                    // No cookie comes with a token request (py-oidc-auth-client posts it): a
                    // login bound to a browser is finished by that browser at the callback.
                    let unbound = |state: &LoginState| match state.binding {
                        Some(_) => Err(StateError::BoundToBrowser),
                        None => Ok(()),
                    };
                    let state = sealer
                        .consume_if(&sealed, unbound)
                        .map_err(StateError::detail)?;
                    if redirect_uri
                        .as_deref()
                        .is_some_and(|given| given != state.redirect_uri)
                    {
                        return Err("redirect_uri does not match the login");
                    }
                    redirect_uri = Some(state.redirect_uri);
                    state.verifier
                }
                other => other.unwrap_or_default(),
            };
            let redirect_uri = redirect_uri
                .or_else(|| proxy.map(|proxy| join(proxy, own_path)))
                .unwrap_or_default();
            vec![
                ("grant_type", "authorization_code".to_owned()),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier),
            ]
        }
        Grant::Refresh(refresh_token) => vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh_token),
        ],
        Grant::Device(device_code) => vec![
            ("grant_type", DEVICE_GRANT.to_owned()),
            ("device_code", device_code),
        ],
    })
}

pub(super) async fn token(
    auth: OidcAuth,
    req: HttpRequest,
    body: web::Payload,
    own_path: String,
) -> HttpResponse {
    let form = match read_form(&req, body).await {
        Ok(form) => form,
        Err(response) => return response,
    };
    let upstream = grant(&form).and_then(|grant| {
        upstream_form(
            grant,
            auth.sealer(),
            auth.config().proxy.as_deref(),
            &own_path,
        )
    });
    let upstream_form = match upstream {
        Ok(form) => form,
        Err(why) => return bad_request(why),
    };
    match exchange(&auth, upstream_form).await {
        Ok(exchange) => HttpResponse::Ok()
            .insert_header(("cache-control", "no-store"))
            .json(exchange.token),
        Err(e) => e.error_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(value: Value) -> Map<String, Value> {
        let Value::Object(map) = value else {
            unreachable!("test answers are objects")
        };
        map
    }

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn keycloak_offline_tokens_get_a_future_refresh_expiry() {
        let t = normalise(
            &answer(
                json!({"access_token": "a", "token_type": "Bearer", "expires_in": 300,
                           "refresh_token": "r", "refresh_expires_in": 0, "scope": "openid"}),
            ),
            1000,
        )
        .unwrap();
        assert_eq!(
            (t.expires, t.refresh_expires),
            (1300, 1000 + UNKNOWN_REFRESH_LIFETIME)
        );
    }

    #[test]
    fn explicit_expiries_win_and_missing_fields_have_defaults() {
        let t = normalise(
            &answer(
                json!({"access_token": "a", "expires_at": 5000, "refresh_expires_in": 60,
                                         "refresh_token": "r"}),
            ),
            1000,
        )
        .unwrap();
        assert_eq!(t.expires, 5000);
        assert_eq!(t.refresh_expires, 1060);
        assert_eq!(t.token_type, "Bearer");
        assert_eq!(t.scope, "");
        let t = normalise(&answer(json!({"access_token": "a"})), 1000).unwrap();
        assert_eq!(
            (t.expires, t.refresh_token.as_str(), t.refresh_expires),
            (1180, "", 1180)
        );
        assert!(normalise(&answer(json!({"token_type": "Bearer"})), 1000).is_err());
    }

    #[test]
    fn huge_provider_lifetimes_saturate_instead_of_overflowing() {
        // Found by the `token_route` fuzz target's invariants (fuzz/regressions/token_route/).
        let t = normalise(
            &answer(
                json!({"access_token": "a", "expires_in": 1e19, "refresh_token": "r",
                           "refresh_expires_in": "1e19"}),
            ),
            1000,
        )
        .unwrap();
        assert_eq!((t.expires, t.refresh_expires), (i64::MAX, i64::MAX));
    }

    #[test]
    fn the_grant_follows_grant_type_then_the_reference_order() {
        assert_eq!(
            grant(&form(&[("refresh-token", "r")])),
            Ok(Grant::Refresh("r".into()))
        );
        assert_eq!(
            grant(&form(&[("refresh_token", "r")])),
            Ok(Grant::Refresh("r".into()))
        );
        assert_eq!(
            grant(&form(&[("device-code", "d")])),
            Ok(Grant::Device("d".into()))
        );
        assert_eq!(
            grant(&form(&[("device_code", "d"), ("refresh-token", "r")])),
            Ok(Grant::Refresh("r".into()))
        );
        assert_eq!(
            grant(&form(&[
                ("grant_type", DEVICE_GRANT),
                ("device_code", "d"),
                ("refresh-token", "r")
            ])),
            Ok(Grant::Device("d".into()))
        );
        assert!(matches!(
            grant(&form(&[
                ("code", "c"),
                ("grant_type", "authorization_code")
            ])),
            Ok(Grant::Code { .. })
        ));
        assert_eq!(
            grant(&form(&[])),
            Err("Missing (device) code or refresh_token")
        );
        assert_eq!(
            grant(&form(&[("refresh-token", "")])),
            Err("Missing (device) code or refresh_token")
        );
        assert_eq!(
            grant(&form(&[("grant_type", "password")])),
            Err("Unsupported grant_type")
        );
    }

    #[test]
    fn the_default_redirect_joins_the_proxy_origin() {
        assert_eq!(
            join("https://app.example.org/base/", "/api/auth/v2/token"),
            "https://app.example.org/api/auth/v2/token"
        );
        assert_eq!(
            join("http://localhost:8080", "/t"),
            "http://localhost:8080/t"
        );
    }
}
