//! The provider's discovery document (OpenID Connect Discovery 1.0 §3).

use std::time::Duration;

use serde_json::{Map, Value};

use crate::fetch::{FetchError, get_json};

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
        for name in URL_MEMBERS {
            if let Some(value) = document.get(name).and_then(Value::as_str)
                && !value.is_empty()
                && !usable_url(value)
            {
                log::warn!(
                    "oidc-actix: the provider's `{name}` holds whitespace or control characters; \
                     treated as absent"
                );
            }
        }
        Ok(Self { document })
    }

    /// A string member such as `token_endpoint`, if present and non-empty. A URL member (see
    /// [`URL_MEMBERS`]) with whitespace or control characters counts as absent: it would become
    /// a request URL or, for the login and logout redirects, our own `Location` header, where
    /// a CR LF would split the response and a control character makes it fail to build.
    pub(crate) fn endpoint(&self, name: &str) -> Option<&str> {
        self.document
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .filter(|s| !URL_MEMBERS.contains(&name) || usable_url(s))
    }

    /// The URL members this crate would call or redirect to, with their values, as
    /// [`endpoint`](Self::endpoint) reads them.
    pub(crate) fn urls(&self) -> impl Iterator<Item = (&'static str, &str)> {
        URL_MEMBERS
            .into_iter()
            .filter_map(|name| Some((name, self.endpoint(name)?)))
    }
}

/// The members this crate sends requests to or redirects browsers to.
const URL_MEMBERS: [&str; 6] = [
    "jwks_uri",
    "authorization_endpoint",
    "token_endpoint",
    "device_authorization_endpoint",
    "userinfo_endpoint",
    "end_session_endpoint",
];

/// No URI (RFC 3986) holds whitespace or control characters; anything else is left to the
/// HTTP client or the browser to judge.
fn usable_url(value: &str) -> bool {
    !value.chars().any(|c| c.is_whitespace() || c.is_control())
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

    #[test]
    fn url_members_with_whitespace_or_control_characters_count_as_absent() {
        for bad in [
            "https://idp/auth\r\nSet-Cookie: a=b",
            "https://idp/a b",
            "https://idp/\u{0}",
            "https://idp/\u{85}",
            "\thttps://idp/auth",
        ] {
            let meta = ProviderMetadata::from_document(json!({
                "issuer": "https://idp", "authorization_endpoint": bad, "end_session_endpoint": bad
            }))
            .unwrap();
            assert_eq!(meta.endpoint("authorization_endpoint"), None, "{bad:?}");
            assert_eq!(meta.endpoint("end_session_endpoint"), None, "{bad:?}");
        }
        let meta = ProviderMetadata::from_document(json!({
            "issuer": "an issuer is compared, never requested",
            "authorization_endpoint": "https://idp/auth?tenant=%C3%A9&x=\u{e9}",
        }))
        .unwrap();
        assert_eq!(
            meta.endpoint("issuer"),
            Some("an issuer is compared, never requested")
        );
        assert_eq!(
            meta.endpoint("authorization_endpoint"),
            Some("https://idp/auth?tenant=%C3%A9&x=\u{e9}")
        );
    }
}
