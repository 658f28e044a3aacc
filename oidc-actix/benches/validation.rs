//! Token validation through the public extractors, against jsonwebtoken as the floor.
//!
//! Every measurement goes through `FromRequest` on an `HttpRequest` that names the `OidcAuth` as
//! app data, i.e. what a handler argument costs, minus actix's routing. Requests are built
//! before the clock starts: building one costs more than a cache hit.
//!
//! See `README.md` next to this file for what each group measures and how to read it.

mod common;

use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::test::TestRequest;
use actix_web::{FromRequest, HttpRequest};
use aws_lc_rs::signature::{KeyPair as _, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use futures::FutureExt as _;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{DecodingKey, Validation};
use oidc_actix::testing::{TEST_AUDIENCE, TestKey};
use oidc_actix::{Algorithm, Authenticated, ClaimConstraints, Claims, IdToken, OidcAuth, Policy};
use serde_json::json;

use common::{Fixture, typical_token};

/// The algorithms the issue asks for: both RSA paddings, the common curve, and EdDSA.
const ALGORITHMS: [TestKey; 4] = [
    TestKey::Rs256,
    TestKey::Ps256,
    TestKey::Es256,
    TestKey::EdDsa,
];

/// Distinct tokens per algorithm for the cold runs. Each thread of a cold run sees each of them
/// once; 512 keeps RSA signing at set-up under a second and stays below the default cache
/// capacity (2048 per worker), so no eviction pass is timed.
const COLD_TOKENS: usize = 512;

fn request(auth: &OidcAuth, token: &str) -> HttpRequest {
    TestRequest::get()
        .app_data(auth.clone())
        .insert_header((AUTHORIZATION, format!("Bearer {token}")))
        .to_http_request()
}

/// With the keys loaded, extraction never waits, so one poll settles it; a pending future here
/// would mean the bench measures something other than the synchronous path.
fn extract<T: FromRequest>(req: &HttpRequest) -> Result<T, T::Error> {
    T::from_request(req, &mut Payload::None)
        .now_or_never()
        .expect("with keys loaded, extraction completes without waiting")
}

/// Which verification of a token on a worker is measured.
#[derive(Clone, Copy)]
enum Sighting {
    /// The first: a miss, a verification, a fingerprint left in the admission table.
    First,
    /// The second: a miss, a verification, and the insert into the cache (admission).
    Second,
}

/// `iters` verifications of tokens the thread's cache does not hold: each pass over `tokens`
/// runs on a new thread (the cache is per thread, per actix worker), with the cache enabled as
/// in production, so the time never includes a hit. For [`Sighting::Second`] each token is
/// validated once, untimed, before the timed pass; the cache is then filling, as a worker's is
/// until it reaches capacity: each insert keeps new memory. Thread start, request building and
/// tear-down stay outside the clock.
fn sightings(auth: &OidcAuth, tokens: &[String], iters: u64, sighting: Sighting) -> Duration {
    let mut left = usize::try_from(iters).expect("iteration counts fit in usize");
    let mut total = Duration::ZERO;
    while left > 0 {
        let pass = &tokens[..left.min(tokens.len())];
        left -= pass.len();
        total += thread::scope(|scope| {
            scope
                .spawn(|| {
                    let requests: Vec<HttpRequest> =
                        pass.iter().map(|token| request(auth, token)).collect();
                    if let Sighting::Second = sighting {
                        for req in &requests {
                            assert!(extract::<IdToken>(req).is_ok());
                        }
                    }
                    let start = Instant::now();
                    for req in &requests {
                        black_box(extract::<IdToken>(req).is_ok());
                    }
                    start.elapsed()
                })
                .join()
                .expect("a cold pass does not panic")
        });
    }
    total
}

fn per_algorithm(c: &mut Criterion, fx: &Fixture) {
    let mut group = c.benchmark_group("validate");
    for key in ALGORITHMS {
        let alg = key.algorithm().name();
        let tokens: Vec<String> = (0..COLD_TOKENS)
            .map(|i| {
                typical_token(&fx.idp)
                    .key(key)
                    .claim("jti", json!(format!("{i:08}")))
                    .sign()
            })
            .collect();
        let req = request(&fx.auth, &tokens[0]);
        assert!(
            extract::<IdToken>(&req).is_ok(),
            "{alg}: the bench tokens are valid"
        );
        group.bench_function(BenchmarkId::new("cold", alg), |b| {
            b.iter_custom(|iters| sightings(&fx.auth, &tokens, iters, Sighting::First));
        });
        group.bench_function(BenchmarkId::new("admit", alg), |b| {
            b.iter_custom(|iters| sightings(&fx.auth, &tokens, iters, Sighting::Second));
        });
        // Validated twice on this thread (once above): admitted, so cached from here on.
        assert!(extract::<IdToken>(&req).is_ok());
        group.bench_function(BenchmarkId::new("warm", alg), |b| {
            b.iter(|| extract::<IdToken>(black_box(&req)));
        });
    }
    group.finish();
}

/// The same verification with the cache switched off (`token_cache_capacity(0)`): verification
/// alone. By difference with `cold`, what the cache's miss lookup and insert cost together with
/// the memory an insert keeps; a full cache reuses evicted entries' memory and sits in between.
fn cache_off(c: &mut Criterion, fx: &Fixture) {
    let uncached = fx
        .idp
        .auth_builder()
        .token_cache_capacity(0)
        .build()
        .expect("the mock provider's configuration is valid");
    fx.rt
        .block_on(uncached.warm_up())
        .expect("the mock provider serves its keys");
    let req = request(&uncached, &typical_token(&fx.idp).sign());
    assert!(extract::<IdToken>(&req).is_ok(), "the bench token is valid");
    c.benchmark_group("validate")
        .bench_function(BenchmarkId::new("cache_off", "RS256"), |b| {
            b.iter(|| extract::<IdToken>(black_box(&req)));
        });
}

/// Failures are not cached: every bad signature costs a verification, every unknown `kid` a
/// parse and a rate-limit check under the provider's mutex.
fn rejections(c: &mut Criterion, fx: &Fixture) {
    let mut group = c.benchmark_group("reject");

    let forged = typical_token(&fx.idp).sign_with_unpublished_key();
    let req = request(&fx.auth, &forged);
    assert!(extract::<IdToken>(&req).is_err(), "a forgery is rejected");
    group.bench_function(BenchmarkId::new("bad_signature", "RS256"), |b| {
        b.iter(|| extract::<IdToken>(black_box(&req)));
    });

    let unknown = typical_token(&fx.idp).kid(Some("no-such-kid")).sign();
    let req = request(&fx.auth, &unknown);
    // The first unknown `kid` starts the one refetch the cooldown allows, and `from_request`
    // spawns it when called, so that call runs inside the runtime. Afterwards, within the
    // cooldown, rejection is synchronous: the steady state of a forged-`kid` flood, measured here.
    let first = fx
        .rt
        .block_on(async { IdToken::<Claims>::from_request(&req, &mut Payload::None).await });
    assert!(first.is_err(), "an unknown kid is rejected after a refetch");
    assert!(extract::<IdToken>(&req).is_err());
    group.bench_function("unknown_kid", |b| {
        b.iter(|| extract::<IdToken>(black_box(&req)));
    });
    group.finish();
}

/// What validation cannot go below: jsonwebtoken's own `decode` (signature, `exp`, `iss`, `aud`,
/// claims deserialised once for the caller and once for its checks) with a key built once, and
/// the bare signature check per algorithm.
fn floor(c: &mut Criterion, fx: &Fixture) {
    let mut group = c.benchmark_group("floor");
    let decoding_key = |key: TestKey| {
        let jwk: Jwk = serde_json::from_value(key.public_jwk()).expect("the test JWKs parse");
        DecodingKey::from_jwk(&jwk).expect("the test JWKs are usable keys")
    };

    let token = typical_token(&fx.idp).sign();
    let key = decoding_key(TestKey::Rs256);
    let mut validation = Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[TEST_AUDIENCE]);
    validation.set_issuer(&[fx.idp.issuer()]);
    validation.leeway = 0;
    jsonwebtoken::decode::<Claims>(&token, &key, &validation).expect("jsonwebtoken accepts it");
    group.bench_function(BenchmarkId::new("jsonwebtoken_decode", "RS256"), |b| {
        b.iter(|| jsonwebtoken::decode::<Claims>(black_box(&token), &key, &validation));
    });

    // jsonwebtoken rebuilds the RSA key (and its Montgomery context) from `n` and `e` on every
    // verification; a key parsed once by aws-lc-rs shows what that costs.
    let (message, signature) = token.rsplit_once('.').expect("three segments");
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .expect("a base64url signature");
    let public_der = RsaKeyPair::from_der(TestKey::Rs256.private_key_der())
        .expect("the RSA test key parses")
        .public_key()
        .as_ref()
        .to_vec();
    let parsed =
        ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_der).expect("an RSA public key");
    parsed
        .verify_sig(message.as_bytes(), &signature)
        .expect("the signature verifies");
    group.bench_function(BenchmarkId::new("signature_parsed_key", "RS256"), |b| {
        b.iter(|| parsed.verify_sig(black_box(message.as_bytes()), black_box(&signature)));
    });

    for test_key in ALGORITHMS {
        let alg = test_key.algorithm();
        let token = typical_token(&fx.idp).key(test_key).sign();
        let (message, signature) = token.rsplit_once('.').expect("three segments");
        let key = decoding_key(test_key);
        let jwt_alg = jsonwebtoken_algorithm(alg);
        assert!(
            jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key, jwt_alg)
                .expect("a well-formed signature")
        );
        group.bench_function(BenchmarkId::new("signature_only", alg.name()), |b| {
            b.iter(|| {
                jsonwebtoken::crypto::verify(
                    black_box(signature),
                    black_box(message.as_bytes()),
                    &key,
                    jwt_alg,
                )
            });
        });
    }
    group.finish();
}

fn jsonwebtoken_algorithm(alg: Algorithm) -> jsonwebtoken::Algorithm {
    match alg {
        Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
        Algorithm::PS256 => jsonwebtoken::Algorithm::PS256,
        Algorithm::ES256 => jsonwebtoken::Algorithm::ES256,
        Algorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        other => unreachable!("{other} is not benched"),
    }
}

/// `Authenticated::authorize` alone: the extraction that produces its input (a cache hit) runs
/// untimed, so the figures are the scope and claim checks themselves.
fn policies(c: &mut Criterion, fx: &Fixture) {
    let mut group = c.benchmark_group("authorize");
    let token = typical_token(&fx.idp).sign();
    let req = request(&fx.auth, &token);
    let cases: [(&str, Policy, bool); 6] = [
        ("default", Policy::authenticated(), true),
        (
            "scopes",
            Policy::authenticated()
                .with_scopes("profile email")
                .expect("valid scopes"),
            true,
        ),
        (
            "scopes_missing",
            Policy::authenticated()
                .with_scopes("admin profile")
                .expect("valid scopes"),
            false,
        ),
        (
            "claim_direct",
            Policy::authenticated()
                .with_claims(ClaimConstraints::new().require("groups", ["admins"])),
            true,
        ),
        // `realm_access.roles` lacks "admins", so the match falls back to the flattened roles
        // (all four role claims collected and sorted): the slow path of a role-like key.
        (
            "claim_flattened_roles",
            Policy::authenticated()
                .with_claims(ClaimConstraints::new().require("realm_access.roles", ["admins"])),
            true,
        ),
        (
            "claim_denied",
            Policy::authenticated()
                .with_claims(ClaimConstraints::new().require("groups", ["nobody"])),
            false,
        ),
    ];
    for (name, policy, passes) in cases {
        let outcome = extract::<Authenticated>(&req)
            .expect("a valid token")
            .authorize(&policy);
        assert_eq!(outcome.is_ok(), passes, "{name}");
        group.bench_function(name, |b| {
            b.iter_batched(
                || extract::<Authenticated>(&req).expect("a valid token"),
                |auth| auth.authorize(&policy),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

fn validation(c: &mut Criterion) {
    let fx = Fixture::start();
    per_algorithm(c, &fx);
    cache_off(c, &fx);
    rejections(c, &fx);
    floor(c, &fx);
    policies(c, &fx);
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = validation
}
criterion_main!(benches);
