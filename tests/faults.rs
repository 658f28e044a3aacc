//! Faults of the identity provider, injected with the mock provider of `oidc_actix::testing`:
//! what a protected application answers while a fault lasts (status and JSON `detail`), how
//! soon it recovers once the fault ends, and how many requests reach the provider meanwhile.
//!
//! Every recovery bound is derived from the library's schedule, modelled in
//! `tests/support/inproc.rs` on `oidc_actix::testing::fetch_backoff` (a failed fetch is retried
//! after a backoff of 1 s doubling to 15 s; a stale key set is refreshed at most once a second; a
//! token with an unknown `kid` causes at most one fetch per `jwks_refetch_cooldown`) plus a
//! generous [`MARGIN`]: these are statements about the schedule, never about speed. The schedule
//! itself is observed attempt by attempt, and the races around a refresh in flight are staged
//! with the mock provider's held key set. The same faults against the real npm `oidc-provider`
//! are in `tests/e2e_faults.rs`.

mod support;

use std::cell::{Cell, RefCell};
use std::io::ErrorKind;
use std::net::TcpListener;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use actix_web::{App, HttpResponse, web};
use futures::StreamExt as _;
use futures::future::{join_all, poll_immediate};
use futures::stream::FuturesUnordered;
use oidc_actix::testing::{Fault, GrantEndpoint, MockIdp, TestKey};
use oidc_actix::{IdToken, ProviderError};
use serde_json::json;
use support::inproc::{
    MARGIN, STALE_REFRESH_GATE, assert_token_answer, assert_upstream_error, backoff_after,
    max_attempts_within, provider_token_answer, within,
};
use support::server::{AppServer, Reply};

const TOKEN_ROUTE: &str = "/api/auth/v2/token";

#[test]
fn the_backoff_model_is_the_librarys_schedule() {
    // The model every bound below comes from, on the library's own schedule.
    let waits: Vec<u64> = (1..=7).map(|n| backoff_after(n).as_secs()).collect();
    assert_eq!(waits, [1, 2, 4, 8, 15, 15, 15]);
    assert_eq!(max_attempts_within(Duration::from_millis(900)), 1);
    assert_eq!(max_attempts_within(Duration::from_millis(2900)), 2);
    assert_eq!(max_attempts_within(Duration::from_secs(3)), 3);
    // At 0, 1, 3, 7, 15, 30, 45 and 60 s.
    assert_eq!(max_attempts_within(Duration::from_secs(60)), 8);
}

#[actix_web::test]
async fn failed_fetches_are_retried_after_the_backoff_and_not_before() {
    // The schedule observed: a request every 50 ms to a failing provider, each one either
    // causing a fetch attempt (the provider counted one while it was answered) or not. An
    // attempt cannot come before its backoff has passed since the previous attempt began, and
    // the first request after the backoff has passed since the previous attempt was answered
    // must make one. No margin: these follow from the order of events alone.
    const ATTEMPTS: usize = 4;
    let idp = MockIdp::start();
    idp.set_fault(Fault::ServerError);
    let auth = idp.auth_builder().build().unwrap();
    let server = AppServer::start(&auth);
    let token = idp.token().sign();
    // Each request: when it was sent, when answered, and whether it made an attempt.
    let mut requests: Vec<(Instant, Instant, bool)> = Vec::new();
    let started = Instant::now();
    let schedule: Duration = (1..ATTEMPTS as u64).map(backoff_after).sum();
    while requests.iter().filter(|(_, _, attempt)| *attempt).count() < ATTEMPTS {
        let before = idp.requests().discovery;
        let sent = Instant::now();
        server.call(&token).await.assert_unavailable();
        let answered = Instant::now();
        let attempts = idp.requests().discovery - before;
        assert!(attempts <= 1, "{attempts} attempts for one request");
        requests.push((sent, answered, attempts == 1));
        assert!(
            started.elapsed() < schedule + MARGIN,
            "not {ATTEMPTS} attempts within {:?}: {requests:?}",
            schedule + MARGIN
        );
        sleep(Duration::from_millis(50)).await;
    }
    let attempts: Vec<usize> = (0..requests.len()).filter(|i| requests[*i].2).collect();
    assert_eq!(attempts[0], 0, "the first request makes the first attempt");
    for (n, pair) in attempts.windows(2).enumerate() {
        let (previous, next) = (requests[pair[0]], requests[pair[1]]);
        let backoff = backoff_after(n as u64 + 1);
        assert!(
            next.1 - previous.0 >= backoff,
            "attempt {} came {:?} after attempt {}, before its backoff of {backoff:?}",
            n + 2,
            next.1 - previous.0,
            n + 1
        );
        for quiet in &requests[pair[0] + 1..pair[1]] {
            assert!(
                quiet.0 <= previous.1 + backoff,
                "a request {:?} after attempt {} was answered, past its backoff of \
                 {backoff:?}, made no attempt",
                quiet.0 - previous.1,
                n + 1
            );
        }
    }
    eprintln!(
        "{} requests, attempts at {:?}",
        requests.len(),
        attempts
            .iter()
            .map(|i| requests[*i].0 - started)
            .collect::<Vec<_>>()
    );
    server.stop().await;
}

/// Where the provider was, after [`MockIdp::stop`]: a listener on its port that accepts each
/// connection and closes it at once, as a crashed provider behind an open port does. Unlike a
/// closed port it lets the test count the library's attempts to reach the provider.
struct DeadPort {
    connections: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DeadPort {
    fn open(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("cannot take over port {port}: {e}"));
        listener.set_nonblocking(true).unwrap();
        let connections = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let (connections, stop) = (Arc::clone(&connections), Arc::clone(&stop));
            move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        // Dropping the stream closes the connection before any answer.
                        Ok((stream, _)) => {
                            connections.fetch_add(1, Ordering::SeqCst);
                            drop(stream);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err(e) => panic!("dead port: {e}"),
                    }
                }
            }
        });
        Self {
            connections,
            stop,
            thread: Some(thread),
        }
    }

    fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }

    /// Closes the port; answers the number of connections it received.
    fn close(mut self) -> u64 {
        self.shut();
        self.connections()
    }

    fn shut(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the dead port thread ends");
        }
    }
}

impl Drop for DeadPort {
    fn drop(&mut self) {
        self.shut();
    }
}

async fn sleep(duration: Duration) {
    actix_web::rt::time::sleep(duration).await;
}

// ------------------------------------------------------------------------------------------------
// The provider down or hanging at start-up.

#[actix_web::test]
async fn idp_down_at_startup_is_503_then_200_within_the_backoff() {
    let idp = MockIdp::start();
    idp.stop();
    let dead = DeadPort::open(idp.port());
    let auth = idp
        .auth_builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let server = AppServer::start(&auth);
    let token = idp.token().sign();

    // Down for 25 requests, 100 ms apart: every one is a clear 503, and only the backoff's
    // attempts reach the port, not one per request. The pauses alone outlast the first backoff,
    // so the port sees a second attempt.
    let down = Instant::now();
    let requests = 25;
    for _ in 0..requests {
        server.call(&token).await.assert_unavailable();
        sleep(Duration::from_millis(100)).await;
    }
    let attempts = dead.close();
    eprintln!(
        "down for {:?}: {requests} requests, {attempts} connection attempts",
        down.elapsed()
    );
    assert!(
        (2..=max_attempts_within(down.elapsed())).contains(&attempts),
        "{attempts} attempts in {:?} for {requests} requests: the backoff allows at most {}",
        down.elapsed(),
        max_attempts_within(down.elapsed())
    );

    // Up again: the next attempt after the backoff in force succeeds.
    idp.restart();
    let bound = backoff_after(attempts) + MARGIN;
    let recovery = within(
        Instant::now(),
        bound,
        "recovery after the provider came back",
        || async {
            let reply = server.call(&token).await;
            if reply.status != 200 {
                reply.assert_unavailable();
            }
            reply.status == 200
        },
    )
    .await;
    eprintln!("recovered {recovery:?} after the provider came back (bound {bound:?})");
    let counts = idp.requests();
    assert_eq!(
        (counts.discovery, counts.jwks),
        (1, 1),
        "one attempt after coming back, not a burst: {counts:?}"
    );
    server.stop().await;
}

#[actix_web::test]
async fn idp_failing_at_startup_costs_one_request_per_backoff() {
    // A provider that answers 500 (behind a proxy, in maintenance): the same schedule, counted
    // at the provider itself this time.
    let idp = MockIdp::start();
    idp.set_fault(Fault::ServerError);
    let auth = idp.auth_builder().build().unwrap();
    let server = AppServer::start(&auth);
    let token = idp.token().sign();
    let down = Instant::now();
    while down.elapsed() < Duration::from_millis(3500) {
        // Bursts of concurrent requests, as a loaded application sees them.
        let replies = join_all((0..8).map(|_| server.call(&token))).await;
        replies.iter().for_each(Reply::assert_unavailable);
        sleep(Duration::from_millis(100)).await;
    }
    let attempts = idp.requests().discovery;
    assert!(
        (2..=max_attempts_within(down.elapsed())).contains(&attempts),
        "{attempts} discovery requests in {:?}",
        down.elapsed()
    );
    assert_eq!(
        idp.requests().jwks,
        0,
        "no key set without a discovery document"
    );

    idp.set_fault(Fault::None);
    let bound = backoff_after(attempts) + MARGIN;
    within(
        Instant::now(),
        bound,
        "recovery after the provider was fixed",
        || async { server.call(&token).await.status == 200 },
    )
    .await;
    assert_eq!(idp.requests().discovery, attempts + 1);
    server.stop().await;
}

#[actix_web::test]
async fn idp_hanging_at_startup_is_503_at_the_timeout_then_recovers() {
    let idp = MockIdp::start();
    idp.set_fault(Fault::Slow(Duration::from_secs(20)));
    let timeout = Duration::from_millis(500);
    let auth = idp.auth_builder().timeout(timeout).build().unwrap();
    let server = AppServer::start(&auth);
    let token = idp.token().sign();
    // Concurrent requests share the one hanging fetch and are all answered when it times out,
    // not when the provider finally answers.
    let started = Instant::now();
    let replies = join_all((0..16).map(|_| server.call(&token))).await;
    replies.iter().for_each(Reply::assert_unavailable);
    assert!(
        started.elapsed() < timeout + MARGIN,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(idp.requests().discovery, 1, "one fetch for all of them");

    idp.set_fault(Fault::None);
    within(
        Instant::now(),
        backoff_after(1) + MARGIN,
        "recovery after the hang",
        || async { server.call(&token).await.status == 200 },
    )
    .await;
    server.stop().await;
}

// ------------------------------------------------------------------------------------------------
// The provider down after the keys are cached.

#[actix_web::test]
async fn idp_down_after_keys_are_cached_keeps_validating_past_the_jwks_ttl() {
    let idp = MockIdp::start();
    let ttl = Duration::from_millis(400);
    let auth = idp
        .auth_builder()
        .jwks_ttl(ttl)
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let server = AppServer::start(&auth);
    assert_eq!(server.call(&idp.token().sign()).await.status, 200);
    idp.stop();
    let dead = DeadPort::open(idp.port());

    // Fresh tokens (never seen, so each is verified with the cached keys) until two stale
    // refreshes have failed at the port behind the scenes: not one request does.
    let down = Instant::now();
    let mut served = 0;
    let bound = ttl + STALE_REFRESH_GATE.max(backoff_after(1)) + MARGIN;
    while dead.connections() < 2 {
        let token = idp.token().sub(format!("user-{served}")).sign();
        let reply = server.call(&token).await;
        assert_eq!(reply.status, 200, "request {served} while down: {reply:?}");
        served += 1;
        assert!(
            down.elapsed() < bound,
            "not two refresh attempts within {bound:?}"
        );
        sleep(Duration::from_millis(25)).await;
    }
    let attempts = dead.close();
    eprintln!(
        "down for {:?}: {served} requests served, {attempts} refresh attempts",
        down.elapsed()
    );
    // The second attempt waited for the backoff after the first.
    assert!(
        (2..=max_attempts_within(down.elapsed())).contains(&attempts),
        "{attempts} refresh attempts in {:?}",
        down.elapsed()
    );

    // Back with a rotated key set: the library follows it within the backoff in force (the old
    // key's tokens are refused once the new set is loaded).
    idp.rotate();
    idp.restart();
    let old_key = TestKey::Rs256;
    let bound = backoff_after(attempts) + STALE_REFRESH_GATE + MARGIN;
    let recovery = within(
        Instant::now(),
        bound,
        "the refreshed key set in force",
        || async {
            let token = idp.token().key(old_key).sub("late").sign();
            server.call(&token).await.status == 401
        },
    )
    .await;
    eprintln!("key set refreshed {recovery:?} after the provider came back (bound {bound:?})");
    assert_eq!(server.call(&idp.token().sign()).await.status, 200);
    server.stop().await;
}

// ------------------------------------------------------------------------------------------------
// A broken key-set endpoint, at start-up and after the keys are cached.

/// At start-up: 503 while the key set is broken, one attempt per backoff, then 200 within the
/// backoff once it is fixed; the discovery document, which loaded, is not fetched again.
async fn jwks_fault_at_startup_is_503_then_recovers(fault: Fault) {
    let idp = MockIdp::start();
    idp.set_fault(fault);
    let timeout = Duration::from_millis(500);
    let auth = idp.auth_builder().timeout(timeout).build().unwrap();
    let server = AppServer::start(&auth);
    let token = idp.token().sign();

    let started = Instant::now();
    server.call(&token).await.assert_unavailable();
    assert!(
        started.elapsed() < timeout + MARGIN,
        "{fault:?}: {:?}",
        started.elapsed()
    );
    // Within the backoff, a burst is answered without asking the provider again.
    let replies = join_all((0..20).map(|_| server.call(&token))).await;
    replies.iter().for_each(Reply::assert_unavailable);
    let attempts = idp.requests().jwks;
    assert!(
        (1..=max_attempts_within(started.elapsed())).contains(&attempts),
        "{fault:?}: {attempts} key-set requests in {:?}",
        started.elapsed()
    );

    idp.set_fault(Fault::None);
    let bound = backoff_after(attempts) + MARGIN;
    let recovery = within(
        Instant::now(),
        bound,
        &format!("recovery from {fault:?}"),
        || async {
            let reply = server.call(&token).await;
            if reply.status != 200 {
                reply.assert_unavailable();
            }
            reply.status == 200
        },
    )
    .await;
    eprintln!("{fault:?}: {attempts} failed attempts, recovered {recovery:?} after the fix");
    assert_eq!(
        idp.requests().discovery,
        1,
        "{fault:?}: discovery loaded once"
    );
    server.stop().await;
}

/// After the keys are cached: the stale refresh meets the fault (observed at the provider) and
/// fails, while every request, each with a token never seen before, is served with the keys at
/// hand and without waiting for the refresh.
async fn jwks_fault_after_keys_are_cached_keeps_serving(fault: Fault) {
    let idp = MockIdp::start();
    let ttl = Duration::from_millis(300);
    let timeout = Duration::from_millis(1500);
    let auth = idp
        .auth_builder()
        .jwks_ttl(ttl)
        .timeout(timeout)
        .build()
        .unwrap();
    let server = AppServer::start(&auth);
    assert_eq!(server.call(&idp.token().sign()).await.status, 200);
    idp.set_fault(fault);
    sleep(ttl).await;

    let faulted = Instant::now();
    let mut refreshed_at = None;
    let mut served = 0;
    // Until the refresh met the fault, and then for longer than the timeout, so a hanging
    // refresh is still hanging while requests are served.
    while refreshed_at.is_none_or(|at: Instant| at.elapsed() < timeout + ttl) {
        let token = idp.token().sub(format!("{fault:?}-{served}")).sign();
        let sent = Instant::now();
        let reply = server.call(&token).await;
        assert_eq!(reply.status, 200, "{fault:?}, request {served}: {reply:?}");
        assert!(
            sent.elapsed() < timeout,
            "{fault:?}: a request waited {:?} for the background refresh",
            sent.elapsed()
        );
        served += 1;
        if refreshed_at.is_none() && idp.requests().jwks >= 2 {
            refreshed_at = Some(Instant::now());
        }
        assert!(
            faulted.elapsed() < STALE_REFRESH_GATE + MARGIN || refreshed_at.is_some(),
            "{fault:?}: no stale refresh reached the provider"
        );
        sleep(Duration::from_millis(20)).await;
    }
    let attempts = idp.requests().jwks - 1;
    eprintln!("{fault:?}: {served} requests served, {attempts} failed refreshes");
    assert!(
        attempts <= max_attempts_within(faulted.elapsed()),
        "{fault:?}: {attempts} refreshes in {:?}",
        faulted.elapsed()
    );
    server.stop().await;
}

#[actix_web::test]
async fn jwks_500_at_startup_is_503_then_200_once_fixed() {
    jwks_fault_at_startup_is_503_then_recovers(Fault::JwksServerError).await;
}

#[actix_web::test]
async fn jwks_garbage_at_startup_is_503_then_200_once_fixed() {
    jwks_fault_at_startup_is_503_then_recovers(Fault::MalformedJwks).await;
}

#[actix_web::test]
async fn jwks_empty_set_at_startup_is_503_then_200_once_fixed() {
    jwks_fault_at_startup_is_503_then_recovers(Fault::EmptyJwks).await;
}

#[actix_web::test]
async fn jwks_10_mb_body_at_startup_is_503_then_200_once_fixed() {
    jwks_fault_at_startup_is_503_then_recovers(Fault::HugeJwks).await;
}

#[actix_web::test]
async fn jwks_hanging_past_the_timeout_at_startup_is_503_then_200_once_fixed() {
    jwks_fault_at_startup_is_503_then_recovers(Fault::SlowJwks(Duration::from_secs(20))).await;
}

#[actix_web::test]
async fn jwks_500_after_keys_are_cached_keeps_serving() {
    jwks_fault_after_keys_are_cached_keeps_serving(Fault::JwksServerError).await;
}

#[actix_web::test]
async fn jwks_garbage_after_keys_are_cached_keeps_serving() {
    jwks_fault_after_keys_are_cached_keeps_serving(Fault::MalformedJwks).await;
}

#[actix_web::test]
async fn jwks_empty_set_after_keys_are_cached_keeps_serving() {
    jwks_fault_after_keys_are_cached_keeps_serving(Fault::EmptyJwks).await;
}

#[actix_web::test]
async fn jwks_10_mb_body_after_keys_are_cached_keeps_serving() {
    jwks_fault_after_keys_are_cached_keeps_serving(Fault::HugeJwks).await;
}

#[actix_web::test]
async fn jwks_hanging_past_the_timeout_after_keys_are_cached_keeps_serving() {
    jwks_fault_after_keys_are_cached_keeps_serving(Fault::SlowJwks(Duration::from_secs(20))).await;
}

// ------------------------------------------------------------------------------------------------
// A discovery document without `jwks_uri`.

#[actix_web::test]
async fn discovery_without_jwks_uri_is_503_not_500() {
    let idp = MockIdp::start();
    idp.set_fault(Fault::NoJwksUriInDiscovery);
    let auth = idp.auth_builder().build().unwrap();
    let server = AppServer::start(&auth);
    server.call(&idp.token().sign()).await.assert_unavailable();
    // The problem is named where the operator looks: `warm_up` at start-up and the log. The
    // client gets py-oidc-auth's detail: a configuration problem of the server is not the
    // client's to read.
    let fresh = idp.auth_builder().build().unwrap();
    let error = fresh.warm_up().await.unwrap_err();
    assert_eq!(error, ProviderError::NoJwksUri);
    assert!(error.to_string().contains("jwks_uri"), "{error}");
    assert_eq!(idp.requests().jwks, 0);
    server.stop().await;
}

#[actix_web::test]
async fn discovery_without_jwks_uri_recovers_once_fixed() {
    let idp = MockIdp::start();
    idp.set_fault(Fault::NoJwksUriInDiscovery);
    let auth = idp.auth_builder().build().unwrap();
    let server = AppServer::start(&auth);
    let token = idp.token().sign();
    server.call(&token).await.assert_unavailable();
    idp.set_fault(Fault::None);
    within(
        Instant::now(),
        backoff_after(1) + MARGIN,
        "recovery once jwks_uri is published",
        || async { server.call(&token).await.status == 200 },
    )
    .await;
    server.stop().await;
}

// ------------------------------------------------------------------------------------------------
// Key rotation under load.

/// Where the rotation stood when a request was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Only the old key is published and signs.
    OldKeyOnly,
    /// The new key signs; both are published.
    BothKeysPublished,
    /// The old key left the provider's key set; the application may not know yet.
    OldKeyRemoved,
    /// The application refused an old-key token: its key set no longer holds the old key.
    OldKeyDropped,
    /// The load stops.
    Done,
}

/// Which key signed a token of the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signer {
    Old,
    New,
}

#[actix_web::test]
async fn key_rotation_under_load_accepts_both_keys_then_drops_the_removed_one() {
    const CONCURRENCY: usize = 64;
    const TOTAL: usize = 3000;
    let idp = MockIdp::start();
    let cooldown = Duration::from_secs(1);
    // The default TTL (15 min): every fetch here is one the rotation causes through unknown
    // `kid`s. (A key published while a background refresh is in flight has its own regression
    // test: `a_key_published_during_a_background_refresh_is_accepted_at_once`.)
    let auth = idp
        .auth_builder()
        .jwks_refetch_cooldown(cooldown)
        // Not what this test is about: a fetch slowed down by a busy machine must not fail.
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let server = AppServer::start(&auth);
    let (old_key, new_key, next_key) = (TestKey::Rs256, TestKey::Rsa2, TestKey::Rsa3);
    let mint = |key: TestKey, signer: Signer| {
        (0..25)
            .map(|i| {
                (
                    signer,
                    idp.token().key(key).sub(format!("{signer:?}-{i}")).sign(),
                )
            })
            .collect::<Vec<_>>()
    };
    let tokens = mint(old_key, Signer::Old);
    assert_eq!(server.call(&tokens[0].1).await.status, 200);
    let tokens = RefCell::new(tokens);
    idp.reset_counts();

    let stage = Cell::new(Stage::OldKeyOnly);
    let outcomes: RefCell<Vec<(Signer, Stage, u16)>> = RefCell::new(Vec::new());
    // New-key tokens refused, with when and why: each one fails the test.
    let refused_new: RefCell<Vec<String>> = RefCell::new(Vec::new());
    let published_at = Cell::new(Duration::ZERO);
    let started = Instant::now();

    // The load: CONCURRENCY requests in flight, old and new tokens in turn once both exist.
    let load = async {
        let mut in_flight = FuturesUnordered::new();
        let mut sent = 0;
        loop {
            while in_flight.len() < CONCURRENCY && stage.get() != Stage::Done {
                let (signer, token) = {
                    let tokens = tokens.borrow();
                    tokens[sent % tokens.len()].clone()
                };
                let at = stage.get();
                sent += 1;
                let server = &server;
                in_flight.push(async move { (signer, at, server.call(&token).await) });
            }
            match in_flight.next().await {
                Some((signer, at, reply)) => {
                    if signer == Signer::New && reply.status != 200 {
                        let when = started.elapsed();
                        refused_new
                            .borrow_mut()
                            .push(format!("at {when:?}, sent in {at:?}: {reply:?}"));
                    }
                    outcomes.borrow_mut().push((signer, at, reply.status));
                }
                None => break,
            }
        }
    };
    // The provider rotates while the load runs.
    let rotation = async {
        let until = |count: usize| {
            let outcomes = &outcomes;
            async move {
                while outcomes.borrow().len() < count {
                    sleep(Duration::from_millis(10)).await;
                }
            }
        };
        until(TOTAL / 6).await;
        idp.publish(new_key);
        idp.set_signer(new_key);
        published_at.set(started.elapsed());
        // The new key's first token alone, while the old key's load goes on: it makes the
        // application fetch the new set. (New-key tokens racing the swap of the set have their
        // own regression test: `new_key_tokens_are_not_refused_while_the_key_set_is_swapped`.)
        let first = idp.token().key(new_key).sub("first").sign();
        let reply = server.call(&first).await;
        assert_eq!(reply.status, 200, "the new key's first token: {reply:?}");
        let mut both = mint(new_key, Signer::New);
        // Interleaved, so both kinds are sent all along.
        let mut mixed = Vec::new();
        for old in tokens.borrow().iter().cloned() {
            mixed.push(old);
            mixed.extend(both.pop());
        }
        *tokens.borrow_mut() = mixed;
        stage.set(Stage::BothKeysPublished);

        until(TOTAL / 2).await;
        // The next rotation: the old key leaves, the next one is published ahead of use. The
        // first token of the next key makes the application refetch, once per cooldown.
        assert!(idp.unpublish(old_key.kid()));
        idp.publish(next_key);
        stage.set(Stage::OldKeyRemoved);
        let removed = Instant::now();
        let old_probe = idp.token().key(old_key).sub("probe").sign();
        let next_probe = idp.token().key(next_key).sub("probe").sign();
        let bound = cooldown + MARGIN;
        within(
            removed,
            bound,
            "old key dropped after its removal",
            || async {
                server.call(&next_probe).await;
                server.call(&old_probe).await.status == 401
            },
        )
        .await;
        assert_eq!(server.call(&next_probe).await.status, 200);
        stage.set(Stage::OldKeyDropped);
        eprintln!(
            "old key dropped {:?} after its removal (bound {bound:?})",
            removed.elapsed()
        );

        let reached = outcomes.borrow().len();
        until(reached.max(TOTAL * 5 / 6) + TOTAL / 6).await;
        stage.set(Stage::Done);
    };
    futures::future::join(load, rotation).await;
    let elapsed = started.elapsed();

    let outcomes = outcomes.into_inner();
    let count = |signer: Signer, stages: &[Stage], status: Option<u16>| {
        outcomes
            .iter()
            .filter(|(s, at, st)| {
                *s == signer && stages.contains(at) && status.is_none_or(|want| want == *st)
            })
            .count()
    };
    let accepted = [Stage::OldKeyOnly, Stage::BothKeysPublished];
    let old_accepted = count(Signer::Old, &accepted, None);
    let new_total = count(
        Signer::New,
        &[
            Stage::BothKeysPublished,
            Stage::OldKeyRemoved,
            Stage::OldKeyDropped,
        ],
        None,
    );
    let old_dropped = count(Signer::Old, &[Stage::OldKeyDropped], None);
    eprintln!(
        "{} requests in {elapsed:?}: old-key tokens while published {old_accepted}, new-key \
         tokens {new_total}, old-key tokens after the drop {old_dropped}; {:?}",
        outcomes.len(),
        idp.requests()
    );
    assert!(outcomes.len() >= TOTAL, "{}", outcomes.len());
    assert!(old_accepted > 0 && new_total > 0 && old_dropped > 0);
    assert_eq!(
        count(Signer::Old, &accepted, Some(200)),
        old_accepted,
        "old-key tokens are accepted while the old key is published"
    );
    assert!(
        refused_new.borrow().is_empty(),
        "new-key tokens are accepted from the moment the new key is published (at {:?}); \
         refused: {:#?}",
        published_at.get(),
        refused_new.borrow()
    );
    assert_eq!(
        count(Signer::Old, &[Stage::OldKeyDropped], Some(401)),
        old_dropped,
        "old-key tokens are refused once the refreshed key set is in force"
    );
    // No burst: fetches for unknown kids (the new key, the next key, then the dropped key's
    // tokens) at most once per cooldown.
    let bound = 1 + (elapsed.as_secs_f64() / cooldown.as_secs_f64()).ceil() as u64;
    let fetches = idp.requests().jwks;
    assert!(
        (2..=bound).contains(&fetches),
        "{fetches} key-set fetches for {} requests in {elapsed:?}; the documented bound is {bound}",
        outcomes.len()
    );
    assert_eq!(
        idp.requests().discovery,
        0,
        "the discovery document is not fetched again"
    );
    server.stop().await;
}

// ------------------------------------------------------------------------------------------------
// The token endpoint slow or failing while a device polls.

#[actix_web::test]
async fn device_polling_through_a_slow_then_failing_token_endpoint() {
    let idp = MockIdp::start();
    let timeout = Duration::from_millis(500);
    let auth = idp.auth_builder().timeout(timeout).build().unwrap();
    let server = AppServer::start(&auth);
    let poll = || server.post(TOKEN_ROUTE, &[("device_code", "device-code-1")]);

    // Not approved yet: the provider's 400 and its OAuth error, which the client polls on.
    idp.set_answer(
        GrantEndpoint::Token,
        400,
        json!({"error": "authorization_pending", "error_description": "not yet"}),
    );
    let reply = poll().await;
    assert_upstream_error(
        (reply.status, &reply.json),
        400,
        Some("authorization_pending"),
        "not approved yet",
    );
    let sent = idp.last_request(GrantEndpoint::Token).unwrap();
    assert_eq!(
        (sent.field("grant_type"), sent.field("device_code")),
        (
            Some("urn:ietf:params:oauth:grant-type:device_code"),
            Some("device-code-1")
        )
    );

    // Slow past the timeout: 504 when the timeout expires, not when the provider answers.
    idp.set_fault(Fault::SlowGrant(Duration::from_secs(20)));
    let started = Instant::now();
    let reply = poll().await;
    assert_eq!(reply.status, 504, "{reply:?}");
    assert!(reply.detail().contains("timed out"), "{reply:?}");
    assert!(
        started.elapsed() < timeout + MARGIN,
        "{:?}",
        started.elapsed()
    );

    // Failing: a proxy's HTML 503, then the provider's own JSON 500, are 502 for the client.
    idp.set_fault(Fault::GrantServerError);
    let reply = poll().await;
    assert_upstream_error(
        (reply.status, &reply.json),
        502,
        None,
        "a proxy's page: no OAuth error to pass on",
    );
    idp.set_fault(Fault::None);
    idp.set_answer(GrantEndpoint::Token, 500, json!({"error": "server_error"}));
    let reply = poll().await;
    assert_upstream_error(
        (reply.status, &reply.json),
        502,
        Some("server_error"),
        "the provider's own 500",
    );

    // Unreachable: 502 too (the discovery document is known, the endpoint does not answer).
    idp.stop();
    let reply = poll().await;
    assert_eq!(reply.status, 502, "{reply:?}");
    assert!(
        reply
            .detail()
            .starts_with("Failed to contact OIDC endpoint"),
        "{reply:?}"
    );
    idp.restart();

    // Recovered: the very next poll has the tokens (no backoff on the grant path).
    idp.set_answer(GrantEndpoint::Token, 200, provider_token_answer());
    let reply = poll().await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let answer = assert_token_answer(&reply.json, "the device code exchange");
    assert_eq!(
        (answer.access_token.as_str(), answer.refresh_token.as_str()),
        ("at", "rt")
    );
    // One provider request per poll that could reach it: no retries behind the client's back.
    assert_eq!(idp.requests().token, 5);
    server.stop().await;
}

async fn whoami(token: IdToken) -> HttpResponse {
    HttpResponse::Ok().body(token.sub.clone().unwrap_or_default())
}

#[actix_web::test]
async fn a_key_published_during_a_background_refresh_is_accepted_at_once() {
    // In process, so that the test can poll a request up to where it waits for the key set.
    let idp = MockIdp::start();
    idp.set_published([TestKey::Rs256]);
    let ttl = Duration::from_millis(300);
    let auth = idp.auth_builder().jwks_ttl(ttl).build().unwrap();
    let app = init_service(App::new().app_data(auth).route("/", web::get().to(whoami))).await;
    let call = |key: TestKey, sub: &str| {
        let token = idp.token().key(key).sub(sub).sign();
        call_service(
            &app,
            TestRequest::get()
                .uri("/")
                .insert_header(("authorization", format!("Bearer {token}")))
                .to_request(),
        )
    };
    assert_eq!(call(TestKey::Rs256, "a").await.status(), StatusCode::OK);

    // Stale: the next request starts a background refresh, which the provider holds back with
    // the keys published when it arrived (the old one only).
    let hold = idp.hold_key_set();
    sleep(ttl).await;
    assert_eq!(call(TestKey::Rs256, "b").await.status(), StatusCode::OK);
    within(
        Instant::now(),
        STALE_REFRESH_GATE + MARGIN,
        "the background refresh reached the provider",
        || async { hold.waiting() == 1 },
    )
    .await;

    // Rotation at the provider while that refresh is in flight. The new key's token has an
    // unknown `kid`, so it waits for the one fetch in flight: the refresh that began before
    // the key was published.
    idp.publish(TestKey::Rsa2);
    let mut late = pin!(call(TestKey::Rsa2, "c"));
    assert!(
        poll_immediate(late.as_mut()).await.is_none(),
        "a token of an unknown key waits for the fetch in flight"
    );
    hold.release();
    let reply = late.await;
    assert_eq!(
        reply.status(),
        StatusCode::OK,
        "a published key's token, refused because it joined a refresh that began before the \
         key was published: {:?}",
        read_body(reply).await
    );
    assert_eq!(
        idp.requests().jwks,
        3,
        "the start, the refresh, one fetch for the new key after it"
    );
}

#[actix_web::test]
async fn new_key_tokens_are_not_refused_while_the_key_set_is_swapped() {
    // Each round publishes a key and at once mixes its tokens into a load of tokens of a key
    // that stays: the new key's first token triggers one fetch, the others join it, and none
    // may be refused. A request that read the old key set, and asks for a fetch only after
    // that fetch has finished, is refused by the cooldown instead of checked against the new
    // set. The new tokens carry a large header, which is read between the two steps: that
    // widens the window enough for the defect to show in every run (1 to 4 refusals of
    // about 3 300 new-key requests before the fix: `attempt` now checks the current set
    // before refusing).
    const CONCURRENCY: usize = 64;
    let idp = MockIdp::start();
    idp.set_published([TestKey::Rs256]);
    let cooldown = Duration::from_secs(1);
    let auth = idp
        .auth_builder()
        .jwks_refetch_cooldown(cooldown)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let server = AppServer::start(&auth);
    let known: Vec<String> = (0..32)
        .map(|i| idp.token().sub(format!("known-{i}")).sign())
        .collect();
    assert_eq!(server.call(&known[0]).await.status, 200);
    let mut refused = Vec::new();
    // Every other kid the kit has: eleven rotations.
    let rounds = TestKey::ALL
        .iter()
        .copied()
        .filter(|key| *key != TestKey::Rs256);
    for key in rounds {
        // Past the cooldown, so the new key's first token may cause a fetch.
        sleep(cooldown + Duration::from_millis(100)).await;
        idp.publish(key);
        let mut tokens = Vec::new();
        for (i, old) in known.iter().enumerate() {
            tokens.push((false, old.clone()));
            let new = idp
                .token()
                .key(key)
                .sub(format!("{key:?}-{i}"))
                .header("padding", json!("x".repeat(10_000)))
                .sign();
            tokens.push((true, new));
        }
        let replies: Vec<(bool, Reply)> = futures::stream::iter(tokens.iter().cycle().take(600))
            .map(|(new, token)| {
                let server = &server;
                async move { (*new, server.call(token).await) }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        refused.extend(
            replies
                .into_iter()
                .filter(|(_, reply)| reply.status != 200)
                .map(|(new, reply)| format!("{key:?} (new key: {new}): {reply:?}")),
        );
    }
    server.stop().await;
    assert!(
        refused.is_empty(),
        "{} refused: {refused:#?}",
        refused.len()
    );
}
