//! The auth routes: the sealed login state (forged, replayed, sealed elsewhere, tampered) and
//! redirect targets (allow-lists, bytes no URI holds, a hostile provider's endpoints).

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::test::{TestRequest, init_service};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::future::join_all;
use oidc_actix::testing::{GrantEndpoint, MockIdp, RequestCounts, TEST_AUDIENCE};
use oidc_actix::{OidcAuth, RedirectAllowList};
use serde_json::json;

use crate::support::inproc::query_value;
use crate::{
    Answer, TestService, assert_bad_request, assert_provider_untouched, attacked_app, bearer, call,
    urlencode,
};

// ------------------------------------------------------------------------------------------------
// The login state.

const LOGIN: &str = "/api/auth/v2/login";
const CALLBACK: &str = "/api/auth/v2/callback";
const LOGOUT: &str = "/api/auth/v2/logout";
const TOKEN: &str = "/api/auth/v2/token";
const DEVICE: &str = "/api/auth/v2/device";
const REDIRECT: &str = "http://localhost:53100/callback";

/// Starts a login; the sealed state and the nonce the provider was given.
async fn start_login(app: &impl TestService) -> (String, String) {
    let answer = login(app, REDIRECT).await;
    assert_eq!(answer.status, StatusCode::FOUND, "{answer:?}");
    let location = answer.location.expect("a login redirects");
    (
        query_value(&location, "state").expect("a state"),
        query_value(&location, "nonce").expect("a nonce"),
    )
}

/// `GET login?redirect_uri=…`.
async fn login(app: &impl TestService, redirect_uri: &str) -> Answer {
    let query = format!("redirect_uri={}", urlencode(redirect_uri));
    call(app, TestRequest::get().uri(&format!("{LOGIN}?{query}"))).await
}

/// `GET logout?post_logout_redirect_uri=…`.
async fn logout(app: &impl TestService, after: &str) -> Answer {
    let query = format!("post_logout_redirect_uri={}", urlencode(after));
    call(app, TestRequest::get().uri(&format!("{LOGOUT}?{query}"))).await
}

async fn callback(app: &impl TestService, state: &str) -> Answer {
    let query = format!("code=c&state={}", urlencode(state));
    call(app, TestRequest::get().uri(&format!("{CALLBACK}?{query}"))).await
}

/// The token route with `code_verifier` = a sealed state, as py-oidc-auth-client sends it.
async fn exchange(app: &impl TestService, verifier: &str) -> Answer {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "c"),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    call(app, TestRequest::post().uri(TOKEN).set_form(form)).await
}

/// The provider's token answer, with an ID token for this login's nonce.
fn answer_login(idp: &MockIdp, nonce: &str) {
    let id_token = idp.token().claim("nonce", json!(nonce)).sign();
    idp.set_answer(
        GrantEndpoint::Token,
        200,
        json!({"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token}),
    );
}

/// `sealed` with the character at `index` replaced by another base64url character.
fn flip(sealed: &str, index: usize) -> String {
    let mut bytes = sealed.as_bytes().to_vec();
    bytes[index] = if bytes[index] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ASCII")
}

#[actix_web::test]
async fn a_forged_login_state_is_rejected_without_asking_the_provider() {
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(attacked_app(auth)).await;
    let (genuine, nonce) = start_login(&app).await;
    answer_login(&idp, &nonce);
    let body = genuine.strip_prefix("oa1.").expect("a sealed state");
    let random_body = URL_SAFE_NO_PAD.encode([0x5au8; 96]);
    let forgeries = [
        (
            "abc|http://evil.example/cb|verifier".to_owned(),
            "py-oidc-auth's clear format",
        ),
        ("oa1.".to_owned(), "the prefix alone"),
        ("oa1.AAAA".to_owned(), "shorter than a nonce"),
        (format!("oa1.{random_body}"), "the right shape, made up"),
        (format!("oa1.{body}A"), "one character longer"),
        (
            genuine[..genuine.len() - 1].to_owned(),
            "one character shorter",
        ),
        (flip(&genuine, 6), "a flipped nonce byte"),
        (
            flip(&genuine, genuine.len() / 2),
            "a flipped ciphertext byte",
        ),
        (flip(&genuine, genuine.len() - 3), "a flipped tag byte"),
        (format!("oa2.{body}"), "another format version"),
        (format!("oa1.{}", "A".repeat(20_000)), "20 kB"),
        (format!("oa1.{body}!"), "not base64url"),
    ];
    let before = idp.requests();
    for (state, case) in &forgeries {
        assert_bad_request(&callback(&app, state).await, "Invalid state", case);
        // At the token route only the sealed form stands in for a verifier (a plain one is the
        // client's own PKCE and goes to the provider, which checks it: see e2e_attacks).
        if state.starts_with("oa1.") {
            assert_bad_request(&exchange(&app, state).await, "Invalid state", case);
        }
    }
    assert_provider_untouched(&idp, before, "a forged state");
    assert_eq!(
        idp.last_request(GrantEndpoint::Token),
        None,
        "no code was exchanged"
    );
    // The genuine state was not used up by any of it.
    let answer = callback(&app, &genuine).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
}

#[actix_web::test]
async fn a_replayed_login_state_is_rejected() {
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(attacked_app(auth)).await;

    // Finished at the callback, then replayed at the callback and at the token route.
    let (state, nonce) = start_login(&app).await;
    answer_login(&idp, &nonce);
    let answer = callback(&app, &state).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let before = idp.requests();
    for _ in 0..5 {
        assert_bad_request(
            &callback(&app, &state).await,
            "Login state already used",
            "callback replay",
        );
        assert_bad_request(
            &exchange(&app, &state).await,
            "Login state already used",
            "token route replay",
        );
    }
    assert_provider_untouched(&idp, before, "a replayed state");

    // Finished at the token route, then replayed at both.
    let (state, _) = start_login(&app).await;
    let answer = exchange(&app, &state).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let before = idp.requests();
    assert_bad_request(
        &exchange(&app, &state).await,
        "Login state already used",
        "token route replay",
    );
    assert_bad_request(
        &callback(&app, &state).await,
        "Login state already used",
        "callback replay",
    );
    assert_provider_untouched(&idp, before, "a replayed state");

    // Two replays racing the first use: exactly one wins.
    let (state, nonce) = start_login(&app).await;
    answer_login(&idp, &nonce);
    let answers = join_all((0..8).map(|_| callback(&app, &state))).await;
    let won = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    assert_eq!(won, 1, "{answers:?}");
    for answer in answers.iter().filter(|a| a.status != StatusCode::OK) {
        assert_bad_request(answer, "Login state already used", "concurrent replay");
    }
}

#[actix_web::test]
async fn a_state_sealed_with_another_secret_is_rejected() {
    let idp = MockIdp::start();
    let ours = idp
        .auth_builder()
        .state_secret("our deployment's secret, 32+ bytes")
        .build()
        .unwrap();
    let theirs = idp
        .auth_builder()
        .state_secret("their deployment's secret, 32+ bytes")
        .build()
        .unwrap();
    let (app, other) = (
        init_service(attacked_app(ours)).await,
        init_service(attacked_app(theirs)).await,
    );
    let (foreign, nonce) = start_login(&other).await;
    answer_login(&idp, &nonce);
    let before = idp.requests();
    assert_bad_request(&callback(&app, &foreign).await, "Invalid state", "callback");
    assert_bad_request(
        &exchange(&app, &foreign).await,
        "Invalid state",
        "token route",
    );
    assert_provider_untouched(&idp, before, "a state of another secret");
    // It is a genuine state, for the instance that sealed it.
    assert_eq!(callback(&other, &foreign).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn a_tampered_sealed_verifier_never_reaches_the_provider() {
    // The PKCE verifier travels sealed inside the state (py-oidc-auth-client sends the whole
    // state as `code_verifier`): tampering with it breaks the seal, here, before the provider.
    let idp = MockIdp::start();
    idp.set_answer(
        GrantEndpoint::Token,
        200,
        json!({"access_token": "at", "token_type": "Bearer"}),
    );
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(attacked_app(auth)).await;
    let (state, _) = start_login(&app).await;
    assert!(!state.contains('|'), "no clear verifier to edit");
    let before = idp.requests();
    for index in [4, 10, state.len() / 2, state.len() - 1] {
        assert_bad_request(
            &exchange(&app, &flip(&state, index)).await,
            "Invalid state",
            &format!("flipped at {index}"),
        );
    }
    assert_bad_request(
        &exchange(&app, &state[..state.len() - 8]).await,
        "Invalid state",
        "truncated",
    );
    assert_provider_untouched(&idp, before, "a tampered verifier");
    // The untouched state still works, and the verifier that goes upstream is not the state.
    assert_eq!(exchange(&app, &state).await.status, StatusCode::OK);
    let sent = idp
        .last_request(GrantEndpoint::Token)
        .expect("one exchange");
    let verifier = sent.field("code_verifier").expect("a verifier");
    assert!(!verifier.is_empty() && verifier != state);
}

// ------------------------------------------------------------------------------------------------
// Redirect targets.

/// Redirect URIs an attacker tries against an allow-list of loopback, the proxy's origin and one
/// exact partner URL.
fn evil_redirects() -> Vec<&'static str> {
    vec![
        "https://evil.example/cb",
        "http://localhost.evil.example/cb",
        "http://127.0.0.1.evil.example/cb",
        "http://[::1].evil.example/cb",
        "http://localhost@evil.example/cb",
        "http://localhost:80@evil.example/cb",
        "http://evil.example\\@localhost/cb",
        "http://localhost\\@evil.example/cb",
        "https://app.example.org.evil.example/cb",
        "https://app.example.org@evil.example/cb",
        "https://app.example.org:444/cb",
        "http://app.example.org/cb",
        "https://partner.example/cb/../evil",
        "https://partner.example/cb?next=https://evil.example",
        "https://partner.example/cb#@evil.example",
        "HTTPS://PARTNER.EXAMPLE/cb",
        "//evil.example/cb",
        "/\\evil.example/cb",
        "https:/evil.example/cb",
        "https:evil.example/cb",
        "javascript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "https://app.example.org/cb\r\nSet-Cookie: pwned=1",
        "https://app.example.org/cb\t",
        " https://app.example.org/cb",
        "http://localhost:1/cb\n",
    ]
}

fn guarded(idp: &MockIdp) -> OidcAuth {
    idp.auth_builder()
        .proxy("https://app.example.org")
        .redirect_allow_list(
            RedirectAllowList::new()
                .loopback()
                .same_origin_as_proxy()
                .exact("https://partner.example/cb"),
        )
        .post_logout_allow_list(
            RedirectAllowList::new()
                .same_origin_as_proxy()
                .exact("https://partner.example/bye"),
        )
        .build()
        .unwrap()
}

#[actix_web::test]
async fn a_redirect_uri_outside_the_allow_list_is_rejected_at_login() {
    let idp = MockIdp::start();
    let app = init_service(attacked_app(guarded(&idp))).await;
    for evil in evil_redirects() {
        let answer = login(&app, evil).await;
        assert_bad_request(&answer, "redirect_uri is not allowed", evil);
        assert!(!answer.set_cookie, "{evil}");
    }
    assert_provider_untouched(&idp, RequestCounts::default(), "a foreign redirect_uri");
    // The allowed ones go to the provider, with exactly that redirect_uri.
    for allowed in [
        "http://localhost:53100/callback",
        "http://127.0.0.1:1/cb",
        "https://app.example.org/cb",
        "https://partner.example/cb",
    ] {
        let answer = login(&app, allowed).await;
        assert_eq!(answer.status, StatusCode::FOUND, "{allowed}: {answer:?}");
        let location = answer.location.unwrap();
        assert!(location.starts_with(idp.issuer()), "{location}");
        assert_eq!(
            query_value(&location, "redirect_uri").as_deref(),
            Some(allowed)
        );
    }
    // Parameter pollution: the first redirect_uri is the one checked and the one sent on.
    let answer = call(
        &app,
        TestRequest::get().uri(&format!(
            "{LOGIN}?redirect_uri={}&redirect_uri={}",
            urlencode(REDIRECT),
            urlencode("https://evil.example/cb")
        )),
    )
    .await;
    let location = answer.location.unwrap();
    assert_eq!(
        query_value(&location, "redirect_uri").as_deref(),
        Some(REDIRECT)
    );
    assert!(!location.contains("evil.example"), "{location}");
    let answer = call(
        &app,
        TestRequest::get().uri(&format!(
            "{LOGIN}?redirect_uri={}&redirect_uri={}",
            urlencode("https://evil.example/cb"),
            urlencode(REDIRECT)
        )),
    )
    .await;
    assert_bad_request(&answer, "redirect_uri is not allowed", "evil first");
}

#[actix_web::test]
async fn a_redirect_uri_a_login_could_never_finish_is_refused_at_login() {
    // No allow-list: these reach the size and character checks (a configured list would
    // refuse them first). The sealed state carries the redirect URI, and the callback opens
    // no state above its bound: without these checks the user would log in at the provider
    // and come back to "Invalid state".
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(attacked_app(auth)).await;
    let base = "http://localhost:53100/callback?pad=";
    let at_bound = format!("{base}{}", "a".repeat(2048 - base.len()));
    let over_bound = format!("{at_bound}a");
    let refused = [
        (over_bound.clone(), "redirect_uri is too long", "2049 bytes"),
        (
            format!("{base}{}", "a".repeat(20_000)),
            "redirect_uri is too long",
            "20 kB",
        ),
        (
            format!("{REDIRECT}\r\nSet-Cookie: session=evil"),
            "redirect_uri is not a valid URI",
            "CR LF header injection",
        ),
        (
            format!("{REDIRECT}\u{0}"),
            "redirect_uri is not a valid URI",
            "a NUL byte",
        ),
        (
            format!("{REDIRECT}\u{7f}"),
            "redirect_uri is not a valid URI",
            "DEL",
        ),
        (
            format!("{REDIRECT}\u{85}"),
            "redirect_uri is not a valid URI",
            "a C1 control character",
        ),
    ];
    let before = idp.requests();
    for (redirect, detail, case) in &refused {
        let answer = login(&app, redirect).await;
        assert_bad_request(&answer, detail, case);
        assert!(!answer.set_cookie, "{case}");
    }
    assert_provider_untouched(&idp, before, "a redirect_uri no login could finish with");

    // At the bound the whole login goes through, and the provider gets that redirect_uri back.
    let answer = login(&app, &at_bound).await;
    assert_eq!(answer.status, StatusCode::FOUND, "{answer:?}");
    let location = answer.location.expect("a login redirects");
    assert_eq!(
        query_value(&location, "redirect_uri").as_deref(),
        Some(at_bound.as_str())
    );
    let state = query_value(&location, "state").expect("a state");
    answer_login(&idp, &query_value(&location, "nonce").expect("a nonce"));
    let answer = callback(&app, &state).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let sent = idp
        .last_request(GrantEndpoint::Token)
        .expect("a code exchange");
    assert_eq!(sent.field("redirect_uri"), Some(at_bound.as_str()));
}

/// The attacked app on a provider with or without an end-session endpoint (without one, logout
/// redirects to the caller's URI itself). Keep the provider for as long as the app.
async fn app_with_end_session(end_session: bool) -> (MockIdp, impl TestService) {
    let idp = MockIdp::start();
    if !end_session {
        idp.omit_from_discovery("end_session_endpoint");
    }
    let auth = idp.auth_builder().build().unwrap();
    (idp, init_service(attacked_app(auth)).await)
}

/// What an auth route must answer to one request of the byte sweep.
#[derive(Debug)]
enum Verdict {
    /// 400 with exactly this `detail`.
    Refused(String),
    /// 302 to the provider's endpoint at `path`, with `param` = `value` in the query.
    ToProvider {
        path: &'static str,
        param: &'static str,
        value: String,
    },
    /// 302 to exactly this location (logout without an end-session endpoint).
    ToLocation(String),
    /// 200 with the provider's scripted answer, having sent `endpoint` the form field `field`
    /// = `value`.
    Upstream {
        endpoint: GrantEndpoint,
        field: &'static str,
        value: String,
    },
}

/// The scripted grant answers of the sweep; the route's 200 must be the provider's answer.
const SWEEP_ACCESS_TOKEN: &str = "sweep-at";
const SWEEP_DEVICE_CODE: &str = "sweep-dc";

/// The verdict of the route at `path` when its parameter `name` holds `value` (decoded, the
/// swept byte inside it) and every other parameter its plausible value.
fn sweep_verdict(path: &str, name: &str, value: String, end_session: bool) -> Verdict {
    use Verdict::{Refused, ToLocation, ToProvider, Upstream};
    let control = value.chars().any(char::is_control);
    let refused = |detail: &str| Refused(detail.to_owned());
    match (path, name) {
        // No allow-list: only the characters a `Location` and the sealed state can carry count.
        (LOGIN, "redirect_uri") if control => refused("redirect_uri is not a valid URI"),
        (LOGIN, "redirect_uri") => ToProvider {
            path: "/authorize",
            param: "redirect_uri",
            value,
        },
        // `prompt` is a whitespace-separated list of known values (OIDC Core §3.1.2.1).
        (LOGIN, "prompt") if value.split_whitespace().all(|v| v == "login") => ToProvider {
            path: "/authorize",
            param: "prompt",
            value,
        },
        (LOGIN, "prompt") => Refused(format!(
            "Invalid prompt {value:?}: expected one of none, login, consent, select_account"
        )),
        (LOGIN, "offline_access") => refused("Invalid offline_access: expected true or false"),
        // Any scope list is the caller's to ask for; the provider judges it.
        (LOGIN, "scope") => ToProvider {
            path: "/authorize",
            param: "redirect_uri",
            value: REDIRECT.to_owned(),
        },
        // The provider's `error` decides the callback before the code or the state is read.
        (CALLBACK, "error") => Refused(format!("Login failed: {value}")),
        (CALLBACK, _) => refused("Login failed: access_denied"),
        (LOGOUT, "post_logout_redirect_uri") if control => {
            refused("post_logout_redirect_uri is not a valid URI")
        }
        (LOGOUT, "post_logout_redirect_uri") if end_session => ToProvider {
            path: "/logout",
            param: "post_logout_redirect_uri",
            value,
        },
        (LOGOUT, "post_logout_redirect_uri") => ToLocation(value),
        (LOGOUT, "id_token_hint") if end_session => ToProvider {
            path: "/logout",
            param: "id_token_hint",
            value,
        },
        (LOGOUT, "id_token_hint") => ToLocation(REDIRECT.to_owned()),
        (TOKEN, "grant_type") => refused("Unsupported grant_type"),
        // `grant_type=refresh_token`: the refresh token goes upstream as sent, the other
        // grants' fields are not read.
        (TOKEN, "refresh-token") => Upstream {
            endpoint: GrantEndpoint::Token,
            field: "refresh_token",
            value,
        },
        (TOKEN, _) => Upstream {
            endpoint: GrantEndpoint::Token,
            field: "refresh_token",
            value: "r".to_owned(),
        },
        // The device route reads no input: the configured scopes (by default `openid` first,
        // `profile email`, and `offline_access`) go upstream whatever the body says.
        (DEVICE, "scope") => Upstream {
            endpoint: GrantEndpoint::Device,
            field: "scope",
            value: "openid profile email offline_access".to_owned(),
        },
        _ => unreachable!("no verdict for {path} {name}"),
    }
}

/// Whether `answer` is `verdict`, `before` being the provider's request counts before the
/// request; what differs, if not.
fn judge(
    answer: &Answer,
    verdict: &Verdict,
    idp: &MockIdp,
    before: RequestCounts,
) -> Result<(), String> {
    let spent = idp.requests();
    let grants = (spent.token - before.token, spent.device - before.device);
    let location = answer.location.as_deref().unwrap_or_default();
    let fine = match verdict {
        Verdict::Refused(detail) => {
            answer.status == StatusCode::BAD_REQUEST
                && answer.detail() == detail
                && answer.location.is_none()
                && grants == (0, 0)
        }
        Verdict::ToProvider { path, param, value } => {
            answer.status == StatusCode::FOUND
                && location.starts_with(&format!("{}?", idp.url(path)))
                && query_value(location, param).as_ref() == Some(value)
                && grants == (0, 0)
        }
        Verdict::ToLocation(to) => {
            answer.status == StatusCode::FOUND && location == to && grants == (0, 0)
        }
        Verdict::Upstream {
            endpoint,
            field,
            value,
        } => {
            let (asked, answered, scripted) = match endpoint {
                GrantEndpoint::Token => ((1, 0), "access_token", SWEEP_ACCESS_TOKEN),
                _ => ((0, 1), "device_code", SWEEP_DEVICE_CODE),
            };
            let sent = idp.last_request(*endpoint);
            answer.status == StatusCode::OK
                && grants == asked
                && sent.as_ref().and_then(|sent| sent.field(field)) == Some(value.as_str())
                && answer.json[answered] == scripted
        }
    };
    if fine {
        Ok(())
    } else {
        Err(format!(
            "expected {verdict:?}; got {} {:?} location {location:?}, grant requests {grants:?}, last sent {:?}",
            answer.status,
            answer.text,
            match verdict {
                Verdict::Upstream { endpoint, .. } => idp.last_request(*endpoint),
                _ => None,
            }
        ))
    }
}

/// Every byte value, placed inside every parameter of every auth route: as a percent-encoded
/// raw byte and as the character U+00XX (UTF-8, percent-encoded). Whatever the route makes of
/// it, the answer is the route's own, never a 500 (the class of the logout bug above, searched
/// for systematically): exactly the 400 its rules give, the redirect carrying the value on, or,
/// with the provider's grant endpoints scripted, the provider's answer to what was sent.
#[actix_web::test]
async fn no_byte_in_any_auth_route_parameter_is_a_server_error() {
    /// Method, path, and each parameter with a plausible value.
    type Route = (
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str)],
    );
    const ROUTES: [Route; 5] = [
        (
            "GET",
            LOGIN,
            &[
                ("redirect_uri", REDIRECT),
                ("prompt", "login"),
                ("offline_access", "true"),
                ("scope", "openid profile"),
            ],
        ),
        (
            "GET",
            CALLBACK,
            &[
                ("code", "c"),
                ("state", "oa1.AAAA"),
                ("error", "access_denied"),
            ],
        ),
        (
            "GET",
            LOGOUT,
            &[
                ("post_logout_redirect_uri", REDIRECT),
                ("id_token_hint", "h"),
            ],
        ),
        (
            "POST",
            TOKEN,
            &[
                ("grant_type", "refresh_token"),
                ("code", "c"),
                ("redirect_uri", REDIRECT),
                ("code_verifier", "v"),
                ("refresh-token", "r"),
                ("device-code", "d"),
            ],
        ),
        ("POST", DEVICE, &[("scope", "openid")]),
    ];
    for end_session in [false, true] {
        let (idp, app) = app_with_end_session(end_session).await;
        idp.set_answer(
            GrantEndpoint::Token,
            200,
            json!({"access_token": SWEEP_ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 300}),
        );
        idp.set_answer(
            GrantEndpoint::Device,
            200,
            json!({"device_code": SWEEP_DEVICE_CODE, "user_code": "UC",
                   "verification_uri": idp.url("/verify"), "expires_in": 600}),
        );
        let mut requests = 0;
        let mut mismatches = Vec::new();
        for (method, path, params) in ROUTES {
            for (index, (name, plausible)) in params.iter().enumerate() {
                for byte in 0..=255u8 {
                    let utf8 = char::from(byte).to_string();
                    // What the route reads: form decoding makes a byte that is not UTF-8 on
                    // its own the replacement character.
                    let raw = String::from_utf8_lossy(&[byte]).into_owned();
                    for (spelled, decoded) in
                        [(format!("%{byte:02X}"), raw), (urlencode(&utf8), utf8)]
                    {
                        let body: Vec<String> = params
                            .iter()
                            .enumerate()
                            .map(|(i, (key, value))| {
                                let value = urlencode(value);
                                if i == index {
                                    format!("{key}={value}{spelled}{value}")
                                } else {
                                    format!("{key}={value}")
                                }
                            })
                            .collect();
                        let body = body.join("&");
                        let request = if method == "GET" {
                            TestRequest::get().uri(&format!("{path}?{body}"))
                        } else {
                            TestRequest::post()
                                .uri(path)
                                .insert_header((CONTENT_TYPE, "application/x-www-form-urlencoded"))
                                .set_payload(body.clone())
                        };
                        let before = idp.requests();
                        let answer = call(&app, request).await;
                        requests += 1;
                        let case = format!(
                            "{method} {path} {name} with byte {byte:#04x} as {spelled} \
                             (end-session endpoint: {end_session})"
                        );
                        assert_ne!(
                            answer.status,
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "{case}: {answer:?}"
                        );
                        if answer.status.is_client_error() {
                            assert!(answer.json["detail"].is_string(), "{case}: {answer:?}");
                        }
                        let value = format!("{plausible}{decoded}{plausible}");
                        let verdict = sweep_verdict(path, name, value, end_session);
                        if let Err(why) = judge(&answer, &verdict, &idp, before) {
                            mismatches.push(format!("{case}: {why}"));
                        }
                    }
                }
            }
        }
        assert_eq!(requests, 2 * 256 * 16, "every route, parameter and byte");
        assert!(
            mismatches.is_empty(),
            "{} of {requests} answers are not the route's verdict; the first ones:\n{}",
            mismatches.len(),
            mismatches[..mismatches.len().min(20)].join("\n")
        );
    }
}

#[actix_web::test]
async fn a_post_logout_redirect_uri_with_control_characters_is_refused() {
    // With the provider's end-session endpoint missing (or the provider down), logout
    // redirects to the caller's URI itself: it must be a 400, never a response that fails to
    // build (500) or a header split.
    for end_session in [false, true] {
        let (_idp, app) = app_with_end_session(end_session).await;
        for evil in [
            "http://localhost:53100/\r\nSet-Cookie: session=evil",
            "http://localhost:53100/\u{0}",
            "http://localhost:53100/\u{85}",
        ] {
            let answer = logout(&app, evil).await;
            let case = format!("{evil:?}, end-session endpoint: {end_session}");
            assert_bad_request(
                &answer,
                "post_logout_redirect_uri is not a valid URI",
                &case,
            );
            assert!(!answer.set_cookie, "{case}");
        }
        // A plain one still goes where it should.
        let answer = logout(&app, REDIRECT).await;
        assert_eq!(answer.status, StatusCode::FOUND, "{answer:?}");
        let location = answer.location.expect("a redirect");
        if end_session {
            assert_eq!(
                query_value(&location, "post_logout_redirect_uri").as_deref(),
                Some(REDIRECT)
            );
        } else {
            assert_eq!(location, REDIRECT);
        }
    }
}

#[actix_web::test]
async fn a_redirect_uri_outside_the_allow_list_is_rejected_at_logout() {
    let idp = MockIdp::start();
    let app = init_service(attacked_app(guarded(&idp))).await;
    let mut evil = evil_redirects();
    evil.extend([
        "https://partner.example/cb",
        "http://localhost:53100/callback",
    ]);
    for evil in evil {
        let answer = logout(&app, evil).await;
        assert_bad_request(&answer, "post_logout_redirect_uri is not allowed", evil);
    }
    assert_provider_untouched(
        &idp,
        RequestCounts::default(),
        "a foreign post_logout_redirect_uri",
    );
    for allowed in ["https://partner.example/bye", "https://app.example.org/"] {
        let answer = logout(&app, allowed).await;
        assert_eq!(answer.status, StatusCode::FOUND, "{allowed}");
        let location = answer.location.unwrap();
        assert_eq!(
            query_value(&location, "post_logout_redirect_uri").as_deref(),
            Some(allowed)
        );
    }
}

/// A provider whose redirect endpoints carry whitespace or control characters (misconfigured,
/// or hostile: a CR LF to split our response and set a cookie). Those endpoints count as
/// absent: login answers the missing endpoint's 502, logout falls back to the caller's URI,
/// and nothing of the value reaches a header; bearer tokens keep validating.
#[actix_web::test]
async fn provider_endpoints_with_control_characters_never_reach_a_header() {
    for suffix in ["\r\nSet-Cookie: pwned=1", "\u{0}", " x", "\u{85}"] {
        let idp = MockIdp::start();
        for member in ["authorization_endpoint", "end_session_endpoint"] {
            let value = format!("{}{suffix}", idp.url("/endpoint"));
            idp.set_discovery_member(member, json!(value));
        }
        let app = init_service(attacked_app(idp.auth_builder().build().unwrap())).await;

        let answer = login(&app, REDIRECT).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_GATEWAY,
            "{suffix:?}: {answer:?}"
        );
        assert_eq!(
            answer.detail(),
            "OIDC endpoint 'authorization_endpoint' not found in discovery."
        );
        assert!(
            answer.location.is_none() && !answer.set_cookie,
            "{answer:?}"
        );

        let answer = logout(&app, REDIRECT).await;
        assert_eq!(answer.status, StatusCode::FOUND, "{suffix:?}: {answer:?}");
        assert_eq!(answer.location.as_deref(), Some(REDIRECT));
        assert!(!answer.set_cookie, "{answer:?}");

        let token = idp.token().sub("alice").sign();
        assert_eq!(bearer(&app, "/whoami", &token).await.status, StatusCode::OK);
    }
}

// ------------------------------------------------------------------------------------------------
// The callback's ID token (OIDC Core §3.1.3.7).

/// The provider's token answer with `id_token`.
fn answer_with_id_token(idp: &MockIdp, id_token: String) {
    idp.set_answer(
        GrantEndpoint::Token,
        200,
        json!({"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token}),
    );
}

/// The attack (on availability): right after the provider rotated its signing key, every login
/// failed with 502 until the cached key set reached its TTL; the ID token's unknown `kid` now
/// causes one key-set fetch, within the same cooldown as bearer tokens.
#[actix_web::test]
async fn a_login_right_after_a_key_rotation_succeeds() {
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    auth.warm_up().await.unwrap();
    let app = init_service(attacked_app(auth)).await;
    idp.rotate();
    let (state, nonce) = start_login(&app).await;
    answer_login(&idp, &nonce);
    let before = idp.requests();
    let answer = callback(&app, &state).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(answer.cache_control.as_deref(), Some("no-store"));
    assert_eq!(idp.requests().jwks, before.jwks + 1);
    // A forged `kid` within the cooldown costs the provider nothing more.
    let (state, nonce) = start_login(&app).await;
    let forged = idp
        .token()
        .kid(Some("forged"))
        .claim("nonce", json!(nonce))
        .sign();
    answer_with_id_token(&idp, forged);
    let answer = callback(&app, &state).await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY, "{answer:?}");
    assert_eq!(answer.detail(), "The id_token is invalid");
    assert_eq!(idp.requests().jwks, before.jwks + 1);
}

/// The attacks: an ID token without a subject, or issued to another client that shares an
/// audience with us (several audiences and no `azp`, or an `azp` of another client), was
/// accepted as this login's.
#[actix_web::test]
async fn an_id_token_without_subject_or_for_another_client_is_refused() {
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    let client = TEST_AUDIENCE;
    let app = init_service(attacked_app(auth)).await;
    // A case: its name, the ID token for a nonce, and the 502's detail if it is refused.
    type Case<'a> = (&'a str, &'a dyn Fn(&str) -> String, Option<&'a str>);
    let cases: [Case; 5] = [
        (
            "no sub",
            &|nonce| {
                idp.token()
                    .without_claim("sub")
                    .claim("nonce", json!(nonce))
                    .sign()
            },
            Some("The id_token has no subject"),
        ),
        (
            "several audiences, no azp",
            &|nonce| {
                idp.token()
                    .claim("aud", json!([client, "another-client"]))
                    .claim("nonce", json!(nonce))
                    .sign()
            },
            Some("The id_token has several audiences and no azp"),
        ),
        (
            "azp of another client",
            &|nonce| {
                idp.token()
                    .claim("aud", json!([client, "another-client"]))
                    .claim("azp", json!("another-client"))
                    .claim("nonce", json!(nonce))
                    .sign()
            },
            Some("The id_token was issued to another client (azp)"),
        ),
        (
            "several audiences, azp ours",
            &|nonce| {
                idp.token()
                    .claim("aud", json!([client, "another-client"]))
                    .claim("azp", json!(client))
                    .claim("nonce", json!(nonce))
                    .sign()
            },
            None,
        ),
        (
            "one audience, no azp",
            &|nonce| idp.token().claim("nonce", json!(nonce)).sign(),
            None,
        ),
    ];
    for (case, id_token, refused) in cases {
        let (state, nonce) = start_login(&app).await;
        answer_with_id_token(&idp, id_token(&nonce));
        let answer = callback(&app, &state).await;
        match refused {
            Some(detail) => {
                assert_eq!(answer.status, StatusCode::BAD_GATEWAY, "{case}: {answer:?}");
                assert_eq!(answer.detail(), detail, "{case}");
            }
            None => assert_eq!(answer.status, StatusCode::OK, "{case}: {answer:?}"),
        }
    }
}

/// `require_token_type` is about access tokens: the callback still takes the ID token (`typ:
/// JWT`) that logs the user in.
#[actix_web::test]
async fn a_login_works_where_access_tokens_must_be_typed() {
    let idp = MockIdp::start();
    let auth = idp
        .auth_builder()
        .require_token_type("at+jwt")
        .build()
        .unwrap();
    let app = init_service(attacked_app(auth)).await;
    let (state, nonce) = start_login(&app).await;
    answer_login(&idp, &nonce);
    let answer = callback(&app, &state).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
}

// ------------------------------------------------------------------------------------------------
// The opt-in browser binding of a login.

/// The attack: the sealed state is a bearer credential for its PKCE verifier, so whoever
/// obtained a login's code and state (a leaked redirect, a referrer, a log) could finish it
/// in their own session. With `bind_login_to_browser`, only the browser holding the login's
/// HttpOnly cookie can; the state it refuses stays usable by that browser.
#[actix_web::test]
async fn a_login_bound_to_a_browser_finishes_only_in_that_browser() {
    let idp = MockIdp::start();
    let auth = idp
        .auth_builder()
        .bind_login_to_browser(true)
        .build()
        .unwrap();
    let app = init_service(attacked_app(auth)).await;
    let started = actix_web::test::call_service(
        &app,
        TestRequest::get()
            .uri(&format!("{LOGIN}?redirect_uri={}", urlencode(REDIRECT)))
            .to_request(),
    )
    .await;
    assert_eq!(started.status(), StatusCode::FOUND);
    let set_cookie = started
        .headers()
        .get("set-cookie")
        .expect("a binding cookie")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        set_cookie.ends_with(&format!(
            "; Path={CALLBACK}; Max-Age=300; HttpOnly; SameSite=Lax"
        )),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let location = started.headers().get("location").unwrap().to_str().unwrap();
    let (state, nonce) = (
        query_value(location, "state").unwrap(),
        query_value(location, "nonce").unwrap(),
    );
    assert!(!state.contains(cookie.split('=').nth(1).unwrap()));
    answer_login(&idp, &nonce);
    let at_callback = |cookie: Option<String>| {
        let mut request =
            TestRequest::get().uri(&format!("{CALLBACK}?code=c&state={}", urlencode(&state)));
        if let Some(cookie) = cookie {
            request = request.insert_header(("cookie", cookie));
        }
        call(&app, request)
    };
    let before = idp.requests();
    for (case, stolen) in [
        ("no cookie", None),
        (
            "another login's cookie",
            Some("oidc_actix_login=AAAAAAAAAAAAAAAAAAAAAA".to_owned()),
        ),
    ] {
        assert_bad_request(
            &at_callback(stolen).await,
            "Login state belongs to another browser",
            case,
        );
    }
    assert_bad_request(
        &exchange(&app, &state).await,
        "This login is bound to the browser that started it: it finishes at the callback",
        "the token route",
    );
    assert_provider_untouched(&idp, before, "a bound login redeemed elsewhere");
    let finished = at_callback(Some(format!("theme=dark; {cookie}"))).await;
    assert_eq!(finished.status, StatusCode::OK, "{finished:?}");
    assert!(finished.set_cookie, "the binding cookie is cleared");
    assert_bad_request(
        &at_callback(Some(cookie)).await,
        "Login state already used",
        "replay by the browser itself",
    );
}

/// Without the option (the default), a login sets no cookie: py-oidc-auth-client's browser
/// login finishes through the token route, from Python, where no cookie comes along.
#[actix_web::test]
async fn an_unbound_login_sets_no_cookie_and_finishes_through_the_token_route() {
    let idp = MockIdp::start();
    let app = init_service(attacked_app(idp.auth_builder().build().unwrap())).await;
    let answer = login(&app, REDIRECT).await;
    assert!(!answer.set_cookie, "{answer:?}");
    let location = answer.location.unwrap();
    answer_login(&idp, &query_value(&location, "nonce").unwrap());
    let exchanged = exchange(&app, &query_value(&location, "state").unwrap()).await;
    assert_eq!(exchanged.status, StatusCode::OK, "{exchanged:?}");
}
