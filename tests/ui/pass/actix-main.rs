#![deny(warnings, unused_qualifications)]

use actix_web::{App, HttpServer, Responder, get};
use oidc_actix::{IdToken, OidcAuth, auth};

#[get("/me")]
#[auth::required]
async fn me(token: IdToken) -> impl Responder {
    format!("{:?}", token.sub)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let auth = OidcAuth::builder()
        .jwks_uri("http://127.0.0.1:9/jwks")
        .issuer("http://127.0.0.1:9")
        .build()
        .map_err(std::io::Error::other)?;
    // Build the server but do not bind or run it: trybuild runs this binary.
    let _server = HttpServer::new(move || App::new().app_data(auth.clone()).service(me));
    Ok(())
}
