//! The attack of issue 5 that needs a provider checking PKCE: a code exchange with a tampered
//! verifier, against the real npm `oidc-provider` (see `tests/idp`).
//!
//! The login route seals the PKCE verifier into the `state` (it never travels in clear), and
//! py-oidc-auth-client sends that whole state back as `code_verifier`. So an attacker holding a
//! victim's authorization code can tamper with the verifier in three ways: edit the sealed
//! state (refused here, before the provider), send a verifier of its own (passed on as a client's
//! own PKCE, refused by the provider), or send the sealed state of another login (a genuine
//! seal around the wrong verifier, refused by the provider). Each must end in a 400 with a
//! clear detail, and the victim's own exchange must still work afterwards.

mod support;

use actix_web::App;
use actix_web::http::StatusCode;
use actix_web::test::{TestRequest, call_service, init_service};
use oidc_actix::OidcAuth;
use serde_json::Value;
use support::browser::CallbackParams;
use support::idp::{IdpClient, JANE, PUBLIC_CLIENT, TestIdp};
use support::inproc::{
    TestService, assert_token_answer, assert_upstream_error, json_of, location, query_value,
    urlencode,
};

const LOGIN: &str = "/api/auth/v2/login";
const CALLBACK: &str = "/api/auth/v2/callback";
const TOKEN: &str = "/api/auth/v2/token";
/// A loopback redirect the provider accepts and nobody listens on: the scripted browser stops
/// at the redirect and hands over the code, as an attacker reading it would.
const REDIRECT: &str = "http://127.0.0.1:9/api/auth/v2/callback";

fn auth_for(idp: &TestIdp, client: IdpClient) -> OidcAuth {
    client
        .auth_builder(&idp.discovery_url())
        .build()
        .expect("valid configuration")
}

/// The provider's authorization URL our login route redirects to (with the sealed state).
async fn login_redirect(app: &impl TestService) -> String {
    let request = TestRequest::get().uri(&format!("{LOGIN}?redirect_uri={}", urlencode(REDIRECT)));
    let response = call_service(app, request.to_request()).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let authorize = location(&response);
    assert!(!authorize.is_empty(), "a login redirects to the provider");
    authorize
}

/// A login through our route, finished by Jane at the provider: the code and sealed state that
/// come back on the redirect.
async fn victim_login(app: &impl TestService, idp: &TestIdp) -> CallbackParams {
    let authorize = login_redirect(app).await;
    assert!(authorize.starts_with(idp.issuer()), "{authorize}");
    idp.browser()
        .login(&authorize, JANE.username, JANE.password)
        .await
        .unwrap_or_else(|e| panic!("Jane logs in: {e}\n{}", idp.log()))
}

/// The state of a login the attacker started itself (never finished): a genuine seal around a
/// verifier that is not the victim's.
async fn attackers_state(app: &impl TestService) -> String {
    let authorize = login_redirect(app).await;
    query_value(&authorize, "state").expect("the login carries a state")
}

/// The token route as py-oidc-auth-client calls it after a browser login.
async fn exchange(app: &impl TestService, code: &str, verifier: &str) -> (StatusCode, Value) {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    json_of(
        call_service(
            app,
            TestRequest::post().uri(TOKEN).set_form(form).to_request(),
        )
        .await,
    )
    .await
}

async fn callback(app: &impl TestService, code: &str, state: &str) -> (StatusCode, Value) {
    let uri = format!(
        "{CALLBACK}?code={}&state={}",
        urlencode(code),
        urlencode(state)
    );
    json_of(call_service(app, TestRequest::get().uri(&uri).to_request()).await).await
}

/// `sealed` with one base64url character in the middle changed.
fn tampered(sealed: &str) -> String {
    let mut bytes = sealed.as_bytes().to_vec();
    let middle = bytes.len() / 2;
    bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ASCII")
}

/// The provider's refusal of a PKCE mismatch, passed on: 400 with its OAuth error on top of a
/// `detail` that says where it came from.
fn assert_refused_by_the_provider(status: StatusCode, body: &Value, case: &str) {
    assert_upstream_error((status.as_u16(), body), 400, Some("invalid_grant"), case);
}

#[actix_web::test]
async fn a_code_exchange_with_a_tampered_verifier_is_refused() {
    let idp = TestIdp::start();
    let app =
        init_service(App::new().configure(auth_for(&idp, PUBLIC_CLIENT).routes("/api"))).await;
    let victim = victim_login(&app, &idp).await;
    assert!(
        victim.state.starts_with("oa1."),
        "the verifier is sealed: {}",
        victim.state
    );
    assert!(!victim.state.contains('|'), "no clear verifier to edit");
    let other_login = attackers_state(&app).await;
    idp.reset_counts().await;

    // An edited seal: refused here, the provider never sees the code.
    let (status, body) = exchange(&app, &victim.code, &tampered(&victim.state)).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Invalid state")),
        "{body}"
    );
    assert_eq!(
        idp.counts().await.token,
        0,
        "an edited seal never reaches the provider"
    );

    // A verifier of the attacker's choosing, and the genuine seal of another login: both reach
    // the provider, whose PKCE check refuses them.
    let own_verifier = "attacker-chosen-verifier-0123456789-abcdefghij";
    let (status, body) = exchange(&app, &victim.code, own_verifier).await;
    assert_refused_by_the_provider(status, &body, "a verifier of the attacker's own");
    let (status, body) = exchange(&app, &victim.code, &other_login).await;
    assert_refused_by_the_provider(status, &body, "the sealed state of another login");
    assert_eq!(
        idp.counts().await.token,
        2,
        "one provider check per attempt that reached it"
    );

    // None of it spent the victim's login: the untouched state still finishes it.
    let (status, body) = exchange(&app, &victim.code, &victim.state).await;
    assert_eq!(status, StatusCode::OK, "{body}\n{}", idp.log());
    assert_token_answer(&body, "the victim's own exchange");
}

#[actix_web::test]
async fn a_callback_with_a_tampered_or_foreign_state_is_refused() {
    let idp = TestIdp::start();
    let app =
        init_service(App::new().configure(auth_for(&idp, PUBLIC_CLIENT).routes("/api"))).await;
    let victim = victim_login(&app, &idp).await;
    let other_login = attackers_state(&app).await;
    idp.reset_counts().await;

    let (status, body) = callback(&app, &victim.code, &tampered(&victim.state)).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Invalid state")),
        "{body}"
    );
    assert_eq!(
        idp.counts().await.token,
        0,
        "an edited seal never reaches the provider"
    );

    // The victim's code injected into the attacker's own login: its verifier is the wrong one.
    let (status, body) = callback(&app, &victim.code, &other_login).await;
    assert_refused_by_the_provider(
        status,
        &body,
        "the victim's code with another login's state",
    );
    assert_eq!(idp.counts().await.token, 1);

    let (status, body) = callback(&app, &victim.code, &victim.state).await;
    assert_eq!(status, StatusCode::OK, "{body}\n{}", idp.log());
    assert_token_answer(&body, "the victim's own callback");
}
