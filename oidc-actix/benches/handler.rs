//! `#[auth::required]` against the same handler written with the public extractor: the macro is
//! meant to be sugar, so the two must cost the same.
//!
//! Both routes sit in one actix `App` and are called through its service, so routing, the
//! extractor, the policy check, the handler and the response are all in the figure. The token
//! is cached (warm), which leaves the macro's share as large as it can be.

mod common;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use actix_web::test::{self, TestRequest};
use actix_web::{App, HttpResponse, web};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use futures::FutureExt as _;
use oidc_actix::{AuthError, Authenticated, IdToken, Policy, auth};

use common::Fixture;

#[auth::required(scopes = "profile")]
async fn with_macro(token: IdToken) -> HttpResponse {
    HttpResponse::Ok().body(token.sub.clone().unwrap_or_default())
}

/// The policy the macro puts in a `static` for `scopes = "profile"`, so the two routes check
/// exactly the same thing and differ only by the macro's wrapping.
static PROFILE: Policy = Policy::new(&["profile"], None);

async fn with_extractor(auth: Authenticated) -> Result<HttpResponse, AuthError> {
    let token = auth.authorize(&PROFILE)?;
    Ok(HttpResponse::Ok().body(token.sub.clone().unwrap_or_default()))
}

/// The README's macro-free example builds its policy per request; this shows what that costs
/// compared with a `static` policy.
async fn with_extractor_policy_per_request(auth: Authenticated) -> Result<HttpResponse, AuthError> {
    let policy = Policy::authenticated()
        .with_scopes("profile")
        .expect("a valid scope");
    let token = auth.authorize(&policy)?;
    Ok(HttpResponse::Ok().body(token.sub.clone().unwrap_or_default()))
}

fn handler(c: &mut Criterion) {
    let fx = Fixture::start();
    let app = fx.rt.block_on(test::init_service(
        App::new()
            .app_data(fx.auth.clone())
            .route("/macro", web::get().to(with_macro))
            .route("/extractor", web::get().to(with_extractor))
            .route(
                "/extractor-policy-per-request",
                web::get().to(with_extractor_policy_per_request),
            ),
    ));
    let bearer = format!("Bearer {}", common::typical_token(&fx.idp).sign());
    let to_request = |path: &str| {
        TestRequest::get()
            .uri(path)
            .insert_header((AUTHORIZATION, bearer.as_str()))
            .to_request()
    };
    // Nothing on these routes waits once the token is cached, so one poll answers; the runtime's
    // `block_on` would add the same constant to every route and blur the comparison.
    let call = |req| -> ServiceResponse {
        app.call(req)
            .now_or_never()
            .expect("a cached token is answered without waiting")
            .expect("the service does not fail")
    };

    let mut group = c.benchmark_group("handler");
    for (name, path) in [
        ("macro", "/macro"),
        ("extractor", "/extractor"),
        (
            "extractor_policy_per_request",
            "/extractor-policy-per-request",
        ),
    ] {
        // The first call validates and caches the token; the measured ones hit the cache.
        let first = fx.rt.block_on(test::call_service(&app, to_request(path)));
        assert_eq!(first.status(), StatusCode::OK, "{name}");
        assert_eq!(call(to_request(path)).status(), StatusCode::OK, "{name}");
        group.bench_function(name, |b| {
            b.iter_batched(|| to_request(path), call, BatchSize::SmallInput);
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = handler
}
criterion_main!(benches);
