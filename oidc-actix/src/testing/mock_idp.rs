//! An in-process OpenID Provider on a local port.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use futures::channel::oneshot;
use serde_json::{Value, json};

use super::TEST_AUDIENCE;
use super::keys::TestKey;
use super::token::TokenBuilder;
use crate::{Algorithm, OidcAuth, OidcAuthBuilder};

/// The size of the [`Fault::HugeJwks`] body.
const HUGE_BODY_BYTES: usize = 10 * 1024 * 1024;

/// The body of [`Fault::GrantServerError`]: what a reverse proxy serves when its upstream is down.
const PROXY_ERROR_PAGE: &str = "<html><head><title>503 Service Temporarily Unavailable</title></head>\
     <body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>";

/// A misbehaviour of the [`MockIdp`], set with [`MockIdp::set_fault`].
///
/// Faults apply to the requests that arrive after they are set; requests are counted by
/// [`MockIdp::requests`] whatever the fault.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer normally.
    #[default]
    None,
    /// `500 Internal Server Error` for the discovery document and the key set.
    ServerError,
    /// Wait this long before answering any request (normally); longer than the client's timeout
    /// to simulate a hung provider.
    Slow(Duration),
    /// A key set that is not JSON.
    MalformedJwks,
    /// A key set without keys: `{"keys": []}`.
    EmptyJwks,
    /// A 10 MiB key set (valid JSON, no keys), far beyond what a client should read.
    HugeJwks,
    /// A discovery document without `jwks_uri`.
    NoJwksUriInDiscovery,
    /// `500 Internal Server Error` for the key set only; the discovery document is served, so
    /// an application gets as far as the key set and fails there.
    JwksServerError,
    /// Wait this long before answering the key set only (discovery and the grant endpoints
    /// answer at once): a key-set endpoint that hangs past the client's timeout while the
    /// discovery document loads.
    SlowJwks(Duration),
    /// Wait this long before answering the grant endpoints only (`/token`, `/device`,
    /// `/userinfo`), then answer as scripted: a token endpoint that is slow while the discovery
    /// document and the key set are fine, as during device-flow polling.
    SlowGrant(Duration),
    /// `503 Service Unavailable` with an HTML body (not JSON, no OAuth `error`) from the grant
    /// endpoints, as a reverse proxy answers when the provider behind it is down. Discovery and
    /// the key set answer normally.
    GrantServerError,
}

/// How many requests a [`MockIdp`] received, from [`MockIdp::requests`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestCounts {
    /// Requests for the discovery document.
    pub discovery: u64,
    /// Requests for the key set.
    pub jwks: u64,
    /// Requests for the token endpoint (`/token`).
    pub token: u64,
    /// Requests for the device authorization endpoint (`/device`).
    pub device: u64,
    /// Requests for the userinfo endpoint (`/userinfo`).
    pub userinfo: u64,
    /// Every request, to any path.
    pub total: u64,
}

/// What the provider publishes and signs with.
struct Keys {
    published: Vec<TestKey>,
    signer: TestKey,
}

/// The state shared by the [`MockIdp`] handle and its server.
struct State {
    issuer: String,
    keys: Mutex<Keys>,
    fault: Mutex<Fault>,
    /// Scripted answers of the grant endpoints, by endpoint.
    answers: Mutex<HashMap<GrantEndpoint, (u16, Value)>>,
    /// The last request each grant endpoint received.
    recorded: Mutex<HashMap<GrantEndpoint, RecordedRequest>>,
    /// Members left out of the discovery document.
    omitted: Mutex<Vec<String>>,
    /// Members served with another value, in order.
    replaced: Mutex<Vec<(String, Value)>>,
    /// While a [`KeySetHold`] lives: one sender per key-set request held back, whose drop lets
    /// that request answer.
    key_set_hold: Mutex<Option<Vec<oneshot::Sender<()>>>>,
    discovery: AtomicU64,
    jwks: AtomicU64,
    token: AtomicU64,
    device: AtomicU64,
    userinfo: AtomicU64,
    total: AtomicU64,
}

impl State {
    /// The counters that [`MockIdp::reset_counts`] sets back to zero.
    fn counters(&self) -> [&AtomicU64; 6] {
        [
            &self.discovery,
            &self.jwks,
            &self.token,
            &self.device,
            &self.userinfo,
            &self.total,
        ]
    }

    /// The counter of `endpoint`, if it has one besides `total`.
    fn counter(&self, endpoint: Endpoint) -> Option<&AtomicU64> {
        match endpoint {
            Endpoint::Discovery => Some(&self.discovery),
            Endpoint::Jwks => Some(&self.jwks),
            Endpoint::Grant(GrantEndpoint::Token) => Some(&self.token),
            Endpoint::Grant(GrantEndpoint::Device) => Some(&self.device),
            Endpoint::Grant(GrantEndpoint::Userinfo) => Some(&self.userinfo),
            Endpoint::Unimplemented | Endpoint::Unknown => None,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the data consistent, so a panic elsewhere cannot corrupt it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The server thread of a running [`MockIdp`].
struct Running {
    /// Sending (or dropping) stops the server.
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

/// An OpenID Provider for tests, served by actix-web on `127.0.0.1` on a port of its own.
///
/// It serves
///
/// * `GET /.well-known/openid-configuration`: the discovery document, with `issuer`
///   `http://127.0.0.1:PORT`, `jwks_uri` and the usual endpoints on the same server
///   (`/authorize` and `/logout` answer `501 Not Implemented`; `/token`, `/device` and
///   `/userinfo` answer what [`set_answer`](Self::set_answer) scripted, 501 until then, and
///   record their last request for [`last_request`](Self::last_request));
/// * `GET /jwks`: the published keys, each with `kid`, `use: "sig"` and `alg`. At start, one key
///   per algorithm, [`TestKey::PER_ALGORITHM`].
///
/// Tokens come from [`token`](Self::token), signed with the current signing key
/// ([`TestKey::Rs256`] at start). Keys can be rotated, faults injected, the server stopped and
/// restarted on the same port, and the requests it received counted.
///
/// The server runs on its own thread with its own actix system, so [`start`](Self::start) is a
/// plain function that works in `#[actix_web::test]` and `#[test]` alike, and the provider
/// answers even while the test's runtime is blocked. Dropping the `MockIdp` stops it.
///
/// ```
/// use oidc_actix::testing::{Fault, MockIdp};
///
/// let idp = MockIdp::start();
/// assert_eq!(idp.issuer(), format!("http://127.0.0.1:{}", idp.port()));
/// let new_key = idp.rotate();
/// assert!(idp.published_kids().contains(&new_key.kid()));
/// idp.set_fault(Fault::ServerError);
/// assert_eq!(idp.requests().total, 0);
/// ```
pub struct MockIdp {
    port: u16,
    discovery_url: String,
    jwks_uri: String,
    state: Arc<State>,
    server: Mutex<Option<Running>>,
}

impl MockIdp {
    /// Starts a provider on a free port of `127.0.0.1`. It accepts connections when this returns.
    ///
    /// # Panics
    ///
    /// If no local port can be bound or the server thread cannot start.
    pub fn start() -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap_or_else(|e| panic!("oidc-actix mock IdP: cannot bind 127.0.0.1:0: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("oidc-actix mock IdP: no local address: {e}"))
            .port();
        let issuer = format!("http://127.0.0.1:{port}");
        let state = Arc::new(State {
            discovery: AtomicU64::new(0),
            jwks: AtomicU64::new(0),
            token: AtomicU64::new(0),
            device: AtomicU64::new(0),
            userinfo: AtomicU64::new(0),
            total: AtomicU64::new(0),
            keys: Mutex::new(Keys {
                published: TestKey::PER_ALGORITHM.to_vec(),
                signer: TestKey::Rs256,
            }),
            fault: Mutex::new(Fault::None),
            answers: Mutex::new(HashMap::new()),
            recorded: Mutex::new(HashMap::new()),
            omitted: Mutex::new(Vec::new()),
            replaced: Mutex::new(Vec::new()),
            key_set_hold: Mutex::new(None),
            issuer: issuer.clone(),
        });
        let running = serve(listener, Arc::clone(&state))
            .unwrap_or_else(|e| panic!("oidc-actix mock IdP: cannot start the server: {e}"));
        Self {
            port,
            discovery_url: format!("{issuer}/.well-known/openid-configuration"),
            jwks_uri: format!("{issuer}/jwks"),
            state,
            server: Mutex::new(Some(running)),
        }
    }

    /// The issuer, `http://127.0.0.1:PORT`: the `iss` of its tokens.
    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    /// The URL of the discovery document.
    pub fn discovery_url(&self) -> &str {
        &self.discovery_url
    }

    /// The URL of the key set.
    pub fn jwks_uri(&self) -> &str {
        &self.jwks_uri
    }

    /// The port the provider listens on (the same after [`restart`](Self::restart)).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of `path` on this provider (`idp.url("/token")`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.state.issuer)
    }

    /// A builder for a token from this provider: its issuer, signed with its current signing
    /// key. See [`TokenBuilder`] for the default claims.
    pub fn token(&self) -> TokenBuilder {
        TokenBuilder::with_key(self.state.issuer.clone(), self.signer())
    }

    /// An [`OidcAuth`] builder for this provider: its discovery URL, client id and audience
    /// [`TEST_AUDIENCE`], no clock leeway and a 2 s timeout. Other options keep their defaults
    /// (a 30 s `jwks_refetch_cooldown` among them); change what your test needs before `build`.
    pub fn auth_builder(&self) -> OidcAuthBuilder {
        OidcAuth::builder()
            .client_id(TEST_AUDIENCE)
            .discovery_url(self.discovery_url.as_str())
            .audience(TEST_AUDIENCE)
            .leeway(Duration::ZERO)
            .timeout(Duration::from_secs(2))
    }

    /// The key [`token`](Self::token) signs with.
    pub fn signer(&self) -> TestKey {
        lock(&self.state.keys).signer
    }

    /// Signs future tokens with `key`. It is not published by this: call [`publish`](Self::publish)
    /// too, unless the test is about an unpublished key.
    pub fn set_signer(&self, key: TestKey) {
        lock(&self.state.keys).signer = key;
    }

    /// Rotates the signing key: publishes the next RS256 key ([`TestKey::next_rsa`] of the
    /// current signer), signs with it, and stops publishing the previous signer. Returns the new
    /// key.
    ///
    /// The four RS256 keys are used in turn (`Rs256`, `Rsa2`, `Rsa3`, `Rsa4`), so the fourth
    /// rotation brings back the first key. To keep the old key published for a while, as real
    /// providers do, [`publish`](Self::publish) it again.
    pub fn rotate(&self) -> TestKey {
        let mut keys = lock(&self.state.keys);
        let old = keys.signer;
        let new = old.next_rsa();
        keys.published.retain(|key| *key != old);
        if !keys.published.contains(&new) {
            keys.published.push(new);
        }
        keys.signer = new;
        new
    }

    /// Publishes `key` in the key set (no change if it is already there).
    pub fn publish(&self, key: TestKey) {
        let mut keys = lock(&self.state.keys);
        if !keys.published.contains(&key) {
            keys.published.push(key);
        }
    }

    /// Stops publishing the key with this `kid`; `false` if none was published.
    pub fn unpublish(&self, kid: &str) -> bool {
        let mut keys = lock(&self.state.keys);
        let before = keys.published.len();
        keys.published.retain(|key| key.kid() != kid);
        keys.published.len() != before
    }

    /// Publishes exactly `keys`, in this order (duplicates are dropped).
    pub fn set_published(&self, keys: impl IntoIterator<Item = TestKey>) {
        let mut published = Vec::new();
        for key in keys {
            if !published.contains(&key) {
                published.push(key);
            }
        }
        lock(&self.state.keys).published = published;
    }

    /// The keys in the key set, in the order served.
    pub fn published(&self) -> Vec<TestKey> {
        lock(&self.state.keys).published.clone()
    }

    /// The `kid`s in the key set, in the order served.
    pub fn published_kids(&self) -> Vec<&'static str> {
        lock(&self.state.keys)
            .published
            .iter()
            .map(|key| key.kid())
            .collect()
    }

    /// Holds back the key-set answers until the returned [`KeySetHold`] is released or dropped:
    /// a key-set request that arrives meanwhile takes the keys published at its arrival and
    /// waits, as a fetch through a slow link carries the keys of the moment it began. Released,
    /// it answers those keys (after the delay of a [`Fault::Slow`] or [`Fault::SlowJwks`], as
    /// any request; other key-set faults answer as they would have). Counted at its arrival.
    ///
    /// For tests that need a fetch in flight for as long as they like: what a request does
    /// while the key set is being refreshed, or a key published while a fetch is on its way.
    /// There is one hold at a time: a second call shares the first one, and dropping either
    /// releases.
    pub fn hold_key_set(&self) -> KeySetHold {
        lock(&self.state.key_set_hold).get_or_insert_with(Vec::new);
        KeySetHold {
            state: Arc::clone(&self.state),
        }
    }

    /// Makes the provider misbehave from the next request on ([`Fault::None`] to stop).
    pub fn set_fault(&self, fault: Fault) {
        *lock(&self.state.fault) = fault;
    }

    /// Scripts the answer of a grant endpoint: its status and JSON body. Until scripted, these
    /// endpoints answer `501 Not Implemented`.
    pub fn set_answer(&self, endpoint: GrantEndpoint, status: u16, body: Value) {
        lock(&self.state.answers).insert(endpoint, (status, body));
    }

    /// The last request `endpoint` received, if any.
    pub fn last_request(&self, endpoint: GrantEndpoint) -> Option<RecordedRequest> {
        lock(&self.state.recorded).get(&endpoint).cloned()
    }

    /// Leaves `member` (such as `"device_authorization_endpoint"`) out of the discovery document.
    pub fn omit_from_discovery(&self, member: &str) {
        lock(&self.state.omitted).push(member.to_owned());
    }

    /// Serves `value` as `member` of the discovery document, in place of the mock's own: a
    /// misconfigured or hostile provider, such as an `authorization_endpoint` with a CR LF.
    pub fn set_discovery_member(&self, member: &str, value: Value) {
        lock(&self.state.replaced).push((member.to_owned(), value));
    }

    /// The current fault.
    pub fn fault(&self) -> Fault {
        *lock(&self.state.fault)
    }

    /// The requests received since the start or the last [`reset_counts`](Self::reset_counts),
    /// faulted ones included.
    pub fn requests(&self) -> RequestCounts {
        RequestCounts {
            discovery: self.state.discovery.load(Ordering::SeqCst),
            jwks: self.state.jwks.load(Ordering::SeqCst),
            token: self.state.token.load(Ordering::SeqCst),
            device: self.state.device.load(Ordering::SeqCst),
            userinfo: self.state.userinfo.load(Ordering::SeqCst),
            total: self.state.total.load(Ordering::SeqCst),
        }
    }

    /// Sets the request counts back to zero.
    pub fn reset_counts(&self) {
        for counter in self.state.counters() {
            counter.store(0, Ordering::SeqCst);
        }
    }

    /// Whether the provider is listening (it is, unless [`stop`](Self::stop)ped).
    pub fn is_running(&self) -> bool {
        lock(&self.server).is_some()
    }

    /// Stops the server: when this returns, the port is closed and connections to it are
    /// refused; open connections are dropped, requests in progress abandoned. Keys, fault and
    /// counts are kept for [`restart`](Self::restart). No effect if already stopped.
    pub fn stop(&self) {
        let running = lock(&self.server).take();
        if let Some(Running { stop, thread }) = running {
            // The server thread stops on this signal (or on the sender being dropped).
            let _ = stop.send(());
            if thread.join().is_err() {
                log::error!("oidc-actix mock IdP: the server thread panicked");
            }
        }
    }

    /// Listens again, on the same port, after [`stop`](Self::stop). No effect if running.
    ///
    /// # Panics
    ///
    /// If the port cannot be bound again (another process took it in the meantime) or the
    /// server thread cannot start.
    pub fn restart(&self) {
        let mut server = lock(&self.server);
        if server.is_some() {
            return;
        }
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        // std sets SO_REUSEADDR on Unix, so connections of the previous server in TIME_WAIT do
        // not keep the port busy.
        let listener = TcpListener::bind(address)
            .unwrap_or_else(|e| panic!("oidc-actix mock IdP: cannot bind {address} again: {e}"));
        let running = serve(listener, Arc::clone(&self.state))
            .unwrap_or_else(|e| panic!("oidc-actix mock IdP: cannot restart the server: {e}"));
        *server = Some(running);
    }
}

impl Drop for MockIdp {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for MockIdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockIdp")
            .field("issuer", &self.state.issuer)
            .field("running", &self.is_running())
            .field("signer", &self.signer().kid())
            .field("published", &self.published_kids())
            .field("fault", &self.fault())
            .finish()
    }
}

/// Runs the server for `listener` on a new thread with its own actix system; returns once it
/// is accepting connections.
fn serve(listener: TcpListener, state: Arc<State>) -> io::Result<Running> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<()>>();
    let (stop, stopped) = oneshot::channel::<()>();
    let port = listener.local_addr()?.port();
    let thread = std::thread::Builder::new()
        .name(format!("oidc-actix-mock-idp-{port}"))
        .spawn(move || {
            actix_rt::System::new().block_on(async move {
                let data = web::Data::from(state);
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .default_service(web::to(answer))
                })
                .workers(1)
                .disable_signals()
                .listen(listener);
                let server = match server {
                    Ok(server) => server.run(),
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let handle = server.handle();
                let running = actix_rt::spawn(server);
                let _ = ready_tx.send(Ok(()));
                // A dropped sender (the `MockIdp` is gone) stops the server as well.
                let _ = stopped.await;
                // Waits until the listener is closed; connections are dropped, not drained.
                handle.stop(false).await;
                let _ = running.await;
            });
        })?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(Running { stop, thread }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::other("the server thread ended before listening")),
    }
}

/// The endpoints whose answers a test scripts with [`MockIdp::set_answer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GrantEndpoint {
    /// `POST /token`.
    Token,
    /// `POST /device`.
    Device,
    /// `GET /userinfo`.
    Userinfo,
}

/// A request a grant endpoint received.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The form fields of the body, in order.
    pub form: Vec<(String, String)>,
}

impl RecordedRequest {
    /// The first value of a form field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Key-set answers held back by [`MockIdp::hold_key_set`]; dropping it releases them too.
#[must_use = "dropping the hold releases the key-set answers at once"]
pub struct KeySetHold {
    state: Arc<State>,
}

impl KeySetHold {
    /// How many key-set requests wait for the release now.
    pub fn waiting(&self) -> usize {
        lock(&self.state.key_set_hold)
            .as_ref()
            .map_or(0, |held| held.iter().filter(|r| !r.is_canceled()).count())
    }

    /// Lets every held request answer, and the ones that come from now on answer at once.
    pub fn release(self) {
        drop(self);
    }
}

impl Drop for KeySetHold {
    fn drop(&mut self) {
        // Dropping the senders wakes every held request.
        lock(&self.state.key_set_hold).take();
    }
}

impl fmt::Debug for KeySetHold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySetHold")
            .field("waiting", &self.waiting())
            .finish()
    }
}

/// The paths the provider serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Discovery,
    Jwks,
    Grant(GrantEndpoint),
    /// Advertised in the discovery document, not implemented.
    Unimplemented,
    Unknown,
}

impl Endpoint {
    fn of(path: &str) -> Self {
        match path {
            "/.well-known/openid-configuration" => Self::Discovery,
            "/jwks" => Self::Jwks,
            "/token" => Self::Grant(GrantEndpoint::Token),
            "/device" => Self::Grant(GrantEndpoint::Device),
            "/userinfo" => Self::Grant(GrantEndpoint::Userinfo),
            "/authorize" | "/logout" => Self::Unimplemented,
            _ => Self::Unknown,
        }
    }
}

async fn answer(req: HttpRequest, body: Bytes, state: web::Data<State>) -> HttpResponse {
    state.total.fetch_add(1, Ordering::SeqCst);
    let endpoint = Endpoint::of(req.path());
    if let Some(counter) = state.counter(endpoint) {
        counter.fetch_add(1, Ordering::SeqCst);
    }
    if let Endpoint::Grant(grant) = endpoint {
        let recorded = RecordedRequest {
            authorization: req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            form: serde_urlencoded::from_bytes(&body).unwrap_or_default(),
        };
        lock(&state.recorded).insert(grant, recorded);
    }
    // A held key-set request keeps the keys of its arrival (see `MockIdp::hold_key_set`).
    let mut held_keys = None;
    if endpoint == Endpoint::Jwks {
        let released = lock(&state.key_set_hold).as_mut().map(|held| {
            let (release, released) = oneshot::channel::<()>();
            held.push(release);
            released
        });
        if let Some(released) = released {
            held_keys = Some(lock(&state.keys).published.clone());
            // Released when the sender is dropped: an error is the signal.
            let _ = released.await;
        }
    }
    let fault = *lock(&state.fault);
    let delay = match (fault, endpoint) {
        (Fault::Slow(delay), _)
        | (Fault::SlowJwks(delay), Endpoint::Jwks)
        | (Fault::SlowGrant(delay), Endpoint::Grant(_)) => Some(delay),
        _ => None,
    };
    if let Some(delay) = delay {
        actix_rt::time::sleep(delay).await;
    }
    match (endpoint, fault) {
        (Endpoint::Discovery | Endpoint::Jwks, Fault::ServerError)
        | (Endpoint::Jwks, Fault::JwksServerError) => {
            HttpResponse::InternalServerError().json(json!({"error": "server_error"}))
        }
        (Endpoint::Grant(_), Fault::GrantServerError) => HttpResponse::ServiceUnavailable()
            .content_type(ContentType::html())
            .body(PROXY_ERROR_PAGE),
        (Endpoint::Discovery, fault) => {
            let mut document = discovery_document(&state.issuer);
            if let Some(document) = document.as_object_mut() {
                if fault == Fault::NoJwksUriInDiscovery {
                    document.remove("jwks_uri");
                }
                for member in lock(&state.omitted).iter() {
                    document.remove(member);
                }
                for (member, value) in lock(&state.replaced).iter() {
                    document.insert(member.clone(), value.clone());
                }
            }
            HttpResponse::Ok().json(document)
        }
        (Endpoint::Jwks, Fault::MalformedJwks) => HttpResponse::Ok()
            .content_type(ContentType::json())
            .body("{\"keys\": [{\"kty\": \"RSA\", \"n\": <garbage>"),
        (Endpoint::Jwks, Fault::EmptyJwks) => HttpResponse::Ok().json(json!({"keys": []})),
        (Endpoint::Jwks, Fault::HugeJwks) => HttpResponse::Ok()
            .content_type(ContentType::json())
            .body(huge_body()),
        (Endpoint::Jwks, _) => {
            let published = held_keys.unwrap_or_else(|| lock(&state.keys).published.clone());
            HttpResponse::Ok().json(TestKey::jwks(published))
        }
        (Endpoint::Grant(grant), _) => match lock(&state.answers).get(&grant) {
            Some((status, body)) => HttpResponse::build(
                StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            )
            .json(body),
            None => not_implemented(),
        },
        (Endpoint::Unimplemented, _) => not_implemented(),
        (Endpoint::Unknown, _) => HttpResponse::NotFound().finish(),
    }
}

fn not_implemented() -> HttpResponse {
    HttpResponse::build(StatusCode::NOT_IMPLEMENTED).json(
        json!({"error": "not_implemented", "error_description": "not implemented by the mock IdP"}),
    )
}

fn discovery_document(issuer: &str) -> Value {
    let algorithms: Vec<&str> = Algorithm::ALL.iter().map(|alg| alg.name()).collect();
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/jwks"),
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "device_authorization_endpoint": format!("{issuer}/device"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "end_session_endpoint": format!("{issuer}/logout"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algorithms,
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:device_code"
        ],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "preferred_username", "email"],
    })
}

/// A syntactically valid JSON key set of [`HUGE_BODY_BYTES`], built once.
fn huge_body() -> Bytes {
    static BODY: OnceLock<Bytes> = OnceLock::new();
    BODY.get_or_init(|| {
        let (head, tail) = ("{\"keys\": [], \"padding\": \"", "\"}");
        let mut body = vec![b'x'; HUGE_BODY_BYTES];
        body[..head.len()].copy_from_slice(head.as_bytes());
        body[HUGE_BODY_BYTES - tail.len()..].copy_from_slice(tail.as_bytes());
        Bytes::from(body)
    })
    .clone()
}
