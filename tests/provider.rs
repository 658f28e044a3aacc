//! How keys are loaded and kept fresh: cold start, rotation, unknown-`kid` floods, an
//! unavailable provider and faulty answers, counted at the mock provider.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, HttpServer, web};
use futures::future::join_all;
use oidc_actix::testing::{Fault, MockIdp};
use oidc_actix::{IdToken, OidcAuth};

async fn whoami(token: IdToken) -> HttpResponse {
    HttpResponse::Ok().body(token.sub.clone().unwrap_or_default())
}

/// A real HTTP server with two workers, so concurrent requests cross threads.
struct Server {
    base: String,
    handle: actix_web::dev::ServerHandle,
}

impl Server {
    fn start(auth: &OidcAuth) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let auth = auth.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(auth.clone())
                .route("/whoami", web::get().to(whoami))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self { base, handle }
    }

    async fn call(&self, token: &str) -> StatusCode {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(20))
            .finish();
        let response = client
            .get(format!("{}/whoami", self.base))
            .insert_header(("Authorization", format!("Bearer {token}")))
            .send()
            .await
            .unwrap();
        StatusCode::from_u16(response.status().as_u16()).unwrap()
    }

    async fn stop(self) {
        self.handle.stop(false).await;
    }
}

#[actix_web::test]
async fn a_cold_start_makes_one_discovery_and_one_jwks_fetch() {
    let idp = MockIdp::start();
    idp.set_fault(Fault::Slow(Duration::from_millis(300)));
    let auth = idp.auth_builder().build().unwrap();
    let server = Server::start(&auth);
    let token = idp.token().sign();
    let statuses = join_all((0..32).map(|_| server.call(&token))).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    let counts = idp.requests();
    assert_eq!((counts.discovery, counts.jwks), (1, 1));
    server.stop().await;
}

#[actix_web::test]
async fn a_flood_of_unknown_kids_costs_at_most_one_fetch() {
    let idp = MockIdp::start();
    let auth = idp
        .auth_builder()
        .jwks_refetch_cooldown(Duration::from_secs(30))
        .build()
        .unwrap();
    let server = Server::start(&auth);
    assert_eq!(server.call(&idp.token().sign()).await, StatusCode::OK);
    idp.reset_counts();
    let forged: Vec<String> = (0..200)
        .map(|i| idp.token().kid(Some(&format!("forged-{i}"))).sign())
        .collect();
    let statuses = join_all(forged.iter().map(|token| server.call(token))).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED));
    assert!(idp.requests().jwks <= 1, "{:?}", idp.requests());
    assert_eq!(idp.requests().discovery, 0);
    // Valid traffic is unaffected.
    assert_eq!(server.call(&idp.token().sign()).await, StatusCode::OK);
    server.stop().await;
}

#[actix_web::test]
async fn rotated_keys_are_picked_up_without_a_restart() {
    let idp = MockIdp::start();
    let auth = idp
        .auth_builder()
        .jwks_refetch_cooldown(Duration::from_secs(1))
        .build()
        .unwrap();
    let server = Server::start(&auth);
    let old = idp.token().sub("old").sign();
    assert_eq!(server.call(&old).await, StatusCode::OK);

    idp.rotate();
    let new = idp.token().sub("new").sign();
    assert_eq!(
        server.call(&new).await,
        StatusCode::OK,
        "the unknown kid triggers a refetch"
    );
    // The old key left the key set: its token is rejected even though it was verified (and
    // cached) before.
    assert_eq!(server.call(&old).await, StatusCode::UNAUTHORIZED);
    assert_eq!(idp.requests().jwks, 2);
    server.stop().await;
}

#[actix_web::test]
async fn a_second_rotation_within_the_cooldown_waits_for_it() {
    let idp = MockIdp::start();
    let auth = idp
        .auth_builder()
        .jwks_refetch_cooldown(Duration::from_secs(2))
        .build()
        .unwrap();
    let server = Server::start(&auth);
    assert_eq!(server.call(&idp.token().sign()).await, StatusCode::OK);
    idp.rotate();
    assert_eq!(server.call(&idp.token().sign()).await, StatusCode::OK);
    idp.rotate();
    let newest = idp.token().sign();
    assert_eq!(
        server.call(&newest).await,
        StatusCode::UNAUTHORIZED,
        "cooldown: no refetch yet"
    );
    actix_web::rt::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        server.call(&newest).await,
        StatusCode::OK,
        "after the cooldown the new key is fetched"
    );
    server.stop().await;
}

#[actix_web::test]
async fn a_provider_down_at_start_is_503_then_recovers_by_itself() {
    let idp = MockIdp::start();
    idp.stop();
    let auth = idp.auth_builder().build().unwrap();
    let server = Server::start(&auth);
    let token = idp.token().expires_in(120).sign();
    assert_eq!(server.call(&token).await, StatusCode::SERVICE_UNAVAILABLE);
    // Within the backoff, requests are answered at once without new connection attempts.
    assert_eq!(server.call(&token).await, StatusCode::SERVICE_UNAVAILABLE);

    idp.restart();
    let back = Instant::now();
    loop {
        if server.call(&token).await == StatusCode::OK {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(30),
            "not recovered within 30 s"
        );
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    // Backoff: a handful of attempts, not one per request.
    assert!(idp.requests().discovery <= 2, "{:?}", idp.requests());
    server.stop().await;
}

#[actix_web::test]
async fn cached_keys_keep_working_while_the_provider_is_down() {
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    let server = Server::start(&auth);
    assert_eq!(server.call(&idp.token().sign()).await, StatusCode::OK);
    idp.stop();
    for i in 0..10 {
        assert_eq!(
            server.call(&idp.token().sub(format!("u{i}")).sign()).await,
            StatusCode::OK
        );
    }
    server.stop().await;
}

#[actix_web::test]
async fn a_failed_refresh_keeps_the_keys_we_have() {
    let idp = MockIdp::start();
    let auth = idp
        .auth_builder()
        .jwks_ttl(Duration::from_millis(200))
        .build()
        .unwrap();
    let server = Server::start(&auth);
    assert_eq!(server.call(&idp.token().sign()).await, StatusCode::OK);
    for fault in [
        Fault::ServerError,
        Fault::MalformedJwks,
        Fault::EmptyJwks,
        Fault::HugeJwks,
    ] {
        idp.set_fault(fault);
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        for i in 0..3 {
            let token = idp.token().sub(format!("{fault:?}{i}")).sign();
            assert_eq!(server.call(&token).await, StatusCode::OK, "{fault:?}");
        }
    }
    server.stop().await;
}

#[actix_web::test]
async fn a_stale_key_set_is_refreshed_in_the_background() {
    let idp = MockIdp::start();
    let auth = idp
        .auth_builder()
        .jwks_ttl(Duration::from_millis(300))
        .build()
        .unwrap();
    let server = Server::start(&auth);
    assert_eq!(server.call(&idp.token().sign()).await, StatusCode::OK);
    actix_web::rt::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(server.call(&idp.token().sign()).await, StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(5);
    while idp.requests().jwks < 2 {
        assert!(Instant::now() < deadline, "no background refresh");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
}

#[actix_web::test]
async fn discovery_without_jwks_uri_is_503_not_500() {
    let idp = MockIdp::start();
    idp.set_fault(Fault::NoJwksUriInDiscovery);
    let auth = idp.auth_builder().build().unwrap();
    let server = Server::start(&auth);
    assert_eq!(
        server.call(&idp.token().sign()).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    server.stop().await;
}

#[actix_web::test]
async fn a_hanging_provider_costs_at_most_the_timeout() {
    let idp = MockIdp::start();
    idp.set_fault(Fault::Slow(Duration::from_secs(10)));
    let auth = idp
        .auth_builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let server = Server::start(&auth);
    let started = Instant::now();
    assert_eq!(
        server.call(&idp.token().sign()).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    server.stop().await;
}
