//! Allow-lists for the redirect URIs the auth routes pass to the provider or redirect to.

/// Which `redirect_uri` (login) or `post_logout_redirect_uri` (logout) values are accepted.
///
/// Without an allow-list every value is passed on, as py-oidc-auth does; with one, anything else
/// is refused with 400, so the routes can never be turned into an open redirect.
///
/// ```
/// use oidc_actix::RedirectAllowList;
///
/// let list = RedirectAllowList::new()
///     .exact("https://app.example.org/after-logout")
///     .loopback() // py-oidc-auth-client's local callback, any port
///     .same_origin_as_proxy();
/// # drop(list);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct RedirectAllowList {
    exact: Vec<String>,
    loopback: bool,
    same_origin_as_proxy: bool,
}

impl RedirectAllowList {
    /// An allow-list that accepts nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts exactly this URL.
    pub fn exact(mut self, url: impl Into<String>) -> Self {
        self.exact.push(url.into());
        self
    }

    /// Accepts `http` URLs on a loopback host (`localhost`, `127.0.0.1`, `[::1]`) with any port
    /// and path (RFC 8252 §7.3: native clients listen on an ephemeral port).
    pub fn loopback(mut self) -> Self {
        self.loopback = true;
        self
    }

    /// Accepts URLs on the same origin (scheme, host, port) as the configured `proxy`.
    pub fn same_origin_as_proxy(mut self) -> Self {
        self.same_origin_as_proxy = true;
        self
    }

    /// Whether `url` is allowed, given the application's public base URL.
    pub(crate) fn allows(&self, url: &str, proxy: Option<&str>) -> bool {
        if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return false;
        }
        if self.exact.iter().any(|allowed| allowed == url) {
            return true;
        }
        let Some((scheme, authority)) = origin(url) else {
            return false;
        };
        if self.loopback && scheme == "http" {
            let host = authority
                .rsplit_once(':')
                .map_or(authority, |(host, port)| {
                    if port.chars().all(|c| c.is_ascii_digit()) {
                        host
                    } else {
                        authority
                    }
                });
            if matches!(host, "localhost" | "127.0.0.1" | "[::1]") {
                return true;
            }
        }
        self.same_origin_as_proxy
            && proxy
                .and_then(origin)
                .is_some_and(|proxy| proxy == (scheme, authority))
    }
}

/// The scheme (lower-cased) and the authority (as written: compared exactly, so a host in
/// other letter case is refused, never widened) of an absolute `http(s)` URL; `None` for
/// anything else (relative URLs, `javascript:`, userinfo tricks such as `http://evil@good`).
fn origin(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains(['@', '\\']) {
        return None;
    }
    Some((
        if scheme.eq_ignore_ascii_case("http") {
            "http"
        } else {
            "https"
        },
        authority,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_loopback_and_proxy_origin() {
        let list = RedirectAllowList::new()
            .exact("https://app/cb")
            .loopback()
            .same_origin_as_proxy();
        let proxy = Some("https://api.example.org/base");
        assert!(list.allows("https://app/cb", proxy));
        assert!(!list.allows("https://app/cb2", proxy));
        assert!(list.allows("http://localhost:53100/callback", proxy));
        assert!(list.allows("http://127.0.0.1:1/x", proxy));
        assert!(list.allows("http://[::1]:8080/", proxy));
        assert!(!list.allows("https://localhost.evil.com/", proxy));
        assert!(!list.allows("http://localhost@evil.com/", proxy));
        assert!(list.allows("https://api.example.org/done", proxy));
        assert!(!list.allows("https://api.example.org:444/done", proxy));
        assert!(!list.allows("javascript:alert(1)", proxy));
        assert!(!list.allows("//evil.com", proxy));
        assert!(!list.allows("https://app/cb\n", proxy));
    }

    #[test]
    fn an_empty_list_accepts_nothing() {
        assert!(!RedirectAllowList::new().allows("http://localhost:1/", None));
    }
}
