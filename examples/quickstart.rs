//! The quick start: a public, a required and an optional route.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! With `OIDC_DISCOVERY_URL` set, it protects the routes with that provider (`OIDC_CLIENT_ID`,
//! `OIDC_CLIENT_SECRET` and `OIDC_AUDIENCE` are read too). Without it, it starts the embedded
//! mock provider of `oidc_actix::testing`, mints a token and prints `curl` commands to try.

use std::env;

use actix_web::{App, HttpResponse, HttpServer, Responder, get};
use oidc_actix::testing::MockIdp;
use oidc_actix::{IdToken, OidcAuth, auth};
use serde_json::json;

#[get("/public")]
async fn public() -> impl Responder {
    HttpResponse::Ok().json(json!({ "message": "anyone can see this" }))
}

#[get("/protected")]
#[auth::required]
async fn protected(token: IdToken) -> impl Responder {
    HttpResponse::Ok().json(json!({ "sub": token.sub }))
}

#[get("/admin")]
#[auth::required(claims = {"groups": ["admins"]}, scopes = "profile")]
async fn admin(token: IdToken) -> impl Responder {
    HttpResponse::Ok().json(json!({ "admin": token.preferred_username }))
}

#[get("/feed")]
#[auth::optional]
async fn feed(token: Option<IdToken>) -> impl Responder {
    let message = match token {
        Some(token) => format!(
            "Welcome {}",
            token.preferred_username.as_deref().unwrap_or("back")
        ),
        None => "Welcome guest".to_owned(),
    };
    HttpResponse::Ok().json(json!({ "message": message }))
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bind = env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8080".into());
    // Keep the mock provider alive for as long as the server runs.
    let (auth, _mock, token) = match env::var("OIDC_DISCOVERY_URL")
        .ok()
        .filter(|v| !v.is_empty())
    {
        Some(_) => (OidcAuth::builder().with_env()?.build()?, None, None),
        None => {
            let idp = MockIdp::start();
            let token = idp
                .token()
                .sub("jane")
                .claim("preferred_username", json!("jane"))
                .claim("groups", json!(["admins"]))
                .expires_in(3600)
                .sign();
            (idp.auth_builder().build()?, Some(idp), Some(token))
        }
    };
    let server = HttpServer::new(move || {
        App::new()
            .configure(auth.routes("/api"))
            .service(public)
            .service(protected)
            .service(admin)
            .service(feed)
    })
    .bind(&bind)?;
    let base = format!("http://{}", server.addrs()[0]);
    println!("oidc-actix quick start listening on {base}");
    match token {
        Some(token) => {
            println!("No OIDC_DISCOVERY_URL set: using the embedded mock provider. Try:\n");
            println!("  curl -i {base}/public");
            println!("  curl -i {base}/protected                      # 401: no token");
            println!("  curl -i -H 'Authorization: Bearer {token}' {base}/protected");
            println!("  curl -i -H 'Authorization: Bearer {token}' {base}/admin");
            println!("  curl -i -H 'Authorization: Bearer {token}' {base}/feed");
            println!("  curl -i {base}/feed                           # anonymous");
        }
        None => println!("Send requests with 'Authorization: Bearer <access token>'."),
    }
    server.run().await?;
    Ok(())
}
