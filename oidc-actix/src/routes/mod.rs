//! The auth routes: `app.configure(auth.routes("/api"))`.
//!
//! | route | default path | |
//! |---|---|---|
//! | GET login | `/auth/v2/login` | redirects the browser to the provider (code flow with PKCE) |
//! | GET callback | `/auth/v2/callback` | exchanges the code of a login that redirected here |
//! | POST token | `/auth/v2/token` | code, refresh and device-code grants (py-oidc-auth-client) |
//! | POST device | `/auth/v2/device` | starts the device flow (RFC 8628) |
//! | GET logout | `/auth/v2/logout` | RP-initiated logout |
//! | GET userinfo | `/auth/v2/userinfo` | the caller's user name, names and e-mail |

mod device;
mod login;
mod logout;
// Crate-visible for the fuzz bridge (`fuzz_bridge.rs`), which runs the pure steps of the route.
pub(crate) mod token;
mod upstream;
mod userinfo;

use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::Value;

use crate::config::OidcAuth;
use crate::error::detail_response;

/// One of the auth routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthRoute {
    /// `GET /auth/v2/login`.
    Login,
    /// `GET /auth/v2/callback`.
    Callback,
    /// `POST /auth/v2/token`.
    Token,
    /// `POST /auth/v2/device`.
    Device,
    /// `GET /auth/v2/logout`.
    Logout,
    /// `GET /auth/v2/userinfo`.
    Userinfo,
}

impl AuthRoute {
    const ALL: [AuthRoute; 6] = [
        Self::Login,
        Self::Callback,
        Self::Token,
        Self::Device,
        Self::Logout,
        Self::Userinfo,
    ];

    /// The path py-oidc-auth and its client use by default.
    pub fn default_path(self) -> &'static str {
        match self {
            Self::Login => "/auth/v2/login",
            Self::Callback => "/auth/v2/callback",
            Self::Token => "/auth/v2/token",
            Self::Device => "/auth/v2/device",
            Self::Logout => "/auth/v2/logout",
            Self::Userinfo => "/auth/v2/userinfo",
        }
    }

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|r| *r == self)
            .unwrap_or_default()
    }
}

/// Where the auth routes are mounted, and which are enabled.
///
/// ```
/// use oidc_actix::{AuthRoute, AuthRoutes};
///
/// let routes = AuthRoutes::new("/api")
///     .path(AuthRoute::Login, "/signin")
///     .disable(AuthRoute::Device);
/// assert_eq!(routes.full_path(AuthRoute::Login).as_deref(), Some("/api/signin"));
/// assert_eq!(routes.full_path(AuthRoute::Device), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct AuthRoutes {
    prefix: String,
    paths: [Option<String>; 6],
}

impl AuthRoutes {
    /// Every route at its default path under `prefix` (`""` for none).
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.trim_end_matches('/').to_owned(),
            paths: AuthRoute::ALL.map(|route| Some(route.default_path().to_owned())),
        }
    }

    /// Serves `route` at `path` (under the prefix).
    pub fn path(mut self, route: AuthRoute, path: impl Into<String>) -> Self {
        let path = path.into();
        self.paths[route.index()] = Some(if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        });
        self
    }

    /// Does not register `route`: requests to its path get the application's 404.
    pub fn disable(mut self, route: AuthRoute) -> Self {
        self.paths[route.index()] = None;
        self
    }

    /// The full path of `route`, or `None` if it is disabled.
    pub fn full_path(&self, route: AuthRoute) -> Option<String> {
        self.paths[route.index()]
            .as_ref()
            .map(|path| format!("{}{path}", self.prefix))
    }
}

impl OidcAuth {
    /// Registers this `OidcAuth` with the application (so the extractors and macros find it)
    /// and every auth route at its default path under `prefix`.
    ///
    /// The routes are registered as individual resources, not as a `web::scope(prefix)`, so the
    /// application's own routes under the same prefix keep working in any order.
    ///
    /// ```no_run
    /// # use actix_web::{App, HttpServer};
    /// # use oidc_actix::OidcAuth;
    /// # async fn run(auth: OidcAuth) -> std::io::Result<()> {
    /// HttpServer::new(move || App::new().configure(auth.routes("/api")))
    ///     .bind(("127.0.0.1", 8080))?
    ///     .run()
    ///     .await
    /// # }
    /// ```
    pub fn routes(&self, prefix: &str) -> impl FnOnce(&mut ServiceConfig) + use<> {
        self.routes_with(AuthRoutes::new(prefix))
    }

    /// Like [`OidcAuth::routes`], with paths changed or routes disabled.
    pub fn routes_with(&self, routes: AuthRoutes) -> impl FnOnce(&mut ServiceConfig) + use<> {
        let auth = self.clone();
        move |config: &mut ServiceConfig| {
            config.app_data(auth);
            for route in AuthRoute::ALL {
                let Some(path) = routes.full_path(route) else {
                    continue;
                };
                let handler = match route {
                    AuthRoute::Login => {
                        let callback = routes.full_path(AuthRoute::Callback);
                        web::get().to(move |auth: OidcAuth, req: HttpRequest| {
                            login::login(auth, req, callback.clone())
                        })
                    }
                    AuthRoute::Callback => web::get().to(login::callback),
                    AuthRoute::Token => {
                        let own_path = path.clone();
                        web::post().to(
                            move |auth: OidcAuth, req: HttpRequest, body: web::Payload| {
                                token::token(auth, req, body, own_path.clone())
                            },
                        )
                    }
                    AuthRoute::Device => web::post().to(device::device),
                    AuthRoute::Logout => web::get().to(logout::logout),
                    AuthRoute::Userinfo => web::get().to(userinfo::userinfo),
                };
                // A resource (not `config.route`) so another method answers 405, not 404.
                config.service(web::resource(path).route(handler));
            }
        }
    }
}

/// A 400 with a JSON `detail`.
pub(crate) fn bad_request(detail: &str) -> HttpResponse {
    detail_response(actix_web::http::StatusCode::BAD_REQUEST, detail)
}

/// Appends query parameters to a URL that may already have a query (py-oidc-auth always used `?`).
pub(crate) fn with_query(url: &str, params: &[(&str, &str)]) -> String {
    let params: Vec<_> = params.iter().filter(|(_, v)| !v.is_empty()).collect();
    if params.is_empty() {
        return url.to_owned();
    }
    let (base, fragment) = url
        .split_once('#')
        .map_or((url, None), |(b, f)| (b, Some(f)));
    let separator = if !base.contains('?') {
        "?"
    } else if base.ends_with('?') || base.ends_with('&') {
        ""
    } else {
        "&"
    };
    let query = serde_urlencoded::to_string(params).unwrap_or_default();
    match fragment {
        Some(fragment) => format!("{base}{separator}{query}#{fragment}"),
        None => format!("{base}{separator}{query}"),
    }
}

/// A 302 to `location`.
pub(crate) fn redirect(location: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header(("location", location))
        .insert_header(("cache-control", "no-store"))
        .finish()
}

/// A JSON value as an integer: integers, floats (truncated) and numeric strings.
pub(crate) fn as_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<f64>().ok().map(|f| f as i64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_appended_correctly() {
        assert_eq!(
            with_query("https://idp/auth", &[("a", "1"), ("b", "x y")]),
            "https://idp/auth?a=1&b=x+y"
        );
        assert_eq!(
            with_query("https://idp/auth?tenant=t", &[("a", "1")]),
            "https://idp/auth?tenant=t&a=1"
        );
        assert_eq!(
            with_query("https://idp/auth?", &[("a", "1")]),
            "https://idp/auth?a=1"
        );
        assert_eq!(
            with_query("https://idp/auth#f", &[("a", "")]),
            "https://idp/auth#f"
        );
        assert_eq!(
            with_query("https://idp/auth#f", &[("a", "1")]),
            "https://idp/auth?a=1#f"
        );
    }

    #[test]
    fn route_paths_are_configurable() {
        let routes = AuthRoutes::new("/api/")
            .path(AuthRoute::Token, "tok")
            .disable(AuthRoute::Userinfo);
        assert_eq!(
            routes.full_path(AuthRoute::Token).as_deref(),
            Some("/api/tok")
        );
        assert_eq!(
            routes.full_path(AuthRoute::Login).as_deref(),
            Some("/api/auth/v2/login")
        );
        assert_eq!(routes.full_path(AuthRoute::Userinfo), None);
        assert_eq!(
            AuthRoutes::new("").full_path(AuthRoute::Device).as_deref(),
            Some("/auth/v2/device")
        );
    }

    #[test]
    fn integers_are_read_leniently() {
        assert_eq!(as_int(&serde_json::json!(300)), Some(300));
        assert_eq!(as_int(&serde_json::json!(300.9)), Some(300));
        assert_eq!(as_int(&serde_json::json!("300")), Some(300));
        assert_eq!(as_int(&serde_json::json!(null)), None);
    }
}
