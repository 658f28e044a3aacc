//! Calls from the auth routes to the provider's endpoints (token, device authorization,
//! userinfo), and how their failures reach the caller.
//!
//! The error envelope keeps py-oidc-auth's `{"detail": ...}` and adds the provider's OAuth
//! `error` and `error_description` at the top level, which py-oidc-auth-client reads while polling
//! the device flow (`authorization_pending`, `slow_down`, `expired_token`, `access_denied`).
//! Provider 4xx statuses pass through; 5xx become 502 and timeouts 504: the provider's outage is
//! not this server's internal error.

use std::fmt;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::config::OidcAuth;
use crate::fetch;

/// The most a provider answer to the auth routes may weigh.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// Why a call to the provider failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum UpstreamError {
    /// The discovery document could not be loaded (503).
    Unavailable,
    /// The discovery document does not advertise this endpoint (502; 503 for the device flow).
    MissingEndpoint(&'static str),
    /// The provider answered with an error status.
    Status {
        /// The provider's status code.
        status: u16,
        /// The provider's body, as text.
        body: String,
        /// The OAuth `error` code, if the body carried one.
        error: Option<String>,
        /// The OAuth `error_description`, if the body carried one.
        description: Option<String>,
    },
    /// No answer within the configured timeout (504).
    Timeout,
    /// The connection failed, or the answer was not the JSON expected (502).
    BadGateway(String),
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable => {
                f.write_str("OIDC server unavailable: its discovery document could not be loaded.")
            }
            Self::MissingEndpoint(name) => {
                write!(f, "OIDC endpoint '{name}' not found in discovery.")
            }
            Self::Status { body, .. } => write!(f, "Upstream OIDC error: {body}"),
            Self::Timeout => f.write_str("Failed to contact OIDC endpoint: timed out"),
            Self::BadGateway(why) => write!(f, "Failed to contact OIDC endpoint: {why}"),
        }
    }
}

impl std::error::Error for UpstreamError {}

impl ResponseError for UpstreamError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::MissingEndpoint("device_authorization_endpoint") => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::MissingEndpoint(_) | Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Status { status, .. } => match StatusCode::from_u16(*status) {
                Ok(status) if status.is_client_error() => status,
                _ => StatusCode::BAD_GATEWAY,
            },
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({ "detail": self.to_string() });
        if let Self::Status {
            error: Some(error),
            description,
            ..
        } = self
        {
            body["error"] = json!(error);
            body["error_description"] = json!(description.as_deref().unwrap_or_default());
        }
        HttpResponse::build(self.status_code()).json(body)
    }
}

/// RFC 6749 §2.3.1: the client id and secret are form-urlencoded before they are joined and
/// base64-encoded (py-oidc-auth skips this, which breaks secrets containing `:` or non-ASCII).
pub(crate) fn basic_credentials(client_id: &str, secret: &str) -> String {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", encode(client_id), encode(secret)))
    )
}

/// The URL of a discovery endpoint such as `token_endpoint`, loading the document if needed.
pub(crate) async fn endpoint(auth: &OidcAuth, name: &'static str) -> Result<String, UpstreamError> {
    let provider = auth.provider();
    let metadata = match provider.metadata() {
        Some(metadata) => metadata,
        // With `jwks_uri` and `issuer` overrides alone there is no document that could name the
        // endpoint, and loading the key set would not bring one: asking would turn every
        // anonymous request to this route into a key-set fetch.
        None if !provider.has_discovery() => return Err(UpstreamError::MissingEndpoint(name)),
        None => {
            // A failed key-set fetch may still have loaded the discovery document.
            let _ = provider.refresh_now().await;
            provider.metadata().ok_or(UpstreamError::Unavailable)?
        }
    };
    metadata
        .endpoint(name)
        .map(str::to_owned)
        .ok_or(UpstreamError::MissingEndpoint(name))
}

/// POSTs a form to a provider endpoint with this client's authentication: HTTP Basic for a
/// confidential client, `client_id` in the form for a public one.
pub(crate) async fn post_form(
    auth: &OidcAuth,
    endpoint: &'static str,
    mut form: Vec<(&'static str, String)>,
) -> Result<Map<String, Value>, UpstreamError> {
    let url = self::endpoint(auth, endpoint).await?;
    let config = auth.config();
    let client = fetch::client(config.timeout);
    let mut request = client
        .post(&url)
        .insert_header(("accept", "application/json"));
    match &config.client_secret {
        Some(secret) => {
            request = request.insert_header((
                "authorization",
                basic_credentials(&config.client_id, secret.expose()),
            ));
        }
        None => form.push(("client_id", config.client_id.clone())),
    }
    form.retain(|(_, value)| !value.is_empty());
    let body =
        serde_urlencoded::to_string(&form).map_err(|e| UpstreamError::BadGateway(e.to_string()))?;
    let exchange = async {
        let response = request
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .send_body(body)
            .await;
        read_json(response).await
    };
    with_timeout(config.timeout, exchange).await
}

/// GETs the provider's userinfo endpoint with the caller's `Authorization` header.
pub(crate) async fn fetch_userinfo(
    auth: &OidcAuth,
    authorization: &str,
) -> Result<Map<String, Value>, UpstreamError> {
    let url = endpoint(auth, "userinfo_endpoint").await?;
    let timeout = auth.config().timeout;
    let client = fetch::client(timeout);
    let exchange = async {
        let response = client
            .get(&url)
            .insert_header(("accept", "application/json"))
            .insert_header(("authorization", authorization))
            .send()
            .await;
        read_json(response).await
    };
    with_timeout(timeout, exchange).await
}

async fn with_timeout<T>(
    timeout: Duration,
    exchange: impl Future<Output = Result<T, UpstreamError>>,
) -> Result<T, UpstreamError> {
    actix_rt::time::timeout(timeout, exchange)
        .await
        .unwrap_or(Err(UpstreamError::Timeout))
}

type Sent<S> = Result<awc::ClientResponse<S>, awc::error::SendRequestError>;

async fn read_json<S>(response: Sent<S>) -> Result<Map<String, Value>, UpstreamError>
where
    S: futures::Stream<Item = Result<actix_web::web::Bytes, actix_web::error::PayloadError>>
        + Unpin,
{
    let mut response = response.map_err(|e| match e {
        awc::error::SendRequestError::Timeout => UpstreamError::Timeout,
        other => UpstreamError::BadGateway(other.to_string()),
    })?;
    let body = response
        .body()
        .limit(MAX_ANSWER_BYTES)
        .await
        .map_err(|e| UpstreamError::BadGateway(e.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body).into_owned();
        let parsed: Option<Map<String, Value>> = serde_json::from_slice(&body).ok();
        let field = |name| {
            parsed
                .as_ref()
                .and_then(|p| p.get(name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        return Err(UpstreamError::Status {
            status: status.as_u16(),
            error: field("error"),
            description: field("error_description"),
            body: text,
        });
    }
    serde_json::from_slice(&body)
        .map_err(|_| UpstreamError::BadGateway("the answer is not a JSON object".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        // "a:b" → "a%3Ab", "s cret" → "s+cret"
        let value = basic_credentials("a:b", "s cret");
        assert_eq!(value, format!("Basic {}", STANDARD.encode("a%3Ab:s+cret")));
    }

    #[test]
    fn provider_errors_map_to_gateway_statuses() {
        let status = |status| UpstreamError::Status {
            status,
            body: String::new(),
            error: None,
            description: None,
        };
        assert_eq!(status(400).status_code(), StatusCode::BAD_REQUEST);
        assert_eq!(status(401).status_code(), StatusCode::UNAUTHORIZED);
        assert_eq!(status(500).status_code(), StatusCode::BAD_GATEWAY);
        assert_eq!(status(503).status_code(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            UpstreamError::Timeout.status_code(),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(
            UpstreamError::MissingEndpoint("device_authorization_endpoint").status_code(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            UpstreamError::MissingEndpoint("token_endpoint").status_code(),
            StatusCode::BAD_GATEWAY
        );
    }
}
