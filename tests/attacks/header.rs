//! The `Authorization` header's shape: whitespace, the scheme's case, several headers.

use actix_web::http::StatusCode;
use actix_web::test::init_service;
use oidc_actix::testing::MockIdp;

use crate::live_server::LiveServer;
use crate::{
    assert_invalid_token, assert_no_echo, assert_not_authenticated, assert_provider_untouched,
    attacked_app, get_with, warm,
};

#[actix_web::test]
async fn odd_whitespace_around_the_token_neither_breaks_nor_smuggles_it() {
    let idp = MockIdp::start();
    let (auth, before) = warm(&idp).await;
    let app = init_service(attacked_app(auth)).await;
    let token = idp.token().sub("jane").sign();
    // Around the token, whitespace is tolerated and the token is the same.
    for value in [
        format!("Bearer  {token}"),
        format!("Bearer\t{token}"),
        format!("Bearer \t {token}"),
        format!("Bearer {token} "),
        format!("Bearer {token}\t"),
        format!("Bearer {token} \t "),
        format!(" Bearer {token}"),
        format!("\tBearer\t{token}\t"),
    ] {
        let answer = get_with(&app, "/whoami", &[value.as_bytes()]).await;
        assert_eq!(
            (answer.status, answer.json["sub"].as_str()),
            (StatusCode::OK, Some("jane")),
            "{value:?}"
        );
    }
    // No token at all: the bare challenge, not an error about a token.
    for value in [
        "Bearer",
        "Bearer ",
        "Bearer\t",
        "Bearer \t  ",
        format!("Bearer{token}").as_str(),
    ] {
        assert_not_authenticated(&get_with(&app, "/whoami", &[value.as_bytes()]).await, value);
    }
    // Whitespace inside, or a second token after it: never a valid token.
    let (head, rest) = token.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let segments = "malformed token: not three segments";
    let signature_fails = "signature verification failed";
    for (value, why, case) in [
        (
            format!("Bearer {token} {token}"),
            segments,
            "the token twice",
        ),
        (
            format!("Bearer {token},Bearer {token}"),
            segments,
            "two credentials joined by a comma",
        ),
        (
            format!("Bearer {token} x"),
            signature_fails,
            "a word after the token",
        ),
        (
            format!("Bearer {head}. {payload}.{signature}"),
            signature_fails,
            "a space after a dot",
        ),
        (
            format!("Bearer {head}.{payload}\t.{signature}"),
            signature_fails,
            "a tab before a dot",
        ),
        (
            format!("Bearer {head}.{payload}.{signature} =="),
            signature_fails,
            "padding after a space",
        ),
    ] {
        assert_invalid_token(
            &get_with(&app, "/whoami", &[value.as_bytes()]).await,
            why,
            &token,
            case,
        );
    }
    assert_provider_untouched(&idp, before, "odd whitespace");
}

#[actix_web::test]
async fn a_lower_or_upper_case_bearer_scheme_is_accepted() {
    // RFC 7235 §2.1: the auth scheme is case-insensitive, so these are the same credentials.
    let idp = MockIdp::start();
    let (auth, _) = warm(&idp).await;
    let app = init_service(attacked_app(auth)).await;
    let token = idp.token().sub("jane").sign();
    for scheme in ["bearer", "BEARER", "Bearer", "bEaReR"] {
        let answer = get_with(&app, "/whoami", &[format!("{scheme} {token}").as_bytes()]).await;
        assert_eq!(
            (answer.status, answer.json["sub"].as_str()),
            (StatusCode::OK, Some("jane")),
            "{scheme}"
        );
    }
    // Lookalike schemes are not the bearer scheme.
    for scheme in ["Bearer:", "Bearers", "Beare", "B\u{e9}arer", "JWT", "Token"] {
        let value = format!("{scheme} {token}");
        let answer = get_with(&app, "/whoami", &[value.as_bytes()]).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{scheme}");
        assert_no_echo(&answer, &token, scheme);
    }
}

#[actix_web::test]
async fn two_authorization_headers_are_rejected() {
    let idp = MockIdp::start();
    let (auth, before) = warm(&idp).await;
    let app = init_service(attacked_app(auth.clone())).await;
    let token = idp.token().sub("jane").sign();
    let forged = idp.token().sub("admin").sign_with_unpublished_key();
    let genuine = format!("Bearer {token}");
    let several = "malformed token: several Authorization headers";
    let pairs = [
        (genuine.clone(), genuine.clone(), "the same token twice"),
        (
            genuine.clone(),
            "Basic dXNlcjpwYXNz".to_owned(),
            "bearer then basic",
        ),
        (
            "Basic dXNlcjpwYXNz".to_owned(),
            genuine.clone(),
            "basic then bearer",
        ),
        (
            format!("Bearer {forged}"),
            genuine.clone(),
            "forged then genuine",
        ),
        (
            genuine.clone(),
            format!("Bearer {forged}"),
            "genuine then forged",
        ),
        (genuine.clone(), String::new(), "genuine then empty"),
    ];
    for (first, second, case) in &pairs {
        let answer = get_with(&app, "/whoami", &[first.as_bytes(), second.as_bytes()]).await;
        assert_invalid_token(&answer, several, &token, case);
        assert_no_echo(&answer, &forged, case);
        // Optional auth does not pick one of them either.
        let answer = get_with(&app, "/maybe", &[first.as_bytes(), second.as_bytes()]).await;
        assert_eq!(answer.json["authenticated"], false, "optional: {case}");
    }
    assert_provider_untouched(&idp, before, "two Authorization headers");

    // Over real HTTP, two header lines.
    let server = LiveServer::start(auth);
    let answer = server
        .send(
            format!(
                "GET /whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
                 Authorization: {genuine}\r\nauthorization: Bearer {forged}\r\n\r\n"
            )
            .into_bytes(),
        )
        .await;
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(answer.json()["detail"], format!("Invalid token: {several}"));
    server.stop().await;
}
