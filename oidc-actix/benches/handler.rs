//! `#[auth::required]` against the same handler written with the public extractor: the macro is
//! meant to be sugar, so the two must cost the same.
//!
//! Each route is called through an actix `App` service, so routing, the extractor, the policy
//! check, the handler and the response are all in the figure. The token is cached (warm), which
//! leaves the macro's share as large as it can be.

mod common;

use actix_web::dev::Service;
use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use actix_web::test::{self, TestRequest};
use actix_web::{App, FromRequest, Handler, HttpResponse, Responder, web};
use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, Criterion, criterion_group, criterion_main};
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

/// Measures `handler` in an app of its own, at `/`: in one app, each later route would also pay
/// the router's failed matches against the earlier ones, which favours whichever comes first.
fn bench_route<F, Args>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    fx: &Fixture,
    bearer: &str,
    name: &str,
    handler: F,
) where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let app = fx.rt.block_on(test::init_service(
        App::new()
            .app_data(fx.auth.clone())
            .route("/", web::get().to(handler)),
    ));
    let to_request = || {
        TestRequest::get()
            .insert_header((AUTHORIZATION, bearer))
            .to_request()
    };
    // Nothing on these routes waits once the token is cached, so one poll answers; the runtime's
    // `block_on` would add the same constant to every route and blur the comparison.
    let call = |req| {
        app.call(req)
            .now_or_never()
            .expect("a cached token is answered without waiting")
            .expect("the service does not fail")
    };
    // The first two calls validate the token (the cache admits a token on its second
    // verification); the measured ones hit the cache.
    let first = fx.rt.block_on(test::call_service(&app, to_request()));
    assert_eq!(first.status(), StatusCode::OK, "{name}");
    assert_eq!(call(to_request()).status(), StatusCode::OK, "{name}");
    group.bench_function(name, |b| {
        b.iter_batched(to_request, call, BatchSize::SmallInput);
    });
}

fn handler(c: &mut Criterion) {
    let fx = Fixture::start();
    let bearer = format!("Bearer {}", common::typical_token(&fx.idp).sign());
    let mut group = c.benchmark_group("handler");
    bench_route(&mut group, &fx, &bearer, "macro", with_macro);
    bench_route(&mut group, &fx, &bearer, "extractor", with_extractor);
    bench_route(
        &mut group,
        &fx,
        &bearer,
        "extractor_policy_per_request",
        with_extractor_policy_per_request,
    );
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = handler
}
criterion_main!(benches);
