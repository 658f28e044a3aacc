//! Outbound calls: where the library lets a provider (or whoever answers in its place) send it.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::test::{TestRequest, init_service};
use actix_web::{App, HttpResponse, HttpServer, web};
use oidc_actix::testing::{GrantEndpoint, MockIdp, TEST_AUDIENCE};
use oidc_actix::{OidcAuth, ProviderError};
use serde_json::json;

use crate::{attacked_app, bearer, call};

/// A provider that answers every endpoint but discovery with a redirect to `target`'s, keeping
/// the path and the method (307): what a compromised or misconfigured proxy in front of a
/// provider, or a provider moved to another host, answers.
fn redirecting_provider(target: &MockIdp, status: u16) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    let base = format!("http://{}", listener.local_addr().expect("a bound address"));
    let (own, target) = (base.clone(), target.url(""));
    let server = HttpServer::new(move || {
        let (own, target) = (own.clone(), target.clone());
        App::new()
            .route(
                "/.well-known/openid-configuration",
                web::get().to({
                    let own = own.clone();
                    move || {
                        let own = own.clone();
                        async move {
                            HttpResponse::Ok().json(json!({
                                "issuer": own,
                                "jwks_uri": format!("{own}/jwks"),
                                "token_endpoint": format!("{own}/token"),
                                "device_authorization_endpoint": format!("{own}/device"),
                                "authorization_endpoint": format!("{own}/authorize"),
                            }))
                        }
                    }
                }),
            )
            .default_service(web::to(move |req: actix_web::HttpRequest| {
                let location = format!("{}{}", target.trim_end_matches('/'), req.path());
                async move {
                    HttpResponse::build(
                        actix_web::http::StatusCode::from_u16(status).expect("a redirect status"),
                    )
                    .insert_header(("location", location))
                    .finish()
                }
            }))
    })
    .workers(1)
    .listen(listener)
    .expect("the redirecting provider listens")
    .run();
    actix_rt::spawn(server);
    base
}

/// The attack: awc followed up to ten redirects, so a 307 or 308 from the token endpoint
/// re-sent the refresh token, device code and Basic credentials to wherever it pointed, and a
/// redirected key set was loaded from another origin. No call follows a redirect now: the key
/// set is unavailable (503) and the grants are the provider's error (502), and the redirect's
/// target never hears of them.
#[actix_web::test]
async fn provider_redirects_are_never_followed() {
    for status in [302, 307, 308] {
        let target = MockIdp::start();
        target.set_answer(
            GrantEndpoint::Token,
            200,
            json!({"access_token": "stolen", "expires_in": 60}),
        );
        let base = redirecting_provider(&target, status);
        let auth = OidcAuth::builder()
            .client_id(TEST_AUDIENCE)
            .client_secret("the client's secret")
            .audience(TEST_AUDIENCE)
            .discovery_url(format!("{base}/.well-known/openid-configuration"))
            .build()
            .expect("a valid configuration");
        let app = init_service(attacked_app(auth)).await;
        let refresh = call(
            &app,
            TestRequest::post()
                .uri("/api/auth/v2/token")
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .set_payload("refresh-token=the-refresh-token"),
        )
        .await;
        assert_eq!(refresh.status, 502, "{status}: {}", refresh.text);
        let device = call(&app, TestRequest::post().uri("/api/auth/v2/device")).await;
        assert_eq!(device.status, 502, "{status}: {}", device.text);
        let token = target.token().sign();
        let whoami = bearer(&app, "/whoami", &token).await;
        assert_eq!(whoami.status, 503, "{status}: {}", whoami.text);
        assert_eq!(
            target.requests().total,
            0,
            "{status}: the redirect was followed"
        );
    }
}

/// The attack: a discovery document for another issuer (a provider's document served, or
/// planted, at our provider's URL) was used as it was, and its `issuer` decided which tokens
/// were valid. It must name the issuer its URL is for (OpenID Connect Discovery §4.3); the
/// `issuer` option is the escape hatch for providers that do not.
#[actix_web::test]
async fn a_discovery_document_for_another_issuer_is_refused() {
    let idp = MockIdp::start();
    idp.set_discovery_member("issuer", json!("https://other.example"));
    let auth = idp.auth_builder().build().expect("a valid configuration");
    assert_eq!(
        auth.warm_up().await,
        Err(ProviderError::IssuerMismatch {
            expected: idp.issuer().to_owned(),
            found: "https://other.example".to_owned(),
        })
    );
    let app = init_service(attacked_app(auth)).await;
    let other = idp.token().issuer("https://other.example").sign();
    let answer = bearer(&app, "/whoami", &other).await;
    assert_eq!(answer.status, 503, "{}", answer.text);

    let pinned = idp
        .auth_builder()
        .issuer(idp.issuer())
        .build()
        .expect("a valid configuration");
    let app = init_service(attacked_app(pinned)).await;
    assert_eq!(
        bearer(&app, "/whoami", &idp.token().sign()).await.status,
        200
    );
    assert_eq!(bearer(&app, "/whoami", &other).await.status, 401);
}

/// The attack: a discovery document could send the library to plain-http endpoints on any
/// host, where the token requests (codes, refresh tokens, client credentials) and the key set
/// travel unprotected. Refused unless `allow_insecure_http` is set.
#[actix_web::test]
async fn plain_http_endpoints_beyond_loopback_are_refused() {
    let idp = MockIdp::start();
    idp.set_discovery_member("token_endpoint", json!("http://idp.example.org/token"));
    let auth = idp.auth_builder().build().expect("a valid configuration");
    assert_eq!(
        auth.warm_up().await,
        Err(ProviderError::InsecureUrl {
            member: "token_endpoint",
            url: "http://idp.example.org/token".to_owned(),
        })
    );
    let app = init_service(attacked_app(auth)).await;
    assert_eq!(
        bearer(&app, "/whoami", &idp.token().sign()).await.status,
        503
    );

    let allowed = idp
        .auth_builder()
        .allow_insecure_http(true)
        .build()
        .unwrap();
    allowed.warm_up().await.expect("allowed for development");
}

/// The discovery document was cached for the process's lifetime, so a provider that moved an
/// endpoint was never followed; it is read again with the key set's TTL.
#[actix_web::test]
async fn the_discovery_document_is_read_again_with_the_key_sets_ttl() {
    let idp = MockIdp::start();
    let auth = idp
        .auth_builder()
        .jwks_ttl(Duration::from_millis(100))
        .build()
        .unwrap();
    auth.warm_up().await.unwrap();
    assert_eq!(idp.requests().discovery, 1);
    let app = init_service(attacked_app(auth)).await;
    let token = idp.token().sign();
    // Each request past the TTL starts (at most one a second) a background refresh; count the
    // documents fetched, not the time it takes.
    for _ in 0..200 {
        if idp.requests().discovery >= 2 {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(bearer(&app, "/whoami", &token).await.status, 200);
    }
    assert_eq!(idp.requests().discovery, 2, "{:?}", idp.requests());
}
