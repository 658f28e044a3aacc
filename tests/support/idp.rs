//! A real OpenID Provider for end-to-end tests, run as a process; the scripted user that drives
//! its pages is [`super::browser`].
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

use std::collections::hash_map::RandomState;
use std::fs;
use std::hash::{BuildHasher, Hasher};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oidc_actix::{OidcAuth, OidcAuthBuilder};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use url::Url;

use super::browser::{Browser, CallbackParams, http_client};
use super::lock::InstallLock;
use super::process::{ReadyProcess, run};

/// How long the provider may take to print its ready line (it takes 1–2 s, more while cargo
/// builds other test binaries in parallel).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one `npm ci` may take, and so how long another process waits for its lock.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

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
        let response = http_client()
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
    IdpReply::read(http_client().get(url).send().await).await
}

async fn post_form(url: &str, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> IdpReply {
    let mut request = http_client().post(url);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, secret);
    }
    IdpReply::read(request.send_form(&form).await).await
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
    run(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(dir)
            .current_dir(dir),
        &format!("`npm ci --prefix {}` failed", dir.display()),
    );
    eprintln!("test provider: npm ci took {:.1?}", began.elapsed());
}
