//! The provider's discovery document (OpenID Connect Discovery 1.0 §3).

use std::time::Duration;

use serde_json::{Map, Value};

use crate::http::{FetchError, get_json};

/// The parts of the discovery document this crate uses, plus the whole document.
#[derive(Debug)]
pub(crate) struct ProviderMetadata {
    document: Map<String, Value>,
}

impl ProviderMetadata {
    /// Fetches and checks the document: a JSON object whose known members are strings.
    pub(crate) async fn fetch(url: &str, timeout: Duration) -> Result<Self, FetchError> {
        Self::from_document(get_json(url, timeout).await?)
    }

    pub(crate) fn from_document(document: Value) -> Result<Self, FetchError> {
        let Value::Object(document) = document else {
            return Err(FetchError::Invalid(
                "the discovery document is not a JSON object".into(),
            ));
        };
        for name in [
            "issuer",
            "jwks_uri",
            "authorization_endpoint",
            "token_endpoint",
        ] {
            if document.get(name).is_some_and(|v| !v.is_string()) {
                return Err(FetchError::Invalid(format!("`{name}` is not a string")));
            }
        }
        Ok(Self { document })
    }

    /// A string member such as `token_endpoint`, if present and non-empty.
    pub(crate) fn endpoint(&self, name: &str) -> Option<&str> {
        self.document
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_are_read_and_checked() {
        let meta = ProviderMetadata::from_document(json!({
            "issuer": "https://idp", "jwks_uri": "https://idp/keys", "end_session_endpoint": ""
        }))
        .unwrap();
        assert_eq!(meta.endpoint("jwks_uri"), Some("https://idp/keys"));
        assert_eq!(meta.endpoint("end_session_endpoint"), None);
        assert_eq!(meta.endpoint("token_endpoint"), None);
        assert!(ProviderMetadata::from_document(json!(["x"])).is_err());
        assert!(ProviderMetadata::from_document(json!({"issuer": 5})).is_err());
    }
}
