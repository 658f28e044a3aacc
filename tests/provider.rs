//! How keys are loaded and kept fresh: cold start, rotation, unknown-`kid` floods and the
//! background refresh of a stale key set, counted at the mock provider. What happens when the
//! provider is down, hangs or answers garbage is in `tests/faults.rs`.

mod support;

use std::time::{Duration, Instant};

use actix_web::rt::time::timeout;
use futures::future::join_all;
use oidc_actix::testing::{Fault, MockIdp, TestKey};
use support::inproc::{MARGIN, within};
use support::server::AppServer;

#[actix_web::test]
async fn a_cold_start_makes_one_discovery_and_one_jwks_fetch() {
    let idp = MockIdp::start();
    idp.set_fault(Fault::Slow(Duration::from_millis(300)));
    let auth = idp.auth_builder().build().unwrap();
    let server = AppServer::start(&auth);
    let token = idp.token().sign();
    let statuses = join_all((0..32).map(|_| server.call(&token))).await;
    assert!(
        statuses.iter().all(|reply| reply.status == 200),
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
    let server = AppServer::start(&auth);
    assert_eq!(server.call(&idp.token().sign()).await.status, 200);
    idp.reset_counts();
    let forged: Vec<String> = (0..200)
        .map(|i| idp.token().kid(Some(&format!("forged-{i}"))).sign())
        .collect();
    let statuses = join_all(forged.iter().map(|token| server.call(token))).await;
    assert!(statuses.iter().all(|reply| reply.status == 401));
    assert!(idp.requests().jwks <= 1, "{:?}", idp.requests());
    assert_eq!(idp.requests().discovery, 0);
    // Valid traffic is unaffected.
    assert_eq!(server.call(&idp.token().sign()).await.status, 200);
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
    let server = AppServer::start(&auth);
    let old = idp.token().sub("old").sign();
    // Several times, so each worker's cache admits it (on its second verification there).
    for _ in 0..6 {
        assert_eq!(server.call(&old).await.status, 200);
    }

    idp.rotate();
    let new = idp.token().sub("new").sign();
    assert_eq!(
        server.call(&new).await.status,
        200,
        "the unknown kid triggers a refetch"
    );
    // The old key left the key set: its token is rejected even though it was verified (and
    // cached) before.
    assert_eq!(server.call(&old).await.status, 401);
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
    let server = AppServer::start(&auth);
    assert_eq!(server.call(&idp.token().sign()).await.status, 200);
    idp.rotate();
    assert_eq!(server.call(&idp.token().sign()).await.status, 200);
    idp.rotate();
    let newest = idp.token().sign();
    assert_eq!(
        server.call(&newest).await.status,
        401,
        "cooldown: no refetch yet"
    );
    actix_web::rt::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        server.call(&newest).await.status,
        200,
        "after the cooldown the new key is fetched"
    );
    server.stop().await;
}

#[actix_web::test]
async fn a_stale_key_set_is_refreshed_in_the_background() {
    let idp = MockIdp::start();
    let ttl = Duration::from_millis(300);
    let auth = idp.auth_builder().jwks_ttl(ttl).build().unwrap();
    let server = AppServer::start(&auth);
    assert_eq!(server.call(&idp.token().sign()).await.status, 200);

    // Stale, with the provider holding every key-set answer back: a request starts the
    // refresh and is served with the keys at hand while that refresh cannot finish.
    let hold = idp.hold_key_set();
    idp.publish(TestKey::Rsa2);
    actix_web::rt::time::sleep(ttl).await;
    let fresh = idp.token().sub("while-refreshing").sign();
    let reply = timeout(Duration::from_secs(10), server.call(&fresh))
        .await
        .expect("a stale key set made the request wait for its refresh");
    assert_eq!(reply.status, 200, "{reply:?}");
    let since = Instant::now();
    within(
        since,
        MARGIN,
        "the refresh reached the provider",
        || async { hold.waiting() == 1 },
    )
    .await;
    assert_eq!(idp.requests().jwks, 2);

    // Released, the refresh brings the key published before it began: that key's token needs
    // no fetch of its own.
    hold.release();
    let rsa2 = idp.token().key(TestKey::Rsa2).sub("new-key").sign();
    assert_eq!(server.call(&rsa2).await.status, 200);
    assert_eq!(idp.requests().jwks, 2, "{:?}", idp.requests());
    server.stop().await;
}
