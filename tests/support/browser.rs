//! The scripted user of the end-to-end tests: a [`Browser`] that logs in at the test provider,
//! approves devices and logs out, with just enough HTML, cookie and redirect handling for the
//! provider's pages. [`super::idp::TestIdp::browser`] hands out one for its provider.

use std::time::Duration;

use url::Url;

/// Timeout of every HTTP request made by the browser and the test provider's helpers.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on the pages one scripted browser walk may visit.
const MAX_STEPS: usize = 30;

/// An HTTP client that follows no redirect (a test sees each one) and gives up after
/// [`HTTP_TIMEOUT`].
pub fn http_client() -> awc::Client {
    awc::Client::builder()
        .disable_redirects()
        .timeout(HTTP_TIMEOUT)
        .finish()
}

/// What the provider sent to the client's `redirect_uri`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackParams {
    /// `code`.
    pub code: String,
    /// `state` (empty if absent).
    pub state: String,
    /// `iss` (RFC 9207; empty if absent).
    pub iss: String,
    /// The whole redirect target.
    pub raw_url: String,
}

/// A user agent with a cookie jar that follows redirects by hand and fills the provider's forms:
/// login (`login`/`password`), consent, the device user-code and confirm forms, the logout
/// confirmation. Hidden fields (CSRF tokens) are submitted as found.
pub struct Browser {
    idp_origin: url::Origin,
    jar: Vec<Cookie>,
}

#[derive(Debug, Clone)]
struct Cookie {
    name: String,
    value: String,
    path: String,
}

/// What to type into the forms.
#[derive(Default)]
struct Typing<'a> {
    login: Option<(&'a str, &'a str)>,
    user_code: Option<&'a str>,
}

/// Where a walk ended.
enum End {
    /// A redirect to a target outside the provider (not followed).
    Redirect(Url),
    /// A page without a form.
    Page { url: Url, status: u16, body: String },
}

impl Browser {
    /// A browser without cookies for the provider at `issuer`.
    pub fn new(issuer: &str) -> Self {
        let idp_origin = Url::parse(issuer).expect("issuer is a URL").origin();
        Self {
            idp_origin,
            jar: Vec::new(),
        }
    }

    /// Starts at `authorize_url` (the provider's authorization endpoint, or an application route
    /// that redirects there), logs in as `user` and approves the consent page, and stops at the
    /// first redirect from the provider to somewhere else (the client's `redirect_uri`, never
    /// contacted). With a provider session from an earlier login, no login form appears.
    ///
    /// Errors: a rejected password (the provider answers 200 with the form again), an error page,
    /// or an error redirect (`error=…` at the `redirect_uri`).
    pub async fn login(
        &mut self,
        authorize_url: &str,
        user: &str,
        password: &str,
    ) -> Result<CallbackParams, String> {
        let start = Url::parse(authorize_url)
            .map_err(|e| format!("bad authorize URL {authorize_url}: {e}"))?;
        let typing = Typing {
            login: Some((user, password)),
            user_code: None,
        };
        match self.walk(start, &typing).await? {
            End::Redirect(target) => {
                let query = |key: &str| {
                    target
                        .query_pairs()
                        .find(|(k, _)| k == key)
                        .map(|(_, v)| v.into_owned())
                };
                if let Some(error) = query("error") {
                    return Err(format!(
                        "the provider redirected with error `{error}` ({}): {target}",
                        query("error_description").unwrap_or_default()
                    ));
                }
                let code =
                    query("code").ok_or_else(|| format!("redirect without a code: {target}"))?;
                Ok(CallbackParams {
                    code,
                    state: query("state").unwrap_or_default(),
                    iss: query("iss").unwrap_or_default(),
                    raw_url: target.into(),
                })
            }
            End::Page { url, status, body } => Err(format!(
                "login ended on a page, not at the redirect_uri: {status} {url}\n{}",
                page_text(&body)
            )),
        }
    }

    /// Opens `verification_uri` (or `verification_uri_complete`), enters `user_code` if asked,
    /// confirms the device, logs in as `user`, approves the consent page, and succeeds on the
    /// provider's success page.
    pub async fn approve_device(
        &mut self,
        verification_uri: &str,
        user_code: &str,
        user: &str,
        password: &str,
    ) -> Result<(), String> {
        let start = Url::parse(verification_uri)
            .map_err(|e| format!("bad verification URI {verification_uri}: {e}"))?;
        let typing = Typing {
            login: Some((user, password)),
            user_code: Some(user_code),
        };
        match self.walk(start, &typing).await? {
            End::Page { body, .. } if body.contains("id=\"device-success\"") => Ok(()),
            End::Page { url, status, body } => Err(format!(
                "device approval ended on {status} {url}:\n{}",
                page_text(&body)
            )),
            End::Redirect(target) => Err(format!("device approval left the provider for {target}")),
        }
    }

    /// Opens an end-session URL and confirms the logout. Returns the redirect target outside the
    /// provider (the `post_logout_redirect_uri` with its `state`), or `None` when it ended on the
    /// provider's "signed out" page.
    pub async fn logout(&mut self, end_session_url: &str) -> Result<Option<String>, String> {
        let start = Url::parse(end_session_url)
            .map_err(|e| format!("bad end-session URL {end_session_url}: {e}"))?;
        match self.walk(start, &Typing::default()).await? {
            End::Redirect(target) => Ok(Some(target.into())),
            End::Page { body, .. } if body.contains("id=\"logout-success\"") => Ok(None),
            End::Page { url, status, body } => Err(format!(
                "logout ended on {status} {url}:\n{}",
                page_text(&body)
            )),
        }
    }

    /// Names of the cookies currently held for `path` on the provider.
    pub fn cookie_names(&self, path: &str) -> Vec<String> {
        self.jar
            .iter()
            .filter(|c| path_matches(&c.path, path))
            .map(|c| c.name.clone())
            .collect()
    }

    async fn walk(&mut self, start: Url, typing: &Typing<'_>) -> Result<End, String> {
        let mut url = start;
        let mut form: Option<Vec<(String, String)>> = None;
        let mut seen_idp = false;
        let mut submitted_login = false;
        let mut submitted_code = false;

        for _ in 0..MAX_STEPS {
            seen_idp |= url.origin() == self.idp_origin;
            let (status, location, body) = self.send(&url, form.take()).await?;

            if (300..400).contains(&status) {
                let location =
                    location.ok_or_else(|| format!("{status} without Location from {url}"))?;
                let target = url
                    .join(&location)
                    .map_err(|e| format!("bad Location {location:?}: {e}"))?;
                if seen_idp && target.origin() != self.idp_origin {
                    return Ok(End::Redirect(target));
                }
                url = target;
                continue;
            }
            if status >= 400 {
                return Err(format!("HTTP {status} from {url}:\n{}", page_text(&body)));
            }

            let Some(page_form) = HtmlForm::first(&body) else {
                return Ok(End::Page { url, status, body });
            };
            let mut fields: Vec<(String, String)> = Vec::new();
            if page_form.has_input("password") {
                let (user, password) = typing
                    .login
                    .ok_or_else(|| format!("unexpected login form at {url}"))?;
                if submitted_login {
                    return Err(format!(
                        "the provider rejected the login of `{user}`:\n{}",
                        page_text(&body)
                    ));
                }
                submitted_login = true;
                fields.extend(page_form.hidden_fields());
                fields.push(("login".into(), user.into()));
                fields.push(("password".into(), password.into()));
            } else if page_form.has_empty_input("user_code") {
                let code = typing
                    .user_code
                    .ok_or_else(|| format!("unexpected user-code form at {url}"))?;
                if submitted_code {
                    return Err(format!(
                        "the provider rejected the user code `{code}`:\n{}",
                        page_text(&body)
                    ));
                }
                submitted_code = true;
                fields.extend(page_form.hidden_fields());
                fields.push(("user_code".into(), code.into()));
            } else {
                // Consent, device confirmation, logout confirmation, auto-submitting form_post.
                fields.extend(page_form.hidden_fields());
            }
            let action = if page_form.action.is_empty() {
                url.to_string()
            } else {
                page_form.action.clone()
            };
            url = url
                .join(&action)
                .map_err(|e| format!("bad form action {action:?}: {e}"))?;
            if !page_form.method.eq_ignore_ascii_case("post") {
                url.query_pairs_mut().extend_pairs(fields.iter());
            } else {
                form = Some(fields);
            }
        }
        Err(format!("no end after {MAX_STEPS} pages (last: {url})"))
    }

    /// One request; answers (status, Location, body).
    async fn send(
        &mut self,
        url: &Url,
        form: Option<Vec<(String, String)>>,
    ) -> Result<(u16, Option<String>, String), String> {
        let client = http_client();
        let mut request = match form {
            Some(_) => client.post(url.as_str()),
            None => client.get(url.as_str()),
        };
        if url.origin() == self.idp_origin {
            let cookies = self.cookie_header(url.path());
            if !cookies.is_empty() {
                request = request.insert_header(("Cookie", cookies));
            }
        }
        let sent = match form {
            Some(fields) => request.send_form(&fields).await,
            None => request.send().await,
        };
        let mut response = sent.map_err(|e| format!("request to {url} failed: {e}"))?;
        if url.origin() == self.idp_origin {
            for header in response.headers().get_all("set-cookie") {
                if let Ok(header) = header.to_str() {
                    self.store_cookie(header, url.path());
                }
            }
        }
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .body()
            .limit(1 << 20)
            .await
            .map_err(|e| format!("reading {url}: {e}"))?;
        Ok((
            response.status().as_u16(),
            location,
            String::from_utf8_lossy(&body).into_owned(),
        ))
    }

    fn cookie_header(&self, path: &str) -> String {
        let mut matching: Vec<&Cookie> = self
            .jar
            .iter()
            .filter(|c| path_matches(&c.path, path))
            .collect();
        // RFC 6265 §5.4: longer paths first.
        matching.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        matching
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn store_cookie(&mut self, header: &str, request_path: &str) {
        let mut attributes = header.split(';').map(str::trim);
        let Some((name, value)) = attributes.next().and_then(|pair| pair.split_once('=')) else {
            return;
        };
        let mut path = default_cookie_path(request_path);
        let mut expired = false;
        for attribute in attributes {
            let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
            match key.to_ascii_lowercase().as_str() {
                "path" if val.starts_with('/') => path = val.to_owned(),
                "max-age" => expired |= val.trim().parse::<i64>().is_ok_and(|age| age <= 0),
                "expires" => expired |= val.contains("1970"),
                _ => {}
            }
        }
        self.jar.retain(|c| !(c.name == name && c.path == path));
        if !expired && !value.is_empty() {
            self.jar.push(Cookie {
                name: name.to_owned(),
                value: value.to_owned(),
                path,
            });
        }
    }
}

/// RFC 6265 §5.1.4: the directory of the request path.
fn default_cookie_path(request_path: &str) -> String {
    match request_path.rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(i) => request_path[..i].to_owned(),
    }
}

/// RFC 6265 §5.1.4 path-match.
fn path_matches(cookie_path: &str, request_path: &str) -> bool {
    request_path == cookie_path
        || (request_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/') || request_path[cookie_path.len()..].starts_with('/')))
}

/// The first `<form>` of a page, with its `<input>`s: enough HTML for the provider's pages.
struct HtmlForm {
    action: String,
    method: String,
    inputs: Vec<Vec<(String, String)>>,
}

impl HtmlForm {
    fn first(html: &str) -> Option<Self> {
        let lower = html.to_ascii_lowercase();
        let start = lower.find("<form")?;
        let (attributes, after) = parse_tag(&html[start + "<form".len()..]);
        let body_start = html.len() - after.len();
        let end = lower[body_start..]
            .find("</form")
            .map_or(html.len(), |i| body_start + i);
        let inner = &html[body_start..end];
        let inner_lower = &lower[body_start..end];

        let mut inputs = Vec::new();
        let mut offset = 0;
        while let Some(i) = inner_lower[offset..].find("<input") {
            let tag_start = offset + i + "<input".len();
            let (input, rest) = parse_tag(&inner[tag_start..]);
            inputs.push(input);
            offset = inner.len() - rest.len();
        }
        let attribute = |key: &str| {
            attributes
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        Some(Self {
            action: attribute("action").unwrap_or_default(),
            method: attribute("method").unwrap_or_else(|| "get".into()),
            inputs,
        })
    }

    fn get<'a>(input: &'a [(String, String)], key: &str) -> Option<&'a str> {
        input
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn has_input(&self, kind: &str) -> bool {
        self.inputs
            .iter()
            .any(|i| Self::get(i, "type").is_some_and(|t| t.eq_ignore_ascii_case(kind)))
    }

    fn has_empty_input(&self, name: &str) -> bool {
        self.inputs.iter().any(|i| {
            Self::get(i, "name") == Some(name)
                && Self::get(i, "type").is_none_or(|t| !t.eq_ignore_ascii_case("hidden"))
                && Self::get(i, "value").is_none_or(str::is_empty)
        })
    }

    fn hidden_fields(&self) -> Vec<(String, String)> {
        self.inputs
            .iter()
            .filter(|i| Self::get(i, "type").is_some_and(|t| t.eq_ignore_ascii_case("hidden")))
            .filter_map(|i| {
                Some((
                    Self::get(i, "name")?.to_owned(),
                    Self::get(i, "value").unwrap_or("").to_owned(),
                ))
            })
            .collect()
    }
}

/// Parses the attributes of a tag whose name was consumed; answers them (names lower-cased,
/// values entity-decoded) and the text after the closing `>`.
fn parse_tag(mut s: &str) -> (Vec<(String, String)>, &str) {
    let mut attributes = Vec::new();
    loop {
        s = s.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
        if s.is_empty() {
            return (attributes, s);
        }
        if let Some(rest) = s.strip_prefix('>') {
            return (attributes, rest);
        }
        let name_end = s
            .find(|c: char| c.is_whitespace() || c == '=' || c == '>' || c == '/')
            .unwrap_or(s.len());
        let name = s[..name_end].to_ascii_lowercase();
        s = s[name_end..].trim_start();
        let mut value = String::new();
        if let Some(rest) = s.strip_prefix('=') {
            let rest = rest.trim_start();
            if let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
                let inner = &rest[1..];
                let end = inner.find(quote).unwrap_or(inner.len());
                value = decode_entities(&inner[..end]);
                s = inner.get(end + 1..).unwrap_or("");
            } else {
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == '>')
                    .unwrap_or(rest.len());
                value = decode_entities(&rest[..end]);
                s = &rest[end..];
            }
        }
        if !name.is_empty() {
            attributes.push((name, value));
        }
    }
}

fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A page's text without tags, for error messages.
fn page_text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    decode_entities(&out.split_whitespace().collect::<Vec<_>>().join(" "))
}
