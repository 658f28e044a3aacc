//! Outbound calls to the identity provider: bounded in time and in size, and never redirected.
//!
//! No call follows a redirect, discovery included: awc would follow up to ten by default,
//! https to http and to any origin, and a 307 or 308 re-sends a token request's body (the code,
//! the PKCE verifier, a refresh token, the client's Basic credentials) wherever it points. A
//! provider that moved is reconfigured, not followed; a redirect is the provider's error status.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

/// The most a discovery document or key set may weigh. Real ones are a few KiB; the bound keeps
/// a misbehaving provider from filling memory.
pub(crate) const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// Why a document could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchError {
    /// The connection failed or the request could not be sent.
    Transport(String),
    /// No complete answer within the configured timeout.
    Timeout,
    /// The provider answered with an error status.
    Status(u16),
    /// The body was larger than allowed.
    TooLarge,
    /// The body was not the expected JSON document.
    Invalid(String),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(why) => write!(f, "connection failed: {why}"),
            Self::Timeout => f.write_str("timed out"),
            Self::Status(status) => write!(f, "answered HTTP {status}"),
            Self::TooLarge => write!(f, "answer larger than {MAX_DOCUMENT_BYTES} bytes"),
            Self::Invalid(why) => write!(f, "invalid document: {why}"),
        }
    }
}

impl std::error::Error for FetchError {}

/// The HTTP client of every call to the provider: this timeout, no redirects.
pub(crate) fn client(timeout: Duration) -> awc::Client {
    awc::Client::builder()
        .timeout(timeout)
        .disable_redirects()
        .finish()
}

/// GETs a JSON document. The whole exchange, body included, must finish within `timeout`.
pub(crate) async fn get_json(url: &str, timeout: Duration) -> Result<Value, FetchError> {
    let exchange = async {
        let client = client(timeout);
        let mut response = client
            .get(url)
            .insert_header(("accept", "application/json"))
            .send()
            .await
            .map_err(|e| match e {
                awc::error::SendRequestError::Timeout => FetchError::Timeout,
                other => FetchError::Transport(other.to_string()),
            })?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        let body = response
            .body()
            .limit(MAX_DOCUMENT_BYTES)
            .await
            .map_err(|e| match e {
                awc::error::PayloadError::Overflow => FetchError::TooLarge,
                other => FetchError::Transport(other.to_string()),
            })?;
        serde_json::from_slice::<Value>(&body).map_err(|e| FetchError::Invalid(e.to_string()))
    };
    actix_rt::time::timeout(timeout, exchange)
        .await
        .unwrap_or(Err(FetchError::Timeout))
}
