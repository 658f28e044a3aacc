//! The end-to-end test provider itself (`tests/idp`, driven through `tests/support/idp.rs`):
//! discovery, the code flow with PKCE for a confidential and a public client, JWT access tokens
//! with Keycloak-like claims, refresh, the device flow, key rotation, userinfo and logout. If
//! these fail, the end-to-end tests of the library cannot be trusted either.

mod support;

use support::idp;

use std::time::Instant;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use idp::{
    CONF_CLIENT, ES_CLIENT, IdpClient, JANE, JOHN, PUBLIC_CLIENT, Pkce, SHORT_CLIENT, TestIdp,
    kid_of,
};

const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

/// Verifies `token` against the provider's published keys: signature, `iss`, `aud`, `exp`.
async fn verify(idp: &TestIdp, token: &str, audience: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).expect("a JWT header");
    let kid = header.kid.expect("access tokens carry a kid");
    let jwks: JwkSet = serde_json::from_value(idp.jwks().await).expect("a JWK set");
    let jwk = jwks
        .find(&kid)
        .unwrap_or_else(|| panic!("kid {kid} is not in the JWKS"));
    let key = DecodingKey::from_jwk(jwk).expect("a usable key");
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[idp.issuer()]);
    validation.leeway = 0;
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap_or_else(|e| panic!("the access token does not verify: {e}"))
        .claims
}

/// The code flow through the scripted browser, then the token endpoint.
async fn code_flow(idp: &TestIdp, client: IdpClient, user: idp::IdpUser, scope: &str) -> Value {
    let pkce = Pkce::new();
    let url = idp.authorize_url(client, REDIRECT_URI, scope, "some-state", &pkce);
    let callback = idp
        .login(&url, user.username, user.password)
        .await
        .expect("login succeeds");
    assert_eq!(callback.state, "some-state");
    assert_eq!(
        callback.iss,
        idp.issuer(),
        "RFC 9207 iss in the authorization response"
    );
    assert!(
        callback.raw_url.starts_with(REDIRECT_URI),
        "{}",
        callback.raw_url
    );
    idp.exchange_code(client, &callback.code, REDIRECT_URI, &pkce.verifier)
        .await
        .expect_ok("code exchange")
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

#[actix_web::test]
async fn discovery_and_jwks_describe_the_provider() {
    let began = Instant::now();
    let idp = TestIdp::start();
    eprintln!(
        "provider start-up: {:?} (incl. install check {:?})",
        idp.startup_time(),
        began.elapsed()
    );
    assert!(
        idp.issuer().starts_with("http://127.0.0.1:"),
        "{}",
        idp.issuer()
    );

    let discovery = idp.discovery().await;
    assert_eq!(discovery["issuer"], idp.issuer());
    assert_eq!(discovery["jwks_uri"], idp.url("/jwks"));
    assert_eq!(
        discovery["device_authorization_endpoint"],
        idp.url("/device/auth")
    );
    assert_eq!(discovery["end_session_endpoint"], idp.url("/session/end"));
    assert_eq!(discovery["userinfo_endpoint"], idp.url("/me"));
    assert_eq!(discovery["token_endpoint"], idp.url("/token"));

    let jwks = idp.jwks().await;
    let algs: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["alg"].as_str())
        .collect();
    assert_eq!(algs, ["RS256", "ES256"]);
    assert!(
        jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .all(|k| k.get("d").is_none()),
        "no private parts"
    );

    let counts = idp.counts().await;
    assert_eq!((counts.discovery, counts.jwks), (1, 1));
    idp.reset_counts().await;
    assert_eq!(idp.counts().await, idp::IdpCounts::default());
}

#[actix_web::test]
async fn confidential_client_code_flow_refresh_and_keycloak_claims() {
    let idp = TestIdp::start();
    let began = Instant::now();
    let tokens = code_flow(
        &idp,
        CONF_CLIENT,
        JANE,
        "openid profile email offline_access",
    )
    .await;
    eprintln!("code flow: {:?}", began.elapsed());
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["id_token"].is_string());
    let access = tokens["access_token"].as_str().expect("access_token");

    let (header, _) = idp::jwt_parts(access);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "RS256");
    assert!(
        idp.kids()
            .await
            .contains(&header["kid"].as_str().expect("kid").to_owned())
    );

    let claims = verify(&idp, access, "conf-client").await;
    assert_eq!(claims["aud"], "conf-client");
    assert_eq!(claims["sub"], JANE.sub);
    assert_eq!(claims["azp"], "conf-client");
    assert_eq!(claims["preferred_username"], "jane");
    assert_eq!(claims["email"], "jane@example.org");
    assert_eq!(claims["given_name"], "Jane");
    assert_eq!(claims["family_name"], "Doe");
    assert_eq!(strings(&claims["groups"]), ["admins"]);
    assert_eq!(
        strings(&claims["realm_access"]["roles"]),
        ["offline_access", "uma_authorization"]
    );
    assert_eq!(
        strings(&claims["resource_access"]["conf-client"]["roles"]),
        ["admin", "editor"]
    );
    let scope = claims["scope"].as_str().expect("scope");
    for wanted in ["openid", "profile", "email", "offline_access"] {
        assert!(
            scope.split(' ').any(|s| s == wanted),
            "{wanted} missing from {scope}"
        );
    }
    assert_eq!(tokens["scope"], claims["scope"]);

    // offline_access without prompt=consent still gives a refresh token, which is not rotated.
    let refresh_token = tokens["refresh_token"]
        .as_str()
        .expect("a refresh token for offline_access");
    let refreshed = idp
        .refresh(CONF_CLIENT, refresh_token)
        .await
        .expect_ok("refresh");
    let new_access = refreshed["access_token"].as_str().expect("access_token");
    assert_ne!(new_access, access);
    assert_eq!(
        verify(&idp, new_access, "conf-client").await["preferred_username"],
        "jane"
    );
    assert!(
        refreshed
            .get("refresh_token")
            .is_none_or(|r| r == refresh_token),
        "no rotation"
    );
    idp.refresh(CONF_CLIENT, refresh_token)
        .await
        .expect_ok("the same refresh token works again");

    // A wrong secret is 401 invalid_client.
    let wrong = IdpClient {
        secret: Some("wrong"),
        ..CONF_CLIENT
    };
    let reply = idp.refresh(wrong, refresh_token).await;
    assert_eq!((reply.status, reply.error()), (401, Some("invalid_client")));
}

#[actix_web::test]
async fn public_client_code_flow_with_pkce() {
    let idp = TestIdp::start();
    let pkce = Pkce::new();
    let url = idp.authorize_url(
        PUBLIC_CLIENT,
        "http://localhost:53100/callback",
        "openid profile",
        "s",
        &pkce,
    );
    let callback = idp
        .login(&url, "john", "john-pw")
        .await
        .expect("login succeeds");
    assert!(
        callback
            .raw_url
            .starts_with("http://localhost:53100/callback?"),
        "{}",
        callback.raw_url
    );

    // A wrong verifier is refused and leaves the code usable; the right one is accepted once.
    let reply = idp
        .exchange_code(
            PUBLIC_CLIENT,
            &callback.code,
            "http://localhost:53100/callback",
            "x".repeat(43).as_str(),
        )
        .await;
    assert_eq!((reply.status, reply.error()), (400, Some("invalid_grant")));
    let tokens = idp
        .exchange_code(
            PUBLIC_CLIENT,
            &callback.code,
            "http://localhost:53100/callback",
            &pkce.verifier,
        )
        .await
        .expect_ok("code exchange");
    let again = idp
        .exchange_code(
            PUBLIC_CLIENT,
            &callback.code,
            "http://localhost:53100/callback",
            &pkce.verifier,
        )
        .await;
    assert_eq!(again.error(), Some("invalid_grant"), "codes are single-use");

    assert!(
        tokens.get("refresh_token").is_none(),
        "no refresh token without offline_access"
    );
    let claims = verify(
        &idp,
        tokens["access_token"].as_str().expect("access_token"),
        "public-client",
    )
    .await;
    assert_eq!(claims["preferred_username"], "john");
    assert_eq!(strings(&claims["groups"]), ["users"]);
    assert!(strings(&claims["realm_access"]["roles"]).is_empty());
    assert_eq!(
        strings(&claims["resource_access"]["public-client"]["roles"]),
        ["viewer"]
    );
}

#[actix_web::test]
async fn a_wrong_password_or_a_foreign_redirect_uri_is_an_error() {
    let idp = TestIdp::start();
    let url = idp.authorize_url(PUBLIC_CLIENT, REDIRECT_URI, "openid", "s", &Pkce::new());
    let error = idp
        .login(&url, "jane", "not-her-password")
        .await
        .expect_err("a wrong password fails");
    assert!(error.contains("rejected the login"), "{error}");

    let url = idp.authorize_url(
        PUBLIC_CLIENT,
        "https://evil.example/callback",
        "openid",
        "s",
        &Pkce::new(),
    );
    let error = idp
        .login(&url, "jane", "jane-pw")
        .await
        .expect_err("a non-loopback redirect_uri fails");
    assert!(error.contains("redirect_uri"), "{error}");
}

#[actix_web::test]
async fn device_flow_pending_then_approved() {
    let idp = TestIdp::start();
    let began = Instant::now();
    let start = idp
        .device_authorization(PUBLIC_CLIENT, "openid profile offline_access")
        .await
        .expect_ok("device authorization");
    for key in [
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
    ] {
        assert!(start[key].is_string(), "{key} missing: {start}");
    }
    assert!(start["expires_in"].as_u64().is_some_and(|s| s > 0));
    assert_eq!(start["interval"], 1, "a short polling interval for tests");
    let device_code = start["device_code"].as_str().expect("device_code");

    let first = idp.poll_device(PUBLIC_CLIENT, device_code).await;
    assert_eq!(
        (first.status, first.error()),
        (400, Some("authorization_pending"))
    );

    let verification_uri = start["verification_uri"]
        .as_str()
        .expect("verification_uri");
    let user_code = start["user_code"].as_str().expect("user_code");
    idp.approve_device(verification_uri, user_code, "jane", "jane-pw")
        .await
        .expect("device approved");

    let tokens = idp
        .poll_device(PUBLIC_CLIENT, device_code)
        .await
        .expect_ok("device token");
    let claims = verify(
        &idp,
        tokens["access_token"].as_str().expect("access_token"),
        "public-client",
    )
    .await;
    assert_eq!(claims["preferred_username"], "jane");
    assert!(
        tokens["refresh_token"].is_string(),
        "offline_access gives a refresh token: {tokens}"
    );
    let used = idp.poll_device(PUBLIC_CLIENT, device_code).await;
    assert_eq!(
        used.error(),
        Some("invalid_grant"),
        "device codes are single-use"
    );

    // The confidential client, through verification_uri_complete (no code to type).
    let start = idp
        .device_authorization(CONF_CLIENT, "openid")
        .await
        .expect_ok("device authorization");
    let complete = start["verification_uri_complete"]
        .as_str()
        .expect("verification_uri_complete");
    idp.approve_device(complete, "not-typed", "john", "john-pw")
        .await
        .expect("device approved");
    let tokens = idp
        .poll_device(
            CONF_CLIENT,
            start["device_code"].as_str().expect("device_code"),
        )
        .await
        .expect_ok("device token");
    assert_eq!(
        verify(
            &idp,
            tokens["access_token"].as_str().expect("access_token"),
            "conf-client"
        )
        .await["preferred_username"],
        "john"
    );

    // A wrong password stops the approval.
    let start = idp
        .device_authorization(PUBLIC_CLIENT, "openid")
        .await
        .expect_ok("device authorization");
    let error = idp
        .approve_device(
            verification_uri,
            start["user_code"].as_str().expect("user_code"),
            "john",
            "nope",
        )
        .await
        .expect_err("a wrong password fails");
    assert!(error.contains("rejected the login"), "{error}");
    eprintln!("device flows: {:?}", began.elapsed());
}

#[actix_web::test]
async fn rotation_publishes_and_signs_with_a_new_kid() {
    let idp = TestIdp::start();
    let before = idp.token_for(CONF_CLIENT, JANE, "openid").await;
    let old_kid = kid_of(before["access_token"].as_str().expect("access_token"));

    let new_kid = idp.rotate(false).await;
    assert_ne!(new_kid, old_kid);
    let kids = idp.kids().await;
    assert!(kids.contains(&new_kid), "{kids:?}");
    assert!(
        kids.contains(&old_kid),
        "the old key stays published: {kids:?}"
    );

    let after = idp.token_for(CONF_CLIENT, JANE, "openid").await;
    let access = after["access_token"].as_str().expect("access_token");
    assert_eq!(kid_of(access), new_kid);
    verify(&idp, access, "conf-client").await;
    // The token from before still verifies: its key is still published.
    verify(
        &idp,
        before["access_token"].as_str().expect("access_token"),
        "conf-client",
    )
    .await;

    let newest = idp.rotate(true).await;
    let kids = idp.kids().await;
    assert_eq!(
        kids.len(),
        2,
        "only the newest RSA key and the EC key: {kids:?}"
    );
    assert_eq!(kids[0], newest);
    assert!(!kids.contains(&new_kid));
}

#[actix_web::test]
async fn userinfo_accepts_the_jwt_access_token() {
    let idp = TestIdp::start();
    let tokens = idp
        .token_for(PUBLIC_CLIENT, JANE, "openid profile email")
        .await;
    let access = tokens["access_token"].as_str().expect("access_token");
    let info = idp.userinfo(access).await.expect_ok("userinfo");
    assert_eq!(info["preferred_username"], "jane");
    assert_eq!(info["sub"], JANE.sub);
    assert_eq!(info["email"], "jane@example.org");

    // Change a signature character whose bits all count (the last one carries padding bits).
    let at = access.len() - 10;
    let swapped = if &access[at..=at] == "A" { "B" } else { "A" };
    let tampered = format!("{}{swapped}{}", &access[..at], &access[at + 1..]);
    let reply = idp.userinfo(&tampered).await;
    assert_eq!((reply.status, reply.error()), (401, Some("invalid_token")));
    assert_eq!(idp.counts().await.userinfo, 2);
}

#[actix_web::test]
async fn short_and_es256_clients() {
    let idp = TestIdp::start();
    let short = idp.token_for(SHORT_CLIENT, JOHN, "openid").await;
    assert_eq!(short["expires_in"], 3);
    let claims = verify(
        &idp,
        short["access_token"].as_str().expect("access_token"),
        "short-client",
    )
    .await;
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        3
    );

    let es = idp.token_for(ES_CLIENT, JOHN, "openid").await;
    let access = es["access_token"].as_str().expect("access_token");
    assert_eq!(
        jsonwebtoken::decode_header(access).expect("header").alg,
        Algorithm::ES256
    );
    assert_eq!(
        verify(&idp, access, "es-client").await["preferred_username"],
        "john"
    );
}

#[actix_web::test]
async fn end_session_shows_a_page_and_redirects_after_logout() {
    let idp = TestIdp::start();
    let end_session = format!(
        "{}?client_id=conf-client&post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fbye&state=xyz",
        idp.url("/session/end")
    );
    let client = awc::Client::builder().disable_redirects().finish();
    let mut response = client
        .get(&end_session)
        .send()
        .await
        .expect("end_session answers");
    let status = response.status().as_u16();
    let body = response.body().await.expect("a body");
    assert!(status == 200 || (300..400).contains(&status), "{status}");
    assert!(
        String::from_utf8_lossy(&body).contains("<form"),
        "a page with a form"
    );

    // Logged in, then logged out: back at the post_logout_redirect_uri with the state.
    let mut browser = idp.browser();
    let pkce = Pkce::new();
    let url = idp.authorize_url(CONF_CLIENT, REDIRECT_URI, "openid", "s", &pkce);
    browser.login(&url, "jane", "jane-pw").await.expect("login");
    assert!(
        browser.cookie_names("/").contains(&"_session".to_owned()),
        "a provider session"
    );
    // A second login in the same browser needs no password (single sign-on).
    let second = browser
        .login(&url, "jane", "wrong-but-unused")
        .await
        .expect("sso");
    assert!(!second.code.is_empty());
    let target = browser
        .logout(&end_session)
        .await
        .expect("logout")
        .expect("a redirect");
    assert_eq!(target, "http://127.0.0.1:9/bye?state=xyz");
    assert!(
        !browser.cookie_names("/").contains(&"_session".to_owned()),
        "the session cookie is gone"
    );

    let foreign = format!(
        "{}?client_id=conf-client&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F",
        idp.url("/session/end")
    );
    let response = client
        .get(&foreign)
        .send()
        .await
        .expect("end_session answers");
    assert_eq!(
        response.status().as_u16(),
        400,
        "non-loopback post_logout_redirect_uri refused"
    );
}
