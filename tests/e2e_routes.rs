//! The auth routes and protected routes of `examples/conformance.rs`, over real HTTP, against a
//! real OpenID provider (npm `oidc-provider`, see `tests/idp`): browser login through the code
//! flow (via the token route, the way py-oidc-auth-client finishes it, and via `/callback`),
//! refresh with both field spellings, the device flow, userinfo, logout, key rotation and expiry.
//! Confidential and public clients both.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::app::ConformanceApp;
use support::browser::http_client;
use support::idp::{
    self, CONF_CLIENT, IdpClient, JANE, JOHN, PUBLIC_CLIENT, SHORT_CLIENT, TestIdp,
};
use support::inproc::{assert_token_answer, assert_upstream_error, unix_now, urlencode};

const PREFIX: &str = "/api/test/auth/v2";

struct Reply {
    status: u16,
    location: Option<String>,
    json: Value,
}

async fn send(request: awc::ClientRequest, form: Option<&[(&str, &str)]>) -> Reply {
    let mut response = match form {
        Some(form) => request.send_form(&form),
        None => request.send(),
    }
    .await
    .expect("the app answers");
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.body().await.expect("a body");
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Reply {
        status: response.status().as_u16(),
        location,
        json,
    }
}

async fn get(url: &str, token: Option<&str>) -> Reply {
    let mut request = http_client().get(url);
    if let Some(token) = token {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    send(request, None).await
}

async fn post_form(url: &str, form: &[(&str, &str)]) -> Reply {
    send(http_client().post(url), Some(form)).await
}

/// The client's code flow: login route → provider → code and state at the loopback redirect,
/// then the token route with `code`, `redirect_uri`, `grant_type` and the verifier taken from
/// the state exactly as py-oidc-auth-client does (`state.rpartition("|")[-1]`).
async fn client_code_flow(app: &ConformanceApp, idp: &TestIdp, user: idp::IdpUser) -> Value {
    let redirect_uri = "http://127.0.0.1:53100/callback";
    let login = format!(
        "{}{PREFIX}/login?redirect_uri={}&offline_access=true&prompt=consent",
        app.base(),
        urlencode(redirect_uri)
    );
    let callback = idp
        .browser()
        .login(&login, user.username, user.password)
        .await
        .expect("login completes");
    assert!(
        !callback.state.contains('|'),
        "the state carries no clear verifier"
    );
    let verifier = callback
        .state
        .rsplit('|')
        .next()
        .unwrap_or_default()
        .to_owned();
    let reply = post_form(
        &app.url(&format!("{PREFIX}/token")),
        &[
            ("code", &callback.code),
            ("redirect_uri", redirect_uri),
            ("grant_type", "authorization_code"),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_token_json(&reply.json, "the code exchange");
    reply.json
}

/// A token answer of the example, for tokens of the provider's default lifetime (5 minutes).
fn assert_token_json(token: &Value, what: &str) {
    assert_token_answer(token, what).assert_lives(Duration::from_secs(60), what);
}

async fn code_flow_then_protected_routes(client: IdpClient) {
    let idp = TestIdp::start();
    let app = ConformanceApp::for_client(&idp.discovery_url(), client);
    let jane = client_code_flow(&app, &idp, JANE).await;
    let access = jane["access_token"].as_str().unwrap();
    assert!(jane["scope"].as_str().unwrap().contains("offline_access"));

    let reply = get(&app.url("/protected"), Some(access)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json["preferred_username"], "jane");
    assert_eq!(
        get(&app.url("/protected-claims"), Some(access))
            .await
            .status,
        200
    );
    let reply = get(&app.url("/protected-bad-claims"), Some(access)).await;
    assert_eq!(reply.status, 403);
    assert!(reply.json["detail"].as_str().unwrap().contains("claims"));
    assert_eq!(get(&app.url("/admin"), Some(access)).await.status, 200);
    assert_eq!(
        get(&app.url("/scoped-valid"), Some(access)).await.status,
        200
    );
    let reply = get(&app.url("/scoped-partial"), Some(access)).await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.json["detail"],
        "Token missing required scopes: nonexistent-scope"
    );
    let reply = get(&app.url("/optional"), Some(access)).await;
    assert_eq!(reply.json["authenticated"], true);
    assert_eq!(get(&app.url("/protected"), None).await.status, 401);

    let john = client_code_flow(&app, &idp, JOHN).await;
    let reply = get(&app.url("/admin"), john["access_token"].as_str()).await;
    assert_eq!(reply.status, 403, "john is not in admins");

    // Refresh, with the client's hyphenated field and with the RFC name.
    for field in ["refresh-token", "refresh_token"] {
        let refresh = jane["refresh_token"].as_str().unwrap();
        let reply = post_form(&app.url(&format!("{PREFIX}/token")), &[(field, refresh)]).await;
        assert_eq!(reply.status, 200, "{field}: {}", reply.json);
        assert_token_json(&reply.json, field);
        assert_eq!(
            get(&app.url("/protected"), reply.json["access_token"].as_str())
                .await
                .status,
            200
        );
    }

    let reply = get(&app.url(&format!("{PREFIX}/userinfo")), Some(access)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json["username"], "jane");
    assert_eq!(reply.json["first_name"], "Jane");
    assert_eq!(reply.json["last_name"], "Doe");
    assert_eq!(reply.json["email"], "jane@example.org");
}

#[actix_web::test]
async fn confidential_client_code_flow_refresh_and_userinfo() {
    code_flow_then_protected_routes(CONF_CLIENT).await;
}

#[actix_web::test]
async fn public_client_code_flow_refresh_and_userinfo() {
    code_flow_then_protected_routes(PUBLIC_CLIENT).await;
}

#[actix_web::test]
async fn the_callback_route_finishes_a_browser_login_once() {
    let idp = TestIdp::start();
    let app = ConformanceApp::for_client(&idp.discovery_url(), CONF_CLIENT);
    let redirect_uri = app.url(&format!("{PREFIX}/callback"));
    let login = format!(
        "{}{PREFIX}/login?redirect_uri={}",
        app.base(),
        urlencode(&redirect_uri)
    );
    let callback = idp
        .browser()
        .login(&login, JANE.username, JANE.password)
        .await
        .expect("login completes");
    assert!(
        callback.raw_url.starts_with(&redirect_uri),
        "{}",
        callback.raw_url
    );
    let reply = get(&callback.raw_url, None).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_token_json(&reply.json, "the callback");
    assert_eq!(
        get(&app.url("/protected"), reply.json["access_token"].as_str())
            .await
            .status,
        200
    );
    // The same state again: refused before the provider is asked.
    let replay = get(&callback.raw_url, None).await;
    assert_eq!(replay.status, 400);
    assert_eq!(replay.json["detail"], "Login state already used");
    // A forged state.
    let forged = get(
        &app.url(&format!(
            "{PREFIX}/callback?code=x&state=abc|http://evil|verifier"
        )),
        None,
    )
    .await;
    assert_eq!(forged.status, 400);
}

#[actix_web::test]
async fn device_flow_polls_then_succeeds() {
    let idp = TestIdp::start();
    let app = ConformanceApp::for_client(&idp.discovery_url(), PUBLIC_CLIENT);
    let start = post_form(&app.url(&format!("{PREFIX}/device")), &[]).await;
    assert_eq!(start.status, 200, "{}", start.json);
    for field in ["device_code", "user_code", "verification_uri"] {
        assert!(
            start.json[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field}: {}",
            start.json
        );
    }
    assert!(start.json["expires_in"].is_i64());
    assert!(start.json["interval"].is_i64());
    let device_code = start.json["device_code"].as_str().unwrap();

    let pending = post_form(
        &app.url(&format!("{PREFIX}/token")),
        &[("device-code", device_code)],
    )
    .await;
    assert_upstream_error(
        (pending.status, &pending.json),
        400,
        Some("authorization_pending"),
        "a poll before the approval",
    );

    idp.browser()
        .approve_device(
            start.json["verification_uri"].as_str().unwrap(),
            start.json["user_code"].as_str().unwrap(),
            "jane",
            "jane-pw",
        )
        .await
        .expect("the device is approved");
    let done = post_form(
        &app.url(&format!("{PREFIX}/token")),
        &[("device_code", device_code)],
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.json);
    assert_token_json(&done.json, "the device code exchange");
    let reply = get(&app.url("/protected"), done.json["access_token"].as_str()).await;
    assert_eq!(reply.json["preferred_username"], "jane");
}

#[actix_web::test]
async fn logout_redirects_to_the_end_session_endpoint() {
    let idp = TestIdp::start();
    let app = ConformanceApp::for_client(&idp.discovery_url(), PUBLIC_CLIENT);
    let after = "http://127.0.0.1:9/bye";
    let reply = get(
        &app.url(&format!(
            "{PREFIX}/logout?post_logout_redirect_uri={}&id_token_hint=hint",
            urlencode(after)
        )),
        None,
    )
    .await;
    assert!((300..400).contains(&reply.status), "{}", reply.status);
    let location = reply.location.unwrap();
    let end_session = idp.discovery().await["end_session_endpoint"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(location.starts_with(&end_session), "{location}");
    let target = url::Url::parse(&location).unwrap();
    let query: Vec<(String, String)> = target.query_pairs().into_owned().collect();
    assert!(query.contains(&("client_id".into(), "public-client".into())));
    assert!(query.contains(&("post_logout_redirect_uri".into(), after.into())));
    assert!(query.contains(&("id_token_hint".into(), "hint".into())));
}

#[actix_web::test]
async fn rotated_provider_keys_are_picked_up_while_the_app_runs() {
    let idp = TestIdp::start();
    let app = ConformanceApp::for_client(&idp.discovery_url(), PUBLIC_CLIENT);
    let before = idp
        .token_for(PUBLIC_CLIENT, JANE, "openid profile email")
        .await;
    assert_eq!(
        get(&app.url("/protected"), before["access_token"].as_str())
            .await
            .status,
        200
    );
    let new_kid = idp.rotate(false).await;
    let after = idp
        .token_for(PUBLIC_CLIENT, JANE, "openid profile email")
        .await;
    let (header, _) = idp::jwt_parts(after["access_token"].as_str().unwrap());
    assert_eq!(header["kid"], new_kid);
    assert_eq!(
        get(&app.url("/protected"), after["access_token"].as_str())
            .await
            .status,
        200
    );
    // The old key is still published, so tokens it signed still pass.
    assert_eq!(
        get(&app.url("/protected"), before["access_token"].as_str())
            .await
            .status,
        200
    );
}

#[actix_web::test]
async fn a_short_lived_token_expires() {
    let idp = TestIdp::start();
    let app = ConformanceApp::for_client(&idp.discovery_url(), SHORT_CLIENT);
    let token = idp.token_for(SHORT_CLIENT, JANE, "openid profile").await;
    let access = token["access_token"].as_str().unwrap().to_owned();
    assert_eq!(get(&app.url("/protected"), Some(&access)).await.status, 200);
    let (_, claims) = idp::jwt_parts(&access);
    let exp = claims["exp"].as_i64().unwrap();
    let lifetime = u64::try_from(exp - unix_now()).unwrap_or(0);
    actix_web::rt::time::sleep(Duration::from_secs(lifetime + 1)).await;
    let reply = get(&app.url("/protected"), Some(&access)).await;
    assert_eq!(reply.status, 401);
    assert!(reply.json["detail"].as_str().unwrap().contains("expired"));
}

#[actix_web::test]
async fn client_mistakes_are_clear_4xx() {
    let idp = TestIdp::start();
    let app = ConformanceApp::for_client(&idp.discovery_url(), PUBLIC_CLIENT);
    let token_url = app.url(&format!("{PREFIX}/token"));
    // Empty POST, with and without a content type.
    let reply = send(http_client().post(&token_url), None).await;
    assert_eq!(
        (reply.status, reply.json["detail"].as_str()),
        (400, Some("Missing (device) code or refresh_token"))
    );
    let reply = post_form(&token_url, &[]).await;
    assert_eq!(reply.status, 400);
    // JSON is not a form.
    let reply = send(
        http_client()
            .post(&token_url)
            .insert_header(("content-type", "application/json")),
        None,
    )
    .await;
    assert_eq!(reply.status, 400);
    let mut response = http_client()
        .post(&token_url)
        .insert_header(("content-type", "application/json"))
        .send_body(r#"{"refresh-token": "x"}"#)
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].is_string());
    // An unknown code is the provider's 400, with its OAuth error on top.
    let reply = post_form(
        &token_url,
        &[("code", "nope"), ("redirect_uri", "http://127.0.0.1:9/cb")],
    )
    .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json["error"], "invalid_grant");
    // Login without redirect_uri, with a junk prompt or flag.
    let login = app.url(&format!("{PREFIX}/login"));
    assert_eq!(
        get(&login, None).await.json["detail"],
        "Missing redirect_uri"
    );
    let reply = get(
        &format!("{login}?redirect_uri=http://127.0.0.1:9/cb&prompt=nonesuch"),
        None,
    )
    .await;
    assert_eq!(reply.status, 400);
    let reply = get(
        &format!("{login}?redirect_uri=http://127.0.0.1:9/cb&offline_access=perhaps"),
        None,
    )
    .await;
    assert_eq!(reply.status, 400);
    // Without a prompt, the authorize URL carries none; an explicit prompt=none is sent.
    let reply = get(&format!("{login}?redirect_uri=http://127.0.0.1:9/cb"), None).await;
    assert_eq!(reply.status, 302);
    assert!(!reply.location.as_deref().unwrap().contains("prompt="));
    let reply = get(
        &format!("{login}?redirect_uri=http://127.0.0.1:9/cb&prompt=none"),
        None,
    )
    .await;
    assert!(reply.location.as_deref().unwrap().contains("prompt=none"));
    // The device route reads no input.
    let reply = send(
        http_client()
            .post(app.url(&format!("{PREFIX}/device")))
            .insert_header(("content-type", "application/json")),
        None,
    )
    .await;
    assert_eq!(reply.status, 200);
}
