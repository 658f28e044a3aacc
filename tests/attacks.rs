//! The attacks of issue 5, one test each, named for the attack: forged, confused, oversized,
//! malformed and replayed input against bearer-token validation and the auth routes.
//!
//! Every test asserts what the attacker gets back (the exact 4xx, the JSON `detail`, the RFC 6750
//! challenge where one applies, never the token echoed) and what the attack cost the identity
//! provider, counted by the in-process [`MockIdp`]: nothing at all for what a fresher key set
//! could not fix, and at most one key-set fetch per `jwks_refetch_cooldown` for unknown `kid`s.
//! A panic in a handler fails the test that caused it; over real HTTP, the server is asked again
//! after each attack to show it still serves.
//!
//! The code exchange with a tampered PKCE verifier needs a provider that checks PKCE: the part
//! that reaches the provider is in `tests/e2e_attacks.rs` (npm `oidc-provider`); the part that
//! must never reach it is here.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{
    AUTHORIZATION, CONTENT_TYPE, HeaderValue, LOCATION, WWW_AUTHENTICATE,
};
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use actix_web::{App, HttpResponse, HttpServer, web};
use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use futures::future::join_all;
use oidc_actix::testing::{GrantEndpoint, MockIdp, RequestCounts, TestKey};
use oidc_actix::{
    AuthError, Authenticated, ClaimConstraints, IdToken, OidcAuth, Policy, RedirectAllowList,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

// ------------------------------------------------------------------------------------------------
// The application under attack.

async fn whoami(token: IdToken) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "sub": token.sub }))
}

/// Hands the whole payload back, so a token that gets here had a payload the application can read.
async fn claims(token: IdToken) -> HttpResponse {
    HttpResponse::Ok().json(token.payload())
}

async fn maybe(token: Option<IdToken>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "authenticated": token.is_some() }))
}

/// An application claims type that reads one claim and ignores the rest, as most do.
#[derive(Deserialize)]
struct Tenant {
    #[serde(default)]
    tenant: Option<String>,
}

async fn tenant(token: IdToken<Tenant>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "tenant": token.tenant, "payload": token.payload() }))
}

fn admins_only() -> Policy {
    Policy::authenticated().with_claims(ClaimConstraints::new().require("groups", ["admins"]))
}

async fn admins(auth: Authenticated) -> Result<HttpResponse, AuthError> {
    let token = auth.authorize(&admins_only())?;
    Ok(HttpResponse::Ok().json(json!({ "groups": token.payload().get("groups") })))
}

async fn tenant_admins(auth: Authenticated<Tenant>) -> Result<HttpResponse, AuthError> {
    let token = auth.authorize(&admins_only())?;
    Ok(HttpResponse::Ok().json(json!({ "groups": token.payload().get("groups") })))
}

fn attacked_app(
    auth: OidcAuth,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .configure(auth.routes("/api"))
        .route("/whoami", web::get().to(whoami))
        .route("/claims", web::get().to(claims))
        .route("/maybe", web::get().to(maybe))
        .route("/tenant", web::get().to(tenant))
        .route("/admins", web::get().to(admins))
        .route("/tenant-admins", web::get().to(tenant_admins))
}

/// What came back, read once.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    content_type: Option<String>,
    location: Option<String>,
    set_cookie: bool,
    text: String,
    json: Value,
}

impl Answer {
    async fn read(response: ServiceResponse) -> Self {
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v: &HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        let (challenge, content_type, location) = (
            header(WWW_AUTHENTICATE),
            header(CONTENT_TYPE),
            header(LOCATION),
        );
        let set_cookie = response.headers().contains_key("set-cookie");
        let status = response.status();
        let body = read_body(response).await;
        Self {
            status,
            challenge,
            content_type,
            location,
            set_cookie,
            text: String::from_utf8_lossy(&body).into_owned(),
            json: serde_json::from_slice(&body).unwrap_or(Value::Null),
        }
    }

    fn detail(&self) -> &str {
        self.json["detail"].as_str().unwrap_or_default()
    }
}

trait TestService:
    Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>
{
}

impl<S> TestService for S where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>
{
}

async fn call(app: &impl TestService, request: TestRequest) -> Answer {
    Answer::read(call_service(app, request.to_request()).await).await
}

/// `GET path` with these `Authorization` header values (raw bytes, as many as given).
async fn get_with(app: &impl TestService, path: &str, authorization: &[&[u8]]) -> Answer {
    let mut request = TestRequest::get().uri(path);
    for value in authorization {
        let value = HeaderValue::from_bytes(value)
            .unwrap_or_else(|e| panic!("not a header value the http crate sends: {e}"));
        request = request.append_header((AUTHORIZATION, value));
    }
    call(app, request).await
}

/// `GET path` with `Authorization: Bearer <token>`.
async fn bearer(app: &impl TestService, path: &str, token: &str) -> Answer {
    get_with(app, path, &[format!("Bearer {token}").as_bytes()]).await
}

/// The attacker learns nothing from the answer it did not send: no part of the token (its
/// segments are long enough to be recognisable) in the body or the challenge.
fn assert_no_echo(answer: &Answer, token: &str, case: &str) {
    let challenge = answer.challenge.as_deref().unwrap_or_default();
    for part in std::iter::once(token).chain(token.split('.').filter(|s| s.len() >= 24)) {
        assert!(
            !answer.text.contains(part) && !challenge.contains(part),
            "{case}: the answer echoes the token: {} / {challenge}",
            answer.text
        );
    }
}

/// 401 `Invalid token: <why>` as JSON, with the RFC 6750 §3.1 `invalid_token` challenge, and
/// nothing of the token echoed.
fn assert_invalid_token(answer: &Answer, why: &str, token: &str, case: &str) {
    assert_eq!(
        answer.status,
        StatusCode::UNAUTHORIZED,
        "{case}: {answer:?}"
    );
    assert_eq!(
        answer.detail(),
        format!("Invalid token: {why}"),
        "{case}: {answer:?}"
    );
    assert_eq!(
        answer.content_type.as_deref(),
        Some("application/json"),
        "{case}"
    );
    // RFC 6750 allows no `"` or `\` inside the quoted description.
    let description: String = why.chars().filter(|c| !matches!(c, '"' | '\\')).collect();
    assert_eq!(
        answer.challenge.as_deref(),
        Some(
            format!("Bearer error=\"invalid_token\", error_description=\"{description}\"").as_str()
        ),
        "{case}"
    );
    assert_no_echo(answer, token, case);
}

/// 401 `Not authenticated` with the bare `Bearer` challenge (RFC 6750 §3: no error code when the
/// request carried no credentials).
fn assert_not_authenticated(answer: &Answer, case: &str) {
    assert_eq!(
        answer.status,
        StatusCode::UNAUTHORIZED,
        "{case}: {answer:?}"
    );
    assert_eq!(answer.detail(), "Not authenticated", "{case}");
    assert_eq!(answer.challenge.as_deref(), Some("Bearer"), "{case}");
}

/// A 400 of the auth routes: JSON `detail`, no redirect.
fn assert_bad_request(answer: &Answer, detail: &str, case: &str) {
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{case}: {answer:?}");
    assert_eq!(answer.detail(), detail, "{case}");
    assert_eq!(
        answer.location, None,
        "{case}: a refused request redirects nowhere"
    );
}

/// The provider saw nothing since `before`.
fn assert_provider_untouched(idp: &MockIdp, before: RequestCounts, attack: &str) {
    assert_eq!(
        idp.requests(),
        before,
        "{attack} must cost the provider no request"
    );
}

/// An `OidcAuth` for `idp` with its keys loaded, and the provider's counts after loading them.
async fn warm(idp: &MockIdp) -> (OidcAuth, RequestCounts) {
    let auth = idp.auth_builder().build().expect("valid configuration");
    auth.warm_up()
        .await
        .expect("the mock provider serves its keys");
    (auth, idp.requests())
}

// ------------------------------------------------------------------------------------------------
// Hand-made tokens: exactly these header and payload bytes, for shapes `TokenBuilder` will not
// produce (duplicate members, deep nesting, bytes that are not UTF-8).

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn jwt_algorithm(key: TestKey) -> jsonwebtoken::Algorithm {
    key.algorithm()
        .name()
        .parse()
        .expect("jsonwebtoken knows every algorithm of the test kit")
}

fn encoding_key(key: TestKey) -> jsonwebtoken::EncodingKey {
    let der = key.private_key_der();
    match key {
        TestKey::Es256 | TestKey::Es384 => jsonwebtoken::EncodingKey::from_ec_der(der),
        TestKey::EdDsa => jsonwebtoken::EncodingKey::from_ed_der(der),
        _ => jsonwebtoken::EncodingKey::from_rsa_der(der),
    }
}

/// A compact JWS over exactly `header` and `payload`, signed by `key` (which the provider
/// publishes, so the signature verifies and whatever is rejected is rejected for its content).
fn signed(header: &[u8], payload: &[u8], key: TestKey) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature =
        jsonwebtoken::crypto::sign(input.as_bytes(), &encoding_key(key), jwt_algorithm(key))
            .expect("the test keys sign");
    format!("{input}.{signature}")
}

/// A compact JWS MACed with `secret` under an HMAC `alg`.
fn hmac_signed(
    alg: jsonwebtoken::Algorithm,
    header: &Value,
    payload: &[u8],
    secret: &[u8],
) -> String {
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(payload));
    let signature = jsonwebtoken::EncodingKey::from_secret(secret)
        .and_then(|key| jsonwebtoken::crypto::sign(input.as_bytes(), &key, alg))
        .expect("HMAC signs with any key");
    format!("{input}.{signature}")
}

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

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

// ------------------------------------------------------------------------------------------------
// A real HTTP server, and a client that sends bytes no HTTP library would.

struct LiveServer {
    addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
}

impl LiveServer {
    /// The attacked application on `127.0.0.1`, one worker, on the test's runtime.
    fn start(auth: OidcAuth) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("a local address");
        let server = HttpServer::new(move || attacked_app(auth.clone()))
            .workers(1)
            .listen(listener)
            .expect("listen")
            .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self { addr, handle }
    }

    /// Sends `head` (everything up to and including the blank line) on a fresh connection.
    async fn send(&self, head: Vec<u8>) -> RawAnswer {
        let addr = self.addr;
        actix_web::rt::task::spawn_blocking(move || raw_exchange(addr, &head))
            .await
            .expect("the raw client thread does not panic")
    }

    /// `GET path` with a valid token must still work: the attack did not take the server down.
    async fn assert_still_serving(&self, token: &str, after: &str) {
        let answer = self
            .send(head_with_authorization(
                format!("Bearer {token}").as_bytes(),
            ))
            .await;
        assert_eq!(
            answer.status, 200,
            "the server stopped serving after {after}: {answer:?}"
        );
    }

    async fn stop(self) {
        self.handle.stop(false).await;
    }
}

#[derive(Debug)]
struct RawAnswer {
    /// 0 if the connection closed without a status line.
    status: u16,
    head: String,
    body: String,
}

impl RawAnswer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// Writes `request` from another thread while this one reads, so an answer sent before the
/// server read the whole request (a 431) is heard rather than lost in a write error.
fn raw_exchange(addr: SocketAddr, request: &[u8]) -> RawAnswer {
    let stream = TcpStream::connect(addr).expect("connect to the live server");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("set a read timeout");
    let mut writer = stream.try_clone().expect("clone the stream");
    let request = request.to_vec();
    let writing = std::thread::spawn(move || {
        // The server may close early (it refuses oversized heads); that is its right.
        let _ = writer.write_all(&request);
        let _ = writer.shutdown(Shutdown::Write);
    });
    let mut received = Vec::new();
    let mut reader = stream;
    let mut buffer = [0u8; 8192];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
        }
    }
    let _ = writing.join();
    let text = String::from_utf8_lossy(&received).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    RawAnswer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// A request head with one `Authorization` header made of these raw bytes.
fn head_with_authorization(value: &[u8]) -> Vec<u8> {
    let mut head =
        b"GET /whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: ".to_vec();
    head.extend_from_slice(value);
    head.extend_from_slice(b"\r\n\r\n");
    head
}

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
// Time, issuer, audience.

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
    let arrays = [
        (json!(["other", "more"]), "two other audiences"),
        (json!([]), "empty"),
        (json!([format!("{ours} ")]), "ours with a trailing space"),
        (json!([ours.to_uppercase()]), "ours in upper case"),
        (
            json!([format!("{ours}x"), format!("x{ours}")]),
            "ours as a prefix and a suffix",
        ),
        (json!([[ours]]), "ours nested in another array"),
        (json!([{ "aud": ours }]), "ours inside an object"),
        (json!([null, 1, true]), "no strings at all"),
        (
            json!(format!("other {ours}")),
            "ours inside a space-separated string",
        ),
        (
            json!(format!("other,{ours}")),
            "ours inside a comma-separated string",
        ),
    ];
    for (aud, case) in arrays {
        let token = idp.token().sub("admin").claim("aud", aud).sign();
        assert_invalid_token(
            &bearer(&app, "/whoami", &token).await,
            "wrong audience",
            &token,
            case,
        );
    }
    assert_provider_untouched(&idp, before, "a foreign audience");
}

// ------------------------------------------------------------------------------------------------
// Size, depth, duplicates, encoding.

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
        signed(header.as_bytes(), payload.as_bytes(), TestKey::Rs256)
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
        signed(header.as_bytes(), &payload, TestKey::Rs256)
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
    let token = signed(
        header_for(TestKey::Rs256).as_bytes(),
        payload.as_bytes(),
        TestKey::Rs256,
    );
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
        signed(header.as_bytes(), payload.as_bytes(), TestKey::Rs256)
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
        let token = signed(
            header.as_bytes(),
            &serde_json::to_vec(&claims).unwrap(),
            TestKey::Rs256,
        );
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
    let token = signed(
        header_for(TestKey::Rs256).as_bytes(),
        payload.as_bytes(),
        TestKey::Rs256,
    );
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
    let bad_kid = signed(bad_header, &payload, TestKey::Rs256);
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
        let token = signed(rs256.as_bytes(), &payload, TestKey::Rs256);
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
    let in_header = signed(header, &payload, TestKey::Rs256);
    let text = serde_json::to_string(&claims).unwrap();
    let in_payload = signed(
        header_for(TestKey::Rs256).as_bytes(),
        &[&text.as_bytes()[..text.len() - 1], b",\"x\":\"\xff\"}"].concat(),
        TestKey::Rs256,
    );
    for (token, case) in [
        (&in_header, "0xFF in an unread header member"),
        (&in_payload, "0xFF in an extra claim"),
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
}

// ------------------------------------------------------------------------------------------------
// The Authorization header's shape.

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

// ------------------------------------------------------------------------------------------------
// The login state.

const LOGIN: &str = "/api/auth/v2/login";
const CALLBACK: &str = "/api/auth/v2/callback";
const LOGOUT: &str = "/api/auth/v2/logout";
const TOKEN: &str = "/api/auth/v2/token";
const REDIRECT: &str = "http://localhost:53100/callback";

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn query_value(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Starts a login; the sealed state and the nonce the provider was given.
async fn start_login(app: &impl TestService) -> (String, String) {
    let answer = login(app, REDIRECT).await;
    assert_eq!(answer.status, StatusCode::FOUND, "{answer:?}");
    let location = answer.location.expect("a login redirects");
    (
        query_value(&location, "state").expect("a state"),
        query_value(&location, "nonce").expect("a nonce"),
    )
}

/// `GET login?redirect_uri=…`.
async fn login(app: &impl TestService, redirect_uri: &str) -> Answer {
    let query = format!("redirect_uri={}", urlencode(redirect_uri));
    call(app, TestRequest::get().uri(&format!("{LOGIN}?{query}"))).await
}

/// `GET logout?post_logout_redirect_uri=…`.
async fn logout(app: &impl TestService, after: &str) -> Answer {
    let query = format!("post_logout_redirect_uri={}", urlencode(after));
    call(app, TestRequest::get().uri(&format!("{LOGOUT}?{query}"))).await
}

async fn callback(app: &impl TestService, state: &str) -> Answer {
    let query = format!("code=c&state={}", urlencode(state));
    call(app, TestRequest::get().uri(&format!("{CALLBACK}?{query}"))).await
}

/// The token route with `code_verifier` = a sealed state, as py-oidc-auth-client sends it.
async fn exchange(app: &impl TestService, verifier: &str) -> Answer {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "c"),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    call(app, TestRequest::post().uri(TOKEN).set_form(form)).await
}

/// The provider's token answer, with an ID token for this login's nonce.
fn answer_login(idp: &MockIdp, nonce: &str) {
    let id_token = idp.token().claim("nonce", json!(nonce)).sign();
    idp.set_answer(
        GrantEndpoint::Token,
        200,
        json!({"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token}),
    );
}

/// `sealed` with the character at `index` replaced by another base64url character.
fn flip(sealed: &str, index: usize) -> String {
    let mut bytes = sealed.as_bytes().to_vec();
    bytes[index] = if bytes[index] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ASCII")
}

#[actix_web::test]
async fn a_forged_login_state_is_rejected_without_asking_the_provider() {
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(attacked_app(auth)).await;
    let (genuine, nonce) = start_login(&app).await;
    answer_login(&idp, &nonce);
    let body = genuine.strip_prefix("oa1.").expect("a sealed state");
    let random_body = URL_SAFE_NO_PAD.encode([0x5au8; 96]);
    let forgeries = [
        (
            "abc|http://evil.example/cb|verifier".to_owned(),
            "py-oidc-auth's clear format",
        ),
        ("oa1.".to_owned(), "the prefix alone"),
        ("oa1.AAAA".to_owned(), "shorter than a nonce"),
        (format!("oa1.{random_body}"), "the right shape, made up"),
        (format!("oa1.{body}A"), "one character longer"),
        (
            genuine[..genuine.len() - 1].to_owned(),
            "one character shorter",
        ),
        (flip(&genuine, 6), "a flipped nonce byte"),
        (
            flip(&genuine, genuine.len() / 2),
            "a flipped ciphertext byte",
        ),
        (flip(&genuine, genuine.len() - 3), "a flipped tag byte"),
        (format!("oa2.{body}"), "another format version"),
        (format!("oa1.{}", "A".repeat(20_000)), "20 kB"),
        (format!("oa1.{body}!"), "not base64url"),
    ];
    let before = idp.requests();
    for (state, case) in &forgeries {
        assert_bad_request(&callback(&app, state).await, "Invalid state", case);
        // At the token route only the sealed form stands in for a verifier (a plain one is the
        // client's own PKCE and goes to the provider, which checks it: see e2e_attacks).
        if state.starts_with("oa1.") {
            assert_bad_request(&exchange(&app, state).await, "Invalid state", case);
        }
    }
    assert_provider_untouched(&idp, before, "a forged state");
    assert_eq!(
        idp.last_request(GrantEndpoint::Token),
        None,
        "no code was exchanged"
    );
    // The genuine state was not used up by any of it.
    let answer = callback(&app, &genuine).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
}

#[actix_web::test]
async fn a_replayed_login_state_is_rejected() {
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(attacked_app(auth)).await;

    // Finished at the callback, then replayed at the callback and at the token route.
    let (state, nonce) = start_login(&app).await;
    answer_login(&idp, &nonce);
    let answer = callback(&app, &state).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let before = idp.requests();
    for _ in 0..5 {
        assert_bad_request(
            &callback(&app, &state).await,
            "Login state already used",
            "callback replay",
        );
        assert_bad_request(
            &exchange(&app, &state).await,
            "Login state already used",
            "token route replay",
        );
    }
    assert_provider_untouched(&idp, before, "a replayed state");

    // Finished at the token route, then replayed at both.
    let (state, _) = start_login(&app).await;
    let answer = exchange(&app, &state).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let before = idp.requests();
    assert_bad_request(
        &exchange(&app, &state).await,
        "Login state already used",
        "token route replay",
    );
    assert_bad_request(
        &callback(&app, &state).await,
        "Login state already used",
        "callback replay",
    );
    assert_provider_untouched(&idp, before, "a replayed state");

    // Two replays racing the first use: exactly one wins.
    let (state, nonce) = start_login(&app).await;
    answer_login(&idp, &nonce);
    let answers = join_all((0..8).map(|_| callback(&app, &state))).await;
    let won = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    assert_eq!(won, 1, "{answers:?}");
    for answer in answers.iter().filter(|a| a.status != StatusCode::OK) {
        assert_bad_request(answer, "Login state already used", "concurrent replay");
    }
}

#[actix_web::test]
async fn a_state_sealed_with_another_secret_is_rejected() {
    let idp = MockIdp::start();
    let ours = idp.auth_builder().state_secret("ours").build().unwrap();
    let theirs = idp.auth_builder().state_secret("theirs").build().unwrap();
    let (app, other) = (
        init_service(attacked_app(ours)).await,
        init_service(attacked_app(theirs)).await,
    );
    let (foreign, nonce) = start_login(&other).await;
    answer_login(&idp, &nonce);
    let before = idp.requests();
    assert_bad_request(&callback(&app, &foreign).await, "Invalid state", "callback");
    assert_bad_request(
        &exchange(&app, &foreign).await,
        "Invalid state",
        "token route",
    );
    assert_provider_untouched(&idp, before, "a state of another secret");
    // It is a genuine state, for the instance that sealed it.
    assert_eq!(callback(&other, &foreign).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn a_tampered_sealed_verifier_never_reaches_the_provider() {
    // The PKCE verifier travels sealed inside the state (py-oidc-auth-client sends the whole
    // state as `code_verifier`): tampering with it breaks the seal, here, before the provider.
    let idp = MockIdp::start();
    idp.set_answer(
        GrantEndpoint::Token,
        200,
        json!({"access_token": "at", "token_type": "Bearer"}),
    );
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(attacked_app(auth)).await;
    let (state, _) = start_login(&app).await;
    assert!(!state.contains('|'), "no clear verifier to edit");
    let before = idp.requests();
    for index in [4, 10, state.len() / 2, state.len() - 1] {
        assert_bad_request(
            &exchange(&app, &flip(&state, index)).await,
            "Invalid state",
            &format!("flipped at {index}"),
        );
    }
    assert_bad_request(
        &exchange(&app, &state[..state.len() - 8]).await,
        "Invalid state",
        "truncated",
    );
    assert_provider_untouched(&idp, before, "a tampered verifier");
    // The untouched state still works, and the verifier that goes upstream is not the state.
    assert_eq!(exchange(&app, &state).await.status, StatusCode::OK);
    let sent = idp
        .last_request(GrantEndpoint::Token)
        .expect("one exchange");
    let verifier = sent.field("code_verifier").expect("a verifier");
    assert!(!verifier.is_empty() && verifier != state);
}

// ------------------------------------------------------------------------------------------------
// Redirect targets.

/// Redirect URIs an attacker tries against an allow-list of loopback, the proxy's origin and one
/// exact partner URL.
fn evil_redirects() -> Vec<&'static str> {
    vec![
        "https://evil.example/cb",
        "http://localhost.evil.example/cb",
        "http://127.0.0.1.evil.example/cb",
        "http://[::1].evil.example/cb",
        "http://localhost@evil.example/cb",
        "http://localhost:80@evil.example/cb",
        "http://evil.example\\@localhost/cb",
        "http://localhost\\@evil.example/cb",
        "https://app.example.org.evil.example/cb",
        "https://app.example.org@evil.example/cb",
        "https://app.example.org:444/cb",
        "http://app.example.org/cb",
        "https://partner.example/cb/../evil",
        "https://partner.example/cb?next=https://evil.example",
        "https://partner.example/cb#@evil.example",
        "HTTPS://PARTNER.EXAMPLE/cb",
        "//evil.example/cb",
        "/\\evil.example/cb",
        "https:/evil.example/cb",
        "https:evil.example/cb",
        "javascript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "https://app.example.org/cb\r\nSet-Cookie: pwned=1",
        "https://app.example.org/cb\t",
        " https://app.example.org/cb",
        "http://localhost:1/cb\n",
    ]
}

fn guarded(idp: &MockIdp) -> OidcAuth {
    idp.auth_builder()
        .proxy("https://app.example.org")
        .redirect_allow_list(
            RedirectAllowList::new()
                .loopback()
                .same_origin_as_proxy()
                .exact("https://partner.example/cb"),
        )
        .post_logout_allow_list(
            RedirectAllowList::new()
                .same_origin_as_proxy()
                .exact("https://partner.example/bye"),
        )
        .build()
        .unwrap()
}

#[actix_web::test]
async fn a_redirect_uri_outside_the_allow_list_is_rejected_at_login() {
    let idp = MockIdp::start();
    let app = init_service(attacked_app(guarded(&idp))).await;
    for evil in evil_redirects() {
        let answer = login(&app, evil).await;
        assert_bad_request(&answer, "redirect_uri is not allowed", evil);
        assert!(!answer.set_cookie, "{evil}");
    }
    assert_provider_untouched(&idp, RequestCounts::default(), "a foreign redirect_uri");
    // The allowed ones go to the provider, with exactly that redirect_uri.
    for allowed in [
        "http://localhost:53100/callback",
        "http://127.0.0.1:1/cb",
        "https://app.example.org/cb",
        "https://partner.example/cb",
    ] {
        let answer = login(&app, allowed).await;
        assert_eq!(answer.status, StatusCode::FOUND, "{allowed}: {answer:?}");
        let location = answer.location.unwrap();
        assert!(location.starts_with(idp.issuer()), "{location}");
        assert_eq!(
            query_value(&location, "redirect_uri").as_deref(),
            Some(allowed)
        );
    }
    // Parameter pollution: the first redirect_uri is the one checked and the one sent on.
    let answer = call(
        &app,
        TestRequest::get().uri(&format!(
            "{LOGIN}?redirect_uri={}&redirect_uri={}",
            urlencode(REDIRECT),
            urlencode("https://evil.example/cb")
        )),
    )
    .await;
    let location = answer.location.unwrap();
    assert_eq!(
        query_value(&location, "redirect_uri").as_deref(),
        Some(REDIRECT)
    );
    assert!(!location.contains("evil.example"), "{location}");
    let answer = call(
        &app,
        TestRequest::get().uri(&format!(
            "{LOGIN}?redirect_uri={}&redirect_uri={}",
            urlencode("https://evil.example/cb"),
            urlencode(REDIRECT)
        )),
    )
    .await;
    assert_bad_request(&answer, "redirect_uri is not allowed", "evil first");
}

#[actix_web::test]
async fn a_redirect_uri_a_login_could_never_finish_is_refused_at_login() {
    // No allow-list: these reach the size and character checks (a configured list would
    // refuse them first). The sealed state carries the redirect URI, and the callback opens
    // no state above its bound: without these checks the user would log in at the provider
    // and come back to "Invalid state".
    let idp = MockIdp::start();
    let auth = idp.auth_builder().build().unwrap();
    let app = init_service(attacked_app(auth)).await;
    let base = "http://localhost:53100/callback?pad=";
    let at_bound = format!("{base}{}", "a".repeat(2048 - base.len()));
    let over_bound = format!("{at_bound}a");
    let refused = [
        (over_bound.clone(), "redirect_uri is too long", "2049 bytes"),
        (
            format!("{base}{}", "a".repeat(20_000)),
            "redirect_uri is too long",
            "20 kB",
        ),
        (
            format!("{REDIRECT}\r\nSet-Cookie: session=evil"),
            "redirect_uri is not a valid URI",
            "CR LF header injection",
        ),
        (
            format!("{REDIRECT}\u{0}"),
            "redirect_uri is not a valid URI",
            "a NUL byte",
        ),
        (
            format!("{REDIRECT}\u{7f}"),
            "redirect_uri is not a valid URI",
            "DEL",
        ),
        (
            format!("{REDIRECT}\u{85}"),
            "redirect_uri is not a valid URI",
            "a C1 control character",
        ),
    ];
    let before = idp.requests();
    for (redirect, detail, case) in &refused {
        let answer = login(&app, redirect).await;
        assert_bad_request(&answer, detail, case);
        assert!(!answer.set_cookie, "{case}");
    }
    assert_provider_untouched(&idp, before, "a redirect_uri no login could finish with");

    // At the bound the whole login goes through, and the provider gets that redirect_uri back.
    let answer = login(&app, &at_bound).await;
    assert_eq!(answer.status, StatusCode::FOUND, "{answer:?}");
    let location = answer.location.expect("a login redirects");
    assert_eq!(
        query_value(&location, "redirect_uri").as_deref(),
        Some(at_bound.as_str())
    );
    let state = query_value(&location, "state").expect("a state");
    answer_login(&idp, &query_value(&location, "nonce").expect("a nonce"));
    let answer = callback(&app, &state).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let sent = idp
        .last_request(GrantEndpoint::Token)
        .expect("a code exchange");
    assert_eq!(sent.field("redirect_uri"), Some(at_bound.as_str()));
}

/// The attacked app on a provider with or without an end-session endpoint (without one, logout
/// redirects to the caller's URI itself). Keep the provider for as long as the app.
async fn app_with_end_session(end_session: bool) -> (MockIdp, impl TestService) {
    let idp = MockIdp::start();
    if !end_session {
        idp.omit_from_discovery("end_session_endpoint");
    }
    let auth = idp.auth_builder().build().unwrap();
    (idp, init_service(attacked_app(auth)).await)
}

/// Every byte value, placed inside every parameter of every auth route: as a percent-encoded
/// raw byte and as the character U+00XX (UTF-8, percent-encoded). Whatever the route makes of
/// it, the answer is the route's own (a 4xx with a JSON `detail`, a redirect, or the upstream's
/// verdict), never a 500: the class of the logout bug above, searched for systematically.
#[actix_web::test]
async fn no_byte_in_any_auth_route_parameter_is_a_server_error() {
    /// Method, path, and each parameter with a plausible value.
    type Route = (
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str)],
    );
    const ROUTES: [Route; 5] = [
        (
            "GET",
            LOGIN,
            &[
                ("redirect_uri", REDIRECT),
                ("prompt", "login"),
                ("offline_access", "true"),
                ("scope", "openid profile"),
            ],
        ),
        (
            "GET",
            CALLBACK,
            &[
                ("code", "c"),
                ("state", "oa1.AAAA"),
                ("error", "access_denied"),
            ],
        ),
        (
            "GET",
            LOGOUT,
            &[
                ("post_logout_redirect_uri", REDIRECT),
                ("id_token_hint", "h"),
            ],
        ),
        (
            "POST",
            TOKEN,
            &[
                ("grant_type", "refresh_token"),
                ("code", "c"),
                ("redirect_uri", REDIRECT),
                ("code_verifier", "v"),
                ("refresh-token", "r"),
                ("device-code", "d"),
            ],
        ),
        ("POST", "/api/auth/v2/device", &[("scope", "openid")]),
    ];
    for end_session in [false, true] {
        let (_idp, app) = app_with_end_session(end_session).await;
        let mut requests = 0;
        for (method, path, params) in ROUTES {
            for (index, (name, _)) in params.iter().enumerate() {
                for byte in 0..=255u8 {
                    let utf8 = char::from(byte).to_string();
                    for spelled in [format!("%{byte:02X}"), urlencode(&utf8)] {
                        let body: Vec<String> = params
                            .iter()
                            .enumerate()
                            .map(|(i, (key, value))| {
                                let value = urlencode(value);
                                if i == index {
                                    format!("{key}={value}{spelled}{value}")
                                } else {
                                    format!("{key}={value}")
                                }
                            })
                            .collect();
                        let body = body.join("&");
                        let request = if method == "GET" {
                            TestRequest::get().uri(&format!("{path}?{body}"))
                        } else {
                            TestRequest::post()
                                .uri(path)
                                .insert_header((CONTENT_TYPE, "application/x-www-form-urlencoded"))
                                .set_payload(body.clone())
                        };
                        let answer = call(&app, request).await;
                        requests += 1;
                        let case =
                            format!("{method} {path} {name} with byte {byte:#04x} as {spelled}");
                        assert_ne!(
                            answer.status,
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "{case}: {answer:?}"
                        );
                        if answer.status.is_client_error() {
                            assert!(answer.json["detail"].is_string(), "{case}: {answer:?}");
                        }
                    }
                }
            }
        }
        assert_eq!(requests, 2 * 256 * 16, "every route, parameter and byte");
    }
}

#[actix_web::test]
async fn a_post_logout_redirect_uri_with_control_characters_is_refused() {
    // With the provider's end-session endpoint missing (or the provider down), logout
    // redirects to the caller's URI itself: it must be a 400, never a response that fails to
    // build (500) or a header split.
    for end_session in [false, true] {
        let (_idp, app) = app_with_end_session(end_session).await;
        for evil in [
            "http://localhost:53100/\r\nSet-Cookie: session=evil",
            "http://localhost:53100/\u{0}",
            "http://localhost:53100/\u{85}",
        ] {
            let answer = logout(&app, evil).await;
            let case = format!("{evil:?}, end-session endpoint: {end_session}");
            assert_bad_request(
                &answer,
                "post_logout_redirect_uri is not a valid URI",
                &case,
            );
            assert!(!answer.set_cookie, "{case}");
        }
        // A plain one still goes where it should.
        let answer = logout(&app, REDIRECT).await;
        assert_eq!(answer.status, StatusCode::FOUND, "{answer:?}");
        let location = answer.location.expect("a redirect");
        if end_session {
            assert_eq!(
                query_value(&location, "post_logout_redirect_uri").as_deref(),
                Some(REDIRECT)
            );
        } else {
            assert_eq!(location, REDIRECT);
        }
    }
}

#[actix_web::test]
async fn a_redirect_uri_outside_the_allow_list_is_rejected_at_logout() {
    let idp = MockIdp::start();
    let app = init_service(attacked_app(guarded(&idp))).await;
    let mut evil = evil_redirects();
    evil.extend([
        "https://partner.example/cb",
        "http://localhost:53100/callback",
    ]);
    for evil in evil {
        let answer = logout(&app, evil).await;
        assert_bad_request(&answer, "post_logout_redirect_uri is not allowed", evil);
    }
    assert_provider_untouched(
        &idp,
        RequestCounts::default(),
        "a foreign post_logout_redirect_uri",
    );
    for allowed in ["https://partner.example/bye", "https://app.example.org/"] {
        let answer = logout(&app, allowed).await;
        assert_eq!(answer.status, StatusCode::FOUND, "{allowed}");
        let location = answer.location.unwrap();
        assert_eq!(
            query_value(&location, "post_logout_redirect_uri").as_deref(),
            Some(allowed)
        );
    }
}

/// A provider whose redirect endpoints carry whitespace or control characters (misconfigured,
/// or hostile: a CR LF to split our response and set a cookie). Those endpoints count as
/// absent: login answers the missing endpoint's 502, logout falls back to the caller's URI,
/// and nothing of the value reaches a header; bearer tokens keep validating.
#[actix_web::test]
async fn provider_endpoints_with_control_characters_never_reach_a_header() {
    for suffix in ["\r\nSet-Cookie: pwned=1", "\u{0}", " x", "\u{85}"] {
        let idp = MockIdp::start();
        for member in ["authorization_endpoint", "end_session_endpoint"] {
            let value = format!("{}{suffix}", idp.url("/endpoint"));
            idp.set_discovery_member(member, json!(value));
        }
        let app = init_service(attacked_app(idp.auth_builder().build().unwrap())).await;

        let answer = login(&app, REDIRECT).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_GATEWAY,
            "{suffix:?}: {answer:?}"
        );
        assert_eq!(
            answer.detail(),
            "OIDC endpoint 'authorization_endpoint' not found in discovery."
        );
        assert!(
            answer.location.is_none() && !answer.set_cookie,
            "{answer:?}"
        );

        let answer = logout(&app, REDIRECT).await;
        assert_eq!(answer.status, StatusCode::FOUND, "{suffix:?}: {answer:?}");
        assert_eq!(answer.location.as_deref(), Some(REDIRECT));
        assert!(!answer.set_cookie, "{answer:?}");

        let token = idp.token().sub("alice").sign();
        assert_eq!(bearer(&app, "/whoami", &token).await.status, StatusCode::OK);
    }
}
