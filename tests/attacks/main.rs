//! The attacks of issue 5, one test each, named for the attack: forged, confused, oversized,
//! malformed and replayed input against bearer-token validation and the auth routes.
//!
//! Every test asserts what the attacker gets back (the exact 4xx, the JSON `detail`, the RFC 6750
//! challenge where one applies, never the token echoed) and what the attack cost the identity
//! provider, counted by the in-process [`MockIdp`]: nothing at all for what a fresher key set
//! could not fix, and at most one key-set fetch per `jwks_refetch_cooldown` for unknown `kid`s.
//! A panic in a handler fails the test that caused it; over real HTTP, the server is asked again
//! after each attack to show it still serves.
//!
//! The code exchange with a tampered PKCE verifier needs a provider that checks PKCE: the part
//! that reaches the provider is in `tests/e2e_attacks.rs` (npm `oidc-provider`); the part that
//! must never reach it is here.
//!
//! One module per attack family; this file holds the application under attack and the
//! assertions they share, `live_server` the real HTTP server and raw client.

#[path = "../support/mod.rs"]
mod support;

use support::inproc::{TestService, urlencode};

mod availability;
mod claims;
mod header;
mod keys;
mod live_server;
mod outbound;
mod parsing;
mod routes;

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{
    AUTHORIZATION, CONTENT_TYPE, HeaderValue, LOCATION, WWW_AUTHENTICATE,
};
use actix_web::test::{TestRequest, call_service, read_body};
use actix_web::{App, HttpResponse, web};
use oidc_actix::testing::{MockIdp, RequestCounts};
use oidc_actix::{AuthError, Authenticated, ClaimConstraints, IdToken, OidcAuth, Policy};
use serde::Deserialize;
use serde_json::{Value, json};

// ------------------------------------------------------------------------------------------------
// The application under attack.

async fn whoami(token: IdToken) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "sub": token.sub }))
}

/// Hands the whole payload back, so a token that gets here had a payload the application can read.
async fn claims(token: IdToken) -> HttpResponse {
    HttpResponse::Ok().json(token.payload())
}

async fn maybe(token: Option<IdToken>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "authenticated": token.is_some() }))
}

/// An application claims type that reads one claim and ignores the rest, as most do.
#[derive(Deserialize)]
struct Tenant {
    #[serde(default)]
    tenant: Option<String>,
}

async fn tenant(token: IdToken<Tenant>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "tenant": token.tenant, "payload": token.payload() }))
}

fn admins_only() -> Policy {
    Policy::authenticated().with_claims(ClaimConstraints::new().require("groups", ["admins"]))
}

async fn admins(auth: Authenticated) -> Result<HttpResponse, AuthError> {
    let token = auth.authorize(&admins_only())?;
    Ok(HttpResponse::Ok().json(json!({ "groups": token.payload().get("groups") })))
}

async fn tenant_admins(auth: Authenticated<Tenant>) -> Result<HttpResponse, AuthError> {
    let token = auth.authorize(&admins_only())?;
    Ok(HttpResponse::Ok().json(json!({ "groups": token.payload().get("groups") })))
}

fn attacked_app(
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
        .configure(auth.routes("/api"))
        .route("/whoami", web::get().to(whoami))
        .route("/claims", web::get().to(claims))
        .route("/maybe", web::get().to(maybe))
        .route("/tenant", web::get().to(tenant))
        .route("/admins", web::get().to(admins))
        .route("/tenant-admins", web::get().to(tenant_admins))
}

/// What came back, read once.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    cache_control: Option<String>,
    content_type: Option<String>,
    location: Option<String>,
    set_cookie: bool,
    text: String,
    json: Value,
}

impl Answer {
    async fn read(response: ServiceResponse) -> Self {
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v: &HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        let (challenge, content_type, location) = (
            header(WWW_AUTHENTICATE),
            header(CONTENT_TYPE),
            header(LOCATION),
        );
        let set_cookie = response.headers().contains_key("set-cookie");
        let cache_control = header(actix_web::http::header::CACHE_CONTROL);
        let status = response.status();
        let body = read_body(response).await;
        Self {
            status,
            challenge,
            cache_control,
            content_type,
            location,
            set_cookie,
            text: String::from_utf8_lossy(&body).into_owned(),
            json: serde_json::from_slice(&body).unwrap_or(Value::Null),
        }
    }

    fn detail(&self) -> &str {
        self.json["detail"].as_str().unwrap_or_default()
    }
}

async fn call(app: &impl TestService, request: TestRequest) -> Answer {
    Answer::read(call_service(app, request.to_request()).await).await
}

/// `GET path` with these `Authorization` header values (raw bytes, as many as given).
async fn get_with(app: &impl TestService, path: &str, authorization: &[&[u8]]) -> Answer {
    let mut request = TestRequest::get().uri(path);
    for value in authorization {
        let value = HeaderValue::from_bytes(value)
            .unwrap_or_else(|e| panic!("not a header value the http crate sends: {e}"));
        request = request.append_header((AUTHORIZATION, value));
    }
    call(app, request).await
}

/// `GET path` with `Authorization: Bearer <token>`.
async fn bearer(app: &impl TestService, path: &str, token: &str) -> Answer {
    get_with(app, path, &[format!("Bearer {token}").as_bytes()]).await
}

/// The attacker learns nothing from the answer it did not send: no part of the token (its
/// segments are long enough to be recognisable) in the body or the challenge.
fn assert_no_echo(answer: &Answer, token: &str, case: &str) {
    let challenge = answer.challenge.as_deref().unwrap_or_default();
    for part in std::iter::once(token).chain(token.split('.').filter(|s| s.len() >= 24)) {
        assert!(
            !answer.text.contains(part) && !challenge.contains(part),
            "{case}: the answer echoes the token: {} / {challenge}",
            answer.text
        );
    }
}

/// 401 `Invalid token: <why>` as JSON, with the RFC 6750 §3.1 `invalid_token` challenge, and
/// nothing of the token echoed.
fn assert_invalid_token(answer: &Answer, why: &str, token: &str, case: &str) {
    assert_eq!(
        answer.status,
        StatusCode::UNAUTHORIZED,
        "{case}: {answer:?}"
    );
    assert_eq!(
        answer.detail(),
        format!("Invalid token: {why}"),
        "{case}: {answer:?}"
    );
    assert_eq!(
        answer.content_type.as_deref(),
        Some("application/json"),
        "{case}"
    );
    // RFC 6750 allows no `"` or `\` inside the quoted description.
    let description: String = why.chars().filter(|c| !matches!(c, '"' | '\\')).collect();
    assert_eq!(
        answer.challenge.as_deref(),
        Some(
            format!("Bearer error=\"invalid_token\", error_description=\"{description}\"").as_str()
        ),
        "{case}"
    );
    assert_no_echo(answer, token, case);
}

/// 401 `Not authenticated` with the bare `Bearer` challenge (RFC 6750 §3: no error code when the
/// request carried no credentials).
fn assert_not_authenticated(answer: &Answer, case: &str) {
    assert_eq!(
        answer.status,
        StatusCode::UNAUTHORIZED,
        "{case}: {answer:?}"
    );
    assert_eq!(answer.detail(), "Not authenticated", "{case}");
    assert_eq!(answer.challenge.as_deref(), Some("Bearer"), "{case}");
}

/// A 400 of the auth routes: JSON `detail`, no redirect.
fn assert_bad_request(answer: &Answer, detail: &str, case: &str) {
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{case}: {answer:?}");
    assert_eq!(answer.detail(), detail, "{case}");
    assert_eq!(
        answer.location, None,
        "{case}: a refused request redirects nowhere"
    );
}

/// The provider saw nothing since `before`.
fn assert_provider_untouched(idp: &MockIdp, before: RequestCounts, attack: &str) {
    assert_eq!(
        idp.requests(),
        before,
        "{attack} must cost the provider no request"
    );
}

/// An `OidcAuth` for `idp` with its keys loaded, and the provider's counts after loading them.
async fn warm(idp: &MockIdp) -> (OidcAuth, RequestCounts) {
    let auth = idp.auth_builder().build().expect("valid configuration");
    auth.warm_up()
        .await
        .expect("the mock provider serves its keys");
    (auth, idp.requests())
}
