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

/// Whether `url` is plain `http` to a host other than this machine's loopback (`localhost`,
/// `127.0.0.0/8`, `[::1]`): tokens, codes and keys would cross a network unprotected, where
/// anyone on the path can read or replace them.
pub(crate) fn is_insecure(url: &str) -> bool {
    let Some(rest) = url
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case("http://"))
        .map(|_| &url[7..])
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    !loopback
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_insecure_beyond_loopback() {
        for insecure in [
            "http://idp.example.org/.well-known/openid-configuration",
            "HTTP://idp.example.org",
            "http://10.0.0.1:8080/jwks",
            "http://127.0.0.1.evil.example/jwks",
            "http://localhost.evil.example/",
            "http://user@idp.example.org/",
            "http://[2001:db8::1]:8080/",
        ] {
            assert!(is_insecure(insecure), "{insecure}");
        }
        for fine in [
            "https://idp.example.org/jwks",
            "http://127.0.0.1:8080/jwks",
            "http://127.9.9.9/jwks",
            "http://localhost:8080/x",
            "http://LOCALHOST/x",
            "http://[::1]:8080/x",
            "http://evil.example@127.0.0.1/x",
        ] {
            assert!(!is_insecure(fine), "{fine}");
        }
    }
}
