//! Outbound calls: where the library lets a provider (or whoever answers in its place) send it.

use std::net::TcpListener;

use actix_web::test::{TestRequest, init_service};
use actix_web::{App, HttpResponse, HttpServer, web};
use oidc_actix::OidcAuth;
use oidc_actix::testing::{GrantEndpoint, MockIdp, TEST_AUDIENCE};
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
