//! Which key verifies a token: `alg: none` and algorithm confusion, keys the token brings
//! along, keys that were removed and kids that never existed.

use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::test::init_service;
use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use futures::future::join_all;
use oidc_actix::testing::{MockIdp, RequestCounts, TestKey};
use serde_json::{Value, json};

use crate::{assert_invalid_token, assert_provider_untouched, attacked_app, bearer, warm};

// ------------------------------------------------------------------------------------------------
// `alg: none` and algorithm confusion.

#[actix_web::test]
async fn alg_none_is_rejected() {
    let idp = MockIdp::start();
    let genuine = idp.token().sign();
    let genuine_signature = genuine.rsplit('.').next().expect("three segments");
    let mut attacks = Vec::new();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let forged = idp.token().sub("admin").header("alg", json!(alg));
        let unsigned = forged.unsigned();
        attacks.push((
            unsigned.clone(),
            format!("algorithm \"{alg}\" is not allowed"),
            alg.to_owned(),
        ));
        // The same with a real signature pasted on, for validators that skip an empty one.
        attacks.push((
            format!("{unsigned}{genuine_signature}"),
            format!("algorithm \"{alg}\" is not allowed"),
            format!("{alg} with a signature"),
        ));
        attacks.push((
            forged.kid(None).unsigned(),
            format!("algorithm \"{alg}\" is not allowed"),
            format!("{alg} without kid"),
        ));
    }
    // The algorithm's name comes back in the detail (Rust-escaped, at most 16 characters) and
    // in the challenge (without quotes, backslashes or control characters): it must not carry
    // a header injection out with it, nor grow with the attacker's input.
    let injected = idp
        .token()
        .header("alg", json!("none\r\nSet-Cookie: pwned=1"))
        .unsigned();
    // Not a string at all, or absent: the header does not parse.
    for (alg, case) in [
        (json!(null), "alg null"),
        (json!(["RS256"]), "alg a list"),
        (json!(256), "alg a number"),
    ] {
        attacks.push((
            idp.token().header("alg", alg).sign(),
            "malformed token: header".to_owned(),
            case.to_owned(),
        ));
    }
    attacks.push((
        idp.token().without_header("alg").sign(),
        "malformed token: header".to_owned(),
        "no alg".to_owned(),
    ));
    attacks.push((
        injected,
        r#"algorithm "none\r\nSet-Cookie" is not allowed"#.to_owned(),
        "CRLF in alg".to_owned(),
    ));

    // Cold: rejected on the header alone, before any key is fetched.
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(attacked_app(auth)).await;
    for (token, why, case) in &attacks {
        let answer = bearer(&app, "/whoami", token).await;
        assert_invalid_token(&answer, why, token, case);
        assert!(
            !answer.set_cookie,
            "{case}: a header smuggled out through the detail"
        );
        assert!(answer.detail().len() < 64, "{case}: {}", answer.detail());
    }
    assert_provider_untouched(&idp, RequestCounts::default(), "alg none on a cold start");

    // Warm: the same, and still nothing asked of the provider.
    let (auth, before) = warm(&idp).await;
    let app = init_service(attacked_app(auth)).await;
    for (token, _, case) in &attacks {
        assert_eq!(
            bearer(&app, "/whoami", token).await.status,
            StatusCode::UNAUTHORIZED,
            "{case}"
        );
        let answer = bearer(&app, "/maybe", token).await;
        assert_eq!(answer.json["authenticated"], false, "optional auth: {case}");
    }
    assert_provider_untouched(&idp, before, "alg none");
}

/// An RSA public key in every form a confused validator might use as an HMAC secret.
fn rsa_public_key_as_hmac_secrets(key: TestKey) -> Vec<(&'static str, Vec<u8>)> {
    let pair = RsaKeyPair::from_der(key.private_key_der()).expect("an RSA test key");
    let pkcs1 = pair.public_key().as_ref().to_vec();
    let spki = pair
        .public_key()
        .as_der()
        .expect("an RSA public key encodes")
        .as_ref()
        .to_vec();
    let jwk = key.public_jwk();
    let n_text = jwk["n"].as_str().expect("an RSA JWK has n").to_owned();
    let n = URL_SAFE_NO_PAD.decode(&n_text).expect("n is base64url");
    // The encodings really are of this key (else the attack below would prove nothing).
    assert!(pkcs1.windows(n.len()).any(|w| w == n.as_slice()));
    assert!(spki.windows(pkcs1.len()).any(|w| w == pkcs1.as_slice()));
    let pem = |label: &str, der: &[u8]| {
        let body = STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|line| std::str::from_utf8(line).expect("base64 is ASCII"))
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
        .into_bytes()
    };
    let spki_pem = pem("PUBLIC KEY", &spki);
    let spki_pem_trimmed = spki_pem.trim_ascii_end().to_vec();
    vec![
        ("PEM (SubjectPublicKeyInfo)", spki_pem),
        ("PEM without the final newline", spki_pem_trimmed),
        ("PEM (PKCS#1 RSAPublicKey)", pem("RSA PUBLIC KEY", &pkcs1)),
        ("DER (SubjectPublicKeyInfo)", spki),
        ("DER (PKCS#1 RSAPublicKey)", pkcs1),
        ("the JWK as JSON", jwk.to_string().into_bytes()),
        ("the modulus as base64url text", n_text.into_bytes()),
        ("the modulus bytes", n),
    ]
}

/// A compact JWS MACed with `secret` under an HMAC `alg` (RFC 7515 §7.1: base64url of the header
/// and of the payload, joined by a dot, then of the MAC).
fn hmac_signed(
    alg: jsonwebtoken::Algorithm,
    header: &Value,
    payload: &[u8],
    secret: &[u8],
) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = jsonwebtoken::EncodingKey::from_secret(secret)
        .and_then(|key| jsonwebtoken::crypto::sign(input.as_bytes(), &key, alg))
        .expect("HMAC signs with any key");
    format!("{input}.{signature}")
}

#[actix_web::test]
async fn hs256_signed_with_the_rsa_public_key_is_rejected() {
    let idp = MockIdp::start();
    let claims = idp.token().sub("admin").claims().clone();
    let payload = serde_json::to_vec(&claims).unwrap();
    let mut attacks = Vec::new();
    for (encoding, secret) in rsa_public_key_as_hmac_secrets(TestKey::Rs256) {
        for alg in [
            jsonwebtoken::Algorithm::HS256,
            jsonwebtoken::Algorithm::HS384,
            jsonwebtoken::Algorithm::HS512,
        ] {
            // The header names the RSA key, as the classic attack does.
            let header =
                json!({"alg": format!("{alg:?}"), "typ": "JWT", "kid": TestKey::Rs256.kid()});
            attacks.push((
                hmac_signed(alg, &header, &payload, &secret),
                format!("algorithm \"{alg:?}\" is not allowed"),
                format!("{alg:?} keyed with {encoding}"),
            ));
        }
    }
    // And HMAC with a guessed or an empty secret, for validators that keep one around.
    let forged = idp.token().sub("admin");
    for (secret, case) in [
        (&b"secret"[..], "a guessed secret"),
        (b"", "an empty secret"),
    ] {
        attacks.push((
            forged.sign_hs256(secret),
            "algorithm \"HS256\" is not allowed".to_owned(),
            format!("HS256 keyed with {case}"),
        ));
    }
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(attacked_app(auth)).await;
    for (token, why, case) in &attacks {
        assert_invalid_token(&bearer(&app, "/whoami", token).await, why, token, case);
    }
    assert_provider_untouched(
        &idp,
        RequestCounts::default(),
        "HMAC confusion on a cold start",
    );
    let (auth, before) = warm(&idp).await;
    let app = init_service(attacked_app(auth)).await;
    for (token, why, case) in &attacks {
        assert_invalid_token(&bearer(&app, "/whoami", token).await, why, token, case);
    }
    assert_provider_untouched(&idp, before, "HMAC confusion");
}

#[actix_web::test]
async fn a_kid_pointing_at_another_key_type_is_rejected() {
    let idp = MockIdp::start();
    let (auth, before) = warm(&idp).await;
    let app = init_service(attacked_app(auth)).await;
    // (signed with, kid of): each key signs genuinely, under the kid of a published key of
    // another type, curve or algorithm.
    let confusions = [
        (TestKey::Es256, TestKey::Rs256),
        (TestKey::Rs256, TestKey::Es256),
        (TestKey::EdDsa, TestKey::Rs256),
        (TestKey::Rs256, TestKey::EdDsa),
        (TestKey::EdDsa, TestKey::Es256),
        (TestKey::Es256, TestKey::EdDsa),
        (TestKey::Es384, TestKey::Es256),
        (TestKey::Es256, TestKey::Es384),
        // The same RSA key, published for one algorithm only, never verifies another.
        (TestKey::Ps256, TestKey::Rs256),
        (TestKey::Rs384, TestKey::Rs256),
        (TestKey::Rs256, TestKey::Ps512),
    ];
    for (signer, named) in confusions {
        let token = idp
            .token()
            .sub("admin")
            .key(signer)
            .kid(Some(named.kid()))
            .sign();
        let case = format!("{signer:?} token under the kid of {named:?}");
        assert_invalid_token(
            &bearer(&app, "/whoami", &token).await,
            "key cannot be used with this algorithm",
            &token,
            &case,
        );
    }
    // A header whose `alg` lies about an RSA signature, under the RSA key's kid.
    for alg in ["ES256", "EdDSA", "PS256"] {
        let token = idp.token().header("alg", json!(alg)).sign();
        assert_invalid_token(
            &bearer(&app, "/whoami", &token).await,
            "key cannot be used with this algorithm",
            &token,
            &format!("RS256 signature claiming {alg}"),
        );
    }
    assert_provider_untouched(&idp, before, "a kid of another key type");
}

// ------------------------------------------------------------------------------------------------
// Keys the token brings along.

/// DER: a tag, a definite length, the content.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    match len {
        0..0x80 => out.push(len as u8),
        0x80..0x100 => out.extend([0x81, len as u8]),
        _ => out.extend([0x82, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(content);
    out
}

/// A self-signed X.509 certificate (RFC 5280) for the RSA key `key`: what an attacker puts in
/// `x5c` so that a validator trusting the header would verify the token with the attacker's key.
fn self_signed_certificate(key: TestKey) -> Vec<u8> {
    let pair = RsaKeyPair::from_der(key.private_key_der()).expect("an RSA test key");
    let spki = pair
        .public_key()
        .as_der()
        .expect("encodes")
        .as_ref()
        .to_vec();
    // sha256WithRSAEncryption, 1.2.840.113549.1.1.11.
    let signature_algorithm = der(
        0x30,
        &[
            der(
                0x06,
                &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b],
            ),
            der(0x05, &[]),
        ]
        .concat(),
    );
    // CN=attacker.example (2.5.4.3, UTF8String).
    let name = der(
        0x30,
        &der(
            0x31,
            &der(
                0x30,
                &[
                    der(0x06, &[0x55, 0x04, 0x03]),
                    der(0x0c, b"attacker.example"),
                ]
                .concat(),
            ),
        ),
    );
    let validity = der(
        0x30,
        &[der(0x17, b"250101000000Z"), der(0x17, b"491231235959Z")].concat(),
    );
    let tbs = der(
        0x30,
        &[
            der(0xa0, &der(0x02, &[2])), // v3
            der(0x02, &[0x01]),          // serial number
            signature_algorithm.clone(),
            name.clone(),
            validity,
            name,
            spki,
        ]
        .concat(),
    );
    let mut signature = vec![0; pair.public_modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        &tbs,
        &mut signature,
    )
    .expect("RSA signs");
    der(
        0x30,
        &[
            tbs,
            signature_algorithm,
            der(0x03, &[&[0u8][..], &signature].concat()),
        ]
        .concat(),
    )
}

#[actix_web::test]
async fn jku_x5u_jwk_and_x5c_headers_are_ignored_and_never_fetched() {
    let idp = MockIdp::start();
    // The attacker's own "provider" publishes the attacker's key; nothing may ever ask it.
    let attacker = MockIdp::start();
    attacker.set_published([TestKey::Rsa2]);
    assert!(
        !idp.published().contains(&TestKey::Rsa2),
        "the victim does not trust Rsa2"
    );
    let (auth, before) = warm(&idp).await;
    let app = init_service(attacked_app(auth)).await;
    let carriers = [
        ("jku", json!(attacker.jwks_uri())),
        ("x5u", json!(attacker.url("/attacker.pem"))),
        ("jwk", TestKey::Rsa2.public_jwk()),
        (
            "x5c",
            json!([STANDARD.encode(self_signed_certificate(TestKey::Rsa2))]),
        ),
    ];
    let mut forgeries = Vec::new();
    for (member, value) in &carriers {
        let forged = idp
            .token()
            .sub("admin")
            .key(TestKey::Rsa2)
            .header(*member, value.clone());
        forgeries.push((
            forged.clone().sign(),
            format!("{member} with the attacker's kid"),
        ));
        forgeries.push((forged.kid(None).sign(), format!("{member} without kid")));
    }
    let all = carriers.iter().fold(
        idp.token().sub("admin").key(TestKey::Rsa2),
        |builder, (member, value)| builder.header(*member, value.clone()),
    );
    forgeries.push((all.sign(), "all four headers".to_owned()));

    let started = Instant::now();
    for round in 0..5 {
        for (token, case) in &forgeries {
            assert_invalid_token(
                &bearer(&app, "/whoami", token).await,
                "no key with this kid",
                token,
                &format!("{case}, round {round}"),
            );
        }
    }
    assert_eq!(
        attacker.requests(),
        RequestCounts::default(),
        "the attacker's URLs were fetched"
    );
    let spent = idp.requests();
    assert_eq!(spent.discovery, before.discovery);
    assert!(
        spent.jwks - before.jwks <= 1 + started.elapsed().as_secs() / 30,
        "{} key-set fetches for {} forgeries with an unknown kid: more than one per 30 s cooldown",
        spent.jwks - before.jwks,
        forgeries.len() * 5
    );

    // A genuine token carrying the same headers is not refused for them: they are ignored.
    let genuine = carriers
        .iter()
        .fold(idp.token().sub("jane"), |builder, (member, value)| {
            builder.header(*member, value.clone())
        })
        .sign();
    let answer = bearer(&app, "/whoami", &genuine).await;
    assert_eq!(
        (answer.status, answer.json["sub"].as_str()),
        (StatusCode::OK, Some("jane"))
    );
    assert_eq!(attacker.requests(), RequestCounts::default());
}

#[actix_web::test]
async fn an_unknown_crit_header_is_rejected() {
    let idp = MockIdp::start();
    let crits = [
        (json!(["exp"]), None, "a registered claim name"),
        (
            json!(["b64"]),
            Some(("b64", json!(false))),
            "unencoded payload (RFC 7797)",
        ),
        (
            json!(["https://attacker.example/ext"]),
            Some(("https://attacker.example/ext", json!(true))),
            "a private extension",
        ),
        (json!(["kid"]), None, "a header this validator reads"),
        (json!([]), None, "an empty list (RFC 7515 forbids it)"),
        (json!("exp"), None, "not a list"),
        (
            json!(null),
            None,
            "null (RFC 7515 allows no null; serde read it as absent)",
        ),
    ];
    let tokens: Vec<(String, &str)> = crits
        .iter()
        .map(|(crit, member, case)| {
            let mut builder = idp.token().sub("admin").header("crit", crit.clone());
            if let Some((name, value)) = member {
                builder = builder.header(*name, value.clone());
            }
            (builder.sign(), *case)
        })
        .collect();
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(attacked_app(auth)).await;
    for (token, case) in &tokens {
        assert_invalid_token(
            &bearer(&app, "/whoami", token).await,
            "unsupported critical header",
            token,
            case,
        );
    }
    assert_provider_untouched(&idp, RequestCounts::default(), "crit on a cold start");
    let (auth, before) = warm(&idp).await;
    let app = init_service(attacked_app(auth)).await;
    for (token, case) in &tokens {
        assert_invalid_token(
            &bearer(&app, "/whoami", token).await,
            "unsupported critical header",
            token,
            case,
        );
    }
    assert_provider_untouched(&idp, before, "crit");
}

// ------------------------------------------------------------------------------------------------
// Keys that were removed, and kids that never existed.

#[actix_web::test]
async fn a_token_signed_by_a_key_removed_from_the_jwks_is_rejected() {
    let idp = MockIdp::start();
    let (auth, _) = warm(&idp).await;
    let app = init_service(attacked_app(auth)).await;
    // Both signed by rsa1-RS256 while it is published; only the first is ever validated, and
    // often enough to sit in the verified-token cache (which admits a token on its second
    // verification on a worker, see cache.rs).
    let cached = idp.token().sub("cached").sign();
    let fresh = idp.token().sub("fresh").sign();
    for _ in 0..3 {
        let answer = bearer(&app, "/whoami", &cached).await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    }

    // The provider retires the key; the first token of its new key makes us refetch the set.
    let retired = idp.signer();
    idp.rotate();
    assert!(!idp.published_kids().contains(&retired.kid()));
    idp.reset_counts();
    let answer = bearer(&app, "/whoami", &idp.token().sub("new").sign()).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(
        idp.requests().jwks,
        1,
        "the new kid caused exactly one fetch"
    );

    let before = idp.requests();
    for round in 0..20 {
        for (token, case) in [(&cached, "cached"), (&fresh, "fresh")] {
            assert_invalid_token(
                &bearer(&app, "/whoami", token).await,
                "no key with this kid",
                token,
                &format!("{case} token of the removed key, round {round}"),
            );
        }
    }
    // The removed kid is unknown, but within the cooldown of the fetch that removed it.
    assert_provider_untouched(&idp, before, "tokens of a removed key");
}

#[actix_web::test]
async fn a_cached_token_of_a_removed_key_is_rejected_once_the_key_set_ttl_refreshes_it() {
    let idp = MockIdp::start();
    let ttl = Duration::from_millis(200);
    let auth = idp.auth_builder().jwks_ttl(ttl).build().unwrap();
    auth.warm_up().await.unwrap();
    let app = init_service(attacked_app(auth)).await;
    let cached = idp.token().sub("cached").sign();
    let fresh = idp.token().sub("fresh").sign();
    // Validated often enough to be served from the verified-token cache from now on.
    for _ in 0..3 {
        let answer = bearer(&app, "/whoami", &cached).await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    }

    // The key goes away at the provider; no token of the new key ever arrives, so only the
    // key set's age can bring the news.
    idp.rotate();
    idp.reset_counts();
    actix_web::rt::time::sleep(ttl + Duration::from_millis(50)).await;
    // The refresh runs in the background while requests keep the old set (documented), so poll
    // until it has landed; the deadline only bounds a broken refresh, it measures nothing.
    let deadline = Instant::now() + Duration::from_secs(20);
    let answer = loop {
        let answer = bearer(&app, "/whoami", &cached).await;
        if answer.status != StatusCode::OK || Instant::now() > deadline {
            break answer;
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    };
    assert_invalid_token(
        &answer,
        "no key with this kid",
        &cached,
        "cached token after the TTL refresh",
    );
    assert!(idp.requests().jwks >= 1, "the key set was refreshed");
    assert_invalid_token(
        &bearer(&app, "/whoami", &fresh).await,
        "no key with this kid",
        &fresh,
        "fresh token of the removed key",
    );
    // The new key's tokens pass on the refreshed set.
    assert_eq!(
        bearer(&app, "/whoami", &idp.token().sign()).await.status,
        StatusCode::OK
    );
}

#[actix_web::test]
async fn a_flood_of_unknown_kids_costs_at_most_one_key_fetch_per_cooldown() {
    let idp = MockIdp::start();
    let forged: Vec<String> = (0..300)
        .map(|i| idp.token().kid(Some(format!("forged-{i}").as_str())).sign())
        .collect();

    // Cold: the first forgeries load the keys (one discovery, one key set, shared by all of
    // them), and the next ones may refetch once for their unknown kids.
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(attacked_app(auth)).await;
    let started = Instant::now();
    let answers = join_all(
        forged[..100]
            .iter()
            .map(|token| bearer(&app, "/whoami", token)),
    )
    .await;
    for (answer, token) in answers.iter().zip(&forged[..100]) {
        assert_invalid_token(answer, "no key with this kid", token, "concurrent, cold");
    }
    for token in &forged[100..200] {
        assert_invalid_token(
            &bearer(&app, "/whoami", token).await,
            "no key with this kid",
            token,
            "sequential, cold",
        );
    }
    let spent = idp.requests();
    let windows = started.elapsed().as_secs() / 30;
    assert_eq!(spent.discovery, 1, "the discovery document is loaded once");
    assert!(
        spent.jwks <= 2 + windows,
        "{} key-set fetches for 200 unknown kids on a cold start",
        spent.jwks
    );

    // Warm: all at once, they share one fetch (single flight); then one after the other, they
    // wait out the cooldown that fetch started.
    let (auth, before) = warm(&idp).await;
    let app = init_service(attacked_app(auth)).await;
    let started = Instant::now();
    let answers = join_all(
        forged[..100]
            .iter()
            .map(|token| bearer(&app, "/whoami", token)),
    )
    .await;
    for (answer, token) in answers.iter().zip(&forged[..100]) {
        assert_invalid_token(answer, "no key with this kid", token, "concurrent");
    }
    assert_eq!(
        idp.requests().jwks - before.jwks,
        1,
        "100 concurrent unknown kids, one fetch"
    );
    for token in &forged[100..] {
        assert_invalid_token(
            &bearer(&app, "/whoami", token).await,
            "no key with this kid",
            token,
            "sequential",
        );
    }
    let spent = idp.requests();
    assert_eq!(
        spent.discovery, before.discovery,
        "the discovery document is not refetched"
    );
    let allowed = 1 + started.elapsed().as_secs() / 30;
    assert!(
        spent.jwks - before.jwks <= allowed,
        "{} key-set fetches for 300 unknown kids; at most {allowed} allowed",
        spent.jwks - before.jwks
    );
    // Genuine tokens still pass during the flood's cooldown.
    assert_eq!(
        bearer(&app, "/whoami", &idp.token().sign()).await.status,
        StatusCode::OK
    );
}

// ------------------------------------------------------------------------------------------------
// Token confusion.

/// The attack: where the audience is the client id, an ID token (issued to this client, `typ:
/// JWT`) was accepted as an access token. With `require_token_type("at+jwt")` only a token the
/// provider marked as an access token (RFC 9068) is (the callback still takes ID tokens:
/// `routes::a_login_works_where_access_tokens_must_be_typed`).
#[actix_web::test]
async fn an_id_token_is_not_an_access_token_where_the_type_is_required() {
    let idp = MockIdp::start();
    let auth = idp
        .auth_builder()
        .require_token_type("at+jwt")
        .build()
        .unwrap();
    let app = init_service(attacked_app(auth)).await;
    let id_token = idp.token().sign();
    assert_invalid_token(
        &bearer(&app, "/whoami", &id_token).await,
        "not the required token type",
        &id_token,
        "typ JWT",
    );
    let untyped = idp.token().without_header("typ").sign();
    assert_invalid_token(
        &bearer(&app, "/whoami", &untyped).await,
        "not the required token type",
        &untyped,
        "no typ",
    );
    for typ in ["at+jwt", "AT+JWT", "application/at+jwt"] {
        let access = idp.token().header("typ", json!(typ)).sign();
        let answer = bearer(&app, "/whoami", &access).await;
        assert_eq!(answer.status, StatusCode::OK, "{typ}: {answer:?}");
    }
    // Without the option, any JWT type, as py-oidc-auth.
    let lenient = init_service(attacked_app(idp.auth_builder().build().unwrap())).await;
    assert_eq!(
        bearer(&lenient, "/whoami", &id_token).await.status,
        StatusCode::OK
    );
}
