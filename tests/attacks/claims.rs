//! Time, issuer, audience: registered claims a byte or a second away from the accepted value;
//! and another client's roles under the strict preset.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::test::init_service;
use oidc_actix::testing::MockIdp;
use serde_json::json;

use crate::{assert_invalid_token, assert_provider_untouched, attacked_app, bearer, warm};

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

/// Runs `attempt` right after a wall-clock second starts, and again (up to three times) if the
/// second ended before it did: tokens built and checked inside it then sit exactly where the
/// test puts them relative to the validator's clock, whatever the machine's load. Assertions
/// belong after it, on what it returned.
async fn within_one_second<F, Fut, T>(mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    for _ in 0..3 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let to_next = Duration::from_secs(1) - Duration::from_nanos(u64::from(now.subsec_nanos()));
        actix_web::rt::time::sleep(to_next + Duration::from_millis(5)).await;
        let second = unix_seconds();
        let outcome = attempt().await;
        if unix_seconds() == second {
            return outcome;
        }
    }
    panic!("three attempts each took more than a second: the machine is too loaded for this test");
}

#[actix_web::test]
async fn expired_or_not_yet_valid_by_one_second_is_rejected_with_leeway_zero() {
    let idp = MockIdp::start();
    let (auth, before) = warm(&idp).await;
    let app = init_service(attacked_app(auth)).await;
    let (idp_ref, app_ref) = (&idp, &app);
    let outcomes = within_one_second(move || async move {
        let cases = [
            (
                idp_ref.token().expires_in(-1),
                Some("token has expired"),
                "exp one second ago",
            ),
            (
                idp_ref.token().expires_in(0),
                Some("token has expired"),
                "exp this second (exp is exclusive)",
            ),
            (
                idp_ref.token().not_before(1),
                Some("token is not valid yet"),
                "nbf in one second",
            ),
            (
                idp_ref.token().issued_at(1),
                Some("token issued in the future"),
                "iat in one second",
            ),
            (idp_ref.token().expires_in(1), None, "exp in one second"),
            (idp_ref.token().not_before(0), None, "nbf this second"),
            (
                idp_ref.token().not_before(-1).expires_in(1),
                None,
                "nbf a second ago, exp in one",
            ),
            (idp_ref.token().issued_at(0), None, "iat this second"),
        ];
        let mut outcomes = Vec::new();
        for (builder, why, case) in cases {
            let token = builder.sign();
            outcomes.push((bearer(app_ref, "/whoami", &token).await, why, token, case));
        }
        outcomes
    })
    .await;
    for (answer, why, token, case) in &outcomes {
        match why {
            Some(why) => assert_invalid_token(answer, why, token, case),
            None => assert_eq!(answer.status, StatusCode::OK, "{case}: {answer:?}"),
        }
    }
    assert_provider_untouched(&idp, before, "expired tokens");
}

#[actix_web::test]
async fn a_wrong_issuer_differing_by_a_trailing_slash_or_case_is_rejected() {
    let idp = MockIdp::start();
    let (auth, before) = warm(&idp).await;
    let app = init_service(attacked_app(auth)).await;
    let issuer = idp.issuer().to_owned();
    let (scheme, rest) = issuer.split_once("://").unwrap();
    let lookalikes = [
        (json!(format!("{issuer}/")), "trailing slash"),
        (json!(format!("{issuer}//")), "two trailing slashes"),
        (json!(issuer.to_uppercase()), "upper case"),
        (
            json!(format!("{}://{rest}", scheme.to_uppercase())),
            "upper-case scheme",
        ),
        (json!(format!("{issuer} ")), "trailing space"),
        (json!(format!("{issuer}#")), "empty fragment"),
        (json!(format!("{issuer}?")), "empty query"),
        (
            json!(issuer.replace("127.0.0.1", "localhost")),
            "localhost for 127.0.0.1",
        ),
        (json!(issuer.replace("http://", "https://")), "https"),
        (json!([issuer.clone()]), "a list holding the issuer"),
        (
            json!({ "iss": issuer.clone() }),
            "an object holding the issuer",
        ),
    ];
    for (iss, case) in lookalikes {
        let token = idp.token().sub("admin").claim("iss", iss).sign();
        assert_invalid_token(
            &bearer(&app, "/whoami", &token).await,
            "wrong issuer",
            &token,
            case,
        );
    }
    assert_provider_untouched(&idp, before, "a lookalike issuer");
}

#[actix_web::test]
async fn an_audience_array_without_ours_is_rejected() {
    let idp = MockIdp::start();
    let (auth, before) = warm(&idp).await;
    let app = init_service(attacked_app(auth)).await;
    let ours = oidc_actix::testing::TEST_AUDIENCE;
    const WRONG: &str = "wrong audience";
    // Not StringOrURI or a list of them (RFC 7519 §4.1.3): malformed, even holding ours (a list
    // of ours and a number was accepted, found by the `differential` fuzz target).
    const MALFORMED: &str = "invalid aud claim";
    let arrays = [
        (json!(["other", "more"]), "two other audiences", WRONG),
        (json!([]), "empty", WRONG),
        (
            json!([format!("{ours} ")]),
            "ours with a trailing space",
            WRONG,
        ),
        (json!([ours.to_uppercase()]), "ours in upper case", WRONG),
        (
            json!([format!("{ours}x"), format!("x{ours}")]),
            "ours as a prefix and a suffix",
            WRONG,
        ),
        (json!([[ours]]), "ours nested in another array", MALFORMED),
        (json!([{ "aud": ours }]), "ours inside an object", MALFORMED),
        (json!([null, 1, true]), "no strings at all", MALFORMED),
        (json!([ours, 5]), "ours beside a number", MALFORMED),
        (json!(7), "a number", MALFORMED),
        (
            json!(format!("other {ours}")),
            "ours inside a space-separated string",
            WRONG,
        ),
        (
            json!(format!("other,{ours}")),
            "ours inside a comma-separated string",
            WRONG,
        ),
    ];
    for (aud, case, why) in arrays {
        let token = idp.token().sub("admin").claim("aud", aud).sign();
        assert_invalid_token(&bearer(&app, "/whoami", &token).await, why, &token, case);
    }
    assert_provider_untouched(&idp, before, "a foreign audience");
}

/// The attack on a lenient default: a role `admins` that *another* client of the provider gave
/// the user (`resource_access.other.roles`) satisfied `{"groups": ["admins"]}`. Under the strict
/// preset only this client's roles (and the realm's, `groups`, `roles`) count.
#[actix_web::test]
async fn another_clients_role_does_not_pass_a_strict_deployments_role_check() {
    let idp = MockIdp::start();
    let strict = idp
        .auth_builder()
        .strict()
        .post_logout_allow_list(oidc_actix::RedirectAllowList::new().loopback())
        .build()
        .expect("the test provider's builder names client id and audience");
    let app = init_service(attacked_app(strict)).await;
    let other_clients = idp
        .token()
        .claim("resource_access", json!({"other": {"roles": ["admins"]}}))
        .sign();
    let answer = bearer(&app, "/admins", &other_clients).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{answer:?}");
    assert_eq!(
        answer.detail(),
        "Insufficient permissions based on token claims."
    );
    let ours = idp
        .token()
        .claim(
            "resource_access",
            json!({ oidc_actix::testing::TEST_AUDIENCE: {"roles": ["admins"]} }),
        )
        .sign();
    assert_eq!(bearer(&app, "/admins", &ours).await.status, StatusCode::OK);
    let lenient = init_service(attacked_app(idp.auth_builder().build().unwrap())).await;
    assert_eq!(
        bearer(&lenient, "/admins", &other_clients).await.status,
        StatusCode::OK,
        "py-oidc-auth's default, kept"
    );
}
