//! The kit tested through the library's public API, as its users will use it.

#![allow(clippy::unwrap_used)]

use std::io::ErrorKind;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use actix_web::test::{self, TestRequest};
use actix_web::{App, web};
use serde_json::{Value, json};

use super::*;
use crate::{Algorithm, FetchError, IdToken, ProviderError};

async fn h(t: IdToken) -> String {
    t.sub.clone().unwrap_or_default()
}

/// A request to the protected route with a bearer token: status, and the `detail` of an error
/// body or the body itself. (Macros, because the request type of `init_service` is unnameable.)
macro_rules! call {
    ($app:expr, $token:expr $(,)?) => {{
        let req = TestRequest::get()
            .uri("/")
            .insert_header(("authorization", format!("Bearer {}", $token)))
            .to_request();
        let resp = test::call_service($app, req).await;
        let status = resp.status().as_u16();
        let body = test::read_body(resp).await;
        let body = match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(error)) => error["detail"].as_str().unwrap_or_default().to_owned(),
            _ => String::from_utf8_lossy(&body).into_owned(),
        };
        (status, body)
    }};
}

/// The protected application for `auth`.
macro_rules! app_for {
    ($auth:expr) => {
        test::init_service(
            App::new()
                .app_data($auth.clone())
                .route("/", web::get().to(h)),
        )
        .await
    };
}

/// GETs `url` without the library: status and body.
async fn fetch(url: &str) -> Result<(u16, Vec<u8>), String> {
    let mut resp = awc::Client::new()
        .get(url)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let body = resp
        .body()
        .limit(64 * 1024 * 1024)
        .await
        .map_err(|e| e.to_string())?;
    Ok((resp.status().as_u16(), body.to_vec()))
}

async fn fetch_json(url: &str) -> (u16, Value) {
    let (status, body) = fetch(url).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn refused(port: u16) -> bool {
    matches!(
        TcpStream::connect(("127.0.0.1", port)),
        Err(e) if e.kind() == ErrorKind::ConnectionRefused
    )
}

#[actix_web::test]
async fn every_key_signs_a_token_the_library_accepts() {
    let idp = MockIdp::start();
    for key in TestKey::ALL {
        idp.publish(*key);
    }
    let auth = idp.auth_builder().build().unwrap();
    let app = app_for!(auth);
    for key in TestKey::ALL.iter().copied() {
        let sub = format!("user-of-{key}");
        let token = idp.token().key(key).sub(&sub).sign();
        assert_eq!(call!(&app, &token), (200, sub), "{key:?}");
    }
    for alg in Algorithm::ALL {
        let token = idp.token().algorithm(*alg).sign();
        assert_eq!(call!(&app, &token).0, 200, "{alg}");
    }
    let (status, _) = call!(
        &app,
        &idp.token()
            .header("typ", json!("at+jwt"))
            .claim("aud", json!(["other", TEST_AUDIENCE]))
            .sign(),
    );
    assert_eq!(status, 200);
    assert_eq!(idp.requests().discovery, 1);
    assert_eq!(idp.requests().jwks, 1);
}

#[actix_web::test]
async fn sign_compact_signs_exactly_the_bytes_given() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    let app = app_for!(auth);
    for key in [TestKey::Rs256, TestKey::Es384, TestKey::EdDsa] {
        // Whitespace and member order no serializer would choose.
        let header = format!(
            "{{ \"kid\" : \"{}\", \"alg\":\"{}\" }}",
            key.kid(),
            key.algorithm().name()
        );
        let claims = serde_json::to_vec(idp.token().sub(key.kid()).claims()).unwrap();
        let token = key.sign_compact(header.as_bytes(), &claims);
        let segments: Vec<Vec<u8>> = token
            .split('.')
            .take(2)
            .map(|segment| URL_SAFE_NO_PAD.decode(segment).unwrap())
            .collect();
        assert_eq!(segments, [header.into_bytes(), claims], "{key:?}");
        assert_eq!(call!(&app, &token), (200, key.kid().to_owned()), "{key:?}");
    }
}

#[actix_web::test]
async fn broken_tokens_and_attacks_are_rejected_for_the_announced_reason() {
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    let app = app_for!(auth);
    let jwk_bytes = serde_json::to_vec(&TestKey::Rs256.public_jwk()).unwrap();
    let cases: Vec<(&str, String)> = vec![
        ("algorithm \"none\"", idp.token().unsigned()),
        ("algorithm \"HS256\"", idp.token().sign_hs256(&jwk_bytes)),
        ("signature", idp.token().sign_with_unpublished_key()),
        (
            "signature",
            idp.token().key(TestKey::Es256).sign_with_unpublished_key(),
        ),
        (
            "signature",
            idp.token().key(TestKey::EdDsa).sign_with_unpublished_key(),
        ),
        ("expired", idp.token().expires_in(-1).sign()),
        ("not valid yet", idp.token().not_before(60).sign()),
        ("issued in the future", idp.token().issued_at(60).sign()),
        ("missing exp", idp.token().without_claim("exp").sign()),
        ("wrong issuer", idp.token().issuer("http://evil").sign()),
        (
            "wrong audience",
            idp.token().audience("someone-else").sign(),
        ),
        ("wrong audience", idp.token().without_claim("aud").sign()),
        (
            "critical",
            idp.token().header("crit", json!(["exp"])).sign(),
        ),
        ("type", idp.token().header("typ", json!("dpop+jwt")).sign()),
        (
            "key cannot be used",
            idp.token().kid(Some(TestKey::Rs384.kid())).sign(),
        ),
        (
            "too large",
            idp.token().claim("pad", json!("x".repeat(20_000))).sign(),
        ),
        ("no key", idp.token().kid(None).sign()),
    ];
    for (why, token) in cases {
        let (status, body) = call!(&app, &token);
        assert_eq!(status, 401, "{why}: {body}");
        assert!(body.contains(why), "expected {why:?} in {body}");
    }
    assert_eq!(call!(&app, &idp.token().sign()).0, 200);
}

#[actix_web::test]
async fn rotation_changes_the_published_keys_and_the_library_follows() {
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    let app = app_for!(auth);
    let before = idp.token().sign();
    assert_eq!(call!(&app, &before).0, 200);
    let old_kid = TestKey::Rs256.kid();
    assert!(idp.published_kids().contains(&old_kid));

    let new = idp.rotate();
    assert_eq!(new.algorithm(), Algorithm::RS256);
    assert_eq!(idp.signer(), new);
    let kids = idp.published_kids();
    assert!(kids.contains(&new.kid()) && !kids.contains(&old_kid));
    assert_eq!(kids.len(), TestKey::PER_ALGORITHM.len());

    let after = idp.token().sub("rotated").sign();
    assert_eq!(call!(&app, &after), (200, "rotated".to_owned()));
    assert_eq!(idp.requests().jwks, 2, "the unknown kid caused one refetch");
    let old_key_token = idp.token().key(TestKey::Rs256).sub("fresh").sign();
    let (status, body) = call!(&app, &old_key_token);
    assert_eq!(status, 401, "{body}");

    assert!(idp.unpublish(new.kid()));
    assert!(!idp.unpublish(new.kid()));
    idp.publish(TestKey::Rs256);
    idp.publish(TestKey::Rs256);
    assert_eq!(idp.published_kids().last(), Some(&old_kid));
    idp.set_published([TestKey::Es256, TestKey::Es256]);
    assert_eq!(idp.published(), vec![TestKey::Es256]);
    idp.set_signer(TestKey::Es256);
    assert_eq!(idp.token().signing_key(), TestKey::Es256);

    let rotations: Vec<TestKey> = (0..5).map(|_| idp.rotate()).collect();
    assert_eq!(
        rotations,
        [
            TestKey::Rs256,
            TestKey::Rsa2,
            TestKey::Rsa3,
            TestKey::Rsa4,
            TestKey::Rs256
        ],
        "from another signer, rotation starts at RSA key 1"
    );
    assert_eq!(idp.published_kids(), ["rsa1-RS256"]);
}

#[actix_web::test]
async fn the_provider_serves_discovery_and_the_published_keys() {
    let idp = MockIdp::start();
    let (status, discovery) = fetch_json(idp.discovery_url()).await;
    assert_eq!(status, 200);
    assert_eq!(discovery["issuer"], idp.issuer());
    assert_eq!(discovery["jwks_uri"], idp.jwks_uri());
    for endpoint in [
        "authorization_endpoint",
        "token_endpoint",
        "device_authorization_endpoint",
        "userinfo_endpoint",
        "end_session_endpoint",
    ] {
        let url = discovery[endpoint].as_str().unwrap();
        assert!(url.starts_with(idp.issuer()), "{endpoint}");
        assert_eq!(fetch(url).await.unwrap().0, 501, "{endpoint}");
    }
    assert_eq!(fetch(&idp.url("/nowhere")).await.unwrap().0, 404);

    idp.set_published([TestKey::Es384]);
    let (status, jwks) = fetch_json(idp.jwks_uri()).await;
    assert_eq!(status, 200);
    assert_eq!(jwks, TestKey::jwks([TestKey::Es384]));
    let jwk = &jwks["keys"][0];
    assert_eq!(
        (&jwk["kid"], &jwk["use"], &jwk["alg"]),
        (&json!("p384-ES384"), &json!("sig"), &json!("ES384"))
    );
}

#[actix_web::test]
async fn faults_change_the_answers() {
    let idp = MockIdp::start();
    let discovery = idp.discovery_url().to_owned();
    let jwks = idp.jwks_uri().to_owned();

    idp.set_fault(Fault::ServerError);
    assert_eq!(idp.fault(), Fault::ServerError);
    assert_eq!(fetch(&discovery).await.unwrap().0, 500);
    assert_eq!(fetch(&jwks).await.unwrap().0, 500);

    idp.set_fault(Fault::JwksServerError);
    assert_eq!(fetch(&discovery).await.unwrap().0, 200);
    assert_eq!(fetch(&jwks).await.unwrap().0, 500);

    idp.set_fault(Fault::NoJwksUriInDiscovery);
    let (status, document) = fetch_json(&discovery).await;
    assert_eq!(status, 200);
    assert!(document.get("jwks_uri").is_none() && document.get("issuer").is_some());

    idp.set_fault(Fault::MalformedJwks);
    let (status, body) = fetch(&jwks).await.unwrap();
    assert_eq!(status, 200);
    assert!(serde_json::from_slice::<Value>(&body).is_err());

    idp.set_fault(Fault::EmptyJwks);
    assert_eq!(fetch_json(&jwks).await, (200, json!({"keys": []})));

    idp.set_fault(Fault::HugeJwks);
    let (status, body) = fetch(&jwks).await.unwrap();
    assert_eq!((status, body.len()), (200, 10 * 1024 * 1024));
    assert!(serde_json::from_slice::<Value>(&body).is_ok());

    idp.set_fault(Fault::Slow(Duration::from_millis(300)));
    let started = Instant::now();
    assert_eq!(fetch(&jwks).await.unwrap().0, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    idp.set_fault(Fault::None);
    assert_eq!(fetch_json(&jwks).await.1, TestKey::jwks(idp.published()));
}

#[actix_web::test]
async fn the_library_reports_each_fault() {
    let idp = MockIdp::start();
    // A fresh `OidcAuth` per case: a failure puts an instance into backoff.
    let warm_up = |fault| {
        idp.set_fault(fault);
        let auth = idp.auth_builder().build().unwrap();
        async move { auth.warm_up().await }
    };
    assert_eq!(
        warm_up(Fault::ServerError).await,
        Err(ProviderError::Discovery(FetchError::Status(500)))
    );
    assert_eq!(
        warm_up(Fault::JwksServerError).await,
        Err(ProviderError::Jwks(FetchError::Status(500)))
    );
    assert_eq!(
        warm_up(Fault::NoJwksUriInDiscovery).await,
        Err(ProviderError::NoJwksUri)
    );
    assert!(matches!(
        warm_up(Fault::MalformedJwks).await,
        Err(ProviderError::Jwks(FetchError::Invalid(_)))
    ));
    assert!(matches!(
        warm_up(Fault::EmptyJwks).await,
        Err(ProviderError::NoUsableKeys(_))
    ));
    assert_eq!(
        warm_up(Fault::HugeJwks).await,
        Err(ProviderError::Jwks(FetchError::TooLarge))
    );
    idp.set_fault(Fault::Slow(Duration::from_secs(1)));
    let impatient = idp
        .auth_builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    assert_eq!(
        impatient.warm_up().await,
        Err(ProviderError::Discovery(FetchError::Timeout))
    );
    assert_eq!(warm_up(Fault::None).await, Ok(()));
}

#[actix_web::test]
async fn a_failing_then_unreachable_provider_is_a_503_until_it_comes_back() {
    let idp = MockIdp::start();
    idp.set_fault(Fault::ServerError);
    let auth = idp.auth_builder().build().unwrap();
    let app = app_for!(auth);
    let token = idp.token().sign();
    assert_eq!(call!(&app, &token).0, 503);
    assert_eq!(idp.requests().discovery, 1, "faulted requests are counted");

    // Down, once the backoff after that failure has passed (it began before the answer): the
    // next attempt finds no provider.
    idp.stop();
    actix_web::rt::time::sleep(fetch_backoff(1)).await;
    assert_eq!(call!(&app, &token).0, 503);
    assert_eq!(idp.requests().discovery, 1, "nothing reached the provider");

    // Back and fixed: after the doubled backoff, the next request loads the keys.
    idp.restart();
    idp.set_fault(Fault::None);
    actix_web::rt::time::sleep(fetch_backoff(2)).await;
    assert_eq!(call!(&app, &token), (200, TEST_SUBJECT.to_owned()));
    assert_eq!(
        (idp.requests().discovery, idp.requests().jwks),
        (2, 1),
        "one attempt once it came back"
    );
}

#[actix_web::test]
async fn a_held_key_set_answers_the_keys_of_its_arrival_once_released() {
    let idp = MockIdp::start();
    idp.set_published([TestKey::Rs256]);
    let hold = idp.hold_key_set();
    let held = fetch_json(idp.jwks_uri());
    let meanwhile = async {
        while hold.waiting() == 0 {
            actix_web::rt::time::sleep(Duration::from_millis(10)).await;
        }
        // Published while the request waits: not in its answer.
        idp.publish(TestKey::Rsa2);
        // Only the key set is held.
        assert_eq!(fetch(idp.discovery_url()).await.unwrap().0, 200);
        assert_eq!(hold.waiting(), 1);
        assert_eq!(idp.requests().jwks, 1, "counted at its arrival");
        hold.release();
    };
    let ((status, jwks), ()) = futures::future::join(held, meanwhile).await;
    assert_eq!((status, jwks), (200, TestKey::jwks([TestKey::Rs256])));
    // Released: the key set answers at once, with what is published now.
    assert_eq!(
        fetch_json(idp.jwks_uri()).await,
        (200, TestKey::jwks([TestKey::Rs256, TestKey::Rsa2]))
    );
}

#[test]
fn stop_refuses_connections_and_restart_accepts_them_on_the_same_port() {
    let idp = MockIdp::start();
    let port = idp.port();
    assert!(idp.is_running());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());

    idp.stop();
    assert!(!idp.is_running());
    assert!(refused(port));
    idp.stop();

    idp.restart();
    assert!(idp.is_running());
    assert_eq!(idp.port(), port);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    idp.restart();

    drop(idp);
    assert!(refused(port), "dropping the provider stops it");
}

#[actix_web::test]
async fn a_restarted_provider_serves_the_same_issuer_and_keys() {
    let idp = MockIdp::start();
    idp.rotate();
    idp.stop();
    assert!(fetch(idp.discovery_url()).await.is_err());
    let auth = idp.auth_builder().build().unwrap();
    assert!(matches!(
        auth.warm_up().await,
        Err(ProviderError::Discovery(FetchError::Transport(_)))
    ));

    idp.restart();
    let auth = idp.auth_builder().build().unwrap();
    let app = app_for!(auth);
    assert_eq!(call!(&app, &idp.token().sign()).0, 200);
    assert_eq!(
        fetch_json(idp.discovery_url()).await.1["issuer"],
        idp.issuer()
    );
}

#[actix_web::test]
async fn counters_count_every_request() {
    let idp = MockIdp::start();
    assert_eq!(idp.requests(), RequestCounts::default());
    fetch(idp.discovery_url()).await.unwrap();
    fetch(idp.jwks_uri()).await.unwrap();
    fetch(idp.jwks_uri()).await.unwrap();
    fetch(&idp.url("/token")).await.unwrap();
    fetch(&idp.url("/device")).await.unwrap();
    fetch(&idp.url("/device")).await.unwrap();
    fetch(&idp.url("/userinfo")).await.unwrap();
    fetch(&idp.url("/elsewhere")).await.unwrap();
    assert_eq!(
        idp.requests(),
        RequestCounts {
            discovery: 1,
            jwks: 2,
            token: 1,
            device: 2,
            userinfo: 1,
            total: 8
        }
    );
    idp.reset_counts();
    assert_eq!(idp.requests(), RequestCounts::default());

    let auth = idp.auth_builder().build().unwrap();
    let app = app_for!(auth);
    for _ in 0..3 {
        assert_eq!(call!(&app, &idp.token().sign()).0, 200);
    }
    let counts = idp.requests();
    assert_eq!((counts.discovery, counts.jwks, counts.total), (1, 1, 2));
}

#[test]
fn providers_are_independent_and_debuggable() {
    let a = MockIdp::start();
    let b = MockIdp::start();
    assert_ne!(a.port(), b.port());
    a.rotate();
    assert_ne!(a.published_kids(), b.published_kids());
    assert_eq!(b.signer(), TestKey::Rs256);
    let shown = format!("{a:?}");
    assert!(
        shown.contains(a.issuer()) && shown.contains("rsa2-RS256"),
        "{shown}"
    );
}

#[actix_web::test]
async fn a_slow_key_set_delays_only_the_key_set() {
    let idp = MockIdp::start();
    idp.set_answer(GrantEndpoint::Token, 200, json!({"access_token": "at"}));
    idp.set_fault(Fault::SlowJwks(Duration::from_secs(2)));
    assert_eq!(idp.fault(), Fault::SlowJwks(Duration::from_secs(2)));
    // The other endpoints answer well before the delay would have ended.
    let started = Instant::now();
    assert_eq!(fetch(idp.discovery_url()).await.unwrap().0, 200);
    assert_eq!(fetch(&idp.url("/token")).await.unwrap().0, 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    let impatient = idp
        .auth_builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    assert_eq!(
        impatient.warm_up().await,
        Err(ProviderError::Jwks(FetchError::Timeout)),
        "the discovery document loaded, the key set timed out"
    );
    let started = Instant::now();
    let (status, body) = fetch(idp.jwks_uri()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(status, 200, "after the delay, the key set is served");
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        TestKey::jwks(idp.published())
    );
}

#[actix_web::test]
async fn a_slow_grant_endpoint_delays_only_the_grant_endpoints() {
    let idp = MockIdp::start();
    idp.set_answer(
        GrantEndpoint::Token,
        400,
        json!({"error": "authorization_pending"}),
    );
    idp.set_fault(Fault::SlowGrant(Duration::from_millis(1500)));
    let started = Instant::now();
    assert_eq!(fetch(idp.discovery_url()).await.unwrap().0, 200);
    assert_eq!(fetch(idp.jwks_uri()).await.unwrap().0, 200);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let (status, body) = fetch(&idp.url("/token")).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(1500));
    assert_eq!(
        (status, serde_json::from_slice::<Value>(&body).unwrap()),
        (400, json!({"error": "authorization_pending"})),
        "after the delay, the scripted answer"
    );
    assert_eq!(idp.requests().token, 1);
}

#[actix_web::test]
async fn a_grant_server_error_is_a_proxy_page_from_the_grant_endpoints() {
    let idp = MockIdp::start();
    idp.set_answer(GrantEndpoint::Token, 200, json!({"access_token": "at"}));
    idp.set_fault(Fault::GrantServerError);
    for endpoint in ["/token", "/device", "/userinfo"] {
        let (status, body) = fetch(&idp.url(endpoint)).await.unwrap();
        assert_eq!(status, 503, "{endpoint}");
        assert!(serde_json::from_slice::<Value>(&body).is_err(), "not JSON");
        assert!(
            String::from_utf8_lossy(&body).contains("503 Service"),
            "{endpoint}"
        );
    }
    // Validation is unaffected: discovery and the key set are served.
    let auth = idp.auth_builder().build().unwrap();
    let app = app_for!(auth);
    assert_eq!(call!(&app, &idp.token().sign()).0, 200);

    idp.set_fault(Fault::None);
    assert_eq!(
        fetch_json(&idp.url("/token")).await,
        (200, json!({"access_token": "at"}))
    );
    let counts = idp.requests();
    assert_eq!((counts.token, counts.device, counts.userinfo), (2, 1, 1));
}
