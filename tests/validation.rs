//! Token validation through real actix services against the in-process mock provider: every
//! status code and rule of the core, with the provider's request counters as witnesses.

use std::time::Duration;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::WWW_AUTHENTICATE;
use actix_web::test::{TestRequest, call_service, init_service, read_body_json};
use actix_web::{App, HttpResponse, web};
use oidc_actix::testing::{MockIdp, TestKey};
use oidc_actix::{
    Algorithm, AuthError, Authenticated, ClaimConstraints, IdToken, MaybeAuthenticated, OidcAuth,
    Policy,
};
use serde::Deserialize;
use serde_json::{Value, json};

async fn whoami(token: IdToken) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "sub": token.sub }))
}

async fn maybe(token: Option<IdToken>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "authenticated": token.is_some() }))
}

async fn maybe_admin(auth: MaybeAuthenticated) -> HttpResponse {
    let policy =
        Policy::authenticated().with_claims(ClaimConstraints::new().require("groups", ["admins"]));
    HttpResponse::Ok().json(json!({ "authenticated": auth.authorize(&policy).is_some() }))
}

async fn scoped(auth: Authenticated) -> Result<HttpResponse, AuthError> {
    let policy = Policy::authenticated()
        .with_scopes("profile admin superuser")
        .expect("valid scopes")
        .with_claims(ClaimConstraints::new().require("groups", ["admins"]));
    let token = auth.authorize(&policy)?;
    Ok(HttpResponse::Ok().json(json!({ "sub": token.sub })))
}

async fn admins(auth: Authenticated) -> Result<HttpResponse, AuthError> {
    let policy =
        Policy::authenticated().with_claims(ClaimConstraints::new().require("groups", ["admins"]));
    auth.authorize(&policy)?;
    Ok(HttpResponse::Ok().finish())
}

async fn no_claims(auth: Authenticated) -> Result<HttpResponse, AuthError> {
    auth.authorize(&Policy::authenticated().with_claims(ClaimConstraints::new()))?;
    Ok(HttpResponse::Ok().finish())
}

#[derive(Deserialize)]
struct Tenant {
    tenant: String,
}

async fn tenant(token: IdToken<Tenant>) -> HttpResponse {
    HttpResponse::Ok().body(token.tenant.clone())
}

fn app(
    auth: OidcAuth,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(auth)
        .route("/whoami", web::get().to(whoami))
        .route("/maybe", web::get().to(maybe))
        .route("/maybe-admin", web::get().to(maybe_admin))
        .route("/scoped", web::get().to(scoped))
        .route("/admins", web::get().to(admins))
        .route("/no-claims", web::get().to(no_claims))
        .route("/tenant", web::get().to(tenant))
}

async fn get<S>(app: &S, path: &str, token: Option<&str>) -> ServiceResponse
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let mut req = TestRequest::get().uri(path);
    if let Some(token) = token {
        req = req.insert_header(("Authorization", format!("Bearer {token}")));
    }
    call_service(app, req.to_request()).await
}

async fn detail(response: ServiceResponse) -> String {
    let body: Value = read_body_json(response).await;
    body["detail"].as_str().unwrap_or_default().to_owned()
}

fn challenge(response: &ServiceResponse) -> String {
    response
        .headers()
        .get(WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[actix_web::test]
async fn a_valid_token_reaches_the_handler() {
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(app(auth.clone())).await;
    let response = get(&app, "/whoami", Some(&idp.token().sub("jane").sign())).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = read_body_json(response).await;
    assert_eq!(body["sub"], "jane");
}

#[actix_web::test]
async fn a_missing_token_is_401_not_authenticated_with_a_bearer_challenge() {
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(app(auth.clone())).await;
    for header in [None, Some("Basic dXNlcjpwYXNz"), Some("Bearer ")] {
        let mut req = TestRequest::get().uri("/whoami");
        if let Some(value) = header {
            req = req.insert_header(("Authorization", value));
        }
        let response = call_service(&app, req.to_request()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header:?}");
        assert_eq!(challenge(&response), "Bearer");
        assert_eq!(detail(response).await, "Not authenticated");
    }
    assert_eq!(
        idp.requests().total,
        0,
        "a missing token is decided without the provider"
    );
}

#[actix_web::test]
async fn a_missing_token_is_401_even_while_the_provider_is_down() {
    let idp = MockIdp::start();
    idp.stop();
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(app(auth.clone())).await;
    let response = get(&app, "/whoami", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// `text` without the position serde_json appends to its errors (` at line 1 column 57`), which
/// moves with the payload's layout (the provider's port is in `iss`).
fn without_position(text: &str) -> &str {
    let Some((head, position)) = text.rsplit_once(" at line ") else {
        return text;
    };
    let numbers = position
        .split_once(" column ")
        .map(|(line, column)| [line, column]);
    match numbers {
        Some(numbers)
            if numbers
                .iter()
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) =>
        {
            head
        }
        _ => text,
    }
}

/// `GET /whoami` with `token` is 401 `Invalid token: <reason>`, with the RFC 6750 §3.1
/// `invalid_token` challenge describing the same reason: rejected for `reason`, not for another
/// one. `case` names the attempt in a failure.
async fn assert_invalid(
    app: &impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
    token: &str,
    reason: &str,
    case: &str,
) {
    assert_invalid_at(app, "/whoami", token, reason, case).await;
}

/// [`assert_invalid`] at `path`.
async fn assert_invalid_at(
    app: &impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
    path: &str,
    token: &str,
    reason: &str,
    case: &str,
) {
    let response = get(app, path, Some(token)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
    let challenge = challenge(&response);
    let detail = detail(response).await;
    let given = detail
        .strip_prefix("Invalid token: ")
        .unwrap_or_else(|| panic!("{case}: not an invalid-token detail: {detail}"));
    assert_eq!(without_position(given), reason, "{case}: the reason");
    // The challenge carries the detail's reason, as a quoted-string without `"` or `\`.
    let description: String = given.chars().filter(|c| !matches!(c, '"' | '\\')).collect();
    assert_eq!(
        challenge,
        format!("Bearer error=\"invalid_token\", error_description=\"{description}\""),
        "{case}: the challenge"
    );
    assert!(!detail.contains(token), "the detail never echoes the token");
}

#[actix_web::test]
async fn malformed_tokens_are_401_invalid_token() {
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(app(auth.clone())).await;
    for (token, reason, case) in [
        (
            "garbage.token.here",
            "malformed token: header",
            "not base64 JSON",
        ),
        (
            "not-a-jwt",
            "malformed token: not three segments",
            "one segment",
        ),
        (
            "a.b.c.d",
            "malformed token: not three segments",
            "four segments",
        ),
        // `{}`: valid JSON, but a JOSE header names its `alg`.
        ("e30.e30.", "malformed token: header", "empty header object"),
    ] {
        assert_invalid(&app, token, reason, case).await;
    }
}

#[actix_web::test]
async fn missing_registered_claims_and_non_numeric_dates_are_rejected() {
    // The lookalike values of these claims are attacks, in tests/attacks.rs.
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(app(auth.clone())).await;
    assert_invalid(
        &app,
        &idp.token().without_claim("exp").sign(),
        "missing exp claim",
        "no exp",
    )
    .await;
    for claim in ["exp", "nbf", "iat"] {
        assert_invalid(
            &app,
            &idp.token().claim(claim, json!("tomorrow")).sign(),
            &format!("invalid {claim} claim"),
            &format!("{claim} not a number"),
        )
        .await;
    }
    assert_invalid(
        &app,
        &idp.token().without_claim("iss").sign(),
        "wrong issuer",
        "no iss",
    )
    .await;
    let response = get(
        &app,
        "/whoami",
        Some(
            &idp.token()
                .expires_in(60)
                .not_before(-60)
                .issued_at(-60)
                .sign(),
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[actix_web::test]
async fn leeway_tolerates_clock_skew() {
    let idp = MockIdp::start();
    let auth = idp
        .auth_builder()
        .leeway(Duration::from_secs(30))
        .build()
        .unwrap();
    let app = init_service(app(auth.clone())).await;
    let response = get(&app, "/whoami", Some(&idp.token().expires_in(-10).sign())).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_invalid(
        &app,
        &idp.token().expires_in(-31).sign(),
        "token has expired",
        "beyond the leeway",
    )
    .await;
}

#[actix_web::test]
async fn audience_is_checked_when_configured() {
    let idp = MockIdp::start();
    let auth = idp.auth_builder().audience("api").build().unwrap();
    let app = init_service(app(auth.clone())).await;
    let ok = idp.token().claim("aud", json!(["other", "api"])).sign();
    assert_eq!(
        get(&app, "/whoami", Some(&ok)).await.status(),
        StatusCode::OK
    );
    let ok = idp.token().claim("aud", json!("api")).sign();
    assert_eq!(
        get(&app, "/whoami", Some(&ok)).await.status(),
        StatusCode::OK
    );
    assert_invalid(
        &app,
        &idp.token().claim("aud", json!("other")).sign(),
        "wrong audience",
        "another client",
    )
    .await;
    assert_invalid(
        &app,
        &idp.token().without_claim("aud").sign(),
        "wrong audience",
        "no aud",
    )
    .await;
}

#[actix_web::test]
async fn without_an_audience_any_aud_passes() {
    let idp = MockIdp::start();
    let auth = OidcAuth::builder()
        .discovery_url(idp.discovery_url())
        .leeway(Duration::ZERO)
        .build()
        .unwrap();
    let app = init_service(app(auth.clone())).await;
    let token = idp.token().claim("aud", json!("someone-else")).sign();
    assert_eq!(
        get(&app, "/whoami", Some(&token)).await.status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn every_supported_algorithm_verifies() {
    let idp = MockIdp::start();
    for key in TestKey::ALL {
        idp.publish(*key);
    }
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(app(auth.clone())).await;
    for key in TestKey::ALL {
        let token = idp.token().key(*key).sign();
        let response = get(&app, "/whoami", Some(&token)).await;
        assert_eq!(response.status(), StatusCode::OK, "{key:?}");
    }
}

#[actix_web::test]
async fn the_allow_list_restricts_algorithms() {
    let idp = MockIdp::start();
    idp.publish(TestKey::Es256);
    let auth = idp
        .auth_builder()
        .algorithms([Algorithm::RS256])
        .build()
        .unwrap();
    let app = init_service(app(auth.clone())).await;
    assert_eq!(
        get(&app, "/whoami", Some(&idp.token().sign()))
            .await
            .status(),
        StatusCode::OK
    );
    // Published, signed correctly: only the allow-list refuses it.
    assert_invalid(
        &app,
        &idp.token().key(TestKey::Es256).sign(),
        "algorithm \"ES256\" is not allowed",
        "ES256 not allowed",
    )
    .await;
}

#[actix_web::test]
async fn signatures_must_verify() {
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(app(auth.clone())).await;
    let token = idp.token().sign();
    let (head, _) = token.rsplit_once('.').unwrap();
    let other = idp.token().sub("mallory").sign();
    let (_, other_signature) = other.rsplit_once('.').unwrap();
    assert_invalid(
        &app,
        &format!("{head}.{other_signature}"),
        "signature verification failed",
        "another token's signature",
    )
    .await;
    let (_, payload_and_sig) = token.split_once('.').unwrap();
    let tampered_payload = idp.token().sub("admin").sign();
    let (tampered_head_payload, _) = tampered_payload.rsplit_once('.').unwrap();
    let (_, sig) = payload_and_sig.rsplit_once('.').unwrap();
    assert_invalid(
        &app,
        &format!("{tampered_head_payload}.{sig}"),
        "signature verification failed",
        "payload swapped",
    )
    .await;
    assert_invalid(
        &app,
        &idp.token().sign_with_unpublished_key(),
        "signature verification failed",
        "unpublished key under a published kid",
    )
    .await;
}

#[actix_web::test]
async fn token_types_are_checked() {
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(app(auth.clone())).await;
    for typ in ["JWT", "at+jwt", "application/at+jwt"] {
        let token = idp.token().header("typ", json!(typ)).sign();
        assert_eq!(
            get(&app, "/whoami", Some(&token)).await.status(),
            StatusCode::OK,
            "{typ}"
        );
    }
    assert_invalid(
        &app,
        &idp.token().header("typ", json!("logout+jwt")).sign(),
        "unsupported token type",
        "logout token",
    )
    .await;
}

#[actix_web::test]
async fn the_token_size_limit_is_configurable() {
    // The default 16 KiB limit and 1 MiB tokens are attacks, in tests/attacks.rs.
    let idp = MockIdp::start();
    let auth = idp.auth_builder().max_token_bytes(4096).build().unwrap();
    let app = init_service(app(auth.clone())).await;
    let big = idp.token().claim("padding", json!("x".repeat(5000))).sign();
    assert_invalid(
        &app,
        &big,
        "token too large",
        "5000 bytes of padding over 4096",
    )
    .await;
    assert_eq!(
        idp.requests().total,
        0,
        "rejected before the provider is asked for keys"
    );
}

#[actix_web::test]
async fn claims_of_the_wrong_type_are_401_not_500() {
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(app(auth.clone())).await;
    // The reason names no claim value: serde's own message would quote it (`invalid type:
    // string "…"`) into the 401's detail and WWW-Authenticate, where logs and proxies keep it.
    let secret = "a-value-only-the-token-holds";
    let answer = get(
        &app,
        "/whoami",
        Some(&idp.token().claim("groups", json!(secret)).sign()),
    )
    .await;
    let challenge = challenge(&answer);
    assert!(!challenge.contains(secret), "{challenge}");
    assert!(!detail(answer).await.contains(secret));
    assert_invalid(
        &app,
        &idp.token().claim("groups", json!("admins")).sign(),
        "claims do not match: a claim has the wrong type or value",
        "groups as string",
    )
    .await;
    assert_invalid(
        &app,
        &idp.token().claim("sub", json!(42)).sign(),
        "invalid sub claim",
        "numeric sub",
    )
    .await;
    assert_invalid(
        &app,
        &idp.token().claim("scope", json!(["a"])).sign(),
        "invalid scope claim",
        "scope as list",
    )
    .await;
}

#[actix_web::test]
async fn scopes_then_claims_give_403() {
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(app(auth.clone())).await;

    let response = get(
        &app,
        "/scoped",
        Some(&idp.token().scope("openid profile").sign()),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        challenge(&response),
        "Bearer error=\"insufficient_scope\", scope=\"admin superuser\""
    );
    assert_eq!(
        detail(response).await,
        "Token missing required scopes: admin, superuser"
    );

    // Scopes fine, claims not: 403 that mentions claims.
    let token = idp
        .token()
        .scope("profile admin superuser")
        .claim("groups", json!(["users"]))
        .sign();
    let response = get(&app, "/scoped", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(challenge(&response), "Bearer error=\"insufficient_scope\"");
    assert_eq!(
        detail(response).await,
        "Insufficient permissions based on token claims."
    );

    let token = idp
        .token()
        .scope("profile admin superuser")
        .claim("groups", json!(["admins"]))
        .sign();
    assert_eq!(
        get(&app, "/scoped", Some(&token)).await.status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn role_like_claims_match_flattened_roles() {
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(app(auth.clone())).await;
    let realm_role = idp
        .token()
        .claim("realm_access", json!({"roles": ["admins"]}))
        .sign();
    assert_eq!(
        get(&app, "/admins", Some(&realm_role)).await.status(),
        StatusCode::OK
    );
    let client_role = idp
        .token()
        .claim("resource_access", json!({"app": {"roles": ["admins"]}}))
        .sign();
    assert_eq!(
        get(&app, "/admins", Some(&client_role)).await.status(),
        StatusCode::OK
    );
    let neither = idp.token().claim("groups", json!(["users"])).sign();
    assert_eq!(
        get(&app, "/admins", Some(&neither)).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[actix_web::test]
async fn default_claims_apply_unless_a_route_overrides_them() {
    let idp = MockIdp::start();
    let auth = idp
        .auth_builder()
        .claims(ClaimConstraints::new().require("groups", ["staff"]))
        .build()
        .unwrap();
    let app = init_service(app(auth.clone())).await;
    let outsider = idp.token().claim("groups", json!(["users"])).sign();
    let staff = idp.token().claim("groups", json!(["staff"])).sign();
    assert_eq!(
        get(&app, "/whoami", Some(&outsider)).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(&app, "/whoami", Some(&staff)).await.status(),
        StatusCode::OK
    );
    // An explicit empty constraint set switches the defaults off.
    assert_eq!(
        get(&app, "/no-claims", Some(&outsider)).await.status(),
        StatusCode::OK
    );
    // Optional with the defaults: a token failing them is anonymous.
    let body: Value = read_body_json(get(&app, "/maybe", Some(&outsider)).await).await;
    assert_eq!(body["authenticated"], false);
    let body: Value = read_body_json(get(&app, "/maybe", Some(&staff)).await).await;
    assert_eq!(body["authenticated"], true);
}

#[actix_web::test]
async fn optional_turns_every_failure_into_anonymous() {
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(app(auth.clone())).await;
    for (token, expected) in [
        (None, false),
        (Some("garbage".to_owned()), false),
        (Some(idp.token().expires_in(-5).sign()), false),
        (Some(idp.token().sign()), true),
    ] {
        let response = get(&app, "/maybe", token.as_deref()).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = read_body_json(response).await;
        assert_eq!(body["authenticated"], expected, "{token:?}");
    }
    // A policy failure is anonymous too.
    let body: Value =
        read_body_json(get(&app, "/maybe-admin", Some(&idp.token().sign())).await).await;
    assert_eq!(body["authenticated"], false);
}

#[actix_web::test]
async fn optional_is_anonymous_while_the_provider_is_down() {
    let idp = MockIdp::start();
    let token = idp.token().sign();
    idp.stop();
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(app(auth.clone())).await;
    let response = get(&app, "/maybe", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = read_body_json(response).await;
    assert_eq!(body["authenticated"], false);
}

#[actix_web::test]
async fn custom_claims_types_are_deserialized() {
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(app(auth.clone())).await;
    let response = get(
        &app,
        "/tenant",
        Some(&idp.token().claim("tenant", json!("acme")).sign()),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(actix_web::test::read_body(response).await, "acme");
    assert_invalid_at(
        &app,
        "/tenant",
        &idp.token().sign(),
        "claims do not match: missing field `tenant`",
        "no tenant claim",
    )
    .await;
}

#[actix_web::test]
async fn an_unregistered_oidc_auth_is_a_500_naming_the_fix() {
    let app = init_service(
        App::new()
            .route("/whoami", web::get().to(whoami))
            .route("/maybe", web::get().to(maybe)),
    )
    .await;
    let response = get(&app, "/whoami", Some("x.y.z")).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        detail(response).await,
        "Authentication is not configured on this server."
    );
}

#[actix_web::test]
async fn overrides_work_without_discovery() {
    let idp = MockIdp::start();
    let auth = OidcAuth::builder()
        .jwks_uri(idp.jwks_uri())
        .issuer(idp.issuer())
        .leeway(Duration::ZERO)
        .build()
        .unwrap();
    let app = init_service(app(auth.clone())).await;
    assert_eq!(
        get(&app, "/whoami", Some(&idp.token().sign()))
            .await
            .status(),
        StatusCode::OK
    );
    let counts = idp.requests();
    assert_eq!((counts.discovery, counts.jwks), (0, 1));
}

#[actix_web::test]
async fn the_steady_state_makes_no_provider_requests() {
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(app(auth.clone())).await;
    let tokens: Vec<String> = (0..20)
        .map(|i| idp.token().sub(format!("user{i}")).sign())
        .collect();
    for token in &tokens {
        assert_eq!(
            get(&app, "/whoami", Some(token)).await.status(),
            StatusCode::OK
        );
    }
    let after_warm_up = idp.requests();
    assert_eq!((after_warm_up.discovery, after_warm_up.jwks), (1, 1));
    for _ in 0..5 {
        for token in &tokens {
            assert_eq!(
                get(&app, "/whoami", Some(token)).await.status(),
                StatusCode::OK
            );
        }
    }
    assert_eq!(idp.requests().total, after_warm_up.total);
}

#[actix_web::test]
async fn warm_up_loads_keys_eagerly() {
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    auth.warm_up().await.unwrap();
    let counts = idp.requests();
    assert_eq!((counts.discovery, counts.jwks), (1, 1));
    idp.stop();
    let app = init_service(app(auth.clone())).await;
    assert_eq!(
        get(&app, "/whoami", Some(&idp.token().sign()))
            .await
            .status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn warm_up_reports_an_unreachable_provider() {
    let idp = MockIdp::start();
    idp.stop();
    let auth = idp.auth_builder().build().unwrap();
    assert!(auth.warm_up().await.is_err());
}

#[actix_web::test]
async fn malformed_tokens_never_cause_a_key_fetch() {
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(app(auth.clone())).await;
    // Forged headers (`alg: none`, HMAC, `crit`) are attacks, in tests/attacks.rs.
    for (token, reason) in [
        ("not.a.jwt".to_owned(), "malformed token: header"),
        ("garbage".to_owned(), "malformed token: not three segments"),
        (
            idp.token().header("typ", json!("logout+jwt")).sign(),
            "unsupported token type",
        ),
    ] {
        assert_invalid(&app, &token, reason, "malformed before any key is loaded").await;
    }
    assert_eq!(idp.requests().total, 0);
}
