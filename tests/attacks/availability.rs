//! Availability: what anonymous requests to the auth routes can make the server do to the
//! provider or to other users.

use actix_web::test::{TestRequest, init_service};
use oidc_actix::OidcAuth;
use oidc_actix::testing::{MockIdp, TEST_AUDIENCE};

use crate::{attacked_app, bearer, call, urlencode};

/// The attack: with `jwks_uri` and `issuer` overrides and no discovery URL, each anonymous
/// `GET /login`, `GET /logout` or `POST /device` asked the provider for the discovery document
/// that could not exist, and so fetched the key set, with no cooldown. Every auth route, hit
/// again and again, now costs the provider the one key-set fetch that validation needs.
#[actix_web::test]
async fn routes_without_discovery_never_turn_requests_into_key_fetches() {
    let idp = MockIdp::start();
    let auth = OidcAuth::builder()
        .client_id(TEST_AUDIENCE)
        .audience(TEST_AUDIENCE)
        .jwks_uri(idp.jwks_uri())
        .issuer(idp.issuer())
        .build()
        .expect("overrides without discovery are a valid configuration");
    let app = init_service(attacked_app(auth)).await;
    let token = idp.token().sign();
    let redirect = urlencode("http://localhost:53100/callback");
    for _ in 0..20 {
        let login = call(
            &app,
            TestRequest::get().uri(&format!("/api/auth/v2/login?redirect_uri={redirect}")),
        )
        .await;
        assert_eq!(login.status, 502, "{}", login.text);
        assert_eq!(
            login.detail(),
            "OIDC endpoint 'authorization_endpoint' not found in discovery."
        );
        let device = call(&app, TestRequest::post().uri("/api/auth/v2/device")).await;
        assert_eq!(device.status, 503, "{}", device.text);
        let refresh = call(
            &app,
            TestRequest::post()
                .uri("/api/auth/v2/token")
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .set_payload("refresh-token=r"),
        )
        .await;
        assert_eq!(refresh.status, 502, "{}", refresh.text);
        let logout = call(
            &app,
            TestRequest::get().uri(&format!(
                "/api/auth/v2/logout?post_logout_redirect_uri={redirect}"
            )),
        )
        .await;
        assert_eq!(logout.status, 302, "{}", logout.text);
        let callback = call(
            &app,
            TestRequest::get().uri("/api/auth/v2/callback?code=c&state=s"),
        )
        .await;
        assert_eq!(callback.status, 400, "{}", callback.text);
        let whoami = bearer(&app, "/whoami", &token).await;
        assert_eq!(whoami.status, 200, "{}", whoami.text);
        let forged = idp.token().kid(Some("forged")).sign();
        assert_eq!(bearer(&app, "/whoami", &forged).await.status, 401);
    }
    let counts = idp.requests();
    assert_eq!(counts.discovery, 0, "{counts:?}");
    // The first validation's fetch and, within the cooldown, one for the forged `kid`s.
    assert_eq!(counts.jwks, 2, "{counts:?}");
}
