//! Faults of a real OpenID provider (npm `oidc-provider`, see `tests/idp`): down at start-up,
//! down after the keys are cached and back with new keys, key rotation under load, and its token
//! endpoint slow or failing while a device polls. The application is this library in process,
//! configured with short timeouts; the provider is a separate Node.js process that the tests
//! kill, start on a given port, rotate and fault through its `/__test` routes.
//!
//! The same faults, and more (broken key sets), run against the mock provider in
//! `tests/faults.rs`. The bounds come from the library's schedule (`tests/support/inproc.rs`): a
//! failed fetch is retried after 1 s doubling to 15 s, a stale key set is refreshed at most once
//! a second, an unknown `kid` causes at most one fetch per cooldown. Bounds add generous margins:
//! they check the schedule, not speed.

mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use oidc_actix::OidcAuthBuilder;
use oidc_actix::testing::TokenBuilder;
use serde_json::json;
use support::idp::{self, IdpFault, JANE, JOHN, PUBLIC_CLIENT, TestIdp, kid_of};
use support::inproc::{
    MARGIN, STALE_REFRESH_GATE, assert_token_answer, assert_upstream_error, backoff_after,
    max_attempts_within, within,
};
use support::server::AppServer;

/// For a scripted browser login at the provider, which some bounds include.
const LOGIN_MARGIN: Duration = Duration::from_secs(5);
const SCOPE: &str = "openid profile email";
const CONCURRENCY: usize = 32;
/// Between the requests of a test that lasts through several fetch attempts.
const PAUSE: Duration = Duration::from_millis(100);

/// The library configured for the provider at `issuer` as its public client (whose id is the
/// audience of its access tokens), with a 1 s timeout.
fn auth_for(issuer: &str) -> OidcAuthBuilder {
    PUBLIC_CLIENT
        .auth_builder(&format!("{issuer}/.well-known/openid-configuration"))
        .leeway(Duration::ZERO)
        .timeout(Duration::from_secs(1))
}

/// A fresh access token of `user` for the public client, through the provider's code flow.
async fn access_token(idp: &TestIdp, user: idp::IdpUser) -> String {
    let answer = idp.token_for(PUBLIC_CLIENT, user, SCOPE).await;
    answer["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

/// A port nothing listens on (yet).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[actix_web::test]
async fn real_idp_down_at_startup_is_503_then_200_within_the_backoff() {
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let auth = auth_for(&issuer).build().unwrap();
    let server = AppServer::start(&auth);
    // Well formed, so it gets as far as needing the provider's keys.
    let forged = TokenBuilder::new(issuer.as_str())
        .audience(PUBLIC_CLIENT.id)
        .sign();

    // Down for 25 requests, 2.5 s at least: every one a clear 503.
    let down = Instant::now();
    for _ in 0..25 {
        server.call(&forged).await.assert_unavailable();
        actix_web::rt::time::sleep(PAUSE).await;
    }

    let idp = TestIdp::options().port(port).start();
    let up = Instant::now();
    assert_eq!(idp.issuer(), issuer);
    let failures = max_attempts_within(down.elapsed());
    let token = access_token(&idp, JANE).await;
    let bound = backoff_after(failures) + MARGIN + LOGIN_MARGIN;
    let recovery = within(up, bound, "recovery after the provider came up", || async {
        let reply = server.call(&token).await;
        if reply.status != 200 {
            reply.assert_unavailable();
        }
        reply.status == 200
    })
    .await;
    eprintln!("recovered {recovery:?} after the provider came up (bound {bound:?})");
    let counts = idp.counts().await;
    assert_eq!(
        (counts.discovery, counts.jwks),
        (1, 1),
        "one attempt after coming up, not a burst of them"
    );
    // The provider is known now: the forged token is invalid, no longer unverifiable.
    assert_eq!(server.call(&forged).await.status, 401);
    server.stop().await;
}

#[actix_web::test]
async fn real_idp_down_after_keys_are_cached_keeps_validating_then_follows_its_new_keys() {
    let idp = TestIdp::start();
    let port = idp.port();
    let ttl = Duration::from_millis(500);
    let auth = auth_for(idp.issuer())
        .jwks_ttl(ttl)
        .jwks_refetch_cooldown(Duration::from_secs(1))
        .build()
        .unwrap();
    let server = AppServer::start(&auth);
    let tokens = [
        access_token(&idp, JANE).await,
        access_token(&idp, JOHN).await,
    ];
    for token in &tokens {
        assert_eq!(server.call(token).await.status, 200);
    }

    // Killed. For six TTLs at least (the pauses alone take that long), every request is still
    // served with the cached keys, while each stale refresh fails behind the scenes.
    drop(idp);
    let down = Instant::now();
    let pause = Duration::from_millis(25);
    let served = (ttl * 6).div_duration_f64(pause).ceil() as usize;
    for request in 0..served {
        let reply = server.call(&tokens[request % 2]).await;
        assert_eq!(reply.status, 200, "request {request} while down: {reply:?}");
        actix_web::rt::time::sleep(pause).await;
    }

    // Back on its port, with new keys, as a provider restarted without persistent keys is.
    let idp = TestIdp::options().port(port).start();
    let up = Instant::now();
    let failures = max_attempts_within(down.elapsed());
    let fresh = access_token(&idp, JANE).await;
    assert_ne!(
        kid_of(&fresh),
        kid_of(&tokens[0]),
        "a restart brings new keys"
    );
    let bound = backoff_after(failures) + STALE_REFRESH_GATE + MARGIN + LOGIN_MARGIN;
    let recovery = within(up, bound, "the new keys in force", || async {
        server.call(&fresh).await.status == 200
    })
    .await;
    eprintln!(
        "{served} requests served while down; new keys in force {recovery:?} after the restart (bound {bound:?})"
    );
    // The old tokens' key went with the old process.
    let reply = server.call(&tokens[0]).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert!(reply.detail().contains("no key with this kid"), "{reply:?}");
    server.stop().await;
}

/// Which signing key of the rotation a token has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Generation {
    First,
    Second,
    Third,
}

#[actix_web::test]
async fn real_idp_key_rotation_under_load_accepts_both_keys_then_drops_the_removed_ones() {
    let idp = TestIdp::start();
    let ttl = Duration::from_secs(1);
    let cooldown = Duration::from_secs(1);
    let auth = auth_for(idp.issuer())
        .jwks_ttl(ttl)
        .jwks_refetch_cooldown(cooldown)
        .build()
        .unwrap();
    let server = AppServer::start(&auth);
    let mut tokens = vec![
        (Generation::First, access_token(&idp, JANE).await),
        (Generation::First, access_token(&idp, JOHN).await),
    ];
    assert_eq!(server.call(&tokens[0].1).await.status, 200);
    idp.reset_counts().await;
    let started = Instant::now();

    // The provider rotates while the first key's tokens are under load; it keeps publishing
    // the first key, so none of them fails.
    let (during, second_kid) =
        futures::future::join(server.load(&tokens, 600, CONCURRENCY), idp.rotate(false)).await;
    assert!(
        during.iter().all(|(_, status)| *status == 200),
        "{during:?}"
    );
    for user in [JANE, JOHN] {
        let token = access_token(&idp, user).await;
        assert_eq!(kid_of(&token), second_kid);
        tokens.push((Generation::Second, token));
    }
    // The second key's first token alone: it makes the application fetch the new set. (Tokens
    // racing the swap of the set have their own regression test in tests/faults.rs:
    // `new_key_tokens_are_not_refused_while_the_key_set_is_swapped`.)
    assert_eq!(server.call(&tokens[2].1).await.status, 200);
    let both = server.load(&tokens, 1200, CONCURRENCY).await;
    let refused: Vec<_> = both.iter().filter(|(_, status)| *status != 200).collect();
    assert!(refused.is_empty(), "both keys published, yet: {refused:?}");

    // Both old keys removed: once the application refreshed, their tokens are refused.
    let third_kid = idp.rotate(true).await;
    let removed = Instant::now();
    let bound = ttl + STALE_REFRESH_GATE + MARGIN;
    let dropped = within(removed, bound, "the removed keys dropped", || async {
        server.call(&tokens[0].1).await.status == 401
    })
    .await;
    let third = access_token(&idp, JANE).await;
    assert_eq!(kid_of(&third), third_kid);
    tokens.push((Generation::Third, third));
    let after = server.load(&tokens, 1200, CONCURRENCY).await;
    for (generation, status) in &after {
        let expected = if *generation == Generation::Third {
            200
        } else {
            401
        };
        assert_eq!(*status, expected, "{generation:?} after the removal");
    }
    let elapsed = started.elapsed();

    // No burst: one fetch for the second kid, then at most one per TTL and one per cooldown.
    let per = |window: Duration| (elapsed.as_secs_f64() / window.as_secs_f64()).ceil() as u64;
    let fetch_bound = 1 + per(ttl.max(STALE_REFRESH_GATE)) + per(cooldown);
    let counts = idp.counts().await;
    eprintln!(
        "{} requests in {elapsed:?}; removed keys dropped {dropped:?} after the removal \
         (bound {bound:?}); {counts:?}",
        during.len() + both.len() + after.len()
    );
    assert!(
        (1..=fetch_bound).contains(&counts.jwks),
        "{} key-set fetches in {elapsed:?}; the documented bound is {fetch_bound}",
        counts.jwks
    );
    // The discovery document is read again with the key set's TTL, no more often.
    assert!(
        counts.discovery <= per(ttl),
        "{} discovery reads in {elapsed:?}, TTL {ttl:?}",
        counts.discovery
    );
    server.stop().await;
}

#[actix_web::test]
async fn real_idp_device_polling_through_a_slow_then_failing_token_endpoint() {
    let idp = TestIdp::start();
    let timeout = Duration::from_secs(1);
    let auth = auth_for(idp.issuer()).timeout(timeout).build().unwrap();
    let server = AppServer::start(&auth);
    let start = server.post("/api/auth/v2/device", &[]).await;
    assert_eq!(start.status, 200, "{start:?}");
    let text = |name: &str| start.json[name].as_str().unwrap_or_default().to_owned();
    let (device_code, user_code, verification_uri) = (
        text("device_code"),
        text("user_code"),
        text("verification_uri"),
    );
    idp.reset_counts().await;
    // The hyphenated field, as py-oidc-auth-client polls.
    let form = [("device-code", device_code.as_str())];
    let poll = || server.post("/api/auth/v2/token", &form);

    let reply = poll().await;
    assert_eq!(
        (reply.status, reply.json["error"].as_str()),
        (400, Some("authorization_pending")),
        "{reply:?}"
    );

    // Hanging: 504 at the timeout. (The provider would answer after 30 s, long after the test.)
    idp.set_fault("/token", IdpFault::Delay(Duration::from_secs(30)))
        .await;
    let started = Instant::now();
    let reply = poll().await;
    assert_eq!(reply.status, 504, "{reply:?}");
    assert!(reply.detail().contains("timed out"), "{reply:?}");
    assert!(
        started.elapsed() < timeout + MARGIN,
        "{:?}",
        started.elapsed()
    );

    // Failing: 502, with the provider's OAuth error passed on.
    idp.set_fault("/token", IdpFault::Status(503)).await;
    let reply = poll().await;
    assert_upstream_error(
        (reply.status, &reply.json),
        502,
        Some("server_error"),
        "the token endpoint failing",
    );

    // Fixed: the very next poll is the provider's own answer again.
    idp.clear_faults().await;
    let reply = poll().await;
    assert_eq!(
        reply.json["error"].as_str(),
        Some("authorization_pending"),
        "{reply:?}"
    );
    idp.approve_device(&verification_uri, &user_code, JANE.username, JANE.password)
        .await
        .expect("the device is approved");
    let reply = poll().await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let answer = assert_token_answer(&reply.json, "the device code exchange");
    let access = answer.access_token.as_str();
    let me = server.call(access).await;
    assert_eq!((me.status, &me.json["username"]), (200, &json!("jane")));
    // One provider request per poll: no retries behind the client's back.
    assert_eq!(idp.counts().await.token, 5);
    server.stop().await;
}

#[actix_web::test]
async fn the_test_provider_faults_one_path_until_cleared() {
    // The harness the tests above rely on: a fault changes its path only, is counted, and ends
    // when cleared; a malformed one is refused.
    let idp = TestIdp::start();
    idp.set_fault("/jwks", IdpFault::Status(503)).await;
    let http = awc::Client::default();
    let status = |url: String| {
        let request = http.get(url);
        async move {
            request
                .send()
                .await
                .expect("the provider answers")
                .status()
                .as_u16()
        }
    };
    assert_eq!(status(idp.url("/jwks")).await, 503);
    assert_eq!(status(idp.discovery_url()).await, 200);
    idp.clear_faults().await;
    assert_eq!(status(idp.url("/jwks")).await, 200);
    let counts = idp.counts().await;
    assert_eq!((counts.jwks, counts.discovery), (2, 1));
    for bad in [
        "path=/token&status=404",
        "path=/__test/counts&status=500",
        "path=/token",
    ] {
        let reply = http
            .post(idp.url(&format!("/__test/fault?{bad}")))
            .send()
            .await
            .expect("the provider answers");
        assert_eq!(reply.status().as_u16(), 400, "{bad}");
    }
}
