//! Size, depth, duplicates, encoding: what the token parser meets.
//!
//! Hand-made tokens carry exactly these header and payload bytes, for shapes `TokenBuilder`
//! will not produce (duplicate members, deep nesting, bytes that are not UTF-8), signed with
//! [`TestKey::sign_compact`] by a key the provider publishes: the signature verifies, so whatever
//! is rejected is rejected for its content.

use actix_web::http::StatusCode;
use actix_web::test::init_service;
use oidc_actix::testing::{MockIdp, RequestCounts, TestKey};
use serde_json::{Map, Value, json};

use crate::live_server::{LiveServer, head_with_authorization};
use crate::{
    assert_invalid_token, assert_no_echo, assert_provider_untouched, attacked_app, bearer,
    get_with, warm,
};

/// The header `TokenBuilder` writes for `key`.
fn header_for(key: TestKey) -> String {
    json!({"alg": key.algorithm().name(), "typ": "JWT", "kid": key.kid()}).to_string()
}

/// The JSON text of `claims` without the members named in `omit`, then `members` verbatim.
fn claims_text(claims: &Map<String, Value>, omit: &[&str], members: &[String]) -> String {
    let kept: Vec<String> = claims
        .iter()
        .filter(|(name, _)| !omit.contains(&name.as_str()))
        .map(|(name, value)| format!("{}:{value}", json!(name)))
        .chain(members.iter().cloned())
        .collect();
    format!("{{{}}}", kept.join(","))
}

/// A valid token of exactly `len` bytes: a padding claim, and a padding header member for the
/// lengths base64 cannot reach by the payload alone.
fn token_of_length(idp: &MockIdp, len: usize) -> String {
    for header_pad in 0..4 {
        let build = |pad: usize| {
            idp.token()
                .header("x-pad", json!("h".repeat(header_pad)))
                .claim("padding", json!("x".repeat(pad)))
                .sign()
        };
        let shortest = build(0).len();
        assert!(shortest < len, "{len} bytes is shorter than a token");
        // Three payload bytes are four base64 characters.
        let estimate = (len - shortest) * 3 / 4;
        for pad in estimate.saturating_sub(4)..estimate + 4 {
            let token = build(pad);
            if token.len() == len {
                return token;
            }
        }
    }
    panic!("no token of exactly {len} bytes");
}

#[actix_web::test]
async fn tokens_of_16_kib_and_1_mib_are_rejected_before_any_work() {
    let idp = MockIdp::start();
    let limit = 16 * 1024;
    let at_the_limit = token_of_length(&idp, limit);
    let over_the_limit = token_of_length(&idp, limit + 1);
    let mebibyte = idp
        .token()
        .claim("padding", json!("x".repeat(768 * 1024)))
        .sign();
    assert!(((1 << 20)..(1 << 20) + 1024).contains(&mebibyte.len()));

    // Cold: the size alone decides, so the provider is never asked.
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(attacked_app(auth)).await;
    for (token, case) in [(&over_the_limit, "16 KiB + 1"), (&mebibyte, "1 MiB")] {
        assert_invalid_token(
            &bearer(&app, "/whoami", token).await,
            "token too large",
            token,
            case,
        );
    }
    assert_provider_untouched(&idp, RequestCounts::default(), "an oversized token");

    // The default limit is 16 KiB inclusive: a valid token of exactly that size passes.
    let answer = bearer(&app, "/whoami", &at_the_limit).await;
    assert_eq!(answer.status, StatusCode::OK, "exactly 16 KiB");
    let before = idp.requests();
    for (token, case) in [(&over_the_limit, "16 KiB + 1"), (&mebibyte, "1 MiB")] {
        for _ in 0..10 {
            assert_invalid_token(
                &bearer(&app, "/whoami", token).await,
                "token too large",
                token,
                case,
            );
        }
    }
    assert_provider_untouched(&idp, before, "oversized tokens");
}

#[actix_web::test]
async fn a_1_mib_token_over_http_is_a_4xx_and_the_server_keeps_serving() {
    let idp = MockIdp::start();
    let (auth, _) = warm(&idp).await;
    let server = LiveServer::start(auth);
    let valid = idp.token().sign();
    server.assert_still_serving(&valid, "start-up").await;

    // Within actix's 128 KiB request-head buffer, the library answers: 16 KiB passes, 100 KiB
    // is too large.
    let answer = server
        .send(head_with_authorization(
            format!("Bearer {}", token_of_length(&idp, 16 * 1024)).as_bytes(),
        ))
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let large = idp
        .token()
        .claim("padding", json!("x".repeat(75 * 1024)))
        .sign();
    let answer = server
        .send(head_with_authorization(
            format!("Bearer {large}").as_bytes(),
        ))
        .await;
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(answer.json()["detail"], "Invalid token: token too large");
    assert!(
        answer.head.contains("error=\"invalid_token\""),
        "{}",
        answer.head
    );

    // Beyond it, actix refuses the head itself: 431 Request Header Fields Too Large, before
    // any handler (so no JSON body is ours to give), and the connection is closed.
    let before = idp.requests();
    for size in [256 * 1024, 1 << 20] {
        // Three padding bytes are four characters of the token.
        let huge = idp
            .token()
            .claim("padding", json!("x".repeat(size * 3 / 4)))
            .sign();
        assert!((size..size + 1024).contains(&huge.len()), "{}", huge.len());
        let answer = server
            .send(head_with_authorization(format!("Bearer {huge}").as_bytes()))
            .await;
        assert_eq!(answer.status, 431, "{size} bytes: {answer:?}");
        server
            .assert_still_serving(&valid, &format!("a {size}-byte header"))
            .await;
    }
    assert_provider_untouched(&idp, before, "oversized headers over HTTP");
    server.stop().await;
}

/// `depth` nested arrays around `inner`: `[[[...inner...]]]`.
fn nested_arrays(depth: usize, inner: &str) -> String {
    format!("{}{inner}{}", "[".repeat(depth), "]".repeat(depth))
}

/// `depth` nested objects: `{"a":{"a":...{}...}}`.
fn nested_objects(depth: usize) -> String {
    format!("{}{{}}{}", "{\"a\":".repeat(depth), "}".repeat(depth))
}

#[actix_web::test]
async fn deeply_nested_claim_json_is_rejected_without_a_stack_overflow() {
    let idp = MockIdp::start();
    let claims = idp.token().sub("admin").claims().clone();
    let header = header_for(TestKey::Rs256);
    let depth = 10_000;
    // Signed by the provider's own key: only the nesting can be the reason to refuse.
    let with_member = |omit: &str, member: String| {
        let payload = claims_text(&claims, &[omit], &[member]);
        TestKey::Rs256.sign_compact(header.as_bytes(), payload.as_bytes())
    };
    let payload_attacks = [
        (
            with_member("", format!("\"deep\":{}", nested_arrays(depth, ""))),
            "arrays in an extra claim",
        ),
        (
            with_member("", format!("\"deep\":{}", nested_objects(depth))),
            "objects in an extra claim",
        ),
        (
            with_member(
                "",
                format!("\"groups\":{}", nested_arrays(depth, "\"admins\"")),
            ),
            "arrays in groups",
        ),
        (
            with_member("", format!("\"realm_access\":{}", nested_objects(depth))),
            "objects in realm_access",
        ),
        (
            with_member("aud", format!("\"aud\":{}", nested_arrays(depth, "1"))),
            "arrays in aud",
        ),
        (
            with_member("exp", format!("\"exp\":{}", nested_arrays(depth, "1"))),
            "arrays in exp",
        ),
    ];
    // In the header, in members the validator reads.
    let payload = serde_json::to_vec(&claims).unwrap();
    let deep_header = |members: String| {
        let header = format!("{{\"alg\":\"RS256\",\"typ\":\"JWT\",{members}}}");
        TestKey::Rs256.sign_compact(header.as_bytes(), &payload)
    };
    let header_attacks = [
        (
            deep_header(format!(
                "\"kid\":\"{}\",\"crit\":{}",
                TestKey::Rs256.kid(),
                nested_arrays(depth, "")
            )),
            "arrays in crit",
        ),
        (
            deep_header(format!("\"kid\":{}", nested_objects(depth))),
            "objects in kid",
        ),
    ];

    // Under the default 16 KiB limit these are simply too large.
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(attacked_app(auth)).await;
    for (token, case) in payload_attacks.iter().chain(&header_attacks) {
        assert!(token.len() > 16 * 1024, "{case}");
        assert_invalid_token(
            &bearer(&app, "/whoami", token).await,
            "token too large",
            token,
            case,
        );
    }
    assert_provider_untouched(&idp, RequestCounts::default(), "deeply nested tokens");

    // With a limit that lets them through, the parser meets them: a clear 401, no overflow.
    let auth = idp.auth_builder().max_token_bytes(1 << 20).build().unwrap();
    auth.warm_up().await.unwrap();
    let before = idp.requests();
    let app = init_service(attacked_app(auth)).await;
    for (token, case) in &header_attacks {
        assert_invalid_token(
            &bearer(&app, "/whoami", token).await,
            "malformed token: header",
            token,
            case,
        );
    }
    for (token, case) in &payload_attacks {
        for path in ["/whoami", "/claims", "/admins"] {
            let answer = bearer(&app, path, token).await;
            assert_eq!(
                answer.status,
                StatusCode::UNAUTHORIZED,
                "{case} at {path}: {answer:?}"
            );
            assert!(
                answer.detail().starts_with("Invalid token: "),
                "{case} at {path}: {}",
                answer.detail()
            );
            assert_no_echo(&answer, token, case);
        }
    }
    // Nesting a real provider might send (a few levels) is fine.
    let shallow = with_member("", format!("\"deep\":{}", nested_objects(20)));
    let answer = bearer(&app, "/claims", &shallow).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert!(answer.json["deep"]["a"]["a"].is_object());
    assert_provider_untouched(&idp, before, "deeply nested claims");
}

#[actix_web::test]
async fn a_deeply_nested_claim_is_rejected_whatever_the_claims_type() {
    // The attack above, against routes whose claims type reads `tenant` only: serde would skip
    // the other members without parsing them; the strict parse of the whole claims set at
    // validation meets the nesting whatever the claims type (a regression test: before it, the
    // token passed and `IdToken::payload` was silently empty).
    let idp = MockIdp::start();
    let claims = idp
        .token()
        .claim("groups", json!(["admins"]))
        .claims()
        .clone();
    let payload = claims_text(
        &claims,
        &[],
        &[format!("\"deep\":{}", nested_arrays(10_000, ""))],
    );
    let token =
        TestKey::Rs256.sign_compact(header_for(TestKey::Rs256).as_bytes(), payload.as_bytes());
    let auth = idp.auth_builder().max_token_bytes(1 << 20).build().unwrap();
    let app = init_service(attacked_app(auth)).await;
    for path in ["/tenant", "/tenant-admins"] {
        let answer = bearer(&app, path, &token).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{path}: {answer:?}"
        );
        assert!(
            answer.detail().starts_with("Invalid token: "),
            "{path}: {}",
            answer.detail()
        );
    }
}

#[actix_web::test]
async fn duplicate_claim_keys_cannot_smuggle_a_bad_value() {
    // The choice: a claims set with a duplicated member is refused (RFC 7519 §4 allows a parser
    // to reject duplicates or keep the last; keeping either one lets one part of a system see
    // a value another part does not).
    let idp = MockIdp::start();
    let (auth, before) = warm(&idp).await;
    let app = init_service(attacked_app(auth)).await;
    let claims = idp.token().claims().clone();
    let now = claims["iat"].as_i64().unwrap();
    let ours = oidc_actix::testing::TEST_AUDIENCE;
    let header = header_for(TestKey::Rs256);
    let with_members = |omit: &str, members: [String; 2]| {
        let payload = claims_text(&claims, &[omit], &members);
        TestKey::Rs256.sign_compact(header.as_bytes(), payload.as_bytes())
    };
    // Each registered claim twice, once good and once bad, in both orders: a token showing a
    // bad value must not pass, whichever one a parser keeps.
    let duplicated = [
        ("exp", json!(now + 300), json!(now - 300)),
        ("nbf", json!(now - 300), json!(now + 300)),
        ("iat", json!(now), json!(now + 300)),
        (
            "iss",
            json!(idp.issuer()),
            json!("https://attacker.example"),
        ),
        ("aud", json!(ours), json!("another-client")),
        ("sub", json!("jane"), json!("admin")),
        ("scope", json!("openid"), json!("openid admin")),
    ];
    for (name, good, bad) in duplicated {
        for (first, second, order) in [
            (&good, &bad, "good then bad"),
            (&bad, &good, "bad then good"),
        ] {
            let token = with_members(
                name,
                [
                    format!("\"{name}\":{first}"),
                    format!("\"{name}\":{second}"),
                ],
            );
            for path in ["/whoami", "/tenant"] {
                let case = format!("two {name}, {order}, at {path}");
                assert_invalid_token(
                    &bearer(&app, path, &token).await,
                    "malformed token: payload",
                    &token,
                    &case,
                );
            }
        }
    }
    // Role claims the route's policy reads, with the standard claims type.
    for (members, case) in [
        (
            [r#""groups":["users"]"#, r#""groups":["admins"]"#],
            "groups: users then admins",
        ),
        (
            [r#""groups":["admins"]"#, r#""groups":["users"]"#],
            "groups: admins then users",
        ),
        (
            [
                r#""realm_access":{"roles":["users"],"roles":["admins"]}"#,
                r#""x":1"#,
            ],
            "realm_access.roles twice",
        ),
    ] {
        let token = with_members("", members.map(str::to_owned));
        let answer = bearer(&app, "/admins", &token).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{case}: {answer:?}"
        );
        // Rejected by the strict parse of the claims set, before any claims type sees it.
        let detail = answer.detail();
        assert_eq!(detail, "Invalid token: malformed token: payload", "{case}");
        assert_no_echo(&answer, &token, case);
    }
    // Duplicate header members the validator reads: two algs, two kids.
    for (duplicates, case) in [
        (r#""alg":"none","alg":"RS256""#, "alg none then RS256"),
        (r#""alg":"RS256","alg":"none""#, "alg RS256 then none"),
        (
            r#""kid":"p256-ES256","kid":"rsa1-RS256""#,
            "kid of another key first",
        ),
        (
            r#""kid":"rsa1-RS256","kid":"p256-ES256""#,
            "kid of another key last",
        ),
    ] {
        let mut members = vec![r#""typ":"JWT""#.to_owned(), duplicates.to_owned()];
        if !duplicates.contains("alg") {
            members.push(r#""alg":"RS256""#.to_owned());
        }
        if !duplicates.contains("kid") {
            members.push(format!("\"kid\":\"{}\"", TestKey::Rs256.kid()));
        }
        let header = format!("{{{}}}", members.join(","));
        let token =
            TestKey::Rs256.sign_compact(header.as_bytes(), &serde_json::to_vec(&claims).unwrap());
        assert_invalid_token(
            &bearer(&app, "/whoami", &token).await,
            "malformed token: header",
            &token,
            case,
        );
    }
    assert_provider_untouched(&idp, before, "duplicate members");
}

#[actix_web::test]
async fn a_duplicate_role_claim_cannot_smuggle_a_role_past_a_custom_claims_type() {
    // `Tenant` never reads `groups`, and the policy reads `IdToken::payload`: a map parser that
    // keeps the last of two duplicates would let the second one through (a regression test:
    // it did, for one commit). Validation now rejects duplicate names at every level.
    let idp = MockIdp::start();
    let (auth, _) = warm(&idp).await;
    let app = init_service(attacked_app(auth)).await;
    let claims = idp.token().claims().clone();
    let members = [
        r#""groups":["users"]"#.to_owned(),
        r#""groups":["admins"]"#.to_owned(),
    ];
    let payload = claims_text(&claims, &[], &members);
    let token =
        TestKey::Rs256.sign_compact(header_for(TestKey::Rs256).as_bytes(), payload.as_bytes());
    let answer = bearer(&app, "/tenant-admins", &token).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{answer:?}");
}

#[actix_web::test]
async fn non_utf8_bytes_in_the_header_or_inside_the_token_are_rejected() {
    let idp = MockIdp::start();
    let (auth, before) = warm(&idp).await;
    let app = init_service(attacked_app(auth.clone())).await;
    let token = idp.token().sign();
    let not_ascii = "malformed token: Authorization header is not ASCII";
    // Bytes in the Authorization header itself (HTTP allows obs-text, 0x80-0xFF, in a value).
    let mut header_values: Vec<(Vec<u8>, &str)> = vec![
        (
            b"Bearer \xff\xfe\xfd".to_vec(),
            "invalid UTF-8 instead of a token",
        ),
        (
            [format!("Bearer {token}").as_bytes(), b"\x80"].concat(),
            "a stray continuation byte after the token",
        ),
        (
            format!("Bearer {token}\u{e9}").into_bytes(),
            "UTF-8 but not ASCII",
        ),
        (
            format!("Bearer\u{a0}{token}").into_bytes(),
            "a no-break space as separator",
        ),
        (
            format!("Bearer {token}\u{2028}").into_bytes(),
            "a line separator after the token",
        ),
    ];
    let (head, rest) = token.split_once('.').unwrap();
    header_values.push((
        format!("Bearer {head}\u{ff0e}{rest}").into_bytes(),
        "a fullwidth full stop for a dot",
    ));
    for (value, case) in &header_values {
        let answer = get_with(&app, "/whoami", &[value]).await;
        assert_invalid_token(&answer, not_ascii, &token, case);
        let answer = get_with(&app, "/maybe", &[value]).await;
        assert_eq!(answer.json["authenticated"], false, "optional auth: {case}");
    }

    // Bytes inside the token's decoded JSON, signed by the provider's key where the validator
    // reads them (a kid, a claim).
    let claims = idp.token().claims().clone();
    let payload = serde_json::to_vec(&claims).unwrap();
    let bad_header = b"{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"rsa1-RS256\xff\"}";
    let bad_kid = TestKey::Rs256.sign_compact(bad_header, &payload);
    assert_invalid_token(
        &bearer(&app, "/whoami", &bad_kid).await,
        "malformed token: header",
        &bad_kid,
        "kid with 0xFF",
    );
    let rs256 = header_for(TestKey::Rs256);
    // `sub` is read by validation itself, `preferred_username` by the standard claims type.
    let payload_error = "Invalid token: malformed token: payload";
    for (member, expected, case) in [
        (
            &b"\"sub\":\"jane\xc3\x28\""[..],
            payload_error,
            "sub with an invalid two-byte sequence",
        ),
        (
            b"\"sub\":\"\xed\xa0\x80\"",
            payload_error,
            "sub with an encoded surrogate",
        ),
        (
            b"\"sub\":\"\\ud800\"",
            payload_error,
            "sub with an escaped lone surrogate",
        ),
        (
            b"\"preferred_username\":\"\xff\"",
            payload_error,
            "preferred_username with 0xFF",
        ),
    ] {
        let text = claims_text(&claims, &["sub", "preferred_username"], &[]);
        let payload = [&text.as_bytes()[..text.len() - 1], b",", member, b"}"].concat();
        let token = TestKey::Rs256.sign_compact(rs256.as_bytes(), &payload);
        let answer = bearer(&app, "/whoami", &token).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{case}: {answer:?}"
        );
        assert!(
            answer.detail().starts_with(expected),
            "{case}: {}",
            answer.detail()
        );
        assert_no_echo(&answer, &token, case);
    }
    assert_provider_untouched(&idp, before, "non-UTF-8 bytes");

    // Over real HTTP, with bytes no client library would send.
    let server = LiveServer::start(auth);
    for (value, case) in &header_values {
        let answer = server.send(head_with_authorization(value)).await;
        assert_eq!(answer.status, 401, "{case}: {answer:?}");
        assert_eq!(
            answer.json()["detail"],
            format!("Invalid token: {not_ascii}"),
            "{case}"
        );
    }
    // Control bytes are not even HTTP: actix refuses the request head (400) before any handler.
    for (value, case) in [
        (
            [b"Bearer\x0b", token.as_bytes()].concat(),
            "a vertical tab as separator",
        ),
        (
            [b"Bearer ", token.as_bytes(), b"\x00"].concat(),
            "a NUL after the token",
        ),
        (
            [b"Bearer ", token.as_bytes(), b"\x7f"].concat(),
            "a DEL after the token",
        ),
        (
            [b"Bearer\r\n ", token.as_bytes()].concat(),
            "an obsolete line folding",
        ),
    ] {
        let answer = server.send(head_with_authorization(&value)).await;
        assert!((400..500).contains(&answer.status), "{case}: {answer:?}");
        server.assert_still_serving(&token, case).await;
    }
    server.stop().await;
}

#[actix_web::test]
async fn a_token_with_non_utf8_bytes_in_a_member_nobody_reads_is_rejected() {
    // RFC 7515 §5.2 and RFC 7519 §7.2: the header and the claims set must be valid UTF-8 JSON,
    // whether or not this validator reads the member that breaks it.
    let idp = MockIdp::start();
    let (auth, _) = warm(&idp).await;
    let app = init_service(attacked_app(auth)).await;
    let claims = idp.token().claims().clone();
    let payload = serde_json::to_vec(&claims).unwrap();
    let header = b"{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"rsa1-RS256\",\"x\":\"\xff\"}";
    let in_header = TestKey::Rs256.sign_compact(header, &payload);
    let text = serde_json::to_string(&claims).unwrap();
    let in_payload = TestKey::Rs256.sign_compact(
        header_for(TestKey::Rs256).as_bytes(),
        &[&text.as_bytes()[..text.len() - 1], b",\"x\":\"\xff\"}"].concat(),
    );
    // A lone UTF-16 surrogate is an escape of no character (RFC 8259 §8.2), and a name twice
    // is what RFC 7515 §4 forbids in a header; both in a member nobody reads passed the header
    // parse (found by the differential fuzz target) until the header was parsed strictly.
    let surrogate = TestKey::Rs256.sign_compact(
        br#"{"alg":"RS256","typ":"JWT","kid":"rsa1-RS256","kd":"\ud800x"}"#,
        &payload,
    );
    let twice = TestKey::Rs256.sign_compact(
        br#"{"alg":"RS256","typ":"JWT","kid":"rsa1-RS256","x":1,"x":2}"#,
        &payload,
    );
    for (token, case) in [
        (&in_header, "0xFF in an unread header member"),
        (&in_payload, "0xFF in an extra claim"),
        (&surrogate, "a lone surrogate in an unread header member"),
        (&twice, "an unread header member twice"),
    ] {
        for path in ["/whoami", "/tenant"] {
            let answer = bearer(&app, path, token).await;
            assert_eq!(
                answer.status,
                StatusCode::UNAUTHORIZED,
                "{case} at {path}: {answer:?}"
            );
        }
    }
    for (token, case) in [(&surrogate, "surrogate"), (&twice, "twice")] {
        assert_invalid_token(
            &bearer(&app, "/whoami", token).await,
            "malformed token: header",
            token,
            case,
        );
    }
}
