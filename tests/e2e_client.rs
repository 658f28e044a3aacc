//! Wire compatibility with the real Python client, py-oidc-auth-client 2603.0.1 from PyPI
//! (SPEC §8). The client's own code runs unmodified in a virtual environment
//! (`tests/client/compat.py`, `tests/support/python.rs`) against `examples/conformance.rs` and a
//! real OpenID provider (npm `oidc-provider`), for a confidential and a public client:
//!
//! - the device flow through `authenticate()`: the client posts to the device route, shows the
//!   code, polls the token route with `device-code` through `authorization_pending` while the
//!   scripted browser approves, and returns the token;
//! - the refresh through `authenticate()` once the cached access token has expired
//!   (`refresh-token`);
//! - the code flow through `CodeFlow`: the login URL the client builds, followed by the scripted
//!   browser through the provider to the client's own loopback callback server, which posts
//!   `code`, `redirect_uri`, `grant_type` and the verifier it takes from the state.
//!
//! And the fallback: with a provider that has no device endpoint the device route answers 503,
//! and `authenticate()` turns to the code flow.
//!
//! Every token the client gets must work on `/protected`, and every token answer must have the
//! six wire fields exactly, with integer expiries.

mod support;

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::app::ConformanceApp;
use support::idp::{CONF_CLIENT, IdpClient, IdpUser, JANE, JOHN, PUBLIC_CLIENT, TestIdp};
use support::inproc::{TOKEN_ANSWER_FIELDS, assert_token_answer};
use support::python::{CLIENT_VERSION, ClientRun, ScratchDir, venv_python};
use url::Url;

/// Where the example mounts the auth routes; the client is given `{app}/api/test` as its host and
/// joins its default routes (`/auth/v2/…`) to it.
const MOUNT: &str = "/api/test";
const PREFIX: &str = "/api/test/auth/v2";
/// The client's own timeout (device polling, code-flow wait, HTTP), in seconds.
const CLIENT_TIMEOUT: &str = "30";
/// How long the test waits for each thing the client reports.
const EVENT_TIMEOUT: Duration = Duration::from_secs(20);
/// The loopback ports the client's code flow may use (its default list).
const CALLBACK_PORTS: std::ops::RangeInclusive<u16> = 53100..=53105;

/// Starts `compat.py {command}` against the example's auth routes with the token store `store`
/// and `extra` arguments, and checks that it runs the pinned client.
async fn start_client(
    command: &str,
    app: &ConformanceApp,
    store: &str,
    extra: &[&str],
    scratch: &ScratchDir,
) -> ClientRun {
    let host = app.url(MOUNT);
    let mut args = vec![
        command,
        "--host",
        &host,
        "--store",
        store,
        "--timeout",
        CLIENT_TIMEOUT,
    ];
    args.extend(extra);
    let mut client = ClientRun::spawn(&args, scratch);
    let first = client.next_event(EVENT_TIMEOUT).await;
    if first["event"] != "version" || first["version"] != CLIENT_VERSION {
        client.fail(&format!(
            "expected py-oidc-auth-client {CLIENT_VERSION}, got {first}"
        ));
    }
    client
}

/// The next event must be a request of the client to `{PREFIX}{route}` answered with `status`;
/// answers (form as sent, answer body).
async fn expect_request(client: &mut ClientRun, route: &str, status: u16) -> (Value, Value) {
    let event = client.next_event(EVENT_TIMEOUT).await;
    let path = event["url"]
        .as_str()
        .and_then(|u| Url::parse(u).ok())
        .map(|u| u.path().to_owned());
    if event["event"] != "request"
        || path.as_deref() != Some(&format!("{PREFIX}{route}"))
        || event["status"] != status
    {
        client.fail(&format!(
            "expected a request to {PREFIX}{route} answered {status}, got {event}"
        ));
    }
    (event["form"].clone(), event["body"].clone())
}

/// The next event must be a message the client shows the user; answers its arguments.
async fn expect_display(client: &mut ClientRun) -> Value {
    let event = client.next_event(EVENT_TIMEOUT).await;
    if event["event"] != "display" {
        client.fail(&format!(
            "expected the client to show a message, got {event}"
        ));
    }
    event["args"].clone()
}

/// The next event must be the token the client returns, and then the client must exit 0.
async fn expect_token(client: &mut ClientRun) -> Value {
    let event = client.next_event(EVENT_TIMEOUT).await;
    if event["event"] != "token" {
        client.fail(&format!("expected the client's token, got {event}"));
    }
    client.expect_success(EVENT_TIMEOUT).await;
    event["token"].clone()
}

/// A token answer of the server (SPEC §2.9, **wire**): the six fields, with a refresh token
/// and both expiries at least a minute ahead, for the `offline_access` the client asks for.
fn assert_wire_token(body: &Value, what: &str) {
    let answer = assert_token_answer(body, what);
    assert!(
        !answer.refresh_token.is_empty(),
        "{what}: no refresh token: {body}"
    );
    answer.assert_lives(Duration::from_secs(60), what);
    assert!(
        answer.has_scope("offline_access"),
        "{what}: offline_access was asked for: {body}"
    );
}

/// What the client returned is the server's answer, under the same names (so it read `expires`
/// and `refresh_expires` instead of computing defaults), plus its ready-made header.
fn assert_client_kept(token: &Value, wire: &Value) {
    for field in TOKEN_ANSWER_FIELDS {
        assert_eq!(
            token[field], wire[field],
            "the client's `{field}` differs from the server's"
        );
    }
    assert_eq!(
        token["headers"]["Authorization"],
        format!(
            "{} {}",
            wire["token_type"].as_str().unwrap_or_default(),
            wire["access_token"].as_str().unwrap_or_default()
        )
    );
}

/// `GET /protected` with the header the client built; must answer 200 for `user`.
async fn assert_protected_as(app: &ConformanceApp, token: &Value, user: IdpUser) {
    let header = token["headers"]["Authorization"]
        .as_str()
        .unwrap_or_else(|| panic!("the client's token has no Authorization header: {token}"));
    let mut response = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish()
        .get(app.url("/protected"))
        .insert_header(("Authorization", header))
        .send()
        .await
        .expect("the app answers");
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "/protected refused the client's token: {body}");
    assert_eq!(body["preferred_username"], user.username, "{body}");
    assert_eq!(body["sub"], user.sub, "{body}");
}

/// The device flow through the client's `authenticate()`, with an empty token store.
async fn device_flow(
    app: &ConformanceApp,
    idp: &TestIdp,
    user: IdpUser,
    store: &str,
    scratch: &ScratchDir,
) -> Value {
    let mut client = start_client("authenticate", app, store, &[], scratch).await;

    // Device start: an empty form, and the fields the client requires.
    let (form, start) = expect_request(&mut client, "/device", 200).await;
    assert_eq!(form, json!({}), "the client sends an empty form");
    for field in ["device_code", "user_code", "verification_uri"] {
        assert!(
            start[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field}: {start}"
        );
    }
    assert!(start["expires_in"].is_i64(), "{start}");
    assert!(start["interval"].is_i64(), "{start}");
    let device_code = start["device_code"].as_str().unwrap_or_default();

    // What the client shows the user.
    let shown = expect_display(&mut client).await;
    assert_eq!(shown["user_code"], start["user_code"], "{shown}");
    let expected_uri = if start["verification_uri_complete"].is_string() {
        &start["verification_uri_complete"]
    } else {
        &start["verification_uri"]
    };
    assert_eq!(&shown["uri"], expected_uri, "{shown}");
    let uri = shown["uri"].as_str().unwrap_or_default();
    let user_code = shown["user_code"].as_str().unwrap_or_default();

    // The first poll comes before the approval: `authorization_pending`, as a top-level `error`
    // the client reads.
    let poll = json!({ "device-code": device_code });
    let (form, pending) = expect_request(&mut client, "/token", 400).await;
    assert_eq!(form, poll);
    assert_eq!(pending["error"], "authorization_pending", "{pending}");
    assert!(pending["detail"].is_string(), "{pending}");

    // The user approves while the client polls.
    if let Err(e) = idp
        .approve_device(uri, user_code, user.username, user.password)
        .await
    {
        client.fail(&format!("device approval failed: {e}"));
    }

    // More pending polls perhaps, then the token; nothing else.
    let began = Instant::now();
    let mut pending_polls = 1;
    let wire = loop {
        let event = client.next_event(EVENT_TIMEOUT).await;
        let is_poll = event["event"] == "request"
            && event["url"] == app.url(&format!("{PREFIX}/token"))
            && event["form"] == poll;
        match event["status"].as_u64() {
            Some(400) if is_poll && event["body"]["error"] == "authorization_pending" => {
                pending_polls += 1;
            }
            Some(200) if is_poll => break event["body"].clone(),
            _ => client.fail(&format!("unexpected event while polling: {event}")),
        }
        if began.elapsed() > EVENT_TIMEOUT {
            client.fail("the client still polls long after the approval");
        }
    };
    eprintln!(
        "device flow ({}): {pending_polls} pending poll(s)",
        app.base()
    );
    assert_wire_token(&wire, "device-code token answer");
    let token = expect_token(&mut client).await;
    assert_client_kept(&token, &wire);
    token
}

/// The refresh through the client's `authenticate()`: the cached access token is marked expired,
/// the refresh token is still valid.
async fn refresh(app: &ConformanceApp, before: &Value, store: &str, scratch: &ScratchDir) -> Value {
    let mut client = start_client("refresh", app, store, &[], scratch).await;
    let (form, wire) = expect_request(&mut client, "/token", 200).await;
    assert_eq!(form, json!({ "refresh-token": before["refresh_token"] }));
    assert_wire_token(&wire, "refresh token answer");
    let token = expect_token(&mut client).await;
    assert_client_kept(&token, &wire);
    assert_ne!(
        token["access_token"], before["access_token"],
        "a new access token"
    );
    token
}

/// The code flow from the client's first message to its token: the client has already been
/// started (by `CodeFlow` or by the fallback of `authenticate()`).
async fn code_flow(
    client: &mut ClientRun,
    app: &ConformanceApp,
    idp: &TestIdp,
    user: IdpUser,
) -> Value {
    // The login URL the client builds and shows (and opens: `BROWSER=true` opens nothing).
    let shown = expect_display(client).await;
    let login = shown["url"].as_str().unwrap_or_default().to_owned();
    let parsed = Url::parse(&login).unwrap_or_else(|e| panic!("login URL {login:?}: {e}"));
    let login_base = app.url(&format!("{PREFIX}/login"));
    assert!(
        login.starts_with(&format!("{login_base}?")),
        "the client's login URL: {login}"
    );
    let query: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
    let redirect_uri = query
        .first()
        .filter(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no redirect_uri first in {login}"));
    let port: u16 = redirect_uri
        .strip_prefix("http://localhost:")
        .and_then(|rest| rest.strip_suffix("/callback"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected redirect_uri {redirect_uri}"));
    assert!(CALLBACK_PORTS.contains(&port), "{redirect_uri}");
    assert_eq!(
        query,
        [
            ("redirect_uri".to_owned(), redirect_uri.clone()),
            ("offline_access".to_owned(), "true".to_owned()),
            ("prompt".to_owned(), "consent".to_owned()),
        ]
    );
    let hint = expect_display(client).await;
    assert_eq!(
        hint["port"], port,
        "the client's port-forwarding hint: {hint}"
    );

    // The browser: the app's login route, the provider's login and consent, and the redirect
    // back to the client's redirect_uri, passed through unchanged.
    let callback = match idp
        .browser()
        .login(&login, user.username, user.password)
        .await
    {
        Ok(callback) => callback,
        Err(e) => client.fail(&format!("browser login failed: {e}")),
    };
    assert!(
        callback.raw_url.starts_with(&format!("{redirect_uri}?")),
        "the provider redirected to {}",
        callback.raw_url
    );
    // The browser's last step: the client's own callback server.
    let (status, page) = get_loopback(&callback.raw_url).await;
    assert_eq!(status, 200, "the client's callback server answered: {page}");
    assert!(page.contains("Login successful"), "{page}");

    // The client's exchange at the token route, with the verifier it took from the state.
    let verifier = callback
        .state
        .rsplit_once('|')
        .map_or(callback.state.as_str(), |(_, v)| v);
    let (form, wire) = expect_request(client, "/token", 200).await;
    assert_eq!(
        form,
        json!({
            "code": callback.code,
            "redirect_uri": redirect_uri,
            "grant_type": "authorization_code",
            "code_verifier": verifier,
        })
    );
    assert_wire_token(&wire, "code token answer");
    let token = expect_token(client).await;
    assert_client_kept(&token, &wire);
    token
}

/// The browser's request to the client's callback server: `GET` of a `http://localhost:PORT/…`
/// URL, at 127.0.0.1 (the server binds `localhost` as IPv4), retrying while it is not listening
/// yet. The request side is shut down right after sending, so that this end closes first and
/// the TIME_WAIT lands on an ephemeral port: a TIME_WAIT on the callback port would make the
/// client's next port probe (a `bind` without `SO_REUSEADDR`) skip that port for a minute.
async fn get_loopback(url: &str) -> (u16, String) {
    let target = Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    let port = target.port().unwrap_or_else(|| panic!("no port in {url}"));
    let path = match target.query() {
        Some(query) => format!("{}?{query}", target.path()),
        None => target.path().to_owned(),
    };
    let began = Instant::now();
    let mut stream = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(stream) => break stream,
            Err(e) if began.elapsed() < Duration::from_secs(5) => {
                eprintln!("callback server not there yet: {e}");
                actix_web::rt::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the client's callback server on port {port} does not answer: {e}"),
        }
    };
    let exchange = |stream: &mut TcpStream| -> std::io::Result<String> {
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n"
        )?;
        stream.flush()?;
        stream.shutdown(Shutdown::Write)?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        Ok(response)
    };
    let response = exchange(&mut stream)
        .unwrap_or_else(|e| panic!("GET {path} at the client's callback server: {e}"));
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {response:?}"));
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, body.to_owned())
}

/// The three flows, in the order a user meets them, for one client registration.
async fn device_refresh_and_code_flow(client: IdpClient, redirect_ports: Option<&str>) {
    venv_python(); // before the clock starts: the first run installs the client
    let began = Instant::now();
    let idp = TestIdp::start();
    let app = ConformanceApp::for_client(&idp.discovery_url(), client);
    let scratch = ScratchDir::new();
    let store = scratch.file("token-store.json");

    let device = device_flow(&app, &idp, JANE, &store, &scratch).await;
    assert_protected_as(&app, &device, JANE).await;
    eprintln!("{}: device flow done at {:.1?}", client.id, began.elapsed());

    let refreshed = refresh(&app, &device, &store, &scratch).await;
    assert_protected_as(&app, &refreshed, JANE).await;
    eprintln!("{}: refresh done at {:.1?}", client.id, began.elapsed());

    let ports: Vec<&str> = redirect_ports
        .map(|ports| vec!["--redirect-ports", ports])
        .unwrap_or_default();
    let mut python = start_client("code-flow", &app, &store, &ports, &scratch).await;
    let code = code_flow(&mut python, &app, &idp, JOHN).await;
    assert_protected_as(&app, &code, JOHN).await;
    eprintln!("{}: code flow done at {:.1?}", client.id, began.elapsed());
}

#[actix_web::test]
async fn confidential_client_device_flow_refresh_and_code_flow() {
    // The client's default callback ports.
    device_refresh_and_code_flow(CONF_CLIENT, None).await;
}

#[actix_web::test]
async fn public_client_device_flow_refresh_and_code_flow() {
    // Another first port, so that the tests running in parallel do not race for one.
    device_refresh_and_code_flow(PUBLIC_CLIENT, Some("53102,53103,53104,53105,53100,53101")).await;
}

#[actix_web::test]
async fn a_device_route_answering_503_sends_the_client_to_the_code_flow() {
    venv_python();
    let idp = TestIdp::start();
    let mut discovery = idp.discovery().await;
    discovery
        .as_object_mut()
        .expect("discovery is an object")
        .remove("device_authorization_endpoint")
        .expect("the provider advertises a device endpoint");
    let without_device = JsonServer::start(&discovery);
    // Served from another address than the issuer's, the document names an issuer its URL is
    // not for (OpenID Connect Discovery §4.3): `OIDC_ISSUER` says that is intended.
    let app = ConformanceApp::start(&[
        ("OIDC_DISCOVERY_URL", &without_device.url()),
        ("OIDC_CLIENT_ID", PUBLIC_CLIENT.id),
        ("OIDC_AUDIENCE", PUBLIC_CLIENT.id),
        ("OIDC_ISSUER", idp.issuer()),
    ]);
    let scratch = ScratchDir::new();
    let store = scratch.file("token-store.json");
    let ports = ["--redirect-ports", "53104,53105,53100,53101,53102,53103"];
    let mut client = start_client("authenticate", &app, &store, &ports, &scratch).await;
    let (form, body) = expect_request(&mut client, "/device", 503).await;
    assert_eq!(form, json!({}));
    assert!(body["detail"].is_string(), "{body}");
    let token = code_flow(&mut client, &app, &idp, JANE).await;
    assert_protected_as(&app, &token, JANE).await;
}

/// Serves one JSON document to every request on a loopback port until dropped: here a
/// discovery document without a device endpoint.
struct JsonServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl JsonServer {
    fn start(document: &Value) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("a local address");
        let body = document.to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(mut stream) = stream {
                    let _ = Self::answer(&mut stream, &body);
                }
            }
        });
        Self { addr, stop }
    }

    fn url(&self) -> String {
        format!("http://{}/.well-known/openid-configuration", self.addr)
    }

    fn answer(stream: &mut TcpStream, body: &str) -> std::io::Result<()> {
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut request = Vec::new();
        let mut buffer = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buffer[..n]);
        }
        write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        )?;
        stream.flush()
    }
}

impl Drop for JsonServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}
