#![deny(warnings, unused_qualifications)]

// trybuild builds without `--test`, so the `#[actix_web::test]` function below is only parsed
// here; tests/macro_runtime.rs compiles and runs the same shape. `main` nests handlers in a
// plain function body, which does compile.

#[actix_web::test]
async fn nested_handler() {
    use actix_web::test::{TestRequest, call_service, init_service};
    use actix_web::{App, Responder, get};
    use oidc_actix::{IdToken, auth};

    #[get("/nested")]
    #[auth::required]
    async fn nested(token: IdToken) -> impl Responder {
        format!("{:?}", token.sub)
    }

    let app = init_service(App::new().service(nested)).await;
    let response = call_service(&app, TestRequest::get().uri("/nested").to_request()).await;
    assert_eq!(response.status(), 500);
}

fn main() {
    use actix_web::{App, Responder, get, web};
    use oidc_actix::{IdToken, auth};

    #[get("/in-main")]
    #[auth::required]
    async fn in_main(token: IdToken) -> impl Responder {
        format!("{:?}", token.sub)
    }

    #[auth::optional]
    async fn manual(token: Option<IdToken>) -> impl Responder {
        format!("{}", token.is_some())
    }

    let _app = App::new()
        .service(in_main)
        .route("/manual", web::get().to(manual));
}
