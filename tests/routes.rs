//! The auth routes in process, against the mock provider with scripted answers: what is sent
//! upstream (client authentication, fields, scopes), how the provider's answers and failures
//! come back, the sealed state across instances, allow-lists and route configuration.

mod support;

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::test::{TestRequest, call_service, init_service};
use actix_web::{App, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use oidc_actix::testing::{Fault, GrantEndpoint, MockIdp};
use oidc_actix::{AuthRoute, AuthRoutes, OidcAuthBuilder, RedirectAllowList};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use support::inproc::{
    TestService, assert_token_answer, assert_upstream_error, json_of, location,
    provider_token_answer, query_value, urlencode,
};

const TOKEN: &str = "/api/auth/v2/token";

macro_rules! service {
    ($auth:expr) => {
        init_service(App::new().configure($auth.routes("/api"))).await
    };
    ($auth:expr, $routes:expr) => {
        init_service(App::new().configure($auth.routes_with($routes))).await
    };
}

fn post_form(path: &str, form: &[(&str, &str)]) -> TestRequest {
    TestRequest::post().uri(path).set_form(form)
}

fn confidential(idp: &MockIdp, secret: &str) -> OidcAuthBuilder {
    idp.auth_builder()
        .client_id("my:client")
        .client_secret(secret)
}

#[actix_web::test]
async fn confidential_clients_use_rfc_6749_basic_credentials() {
    let idp = MockIdp::start();
    idp.set_answer(GrantEndpoint::Token, 200, provider_token_answer());
    let auth = confidential(&idp, "s3cr:t é").build().unwrap();
    let app = service!(auth);
    let (status, body) = json_of(
        call_service(
            &app,
            post_form(TOKEN, &[("refresh-token", "old")]).to_request(),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sent = idp.last_request(GrantEndpoint::Token).unwrap();
    let expected = STANDARD.encode("my%3Aclient:s3cr%3At+%C3%A9");
    assert_eq!(
        sent.authorization.as_deref(),
        Some(format!("Basic {expected}").as_str())
    );
    assert_eq!(sent.field("grant_type"), Some("refresh_token"));
    assert_eq!(sent.field("refresh_token"), Some("old"));
    assert_eq!(
        sent.field("client_id"),
        None,
        "a confidential client sends no client_id in the form"
    );
}

#[actix_web::test]
async fn public_clients_send_their_id_in_the_form() {
    let idp = MockIdp::start();
    idp.set_answer(GrantEndpoint::Token, 200, provider_token_answer());
    let auth = idp.auth_builder().client_id("cli").build().unwrap();
    let app = service!(auth);
    let response = call_service(
        &app,
        post_form(TOKEN, &[("device-code", "dc")]).to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let sent = idp.last_request(GrantEndpoint::Token).unwrap();
    assert_eq!(sent.authorization, None);
    assert_eq!(sent.field("client_id"), Some("cli"));
    assert_eq!(
        sent.field("grant_type"),
        Some("urn:ietf:params:oauth:grant-type:device_code")
    );
    assert_eq!(sent.field("device_code"), Some("dc"));
}

#[actix_web::test]
async fn the_token_json_is_the_six_wire_fields() {
    let idp = MockIdp::start();
    idp.set_answer(
        GrantEndpoint::Token,
        200,
        json!({"access_token": "at", "token_type": "Bearer", "expires_in": 60}),
    );
    let auth = idp.auth_builder().build().unwrap();
    let app = service!(auth);
    let (status, body) = json_of(
        call_service(
            &app,
            post_form(TOKEN, &[("refresh_token", "r")]).to_request(),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let answer = assert_token_answer(&body, "a bare provider answer");
    assert_eq!(
        (answer.refresh_token.as_str(), answer.scope.as_str()),
        ("", "")
    );
}

#[actix_web::test]
async fn provider_errors_keep_detail_and_carry_the_oauth_error() {
    let idp = MockIdp::start();
    let auth = idp
        .auth_builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let app = service!(auth);
    let poll = || post_form(TOKEN, &[("device-code", "dc")]).to_request();

    idp.set_answer(
        GrantEndpoint::Token,
        400,
        json!({"error": "slow_down", "error_description": "easy"}),
    );
    let (status, body) = json_of(call_service(&app, poll()).await).await;
    assert_upstream_error(
        (status.as_u16(), &body),
        400,
        Some("slow_down"),
        "slow_down",
    );
    assert_eq!(body["error_description"], "easy");

    idp.set_answer(
        GrantEndpoint::Token,
        401,
        json!({"error": "invalid_client"}),
    );
    assert_eq!(
        call_service(&app, poll()).await.status(),
        StatusCode::UNAUTHORIZED
    );

    for status in [500, 503] {
        idp.set_answer(
            GrantEndpoint::Token,
            status,
            json!({"error": "server_error"}),
        );
        assert_eq!(
            call_service(&app, poll()).await.status(),
            StatusCode::BAD_GATEWAY,
            "{status}"
        );
    }

    idp.set_answer(GrantEndpoint::Token, 200, json!({"token_type": "Bearer"}));
    let (status, body) = json_of(call_service(&app, poll()).await).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");

    idp.set_answer(GrantEndpoint::Token, 200, provider_token_answer());
    idp.set_fault(Fault::Slow(Duration::from_secs(3)));
    assert_eq!(
        call_service(&app, poll()).await.status(),
        StatusCode::GATEWAY_TIMEOUT
    );
}

#[actix_web::test]
async fn an_unreachable_provider_is_503_for_the_routes() {
    let idp = MockIdp::start();
    idp.stop();
    let auth = idp.auth_builder().build().unwrap();
    let app = service!(auth);
    let response = call_service(
        &app,
        post_form(TOKEN, &[("refresh-token", "r")]).to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let login = TestRequest::get().uri("/api/auth/v2/login?redirect_uri=http://localhost:1/cb");
    let (status, body) = json_of(call_service(&app, login.to_request()).await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body["detail"].is_string());
}

#[actix_web::test]
async fn the_device_flow_start() {
    let idp = MockIdp::start();
    idp.set_answer(
        GrantEndpoint::Device,
        200,
        json!({"device_code": "dc", "user_code": "ABCD", "verification_uri": "https://idp/device", "expires_in": 600}),
    );
    let auth = idp.auth_builder().scopes("email profile").build().unwrap();
    let app = service!(auth);
    let device = || {
        TestRequest::post()
            .uri("/api/auth/v2/device")
            .set_payload("junk=1")
            .to_request()
    };
    let (status, body) = json_of(call_service(&app, device()).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"device_code": "dc", "user_code": "ABCD", "verification_uri": "https://idp/device",
                            "verification_uri_complete": null, "expires_in": 600, "interval": 5})
    );
    let sent = idp.last_request(GrantEndpoint::Device).unwrap();
    assert_eq!(
        sent.field("scope"),
        Some("openid email profile offline_access")
    );
    assert_eq!(
        sent.field("junk"),
        None,
        "the caller's body is not forwarded"
    );
    // Twice: the configured scopes are not mutated.
    call_service(&app, device()).await;
    assert_eq!(
        idp.last_request(GrantEndpoint::Device)
            .unwrap()
            .field("scope"),
        Some("openid email profile offline_access")
    );

    idp.set_answer(
        GrantEndpoint::Device,
        200,
        json!({"device_code": "dc", "verification_uri": "v", "expires_in": 1}),
    );
    let (status, body) = json_of(call_service(&app, device()).await).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("missing: user_code")
    );
}

#[actix_web::test]
async fn no_device_endpoint_is_503_so_the_client_falls_back() {
    let idp = MockIdp::start();
    idp.omit_from_discovery("device_authorization_endpoint");
    let auth = idp.auth_builder().build().unwrap();
    let app = service!(auth);
    let response = call_service(
        &app,
        TestRequest::post().uri("/api/auth/v2/device").to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

/// The state and code challenge a login redirect carries.
async fn start_login(app: &impl TestService, redirect_uri: &str) -> (String, String) {
    let uri = format!(
        "/api/auth/v2/login?redirect_uri={}",
        urlencode(redirect_uri)
    );
    let response = call_service(app, TestRequest::get().uri(&uri).to_request()).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = location(&response);
    assert_eq!(
        query_value(&location, "redirect_uri").as_deref(),
        Some(redirect_uri),
        "passed through unchanged"
    );
    assert_eq!(
        query_value(&location, "code_challenge_method").as_deref(),
        Some("S256")
    );
    (
        query_value(&location, "state").unwrap(),
        query_value(&location, "code_challenge").unwrap(),
    )
}

#[actix_web::test]
async fn a_sealed_state_stands_in_for_the_verifier_across_instances() {
    let idp = MockIdp::start();
    idp.set_answer(GrantEndpoint::Token, 200, provider_token_answer());
    let a = idp
        .auth_builder()
        .state_secret("a secret both instances share, 32+ bytes")
        .build()
        .unwrap();
    let b = idp
        .auth_builder()
        .state_secret("a secret both instances share, 32+ bytes")
        .build()
        .unwrap();
    let other = idp
        .auth_builder()
        .state_secret("another instance's secret of 32+ bytes")
        .build()
        .unwrap();
    let (app_a, app_b, app_other) = (service!(a), service!(b), service!(other));
    let redirect = "http://localhost:53100/callback";
    let (state, challenge) = start_login(&app_a, redirect).await;
    assert!(!state.contains('|'));

    // The client sends the whole state as code_verifier (it has no `|`).
    let exchange = |verifier: &str| {
        post_form(
            TOKEN,
            &[
                ("code", "c"),
                ("redirect_uri", redirect),
                ("grant_type", "authorization_code"),
                ("code_verifier", verifier),
            ],
        )
        .to_request()
    };
    let (status, _) = json_of(call_service(&app_other, exchange(&state)).await).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "another key cannot open it"
    );
    let (status, body) = json_of(call_service(&app_b, exchange(&state)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sent = idp.last_request(GrantEndpoint::Token).unwrap();
    let verifier = sent.field("code_verifier").unwrap();
    assert_ne!(verifier, state);
    assert_eq!(
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
        challenge,
        "the real verifier went upstream"
    );
    assert_eq!(sent.field("redirect_uri"), Some(redirect));
    // Single use.
    let (status, body) = json_of(call_service(&app_b, exchange(&state)).await).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Login state already used"))
    );
}

#[actix_web::test]
async fn a_sealed_state_is_bound_to_its_redirect_uri() {
    let idp = MockIdp::start();
    idp.set_answer(GrantEndpoint::Token, 200, provider_token_answer());
    let auth = idp.auth_builder().build().unwrap();
    let app = service!(auth);
    let (state, _) = start_login(&app, "http://localhost:53100/callback").await;
    let request = post_form(
        TOKEN,
        &[
            ("code", "c"),
            ("redirect_uri", "https://evil.example/cb"),
            ("code_verifier", &state),
        ],
    );
    let (status, body) = json_of(call_service(&app, request.to_request()).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["detail"].as_str().unwrap().contains("redirect_uri"));
    // A plain verifier (a client doing its own PKCE) passes through untouched.
    let request = post_form(
        TOKEN,
        &[
            ("code", "c"),
            ("redirect_uri", "http://x/cb"),
            ("code_verifier", "plain-verifier"),
        ],
    );
    assert_eq!(
        call_service(&app, request.to_request()).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        idp.last_request(GrantEndpoint::Token)
            .unwrap()
            .field("code_verifier"),
        Some("plain-verifier")
    );
}

#[actix_web::test]
async fn the_default_redirect_uri_comes_from_the_proxy() {
    let idp = MockIdp::start();
    idp.set_answer(GrantEndpoint::Token, 200, provider_token_answer());
    let auth = idp
        .auth_builder()
        .proxy("https://app.example.org/ignored/path")
        .build()
        .unwrap();
    let app = service!(auth);
    call_service(&app, post_form(TOKEN, &[("code", "c")]).to_request()).await;
    let sent = idp.last_request(GrantEndpoint::Token).unwrap();
    assert_eq!(
        sent.field("redirect_uri"),
        Some("https://app.example.org/api/auth/v2/token")
    );
}

#[actix_web::test]
async fn allow_lists_refuse_foreign_redirects() {
    let idp = MockIdp::start();
    let auth = idp
        .auth_builder()
        .proxy("https://app.example.org")
        .redirect_allow_list(RedirectAllowList::new().loopback().same_origin_as_proxy())
        .post_logout_allow_list(RedirectAllowList::new().exact("https://app.example.org/bye"))
        .build()
        .unwrap();
    let app = service!(auth);
    let login = |uri: &str| {
        TestRequest::get()
            .uri(&format!("/api/auth/v2/login?redirect_uri={uri}"))
            .to_request()
    };
    assert_eq!(
        call_service(&app, login("http://localhost:53100/callback"))
            .await
            .status(),
        StatusCode::FOUND
    );
    assert_eq!(
        call_service(&app, login("https://app.example.org/cb"))
            .await
            .status(),
        StatusCode::FOUND
    );
    for evil in [
        "https://evil.example/cb",
        "http://localhost.evil.example/cb",
        "https://app.example.org.evil/cb",
    ] {
        assert_eq!(
            call_service(&app, login(evil)).await.status(),
            StatusCode::BAD_REQUEST,
            "{evil}"
        );
    }
    let logout = |uri: &str| {
        TestRequest::get()
            .uri(&format!(
                "/api/auth/v2/logout?post_logout_redirect_uri={uri}"
            ))
            .to_request()
    };
    assert_eq!(
        call_service(&app, logout("https://app.example.org/bye"))
            .await
            .status(),
        StatusCode::FOUND
    );
    assert_eq!(
        call_service(&app, logout("https://evil.example/"))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
}

#[actix_web::test]
async fn logout_without_an_end_session_endpoint_redirects_directly() {
    let idp = MockIdp::start();
    idp.omit_from_discovery("end_session_endpoint");
    let auth = idp.auth_builder().build().unwrap();
    let app = service!(auth);
    let response = call_service(
        &app,
        TestRequest::get()
            .uri("/api/auth/v2/logout?post_logout_redirect_uri=https://x/bye")
            .to_request(),
    )
    .await;
    assert_eq!(
        (response.status(), location(&response).as_str()),
        (StatusCode::FOUND, "https://x/bye")
    );
    let response = call_service(
        &app,
        TestRequest::get().uri("/api/auth/v2/logout").to_request(),
    )
    .await;
    assert_eq!(location(&response), "/");
    // With the provider down as well.
    idp.stop();
    let auth = idp.auth_builder().build().unwrap();
    let app = service!(auth);
    let response = call_service(
        &app,
        TestRequest::get()
            .uri("/api/auth/v2/logout?post_logout_redirect_uri=https://x/bye")
            .to_request(),
    )
    .await;
    assert_eq!(location(&response), "https://x/bye");
}

#[actix_web::test]
async fn userinfo_maps_the_token_then_asks_the_provider() {
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    let app = service!(auth);
    let userinfo = |token: &str| {
        TestRequest::get()
            .uri("/api/auth/v2/userinfo")
            .insert_header(("Authorization", format!("Bearer {token}")))
            .to_request()
    };
    let named = idp
        .token()
        .claim("preferred_username", json!("jane"))
        .claim("given_name", json!("Jane"))
        .sign();
    let (status, body) = json_of(call_service(&app, userinfo(&named)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            body["username"].as_str(),
            body["pw_name"].as_str(),
            body["first_name"].as_str()
        ),
        (Some("jane"), Some("jane"), Some("Jane"))
    );
    assert_eq!(
        idp.last_request(GrantEndpoint::Userinfo),
        None,
        "no provider call when the token names the user"
    );

    let anonymous = idp.token().without_claim("preferred_username").sign();
    idp.set_answer(
        GrantEndpoint::Userinfo,
        200,
        json!({"preferred_username": "from-idp"}),
    );
    let (status, body) = json_of(call_service(&app, userinfo(&anonymous)).await).await;
    assert_eq!(
        (status, body["username"].as_str()),
        (StatusCode::OK, Some("from-idp"))
    );
    let sent = idp.last_request(GrantEndpoint::Userinfo).unwrap();
    assert_eq!(
        sent.authorization,
        Some(format!("Bearer {anonymous}")),
        "the caller's header is forwarded"
    );

    idp.set_answer(GrantEndpoint::Userinfo, 200, json!({"sub": "x"}));
    let (status, body) = json_of(call_service(&app, userinfo(&anonymous)).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!body["detail"].as_str().unwrap().is_empty());

    idp.set_answer(
        GrantEndpoint::Userinfo,
        401,
        json!({"error": "invalid_token"}),
    );
    assert_eq!(
        call_service(&app, userinfo(&anonymous)).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let response = call_service(
        &app,
        TestRequest::get().uri("/api/auth/v2/userinfo").to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

async fn mine() -> HttpResponse {
    HttpResponse::Ok().body("mine")
}

#[actix_web::test]
async fn routes_can_move_and_switch_off_without_hiding_the_apps_routes() {
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    let routes = AuthRoutes::new("/api")
        .path(AuthRoute::Login, "/signin")
        .disable(AuthRoute::Device);
    let app = init_service(
        App::new()
            .configure(auth.routes_with(routes))
            .route("/api/data", web::get().to(mine)),
    )
    .await;
    let response = call_service(
        &app,
        TestRequest::get()
            .uri("/api/signin?redirect_uri=http://localhost:1/cb")
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let response = call_service(
        &app,
        TestRequest::get()
            .uri("/api/auth/v2/login?redirect_uri=http://localhost:1/cb")
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = call_service(
        &app,
        TestRequest::post().uri("/api/auth/v2/device").to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = call_service(&app, TestRequest::get().uri("/api/data").to_request()).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the app's own route under the prefix still answers"
    );
    let response = call_service(&app, TestRequest::get().uri(TOKEN).to_request()).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[actix_web::test]
async fn login_builds_the_authorize_url() {
    let idp = MockIdp::start();
    let auth = idp
        .auth_builder()
        .client_id("cli")
        .scopes("profile email")
        .build()
        .unwrap();
    let app = service!(auth);
    let get = |query: &str| {
        TestRequest::get()
            .uri(&format!(
                "/api/auth/v2/login?redirect_uri=http://localhost:1/cb{query}"
            ))
            .to_request()
    };
    let response = call_service(&app, get("")).await;
    let url = location(&response);
    assert!(
        url.starts_with(&format!("{}/authorize?", idp.issuer())),
        "{url}"
    );
    assert_eq!(
        query_value(&url, "scope").as_deref(),
        Some("openid profile email")
    );
    assert_eq!(query_value(&url, "client_id").as_deref(), Some("cli"));
    assert_eq!(query_value(&url, "response_type").as_deref(), Some("code"));
    assert!(query_value(&url, "nonce").is_some_and(|n| n.len() >= 16));
    assert_eq!(query_value(&url, "prompt"), None);
    let url = location(&call_service(&app, get("&offline_access=true&prompt=consent")).await);
    assert_eq!(
        query_value(&url, "scope").as_deref(),
        Some("openid profile email offline_access")
    );
    assert_eq!(query_value(&url, "prompt").as_deref(), Some("consent"));
    // The configured scopes did not change.
    let url = location(&call_service(&app, get("")).await);
    assert_eq!(
        query_value(&url, "scope").as_deref(),
        Some("openid profile email")
    );
    let url = location(&call_service(&app, get("&scope=custom%20openid")).await);
    assert_eq!(query_value(&url, "scope").as_deref(), Some("openid custom"));
}

#[actix_web::test]
async fn the_callback_checks_the_id_token_nonce() {
    let idp = MockIdp::start();
    let auth = idp.auth_builder().client_id("cli").build().unwrap();
    let app = service!(auth);
    let redirect = "http://localhost:1/api/auth/v2/callback";
    let uri = format!("/api/auth/v2/login?redirect_uri={redirect}");
    let login = location(&call_service(&app, TestRequest::get().uri(&uri).to_request()).await);
    let (state, nonce) = (
        query_value(&login, "state").unwrap(),
        query_value(&login, "nonce").unwrap(),
    );
    let callback = |state: &str| {
        TestRequest::get()
            .uri(&format!(
                "/api/auth/v2/callback?code=c&state={}",
                urlencode(state)
            ))
            .to_request()
    };
    let answer_with = |id_token: String| {
        let mut answer = provider_token_answer();
        answer["id_token"] = json!(id_token);
        idp.set_answer(GrantEndpoint::Token, 200, answer);
    };

    answer_with(
        idp.token()
            .audience("cli")
            .claim("nonce", json!("someone-elses"))
            .sign(),
    );
    let (status, body) = json_of(call_service(&app, callback(&state)).await).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("nonce"));

    // A fresh login, answered with the right nonce but for another client.
    let login = location(&call_service(&app, TestRequest::get().uri(&uri).to_request()).await);
    let (state, nonce2) = (
        query_value(&login, "state").unwrap(),
        query_value(&login, "nonce").unwrap(),
    );
    assert_ne!(nonce, nonce2);
    answer_with(
        idp.token()
            .audience("other")
            .claim("nonce", json!(nonce2))
            .sign(),
    );
    assert_eq!(
        call_service(&app, callback(&state)).await.status(),
        StatusCode::BAD_GATEWAY
    );

    let login = location(&call_service(&app, TestRequest::get().uri(&uri).to_request()).await);
    let (state, nonce3) = (
        query_value(&login, "state").unwrap(),
        query_value(&login, "nonce").unwrap(),
    );
    answer_with(
        idp.token()
            .audience("cli")
            .claim("nonce", json!(nonce3))
            .sign(),
    );
    let (status, body) = json_of(call_service(&app, callback(&state)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["access_token"], "at");
    let sent = idp.last_request(GrantEndpoint::Token).unwrap();
    assert_eq!(
        sent.field("redirect_uri"),
        Some(redirect),
        "the redirect of the login, from the state"
    );
}
