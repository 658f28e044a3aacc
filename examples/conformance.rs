//! A black-box test target configured only by the environment, serving the routes of the
//! py-oidc-auth test-suite so one external suite can compare both implementations.
//!
//! ```text
//! OIDC_DISCOVERY_URL=http://127.0.0.1:8081/.well-known/openid-configuration \
//!     cargo run --example conformance
//! ```
//!
//! Environment: `OIDC_DISCOVERY_URL` (required), `OIDC_CLIENT_ID`, `OIDC_CLIENT_SECRET`,
//! `OIDC_AUDIENCE`, `OIDC_SCOPES` (default `profile email`), `OIDC_CLAIMS` (a JSON object of
//! default claim constraints), `OIDC_PROXY`, `BIND` (default `127.0.0.1:8080`). Validation uses a
//! clock-skew leeway of 0, like the reference. Prints `READY http://HOST:PORT` once listening,
//! also while the provider is unreachable.
//!
//! Two more variables set options that `OidcAuthBuilder::with_env` does not read, for the soak
//! test's key-rotation run (`tests/load/soak.sh`): `JWKS_TTL_SECS` (`jwks_ttl`, default 15 min)
//! and `JWKS_REFETCH_COOLDOWN_SECS` (`jwks_refetch_cooldown`, default 30 s), in whole seconds.

use std::env;
use std::io::Write as _;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, get};
use oidc_actix::{IdToken, OidcAuth, auth};
use serde_json::json;

#[get("/public")]
async fn public() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "ok": true }))
}

fn identity(token: &IdToken) -> serde_json::Value {
    json!({ "sub": token.sub, "preferred_username": token.preferred_username })
}

#[get("/protected")]
#[auth::required]
async fn protected(token: IdToken) -> HttpResponse {
    HttpResponse::Ok().json(identity(&token))
}

#[get("/protected-claims")]
#[auth::required(claims = {"realm_access.roles": ["offline_access"]})]
async fn protected_claims(token: IdToken) -> HttpResponse {
    HttpResponse::Ok().json(identity(&token))
}

#[get("/protected-bad-claims")]
#[auth::required(claims = {"realm_access.roles": ["nonexistent-role"]})]
async fn protected_bad_claims(token: IdToken) -> HttpResponse {
    HttpResponse::Ok().json(identity(&token))
}

#[get("/optional")]
#[auth::optional]
async fn optional(token: Option<IdToken>) -> HttpResponse {
    HttpResponse::Ok().json(match token {
        Some(token) => json!({ "authenticated": true, "sub": token.sub }),
        None => json!({ "authenticated": false }),
    })
}

fn scoped(token: &IdToken) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "sub": token.sub, "scope": token.scope }))
}

#[get("/scoped-valid")]
#[auth::required(scopes = "profile email")]
async fn scoped_valid(token: IdToken) -> HttpResponse {
    scoped(&token)
}

#[get("/scoped-single")]
#[auth::required(scopes = "profile")]
async fn scoped_single(token: IdToken) -> HttpResponse {
    scoped(&token)
}

#[get("/scoped-bad")]
#[auth::required(scopes = "admin superuser")]
async fn scoped_bad(token: IdToken) -> HttpResponse {
    scoped(&token)
}

#[get("/scoped-partial")]
#[auth::required(scopes = "profile nonexistent-scope")]
async fn scoped_partial(token: IdToken) -> HttpResponse {
    scoped(&token)
}

#[get("/scoped-and-claims")]
#[auth::required(scopes = "profile", claims = {"realm_access.roles": ["offline_access"]})]
async fn scoped_and_claims(token: IdToken) -> HttpResponse {
    scoped(&token)
}

#[get("/scoped-ok-claims-bad")]
#[auth::required(scopes = "profile", claims = {"realm_access.roles": ["nonexistent-role"]})]
async fn scoped_ok_claims_bad(token: IdToken) -> HttpResponse {
    scoped(&token)
}

#[get("/scoped-bad-claims-ok")]
#[auth::required(scopes = "impossible-scope", claims = {"realm_access.roles": ["offline_access"]})]
async fn scoped_bad_claims_ok(token: IdToken) -> HttpResponse {
    scoped(&token)
}

#[get("/admin")]
#[auth::required(claims = {"groups": ["admins"]})]
async fn admin(token: IdToken) -> HttpResponse {
    HttpResponse::Ok().json(identity(&token))
}

/// A duration in whole seconds from the environment variable `name`, if it is set.
fn seconds_from_env(name: &str) -> Result<Option<Duration>, String> {
    match env::var(name) {
        Ok(value) if !value.trim().is_empty() => value
            .trim()
            .parse()
            .map(|seconds| Some(Duration::from_secs(seconds)))
            .map_err(|_| format!("{name}: expected whole seconds, got {value:?}")),
        _ => Ok(None),
    }
}

fn configure() -> Result<OidcAuth, Box<dyn std::error::Error>> {
    let mut builder = OidcAuth::builder().leeway(Duration::ZERO).with_env()?;
    if let Some(ttl) = seconds_from_env("JWKS_TTL_SECS")? {
        builder = builder.jwks_ttl(ttl);
    }
    if let Some(cooldown) = seconds_from_env("JWKS_REFETCH_COOLDOWN_SECS")? {
        builder = builder.jwks_refetch_cooldown(cooldown);
    }
    Ok(builder.build()?)
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if env::var("OIDC_DISCOVERY_URL").is_err() {
        return Err("OIDC_DISCOVERY_URL is required".into());
    }
    let auth = configure()?;
    let bind = env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let server = HttpServer::new(move || {
        App::new()
            .configure(auth.routes("/api/test"))
            .service(public)
            .service(protected)
            .service(protected_claims)
            .service(protected_bad_claims)
            .service(optional)
            .service(scoped_valid)
            .service(scoped_single)
            .service(scoped_bad)
            .service(scoped_partial)
            .service(scoped_and_claims)
            .service(scoped_ok_claims_bad)
            .service(scoped_bad_claims_ok)
            .service(admin)
    })
    .workers(2)
    .bind(&bind)?;
    for addr in server.addrs() {
        println!("READY http://{addr}");
    }
    std::io::stdout().flush()?;
    server.run().await?;
    Ok(())
}
