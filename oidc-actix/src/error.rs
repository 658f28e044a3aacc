//! The errors a request can meet, and their one mapping to HTTP.
//!
//! Every error answers with a JSON body `{"detail": "..."}` (the py-oidc-auth envelope, which
//! clients read) and, for 401 and 403, an RFC 6750 `WWW-Authenticate: Bearer …` challenge.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Why a request was not let through.
///
/// This is the error type of the extractors ([`IdToken`](crate::IdToken),
/// [`Authenticated`](crate::Authenticated)) and of [`Authenticated::authorize`](crate::Authenticated::authorize).
/// It implements [`ResponseError`], so handlers can return it with `?`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// No bearer token in the `Authorization` header (401 `Not authenticated`).
    MissingToken,
    /// The token failed validation: signature, format, expiry, issuer, audience, key (401).
    InvalidToken(InvalidToken),
    /// The token lacks scopes the route requires (403); the missing ones, sorted.
    InsufficientScope {
        /// The required scopes the token does not grant, sorted and de-duplicated.
        missing: Vec<String>,
    },
    /// The token's claims do not satisfy the route's claim constraints (403).
    InsufficientClaims,
    /// The identity provider could not be reached and no keys are known yet (503).
    ProviderUnavailable,
    /// The [`OidcAuth`](crate::OidcAuth) was never registered with the application (500).
    NotConfigured,
}

/// Why a token was rejected. Shown to the client in the `detail`; never contains the token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidToken {
    /// Not three base64url segments, or a header or payload that is not a JSON object.
    Malformed(&'static str),
    /// Longer than the configured maximum token size.
    TooLarge,
    /// The header's `alg` is not among the allowed algorithms (this includes `none` and HMAC).
    DisallowedAlgorithm(String),
    /// The header's `typ` is not a JWT type (`JWT`, `at+jwt`).
    UnsupportedType,
    /// The header's `typ` is not the one the configuration requires
    /// ([`OidcAuthBuilder::require_token_type`](crate::OidcAuthBuilder::require_token_type)).
    WrongType,
    /// The header lists `crit` extensions, none of which this validator implements (RFC 7515 §4.1.11).
    UnsupportedCritical,
    /// No key with the token's `kid` in the provider's key set.
    UnknownKey,
    /// The key named by `kid` cannot be used with the token's `alg`.
    KeyAlgorithmMismatch,
    /// The signature does not verify.
    BadSignature,
    /// The `exp` claim is missing or not a number.
    MissingExpiry,
    /// The token has expired.
    Expired,
    /// The token is not valid yet (`nbf` in the future).
    NotYetValid,
    /// The token was issued in the future (`iat`).
    IssuedInFuture,
    /// A registered claim has the wrong JSON type.
    InvalidClaim(&'static str),
    /// The `iss` claim is not the provider's issuer.
    WrongIssuer,
    /// The `aud` claim does not contain the configured audience.
    WrongAudience,
    /// The payload does not fit the application's claims type.
    ClaimsType(String),
}

impl fmt::Display for InvalidToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(what) => write!(f, "malformed token: {what}"),
            Self::TooLarge => f.write_str("token too large"),
            Self::DisallowedAlgorithm(alg) => write!(f, "algorithm {alg:?} is not allowed"),
            Self::UnsupportedType => f.write_str("unsupported token type"),
            Self::WrongType => f.write_str("not the required token type"),
            Self::UnsupportedCritical => f.write_str("unsupported critical header"),
            Self::UnknownKey => f.write_str("no key with this kid"),
            Self::KeyAlgorithmMismatch => f.write_str("key cannot be used with this algorithm"),
            Self::BadSignature => f.write_str("signature verification failed"),
            Self::MissingExpiry => f.write_str("missing exp claim"),
            Self::Expired => f.write_str("token has expired"),
            Self::NotYetValid => f.write_str("token is not valid yet"),
            Self::IssuedInFuture => f.write_str("token issued in the future"),
            Self::InvalidClaim(name) => write!(f, "invalid {name} claim"),
            Self::WrongIssuer => f.write_str("wrong issuer"),
            Self::WrongAudience => f.write_str("wrong audience"),
            Self::ClaimsType(why) => write!(f, "claims do not match: {why}"),
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingToken => f.write_str("Not authenticated"),
            Self::InvalidToken(why) => write!(f, "Invalid token: {why}"),
            Self::InsufficientScope { missing } => {
                write!(f, "Token missing required scopes: {}", missing.join(", "))
            }
            Self::InsufficientClaims => {
                f.write_str("Insufficient permissions based on token claims.")
            }
            Self::ProviderUnavailable => {
                f.write_str("OIDC server unavailable, cannot validate token.")
            }
            Self::NotConfigured => f.write_str("Authentication is not configured on this server."),
        }
    }
}

impl std::error::Error for AuthError {}

impl From<InvalidToken> for AuthError {
    fn from(why: InvalidToken) -> Self {
        Self::InvalidToken(why)
    }
}

impl AuthError {
    /// The RFC 6750 §3 challenge for this error, if it has one.
    fn challenge(&self) -> Option<String> {
        match self {
            Self::MissingToken => Some("Bearer".to_owned()),
            Self::InvalidToken(why) => Some(format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                quoted_string_safe(&why.to_string())
            )),
            Self::InsufficientScope { missing } => Some(format!(
                "Bearer error=\"insufficient_scope\", scope=\"{}\"",
                quoted_string_safe(&missing.join(" "))
            )),
            Self::InsufficientClaims => Some("Bearer error=\"insufficient_scope\"".to_owned()),
            Self::ProviderUnavailable | Self::NotConfigured => None,
        }
    }
}

/// Keeps a value inside an RFC 7230 quoted-string: RFC 6750 allows no `"` or `\` in these
/// attributes, and a header value may not carry control characters.
fn quoted_string_safe(value: &str) -> String {
    value
        .chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect()
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope { .. } | Self::InsufficientClaims => StatusCode::FORBIDDEN,
            Self::ProviderUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotConfigured => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::MissingToken = self {
            // The most frequent error by far (every anonymous request to a protected route):
            // constant bytes, nothing formatted or serialised.
            return HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")))
                // `ContentType::json()` would format the MIME type into a new value each time.
                .insert_header((
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ))
                .body(Bytes::from_static(br#"{"detail":"Not authenticated"}"#));
        }
        let mut response = detail_response(self.status_code(), &self.to_string());
        if let Some(value) = self
            .challenge()
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// A JSON `{"detail": "..."}` response, the error envelope of py-oidc-auth.
pub(crate) fn detail_response(status: StatusCode, detail: &str) -> HttpResponse {
    #[derive(Serialize)]
    struct Detail<'a> {
        detail: &'a str,
    }
    HttpResponse::build(status).json(Detail { detail })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody as _;

    fn parts(response: HttpResponse) -> (StatusCode, String, String, Vec<u8>) {
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v: &HeaderValue| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        let (challenge, content_type) = (
            header(header::WWW_AUTHENTICATE),
            header(header::CONTENT_TYPE),
        );
        let status = response.status();
        let body = response.into_body().try_into_bytes().unwrap().to_vec();
        (status, challenge, content_type, body)
    }

    #[test]
    fn the_prebuilt_missing_token_response_is_the_general_one() {
        let (status, challenge, content_type, body) =
            parts(AuthError::MissingToken.error_response());
        let general = detail_response(StatusCode::UNAUTHORIZED, "Not authenticated");
        let (_, _, general_type, general_body) = parts(general);
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(challenge, "Bearer");
        assert_eq!((content_type, body), (general_type, general_body));
    }

    #[test]
    fn details_are_json_escaped_and_challenges_quoted_safely() {
        let error = AuthError::InsufficientScope {
            missing: vec!["a\"b".into()],
        };
        let (status, challenge, _, body) = parts(error.error_response());
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()["detail"],
            "Token missing required scopes: a\"b"
        );
        assert_eq!(
            challenge,
            "Bearer error=\"insufficient_scope\", scope=\"ab\""
        );
    }
}
