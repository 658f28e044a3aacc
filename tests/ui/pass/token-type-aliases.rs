#![deny(warnings, unused_qualifications)]

// A token type that is not written as `IdToken<…>` / `Option<IdToken<…>>` is checked in a
// constant of the hidden parameter's type (so that a wrong one is a single error). Through a
// type alias, an accepted type still compiles, and `main` shows it is the same extractor as the
// direct form: 401 without a token, the route's scopes, the custom claims, `None` for optional.

extern crate oidc_actix as my_oidc;

mod deps {
    pub(crate) use my_oidc as oidc;
}

use actix_web::http::header::AUTHORIZATION;
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use actix_web::{App, Responder, get, web};
use my_oidc::testing::MockIdp;
use my_oidc::{Claims, ClaimsType, IdToken, auth};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct TenantClaims {
    tenant: String,
}

type TenantToken = IdToken<TenantClaims>;
type MaybeToken = Option<IdToken>;
type AnyToken<C> = IdToken<C>;

#[get("/tenant")]
#[auth::required(scopes = "tenant")]
async fn tenant(token: TenantToken) -> impl Responder {
    token.tenant.clone()
}

#[get("/maybe")]
#[auth::optional(claims = {"tenant": "acme"})]
async fn maybe(token: MaybeToken) -> String {
    format!("{}", token.is_some())
}

// Mentions the handler's own generic parameter: named directly, no constant.
#[auth::required]
async fn generic<C: ClaimsType>(_token: AnyToken<C>) -> &'static str {
    "generic"
}

// A renamed crate, as a relative path (kept hygienic) and a `crate::` path.
#[auth::required(crate = my_oidc)]
async fn renamed(token: TenantToken) -> String {
    token.tenant.clone()
}

#[auth::optional(crate = crate::deps::oidc)]
async fn renamed_nested(mut token: MaybeToken) -> String {
    format!("{}", token.take().is_some())
}

fn main() {
    actix_web::rt::System::new().block_on(async {
        let idp = MockIdp::start();
        let auth = idp.auth_builder().build().expect("valid configuration");
        let app = init_service(
            App::new()
                .app_data(auth)
                .service(tenant)
                .service(maybe)
                .route("/generic", web::get().to(generic::<Claims>))
                .route("/renamed", web::get().to(renamed))
                .route("/renamed-nested", web::get().to(renamed_nested)),
        )
        .await;
        let acme = idp
            .token()
            .scope("tenant")
            .claim("tenant", json!("acme"))
            .sign();
        let unscoped = idp.token().claim("tenant", json!("acme")).sign();
        for (path, token, status, body) in [
            ("/tenant", None, 401, None),
            ("/tenant", Some(&unscoped), 403, None),
            ("/tenant", Some(&acme), 200, Some("acme")),
            ("/maybe", None, 200, Some("false")),
            ("/maybe", Some(&acme), 200, Some("true")),
            ("/generic", Some(&unscoped), 200, Some("generic")),
            ("/renamed", None, 401, None),
            ("/renamed", Some(&acme), 200, Some("acme")),
            ("/renamed-nested", Some(&acme), 200, Some("true")),
        ] {
            let mut request = TestRequest::get().uri(path);
            if let Some(token) = token {
                request = request.insert_header((AUTHORIZATION, format!("Bearer {token}")));
            }
            let response = call_service(&app, request.to_request()).await;
            assert_eq!(response.status().as_u16(), status, "{path} {token:?}");
            let read = read_body(response).await;
            if let Some(body) = body {
                assert_eq!(read, body.as_bytes(), "{path}");
            }
        }
    });
}
