//! A real OpenID Provider for end-to-end tests, and a scripted user to drive it.
//!
//! Include it from an integration test with
//!
//! ```ignore
//! #[path = "support/idp.rs"]
//! mod idp;
//! ```
//!
//! [`TestIdp::start`] runs `node tests/idp/provider.mjs` (the npm package `oidc-provider`, see
//! `tests/idp/README.md`) on `127.0.0.1` with a free port and kills it on drop. It installs
//! `tests/idp/node_modules` first if needed (`npm ci`, once per checkout, behind a lock file so
//! that parallel test binaries do not race) and panics with a clear message when `node` or `npm`
//! is missing: these tests never skip silently.
//!
//! `start` is synchronous: it blocks for the provider's start-up (about a second). Everything that
//! talks HTTP is `async` and uses `awc`, so it must run inside an actix runtime
//! (`#[actix_web::test]`).
//!
//! What the provider issues: access tokens are RS256 JWTs (ES256 for [`ES_CLIENT`]) with
//! `typ: at+jwt`, `iss` = [`TestIdp::issuer`] and **`aud` = the client id** (unless started with
//! [`IdpOptions::audience`]), carrying Keycloak-like claims (`preferred_username`, `email`,
//! `groups`, `realm_access.roles`, `resource_access.<client id>.roles`, `scope`). Refresh tokens
//! come only with the `offline_access` scope (unless [`IdpOptions::always_refresh`]) and are not
//! rotated.
//!
//! For fault tests: [`TestIdp::rotate`] changes the signing key of a running provider,
//! [`TestIdp::set_fault`] makes one path slow or failing, and a provider dropped (killed) can
//! come back on its port with [`IdpOptions::port`] (same issuer, new keys).

#![allow(dead_code)] // every test binary uses a different part of this module

use std::collections::hash_map::RandomState;
use std::fs;
use std::hash::{BuildHasher, Hasher};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oidc_actix::{OidcAuth, OidcAuthBuilder};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use url::Url;

use super::lock::InstallLock;
use super::process::ReadyProcess;

/// How long the provider may take to print its ready line (it takes 1–2 s, more while cargo
/// builds other test binaries in parallel).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one `npm ci` may take, and so how long another process waits for its lock.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);
/// Timeout of every HTTP request made by this module.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on the pages one scripted browser walk may visit.
const MAX_STEPS: usize = 30;

/// The resource every access token is issued for (the provider's default resource indicator).
pub const RESOURCE: &str = "urn:oidc-actix:test-api";
/// The grant type of the device flow (RFC 8628).
pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A client registered at the test provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdpClient {
    /// `client_id`.
    pub id: &'static str,
    /// `client_secret` for `client_secret_basic`; `None` for a public client (auth method `none`,
    /// `client_id` in the form, PKCE required).
    pub secret: Option<&'static str>,
}

impl IdpClient {
    /// The library configured as this client of the provider at `discovery_url`, with the client
    /// id as the audience (the test provider's `aud`).
    pub fn auth_builder(self, discovery_url: &str) -> OidcAuthBuilder {
        let builder = OidcAuth::builder()
            .discovery_url(discovery_url)
            .client_id(self.id)
            .audience(self.id);
        match self.secret {
            Some(secret) => builder.client_secret(secret),
            None => builder,
        }
    }
}

/// Confidential client, `client_secret_basic`.
pub const CONF_CLIENT: IdpClient = IdpClient {
    id: "conf-client",
    secret: Some("conf-secret"),
};
/// Public client (`none`).
pub const PUBLIC_CLIENT: IdpClient = IdpClient {
    id: "public-client",
    secret: None,
};
/// Public client whose access (and ID) tokens live 3 seconds (`--short-access-ttl`).
pub const SHORT_CLIENT: IdpClient = IdpClient {
    id: "short-client",
    secret: None,
};
/// Public client whose access tokens are signed with the ES256 key.
pub const ES_CLIENT: IdpClient = IdpClient {
    id: "es-client",
    secret: None,
};

/// A user of the test provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdpUser {
    /// Login name, also `preferred_username`.
    pub username: &'static str,
    /// Password.
    pub password: &'static str,
    /// `sub`.
    pub sub: &'static str,
    /// `email`.
    pub email: &'static str,
    /// `given_name`.
    pub given_name: &'static str,
    /// `family_name`.
    pub family_name: &'static str,
    /// `groups`.
    pub groups: &'static [&'static str],
    /// `realm_access.roles`.
    pub realm_roles: &'static [&'static str],
    /// `resource_access.<client id>.roles`, whichever client asked.
    pub client_roles: &'static [&'static str],
}

/// Jane: an admin with realm roles.
pub const JANE: IdpUser = IdpUser {
    username: "jane",
    password: "jane-pw",
    sub: "3f1c5d2e-7a4b-4c3d-9e8f-1a2b3c4d5e6f",
    email: "jane@example.org",
    given_name: "Jane",
    family_name: "Doe",
    groups: &["admins"],
    realm_roles: &["offline_access", "uma_authorization"],
    client_roles: &["admin", "editor"],
};

/// John: a plain user without realm roles (`realm_access.roles` is `[]`).
pub const JOHN: IdpUser = IdpUser {
    username: "john",
    password: "john-pw",
    sub: "8b7a6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d",
    email: "john@example.org",
    given_name: "John",
    family_name: "Roe",
    groups: &["users"],
    realm_roles: &[],
    client_roles: &["viewer"],
};

/// The user with this login name.
pub fn user(username: &str) -> IdpUser {
    [JANE, JOHN]
        .into_iter()
        .find(|u| u.username == username)
        .unwrap_or_else(|| {
            panic!("the test provider has no user `{username}` (it has jane and john)")
        })
}

/// Start-up options of the provider (its command-line flags; see `tests/idp/README.md`).
#[derive(Debug, Clone, Default)]
pub struct IdpOptions {
    args: Vec<String>,
    port: Option<u16>,
}

impl IdpOptions {
    /// Listens on this port of `127.0.0.1` instead of a free one: to bring a provider up where
    /// an application already looks for it, or back where one was stopped (same issuer). Its
    /// keys are new each start.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Default lifetime of access and ID tokens in seconds (provider default 300).
    pub fn access_ttl(self, seconds: u64) -> Self {
        self.arg("--access-ttl", seconds.to_string())
    }

    /// Lifetime of [`SHORT_CLIENT`]'s access tokens in seconds (provider default 3).
    pub fn short_access_ttl(self, seconds: u64) -> Self {
        self.arg("--short-access-ttl", seconds.to_string())
    }

    /// Lifetime of refresh tokens, grants and sessions in seconds (provider default 3600).
    pub fn refresh_ttl(self, seconds: u64) -> Self {
        self.arg("--refresh-ttl", seconds.to_string())
    }

    /// Lifetime of device codes in seconds (provider default 600).
    pub fn device_ttl(self, seconds: u64) -> Self {
        self.arg("--device-ttl", seconds.to_string())
    }

    /// The `interval` of device authorization answers in seconds (provider default 1).
    pub fn device_interval(self, seconds: u64) -> Self {
        self.arg("--device-interval", seconds.to_string())
    }

    /// A fixed `aud` for all access tokens instead of the client id.
    pub fn audience(self, audience: &str) -> Self {
        self.arg("--audience", audience.to_owned())
    }

    /// Issue a refresh token with every token response, like Keycloak, not only for
    /// `offline_access`.
    pub fn always_refresh(mut self) -> Self {
        self.args.push("--always-refresh".into());
        self
    }

    /// Extra clients, or overrides of the built-in ones by `client_id`: a JSON array of
    /// `oidc-provider` client metadata, plus optional `access_token_ttl` and `access_token_alg`.
    pub fn clients_json(self, json: &str) -> Self {
        self.arg("--clients", json.to_owned())
    }

    fn arg(mut self, flag: &str, value: String) -> Self {
        self.args.push(flag.into());
        self.args.push(value);
        self
    }

    /// Starts a provider with these options.
    pub fn start(self) -> TestIdp {
        TestIdp::start_with(self)
    }
}

/// A running test provider; the process is killed when this is dropped.
pub struct TestIdp {
    process: ReadyProcess,
    issuer: String,
    startup: Duration,
}

impl TestIdp {
    /// Starts a provider with the default options (blocks until it is ready).
    pub fn start() -> Self {
        Self::start_with(IdpOptions::default())
    }

    /// Options for [`IdpOptions::start`].
    pub fn options() -> IdpOptions {
        IdpOptions::default()
    }

    fn start_with(options: IdpOptions) -> Self {
        ensure_node_modules();
        let began = Instant::now();
        let script = idp_dir().join("provider.mjs");
        let mut command = Command::new("node");
        command
            .arg(&script)
            .args(["--host", "127.0.0.1", "--port"])
            .arg(options.port.unwrap_or(0).to_string())
            .arg("--exit-on-stdin-close")
            .args(&options.args)
            .current_dir(idp_dir());
        let process = ReadyProcess::spawn(command, "READY ", START_TIMEOUT, "the test provider");
        Self {
            issuer: process.ready.clone(),
            process,
            startup: began.elapsed(),
        }
    }

    /// The issuer, `http://127.0.0.1:PORT`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        Url::parse(&self.issuer)
            .ok()
            .and_then(|url| url.port())
            .unwrap_or_else(|| panic!("the issuer {} names no port", self.issuer))
    }

    /// `{issuer}/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    /// `{issuer}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// How long [`TestIdp::start`] waited for the ready line.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// What the provider printed so far (stdout and stderr).
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// The discovery document.
    pub async fn discovery(&self) -> Value {
        get_json(&self.discovery_url()).await.expect_ok("discovery")
    }

    /// The published key set.
    pub async fn jwks(&self) -> Value {
        get_json(&self.url("/jwks")).await.expect_ok("jwks")
    }

    /// The `kid`s of the published key set, in order.
    pub async fn kids(&self) -> Vec<String> {
        let jwks = self.jwks().await;
        jwks["keys"]
            .as_array()
            .expect("jwks.keys is an array")
            .iter()
            .map(|k| k["kid"].as_str().expect("every key has a kid").to_owned())
            .collect()
    }

    /// Admin: adds a new RS256 signing key with a new `kid`; tokens issued from now on are signed
    /// with it. The old keys stay published unless `drop_old`. Returns the new `kid`.
    pub async fn rotate(&self, drop_old: bool) -> String {
        let path = if drop_old {
            "/__test/rotate?drop_old=1"
        } else {
            "/__test/rotate"
        };
        let reply = post_form(&self.url(path), None, &[])
            .await
            .expect_ok("rotate");
        reply["kid"]
            .as_str()
            .expect("rotate answers the new kid")
            .to_owned()
    }

    /// Admin: makes requests to `path` (such as `/token` or `/jwks`) misbehave until
    /// [`clear_faults`](Self::clear_faults); replaces an earlier fault of the same path. Faulted
    /// requests are still counted.
    pub async fn set_fault(&self, path: &str, fault: IdpFault) {
        let mut url = Url::parse(&self.url("/__test/fault")).expect("issuer is a URL");
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("path", path);
            match fault {
                IdpFault::Delay(delay) => {
                    query.append_pair("delay_ms", &delay.as_millis().to_string())
                }
                IdpFault::Status(status) => query.append_pair("status", &status.to_string()),
            };
        }
        post_form(url.as_str(), None, &[])
            .await
            .expect_ok("set a fault");
    }

    /// Admin: removes every fault set with [`set_fault`](Self::set_fault).
    pub async fn clear_faults(&self) {
        post_form(&self.url("/__test/fault/clear"), None, &[])
            .await
            .expect_ok("clear the faults");
    }

    /// Admin: how many requests each endpoint has answered since start-up (or the last reset).
    pub async fn counts(&self) -> IdpCounts {
        let body = get_json(&self.url("/__test/counts"))
            .await
            .expect_ok("counts");
        IdpCounts::from_json(&body)
    }

    /// Admin: sets every count to zero.
    pub async fn reset_counts(&self) {
        post_form(&self.url("/__test/counts/reset"), None, &[])
            .await
            .expect_ok("reset counts");
    }

    /// An authorization request URL for the code flow with PKCE (S256).
    pub fn authorize_url(
        &self,
        client: IdpClient,
        redirect_uri: &str,
        scope: &str,
        state: &str,
        pkce: &Pkce,
    ) -> String {
        let mut url = Url::parse(&self.url("/auth")).expect("issuer is a URL");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", client.id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", scope)
            .append_pair("state", state)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256");
        url.into()
    }

    /// The scripted browser, fresh (no cookies): see [`Browser::login`].
    pub async fn login(
        &self,
        authorize_url: &str,
        user: &str,
        password: &str,
    ) -> Result<CallbackParams, String> {
        Browser::new(&self.issuer)
            .login(authorize_url, user, password)
            .await
    }

    /// The scripted browser, fresh (no cookies): see [`Browser::approve_device`].
    pub async fn approve_device(
        &self,
        verification_uri: &str,
        user_code: &str,
        user: &str,
        password: &str,
    ) -> Result<(), String> {
        Browser::new(&self.issuer)
            .approve_device(verification_uri, user_code, user, password)
            .await
    }

    /// A fresh scripted browser for this provider.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.issuer)
    }

    /// Token endpoint: the authorization-code grant.
    pub async fn exchange_code(
        &self,
        client: IdpClient,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> IdpReply {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier),
        ];
        self.token_request(client, &form).await
    }

    /// Token endpoint: the refresh-token grant.
    pub async fn refresh(&self, client: IdpClient, refresh_token: &str) -> IdpReply {
        self.token_request(
            client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await
    }

    /// Token endpoint: one device-code poll.
    pub async fn poll_device(&self, client: IdpClient, device_code: &str) -> IdpReply {
        self.token_request(
            client,
            &[("grant_type", DEVICE_GRANT), ("device_code", device_code)],
        )
        .await
    }

    /// Device authorization endpoint (RFC 8628 §3.1).
    pub async fn device_authorization(&self, client: IdpClient, scope: &str) -> IdpReply {
        self.client_request("/device/auth", client, &[("scope", scope)])
            .await
    }

    /// Any form POST to the token endpoint with the client's authentication.
    pub async fn token_request(&self, client: IdpClient, form: &[(&str, &str)]) -> IdpReply {
        self.client_request("/token", client, form).await
    }

    async fn client_request(
        &self,
        path: &str,
        client: IdpClient,
        form: &[(&str, &str)],
    ) -> IdpReply {
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        if client.secret.is_none() {
            fields.push(("client_id", client.id));
        }
        let basic = client.secret.map(|secret| (client.id, secret));
        post_form(&self.url(path), basic, &fields).await
    }

    /// The userinfo endpoint with `Authorization: Bearer {access_token}`.
    pub async fn userinfo(&self, access_token: &str) -> IdpReply {
        let response = http()
            .get(self.url("/me"))
            .insert_header(("Authorization", format!("Bearer {access_token}")))
            .send()
            .await;
        IdpReply::read(response).await
    }

    /// Tokens for `user` without going through the application: drives the code flow with PKCE
    /// against the provider directly (redirect URI `http://127.0.0.1:9/callback`, never
    /// contacted) and returns the token endpoint's JSON. Panics on any failure.
    pub async fn token_for(&self, client: IdpClient, user: IdpUser, scope: &str) -> Value {
        let redirect_uri = "http://127.0.0.1:9/callback";
        let pkce = Pkce::new();
        let state = random_token();
        let url = self.authorize_url(client, redirect_uri, scope, &state, &pkce);
        let callback = self
            .login(&url, user.username, user.password)
            .await
            .unwrap_or_else(|e| panic!("login of {} at {} failed: {e}", user.username, client.id));
        assert_eq!(callback.state, state, "the provider echoes the state");
        self.exchange_code(client, &callback.code, redirect_uri, &pkce.verifier)
            .await
            .expect_ok("code exchange")
    }
}

/// A misbehaviour of one provider path, for [`TestIdp::set_fault`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdpFault {
    /// Answer this late (then normally): past the application's timeout, a hanging endpoint.
    Delay(Duration),
    /// Answer with this 5xx status and an OAuth `server_error` body instead.
    Status(u16),
}

/// Request counts of the provider's endpoints (`GET /__test/counts`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdpCounts {
    /// Both discovery documents.
    pub discovery: u64,
    /// `/jwks`.
    pub jwks: u64,
    /// The authorization endpoint (first requests only, not the resumes).
    pub authorization: u64,
    /// The token endpoint.
    pub token: u64,
    /// The userinfo endpoint.
    pub userinfo: u64,
    /// The device authorization endpoint.
    pub device_authorization: u64,
    /// The end-session endpoint.
    pub end_session: u64,
}

impl IdpCounts {
    fn from_json(body: &Value) -> Self {
        let n = |key: &str| {
            body[key]
                .as_u64()
                .unwrap_or_else(|| panic!("counts.{key} missing: {body}"))
        };
        Self {
            discovery: n("discovery"),
            jwks: n("jwks"),
            authorization: n("authorization"),
            token: n("token"),
            userinfo: n("userinfo"),
            device_authorization: n("device_authorization"),
            end_session: n("end_session"),
        }
    }
}

/// An HTTP answer of the provider: status and JSON body (`Value::Null` if it was not JSON).
#[derive(Debug, Clone)]
pub struct IdpReply {
    /// HTTP status.
    pub status: u16,
    /// The body as JSON, or `Value::Null`.
    pub json: Value,
    /// The body as text.
    pub text: String,
}

impl IdpReply {
    async fn read<S>(response: Result<awc::ClientResponse<S>, awc::error::SendRequestError>) -> Self
    where
        S: futures::Stream<Item = Result<actix_web::web::Bytes, actix_web::error::PayloadError>>
            + Unpin,
    {
        let mut response =
            response.unwrap_or_else(|e| panic!("request to the test provider failed: {e}"));
        let body = response
            .body()
            .limit(1 << 20)
            .await
            .expect("read the provider's answer");
        let text = String::from_utf8_lossy(&body).into_owned();
        Self {
            status: response.status().as_u16(),
            json: serde_json::from_slice(&body).unwrap_or(Value::Null),
            text,
        }
    }

    /// The JSON body; panics with the body if the status is not 2xx.
    pub fn expect_ok(self, what: &str) -> Value {
        assert!(
            (200..300).contains(&self.status),
            "{what}: HTTP {} {}",
            self.status,
            self.text
        );
        self.json
    }

    /// The OAuth `error` code of an error answer.
    pub fn error(&self) -> Option<&str> {
        self.json["error"].as_str()
    }
}

async fn get_json(url: &str) -> IdpReply {
    IdpReply::read(http().get(url).send().await).await
}

async fn post_form(url: &str, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> IdpReply {
    let mut request = http().post(url);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, secret);
    }
    IdpReply::read(request.send_form(&form).await).await
}

fn http() -> awc::Client {
    awc::Client::builder()
        .disable_redirects()
        .timeout(HTTP_TIMEOUT)
        .finish()
}

/// A PKCE pair (RFC 7636), method S256.
#[derive(Debug, Clone)]
pub struct Pkce {
    /// 43 URL-safe characters.
    pub verifier: String,
    /// `BASE64URL(SHA256(verifier))`.
    pub challenge: String,
}

impl Pkce {
    /// A fresh random pair.
    pub fn new() -> Self {
        Self::from_verifier(random_token())
    }

    /// The pair for a given verifier.
    pub fn from_verifier(verifier: String) -> Self {
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Self::new()
    }
}

/// 32 random bytes, base64url: 43 characters. Random enough for tests (not a CSPRNG).
pub fn random_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut bytes = Vec::with_capacity(32);
    for i in 0..4u64 {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        hasher.write_u128(nanos);
        hasher.write_u64(i);
        hasher.write_u32(std::process::id());
        bytes.extend_from_slice(&hasher.finish().to_le_bytes());
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The header and payload of a JWT, not verified.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut decode = |what: &str| -> Value {
        let part = parts
            .next()
            .unwrap_or_else(|| panic!("not a JWT (no {what}): {token}"));
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .unwrap_or_else(|e| panic!("JWT {what} is not base64url: {e}"));
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("JWT {what} is not JSON: {e}"))
    };
    let header = decode("header");
    let payload = decode("payload");
    (header, payload)
}

/// The `kid` of a JWT's header, not verified; panics without one.
pub fn kid_of(token: &str) -> String {
    let (header, _) = jwt_parts(token);
    header["kid"].as_str().expect("a kid").to_owned()
}

// ------------------------------------------------------------------------------------------------
// The scripted browser.

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
        let client = http();
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

// ------------------------------------------------------------------------------------------------
// Installing the provider's npm packages.

fn idp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("idp")
}

/// Makes sure `tests/idp/node_modules` matches `tests/idp/package-lock.json`: once per process,
/// and across processes through a lock file in cargo's target tmp directory, so parallel test
/// binaries do not run `npm ci` over each other.
fn ensure_node_modules() {
    static INSTALLED: Mutex<bool> = Mutex::new(false);
    let mut installed = INSTALLED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if *installed {
        return;
    }
    check_node();
    let dir = idp_dir();
    let lockfile = fs::read(dir.join("package-lock.json")).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}",
            dir.join("package-lock.json").display()
        )
    });
    let stamp = dir.join("node_modules").join(".oidc-actix-installed");
    let up_to_date = || {
        fs::read(&stamp).is_ok_and(|s| s == lockfile)
            && dir
                .join("node_modules")
                .join("oidc-provider")
                .join("package.json")
                .is_file()
    };
    if !up_to_date() {
        let _lock =
            InstallLock::acquire("oidc-actix-test-idp-npm.lock", INSTALL_TIMEOUT, "`npm ci`");
        if !up_to_date() {
            npm_ci(&dir);
            fs::write(&stamp, &lockfile)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", stamp.display()));
        }
    }
    *installed = true;
}

fn check_node() {
    let missing = |tool: &str, e: &std::io::Error| -> ! {
        panic!(
            "the end-to-end tests run a real OpenID Provider on Node.js (tests/idp, npm package \
             oidc-provider) and need `node` (20 or later) and `npm` on PATH: running `{tool} --version` \
             failed: {e}"
        )
    };
    let node = Command::new("node")
        .arg("--version")
        .output()
        .unwrap_or_else(|e| missing("node", &e));
    let version = String::from_utf8_lossy(&node.stdout).trim().to_owned();
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    assert!(
        major >= 20,
        "the test provider needs Node.js 20 or later, found `{version}`"
    );
    Command::new("npm")
        .arg("--version")
        .output()
        .unwrap_or_else(|e| missing("npm", &e));
}

fn npm_ci(dir: &Path) {
    let began = Instant::now();
    let output = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(dir)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `npm ci`: {e}"));
    assert!(
        output.status.success(),
        "`npm ci --prefix {}` failed ({}):\n{}\n{}",
        dir.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("test provider: npm ci took {:.1?}", began.elapsed());
}
