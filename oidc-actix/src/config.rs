//! Configuration: [`OidcAuth`] and its builder.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::algorithm::Algorithm;
use crate::claims::ClaimConstraints;
use crate::fetch::is_insecure;
use crate::login_state::{StateSealer, random_token};
use crate::policy::{PolicyDefaults, parse_scopes};
use crate::provider::{Provider, ProviderError, ProviderSettings};
use crate::redirect::RedirectAllowList;
use crate::verify::TokenRules;

/// A secret string: shown as `[redacted]` by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    /// The secret itself; keep it out of logs.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Why a configuration was refused by [`OidcAuthBuilder::build`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// Neither a discovery URL nor both `jwks_uri` and `issuer` overrides were given.
    NoProvider,
    /// An option that must be an absolute `http(s)` URL is not one.
    InvalidUrl {
        /// The builder option.
        option: &'static str,
        /// What was given.
        value: String,
    },
    /// A provider URL is plain `http` to a host other than loopback, and
    /// [`allow_insecure_http`](OidcAuthBuilder::allow_insecure_http) is off.
    InsecureUrl {
        /// The builder option.
        option: &'static str,
        /// What was given.
        value: String,
    },
    /// The [strict preset](OidcAuthBuilder::strict) requires this option.
    RequiredByStrict(&'static str),
    /// The scope string holds characters RFC 6749 §3.3 does not allow.
    InvalidScopes(String),
    /// The algorithm allow-list is empty.
    NoAlgorithms,
    /// The default claim constraints could not be read (`OIDC_CLAIMS`).
    InvalidClaims(String),
    /// A numeric or duration option is out of its range.
    OutOfRange {
        /// The builder option.
        option: &'static str,
        /// The allowed range.
        allowed: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoProvider => f.write_str(
                "no identity provider: set `discovery_url`, or both `jwks_uri` and `issuer`",
            ),
            Self::InvalidUrl { option, value } => {
                write!(
                    f,
                    "`{option}` must be an absolute http or https URL, got {value:?}"
                )
            }
            Self::InsecureUrl { option, value } => write!(
                f,
                "`{option}` is plain http to a host other than loopback ({value:?}): use https, \
                 or `allow_insecure_http(true)` for development"
            ),
            Self::RequiredByStrict(option) => {
                write!(f, "the strict preset requires `{option}`")
            }
            Self::InvalidScopes(why) => write!(f, "invalid `scopes`: {why}"),
            Self::NoAlgorithms => f.write_str("`algorithms` must allow at least one algorithm"),
            Self::InvalidClaims(why) => write!(f, "invalid claim constraints: {why}"),
            Self::OutOfRange { option, allowed } => write!(f, "`{option}` must be {allowed}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The validated configuration.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) client_id: String,
    pub(crate) client_secret: Option<Secret>,
    pub(crate) discovery_url: Option<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) audience: Option<String>,
    pub(crate) proxy: Option<String>,
    /// Shared with every [`Authenticated`](crate::Authenticated) that must apply them.
    pub(crate) policy_defaults: Arc<PolicyDefaults>,
    pub(crate) offline_access: bool,
    pub(crate) timeout: Duration,
    pub(crate) jwks_uri: Option<String>,
    pub(crate) issuer: Option<String>,
    pub(crate) leeway: Duration,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) jwks_ttl: Duration,
    pub(crate) jwks_refetch_cooldown: Duration,
    pub(crate) max_keys: usize,
    pub(crate) token_cache_capacity: usize,
    pub(crate) max_token_bytes: usize,
    pub(crate) redirect_allow_list: Option<RedirectAllowList>,
    pub(crate) post_logout_allow_list: Option<RedirectAllowList>,
    pub(crate) allow_insecure_http: bool,
    /// Lower-case, without `application/`.
    pub(crate) token_type: Option<String>,
    pub(crate) bind_login_to_browser: bool,
}

impl Config {
    /// The rules every bearer token is verified by.
    pub(crate) fn token_rules(&self) -> TokenRules<'_> {
        TokenRules {
            audience: self.audience.as_deref(),
            leeway: self.leeway,
            algorithms: &self.algorithms,
            max_token_bytes: self.max_token_bytes,
            token_type: self.token_type.as_deref(),
        }
    }

    /// The provider service's part of the configuration.
    fn provider_settings(&self) -> ProviderSettings {
        ProviderSettings {
            discovery_url: self.discovery_url.clone(),
            jwks_uri: self.jwks_uri.clone(),
            issuer: self.issuer.clone(),
            timeout: self.timeout,
            jwks_ttl: self.jwks_ttl,
            jwks_refetch_cooldown: self.jwks_refetch_cooldown,
            max_keys: self.max_keys,
            algorithms: self.algorithms.clone(),
            allow_insecure_http: self.allow_insecure_http,
        }
    }
}

/// OpenID Connect protection for an actix-web application: configuration, the provider's
/// discovery document and keys, and the verified-token cache.
///
/// Build one with [`OidcAuth::builder`], then register it with
/// `App::configure(auth.routes("/api"))` (which also makes it available to the extractors) or
/// with `App::app_data(auth.clone())`. Cloning is cheap; all clones share one state, so one
/// `OidcAuth` serves every actix worker.
#[derive(Clone)]
pub struct OidcAuth {
    inner: Arc<Inner>,
}

struct Inner {
    /// Identifies this instance in the per-worker token caches.
    id: u64,
    config: Config,
    provider: Arc<Provider>,
    /// Seals the login `state` (see `login_state.rs`).
    sealer: StateSealer,
}

impl fmt::Debug for OidcAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcAuth")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl OidcAuth {
    /// Starts a configuration with the defaults of py-oidc-auth.
    pub fn builder() -> OidcAuthBuilder {
        OidcAuthBuilder::default()
    }

    /// Identifies this instance (in the per-worker token caches).
    pub(crate) fn id(&self) -> u64 {
        self.inner.id
    }

    /// The validated configuration.
    pub(crate) fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The provider service: discovery document and key set.
    pub(crate) fn provider(&self) -> &Arc<Provider> {
        &self.inner.provider
    }

    /// Seals and opens the login `state`.
    pub(crate) fn sealer(&self) -> &StateSealer {
        &self.inner.sealer
    }

    /// What the configuration adds to every route's policy, if anything: `None` without
    /// default claims or the strict preset's role scope, so the common path touches no shared
    /// reference count (a cache line that every worker would bounce on every request,
    /// measurable on a cache hit, BENCHMARKS.md).
    pub(crate) fn policy_defaults(&self) -> Option<Arc<PolicyDefaults>> {
        let defaults = &self.inner.config.policy_defaults;
        (!defaults.is_none()).then(|| Arc::clone(defaults))
    }

    /// Loads the discovery document and the key set now instead of on the first request.
    ///
    /// Call it at start-up to find configuration mistakes early. A failure is returned (and the
    /// application can start anyway): validation then retries by itself, with a capped backoff.
    /// Like validation, it runs on the actix runtime: call it from `#[actix_web::main]` or a
    /// handler, not from a thread without one.
    pub async fn warm_up(&self) -> Result<(), ProviderError> {
        self.inner.provider.refresh_now().await
    }
}

/// Builds an [`OidcAuth`]. Every option has the default of py-oidc-auth or a documented safe one.
///
/// ```
/// use std::time::Duration;
/// use oidc_actix::{ClaimConstraints, OidcAuth};
///
/// let auth = OidcAuth::builder()
///     .client_id("my client")
///     .client_secret("secret")
///     .discovery_url("https://idp.example.org/realms/demo/.well-known/openid-configuration")
///     .scopes("myscope profile email")
///     .audience("my client")
///     .claims(ClaimConstraints::new().require("groups", ["staff"]))
///     .leeway(Duration::from_secs(30))
///     .build()
///     .expect("valid configuration");
/// # drop(auth);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct OidcAuthBuilder {
    client_id: String,
    client_secret: Option<Secret>,
    discovery_url: Option<String>,
    scopes: String,
    audience: Option<String>,
    proxy: Option<String>,
    claims: ClaimConstraints,
    offline_access: bool,
    timeout: Duration,
    jwks_uri: Option<String>,
    issuer: Option<String>,
    leeway: Duration,
    algorithms: Vec<Algorithm>,
    jwks_ttl: Duration,
    jwks_refetch_cooldown: Duration,
    max_keys: usize,
    token_cache_capacity: usize,
    max_token_bytes: usize,
    state_secret: Option<Secret>,
    redirect_allow_list: Option<RedirectAllowList>,
    post_logout_allow_list: Option<RedirectAllowList>,
    allow_insecure_http: bool,
    token_type: Option<String>,
    strict: bool,
    bind_login_to_browser: bool,
}

impl Default for OidcAuthBuilder {
    fn default() -> Self {
        Self {
            client_id: String::new(),
            client_secret: None,
            discovery_url: None,
            scopes: "profile email".to_owned(),
            audience: None,
            proxy: None,
            claims: ClaimConstraints::new(),
            offline_access: true,
            timeout: Duration::from_secs(10),
            jwks_uri: None,
            issuer: None,
            leeway: Duration::from_secs(60),
            algorithms: Algorithm::ALL.to_vec(),
            jwks_ttl: Duration::from_secs(15 * 60),
            jwks_refetch_cooldown: Duration::from_secs(30),
            max_keys: 32,
            token_cache_capacity: 2048,
            max_token_bytes: 16 * 1024,
            state_secret: None,
            redirect_allow_list: None,
            post_logout_allow_list: None,
            allow_insecure_http: false,
            token_type: None,
            strict: false,
            bind_login_to_browser: false,
        }
    }
}

fn non_empty(value: impl Into<String>) -> Option<String> {
    Some(value.into()).filter(|v| !v.is_empty())
}

impl OidcAuthBuilder {
    /// The OAuth client id: sent to the provider by the auth routes.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = client_id.into();
        self
    }

    /// The client secret of a confidential client (HTTP Basic towards the token endpoint).
    /// Empty means a public client.
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = non_empty(secret).map(Secret);
        self
    }

    /// The full URL of the provider's `.well-known/openid-configuration`.
    pub fn discovery_url(mut self, url: impl Into<String>) -> Self {
        self.discovery_url = non_empty(url);
        self
    }

    /// Space-separated scopes requested at login and for the device flow (default `profile email`).
    pub fn scopes(mut self, scopes: impl Into<String>) -> Self {
        self.scopes = scopes.into();
        self
    }

    /// The audience tokens must carry in `aud`. Without one, `aud` is not checked and tokens
    /// issued to *any* client of the provider are accepted (a warning says so at build time).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = non_empty(audience);
        self
    }

    /// The application's public base URL, used to build default redirect URIs.
    pub fn proxy(mut self, proxy: impl Into<String>) -> Self {
        self.proxy = non_empty(proxy);
        self
    }

    /// Claim constraints applied by every route that names none (default: none).
    pub fn claims(mut self, claims: ClaimConstraints) -> Self {
        self.claims = claims;
        self
    }

    /// Whether the device flow asks for `offline_access` (default `true`).
    pub fn offline_access(mut self, offline_access: bool) -> Self {
        self.offline_access = offline_access;
        self
    }

    /// The timeout of every call to the provider (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Uses this key-set URL instead of the discovery document's `jwks_uri`.
    pub fn jwks_uri(mut self, url: impl Into<String>) -> Self {
        self.jwks_uri = non_empty(url);
        self
    }

    /// Expects this `iss` instead of the discovery document's `issuer`.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = non_empty(issuer);
        self
    }

    /// Clock-skew tolerance for `exp`, `nbf` and `iat` (default 60 s; at most 10 minutes).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The signature algorithms accepted (default: all of [`Algorithm::ALL`]).
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// How long a fetched key set is used before it is refreshed in the background (default
    /// 15 minutes). Requests keep using the current keys while the refresh runs.
    pub fn jwks_ttl(mut self, ttl: Duration) -> Self {
        self.jwks_ttl = ttl;
        self
    }

    /// The minimum time between two key-set fetches caused by tokens with an unknown `kid`
    /// (default 30 s, at least 1 s): a rotated key is picked up within that time, and a flood of
    /// forged `kid`s costs the provider at most one request per window.
    pub fn jwks_refetch_cooldown(mut self, cooldown: Duration) -> Self {
        self.jwks_refetch_cooldown = cooldown;
        self
    }

    /// The most keys kept from one key set (default 32).
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// How many verified tokens each actix worker remembers (default 2048; 0 disables the cache).
    /// An entry takes about 4 KiB, so the default bounds the cache near 8 MiB per worker.
    pub fn token_cache_capacity(mut self, capacity: usize) -> Self {
        self.token_cache_capacity = capacity;
        self
    }

    /// Tokens longer than this are rejected before any parsing (default 16 KiB).
    pub fn max_token_bytes(mut self, bytes: usize) -> Self {
        self.max_token_bytes = bytes;
        self
    }

    /// The secret that seals the login `state`: at least 32 bytes (32 random bytes, for
    /// example 43 base64url characters, are ample), else [`ConfigError::OutOfRange`].
    /// Instances behind one load balancer must share it, so a login started on one instance can
    /// finish on another. Without it each process draws a random one at build time.
    pub fn state_secret(mut self, secret: impl Into<String>) -> Self {
        self.state_secret = non_empty(secret).map(Secret);
        self
    }

    /// Restricts the `redirect_uri` the login route passes to the provider (default: any, as
    /// py-oidc-auth does; a start-up warning recommends an allow-list).
    pub fn redirect_allow_list(mut self, list: RedirectAllowList) -> Self {
        self.redirect_allow_list = Some(list);
        self
    }

    /// Restricts the `post_logout_redirect_uri` of the logout route (default: any).
    pub fn post_logout_allow_list(mut self, list: RedirectAllowList) -> Self {
        self.post_logout_allow_list = Some(list);
        self
    }

    /// Requires bearer tokens to carry this `typ` in their header (default: any JWT type), such
    /// as `at+jwt`, which RFC 9068 access tokens carry (Keycloak since 25 when asked, Auth0,
    /// Entra ID v2, the npm `oidc-provider`). Then an ID token, whose `typ` is `JWT`, is never
    /// taken for an access token — which it otherwise can be when the audience is the client id.
    /// Compared without regard to case, with or without the `application/` prefix.
    pub fn require_token_type(mut self, typ: impl Into<String>) -> Self {
        let typ = typ.into().to_ascii_lowercase();
        self.token_type = non_empty(typ.strip_prefix("application/").unwrap_or(&typ));
        self
    }

    /// Binds each login to the browser that started it (default `false`): the login route sets
    /// an HttpOnly, SameSite=Lax cookie whose hash is sealed into the `state`, and the callback
    /// finishes the login only for a request carrying it. Whoever obtains a login's code and
    /// state elsewhere (a leaked redirect, a log) then cannot redeem them.
    ///
    /// For logins that finish at this application's callback (a browser application). A bound
    /// login cannot finish through the token route, which is how py-oidc-auth-client's browser
    /// login finishes (it posts the state from Python, without the browser's cookie): leave
    /// this off where that client is used.
    pub fn bind_login_to_browser(mut self, bind: bool) -> Self {
        self.bind_login_to_browser = bind;
        self
    }

    /// The strict preset, for deployments that do not need py-oidc-auth's lenient defaults:
    /// [`build`](Self::build) requires a `client_id`, an [`audience`](Self::audience) and a
    /// [`post_logout_allow_list`](Self::post_logout_allow_list) (without one, logout from a
    /// provider with no end-session endpoint is an open redirect), and role-like claim
    /// constraints (`groups`, `roles`, …) count only this client's roles under
    /// `resource_access` (by default a role `admins` of *any* client satisfies
    /// `{"groups": ["admins"]}`). Each missing option is [`ConfigError::RequiredByStrict`].
    /// The role scope travels with every authenticated request, as default claims do: one
    /// shared reference-count increment per request, which the lenient default does without.
    pub fn strict(mut self) -> Self {
        self.strict = true;
        self
    }

    /// Allows plain `http` to the provider on hosts other than loopback (default `false`): the
    /// discovery URL, the key-set URL and every endpoint the discovery document names. For
    /// development only, and logged as a warning at build time: tokens, codes, refresh tokens
    /// and the keys that decide what is valid would cross the network unprotected. `http` to
    /// `localhost`, `127.0.0.0/8` and `[::1]` is always allowed.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Reads the options that are set in the environment, overriding what was set before:
    /// `OIDC_DISCOVERY_URL`, `OIDC_CLIENT_ID`, `OIDC_CLIENT_SECRET`, `OIDC_AUDIENCE`,
    /// `OIDC_SCOPES`, `OIDC_PROXY`, `OIDC_ISSUER`, `OIDC_JWKS_URI`, and `OIDC_CLAIMS` (a JSON
    /// object of default claim constraints, as [`ClaimConstraints::from_json`] reads it).
    /// Unset or empty variables leave the option as it was.
    pub fn with_env(self) -> Result<Self, ConfigError> {
        self.with_vars(|name| std::env::var(name).ok())
    }

    fn with_vars(mut self, var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        type Setter = fn(OidcAuthBuilder, String) -> OidcAuthBuilder;
        let setters: [(&str, Setter); 8] = [
            ("OIDC_DISCOVERY_URL", |b, v| b.discovery_url(v)),
            ("OIDC_CLIENT_ID", |b, v| b.client_id(v)),
            ("OIDC_CLIENT_SECRET", |b, v| b.client_secret(v)),
            ("OIDC_AUDIENCE", |b, v| b.audience(v)),
            ("OIDC_SCOPES", |b, v| b.scopes(v)),
            ("OIDC_PROXY", |b, v| b.proxy(v)),
            ("OIDC_ISSUER", |b, v| b.issuer(v)),
            ("OIDC_JWKS_URI", |b, v| b.jwks_uri(v)),
        ];
        for (name, set) in setters {
            if let Some(value) = var(name).filter(|v| !v.is_empty()) {
                self = set(self, value);
            }
        }
        if let Some(claims) = var("OIDC_CLAIMS").filter(|v| !v.trim().is_empty()) {
            let parsed = serde_json::from_str(&claims)
                .map_err(|e| e.to_string())
                .and_then(|json| ClaimConstraints::from_json(&json).map_err(|e| e.to_string()));
            self.claims = parsed.map_err(ConfigError::InvalidClaims)?;
        }
        Ok(self)
    }

    /// Checks the configuration and builds the [`OidcAuth`]. Nothing is fetched yet.
    pub fn build(self) -> Result<OidcAuth, ConfigError> {
        for (option, value) in [
            ("discovery_url", &self.discovery_url),
            ("jwks_uri", &self.jwks_uri),
            ("proxy", &self.proxy),
        ] {
            if let Some(value) = value {
                check_url(option, value)?;
            }
        }
        // The provider is called at these; `proxy` is this application's own address.
        for (option, value) in [
            ("discovery_url", &self.discovery_url),
            ("jwks_uri", &self.jwks_uri),
        ] {
            if let Some(value) = value.as_ref().filter(|url| is_insecure(url))
                && !self.allow_insecure_http
            {
                return Err(ConfigError::InsecureUrl {
                    option,
                    value: value.clone(),
                });
            }
        }
        if self.allow_insecure_http {
            // Also for discovered endpoints, which are only known later.
            log::warn!(
                "oidc-actix: `allow_insecure_http` is on: the provider may be called over plain \
                 http beyond loopback, where tokens, codes and keys can be read or replaced. For \
                 development only."
            );
        }
        if self.discovery_url.is_none() && (self.jwks_uri.is_none() || self.issuer.is_none()) {
            return Err(ConfigError::NoProvider);
        }
        if self.strict {
            let missing = [
                ("client_id", self.client_id.is_empty()),
                ("audience", self.audience.is_none()),
                (
                    "post_logout_allow_list",
                    self.post_logout_allow_list.is_none(),
                ),
            ];
            if let Some((option, _)) = missing.into_iter().find(|(_, missing)| *missing) {
                return Err(ConfigError::RequiredByStrict(option));
            }
        }
        let scopes =
            parse_scopes(&self.scopes).map_err(|e| ConfigError::InvalidScopes(e.to_string()))?;
        if self.algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithms);
        }
        let ranges: [(&'static str, bool, &'static str); 6] = [
            (
                "leeway",
                self.leeway <= Duration::from_secs(600),
                "at most 10 minutes",
            ),
            (
                "timeout",
                self.timeout >= Duration::from_millis(100),
                "at least 100 ms",
            ),
            (
                "jwks_refetch_cooldown",
                self.jwks_refetch_cooldown >= Duration::from_secs(1),
                "at least 1 s",
            ),
            ("max_keys", self.max_keys >= 1, "at least 1"),
            (
                "max_token_bytes",
                self.max_token_bytes >= 256,
                "at least 256",
            ),
            (
                "state_secret",
                // The sealing key is derived from it: a short secret can be guessed offline from
                // any sealed state, and then every login state read and forged.
                self.state_secret
                    .as_ref()
                    .is_none_or(|secret| secret.expose().len() >= 32),
                "at least 32 bytes",
            ),
        ];
        if let Some((option, _, allowed)) = ranges.into_iter().find(|(_, ok, _)| !ok) {
            return Err(ConfigError::OutOfRange { option, allowed });
        }
        if self.audience.is_none() {
            log::warn!(
                "oidc-actix: no audience configured, so `aud` is not checked: tokens issued to any \
                 client of the provider are accepted. Set `OidcAuthBuilder::audience`."
            );
        }
        if self.token_type.is_none()
            && self.audience.is_some()
            && self.audience.as_deref() == Some(self.client_id.as_str())
        {
            log::warn!(
                "oidc-actix: the audience is the client id and no token type is required, so an ID \
                 token issued to this client is accepted as an access token. If the provider marks \
                 its access tokens (RFC 9068), set `require_token_type(\"at+jwt\")`."
            );
        }
        if self.redirect_allow_list.is_none() || self.post_logout_allow_list.is_none() {
            log::warn!(
                "oidc-actix: no redirect allow-list configured: the login and logout routes pass any \
                 redirect URI on. Set `redirect_allow_list` and `post_logout_allow_list`."
            );
        }
        let sealer = match &self.state_secret {
            Some(secret) => StateSealer::new(secret.expose().as_bytes()),
            None => StateSealer::new(random_token(32).as_bytes()),
        };
        let mut algorithms = self.algorithms;
        algorithms.dedup();
        let role_client = self.strict.then(|| self.client_id.clone());
        let config = Config {
            client_id: self.client_id,
            client_secret: self.client_secret,
            discovery_url: self.discovery_url,
            scopes,
            audience: self.audience,
            proxy: self.proxy,
            policy_defaults: Arc::new(PolicyDefaults {
                claims: self.claims,
                role_client,
            }),
            offline_access: self.offline_access,
            timeout: self.timeout,
            jwks_uri: self.jwks_uri,
            issuer: self.issuer,
            leeway: self.leeway,
            algorithms,
            jwks_ttl: self.jwks_ttl,
            jwks_refetch_cooldown: self.jwks_refetch_cooldown,
            max_keys: self.max_keys,
            token_cache_capacity: self.token_cache_capacity,
            max_token_bytes: self.max_token_bytes,
            redirect_allow_list: self.redirect_allow_list,
            post_logout_allow_list: self.post_logout_allow_list,
            allow_insecure_http: self.allow_insecure_http,
            token_type: self.token_type,
            bind_login_to_browser: self.bind_login_to_browser,
        };
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let provider = Arc::new(Provider::new(config.provider_settings()));
        Ok(OidcAuth {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                config,
                provider,
                sealer,
            }),
        })
    }
}

fn check_url(option: &'static str, value: &str) -> Result<(), ConfigError> {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
    match host {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => Ok(()),
        _ => Err(ConfigError::InvalidUrl {
            option,
            value: value.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> OidcAuthBuilder {
        OidcAuth::builder().discovery_url("http://127.0.0.1:1/.well-known/openid-configuration")
    }

    #[test]
    fn a_provider_is_required_and_overrides_suffice_without_discovery() {
        assert_eq!(
            OidcAuth::builder().build().unwrap_err(),
            ConfigError::NoProvider
        );
        assert_eq!(
            OidcAuth::builder()
                .jwks_uri("https://idp/jwks")
                .build()
                .unwrap_err(),
            ConfigError::NoProvider
        );
        assert!(
            OidcAuth::builder()
                .jwks_uri("https://idp/jwks")
                .issuer("https://idp")
                .build()
                .is_ok()
        );
    }

    #[test]
    fn plain_http_to_the_provider_is_refused_beyond_loopback_unless_allowed() {
        for (option, builder) in [
            (
                "discovery_url",
                OidcAuth::builder().discovery_url("http://idp.example.org/.well-known/x"),
            ),
            (
                "jwks_uri",
                OidcAuth::builder()
                    .jwks_uri("http://idp.example.org/jwks")
                    .issuer("https://idp.example.org"),
            ),
        ] {
            assert_eq!(
                builder.clone().build().unwrap_err(),
                ConfigError::InsecureUrl {
                    option,
                    value: builder
                        .discovery_url
                        .clone()
                        .or(builder.jwks_uri.clone())
                        .unwrap()
                }
            );
            assert!(
                builder.allow_insecure_http(true).build().is_ok(),
                "{option}"
            );
        }
        assert!(base().proxy("http://app.example.org").build().is_ok());
    }

    #[test]
    fn malformed_options_are_typed_errors() {
        assert!(matches!(
            OidcAuth::builder().discovery_url("idp.example.org").build(),
            Err(ConfigError::InvalidUrl {
                option: "discovery_url",
                ..
            })
        ));
        assert!(matches!(
            base().scopes("a \"b\"").build(),
            Err(ConfigError::InvalidScopes(_))
        ));
        assert_eq!(
            base().algorithms([]).build().unwrap_err(),
            ConfigError::NoAlgorithms
        );
        assert!(matches!(
            base().leeway(Duration::from_secs(3600)).build(),
            Err(ConfigError::OutOfRange {
                option: "leeway",
                ..
            })
        ));
        assert_eq!(
            base()
                .state_secret("31 bytes of secret, one short..")
                .build()
                .unwrap_err(),
            ConfigError::OutOfRange {
                option: "state_secret",
                allowed: "at least 32 bytes"
            }
        );
        assert!(
            base()
                .state_secret("32 bytes of secret, just enough.")
                .build()
                .is_ok()
        );
        assert!(matches!(
            base().jwks_refetch_cooldown(Duration::ZERO).build(),
            Err(ConfigError::OutOfRange {
                option: "jwks_refetch_cooldown",
                ..
            })
        ));
    }

    #[test]
    fn the_strict_preset_requires_what_it_promises() {
        let complete = base()
            .strict()
            .client_id("api")
            .audience("api")
            .post_logout_allow_list(RedirectAllowList::new().loopback());
        assert!(complete.clone().build().is_ok());
        for (option, incomplete) in [
            ("client_id", complete.clone().client_id("")),
            ("audience", complete.clone().audience("")),
            ("post_logout_allow_list", {
                let mut builder = complete.clone();
                builder.post_logout_allow_list = None;
                builder
            }),
        ] {
            assert_eq!(
                incomplete.build().unwrap_err(),
                ConfigError::RequiredByStrict(option)
            );
        }
        let strict = complete.build().unwrap();
        assert_eq!(
            strict.policy_defaults().unwrap().role_client.as_deref(),
            Some("api")
        );
        assert!(base().build().unwrap().policy_defaults().is_none());
    }

    #[test]
    fn environment_variables_override_and_bad_claims_are_errors() {
        let vars = |name: &str| match name {
            "OIDC_AUDIENCE" => Some("api".to_owned()),
            "OIDC_SCOPES" => Some("a b".to_owned()),
            "OIDC_CLIENT_ID" => Some(String::new()),
            "OIDC_CLAIMS" => Some(r#"{"groups": ["admins"]}"#.to_owned()),
            _ => None,
        };
        let builder = base().client_id("kept").with_vars(vars).unwrap();
        assert_eq!(builder.audience.as_deref(), Some("api"));
        assert_eq!(builder.scopes, "a b");
        assert_eq!(builder.client_id, "kept");
        assert_eq!(
            builder.claims,
            ClaimConstraints::new().require("groups", ["admins"])
        );
        let bad = base().with_vars(|name| (name == "OIDC_CLAIMS").then(|| "[1]".to_owned()));
        assert!(matches!(bad, Err(ConfigError::InvalidClaims(_))));
    }

    #[test]
    fn debug_redacts_the_client_secret() {
        let auth = base().client_secret("hunter2").build().unwrap();
        let shown = format!("{auth:?}");
        assert!(shown.contains("[redacted]"));
        assert!(!shown.contains("hunter2"));
    }
}
