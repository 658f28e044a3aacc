//! The application under load in the HTTP load benchmark (`tests/load/run.sh`, see
//! `BENCHMARKS.md`).
//!
//! ```text
//! cargo run --release --example bench_app -- --discovery-url URL [--bind ADDR] [--workers N]
//! ```
//!
//! It protects its routes with the provider at `URL` (in the benchmark the `mock_idp` example),
//! with client id and audience [`TEST_AUDIENCE`] and every other option at its default. When it
//! listens it prints one JSON line, `{"url": "http://127.0.0.1:PORT", "pid": …}`. Routes, each
//! answering a short `text/plain` body:
//!
//! | route | protection |
//! |---|---|
//! | `GET /public` | none |
//! | `GET /protected` | `#[auth::required]` |
//! | `GET /admin` | `#[auth::required(claims = {"groups": ["admins"]}, scopes = "admin")]` |
//! | `GET /baseline` | [`BaselineToken`], a minimal hand-written extractor: `jsonwebtoken::decode` with one pre-parsed RS256 key, checking signature, `exp`, `iss` and `aud` on every request |
//! | `GET /baseline-cached` | [`CachedBaselineToken`], the same with a cache of verified tokens |
//!
//! The baseline is the floor the library has to beat: it verifies every request and has no
//! cache, no key set, no `kid` lookup, no key refresh and no claims model. The cached baseline
//! is the floor of a cache hit: a lookup and a clock read, and nothing else.
//!
//! `--cooldown SECONDS` (`jwks_refetch_cooldown`) and `--token-cache-capacity N` change those two
//! options, for experiments and profiles; the benchmark itself runs with neither.

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error;
use std::future::{Ready, ready};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Write as _;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{App, FromRequest, HttpRequest, HttpResponse, HttpServer, Responder, get, web};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, jwk::Jwk};
use oidc_actix::testing::{TEST_AUDIENCE, TestKey};
use oidc_actix::{IdToken, OidcAuth, auth};
use serde::Deserialize;
use serde_json::json;

const DISCOVERY_SUFFIX: &str = "/.well-known/openid-configuration";

#[get("/public")]
async fn public() -> impl Responder {
    // Built like the protected routes' bodies, so that only the protection differs. A literal
    // argument would be folded into the format string at compile time (no formatting at run
    // time, unlike the protected routes' `token.sub`): `black_box` keeps it a runtime value.
    HttpResponse::Ok().body(format!("hello {}", std::hint::black_box("anonymous")))
}

#[get("/protected")]
#[auth::required]
async fn protected(token: IdToken) -> impl Responder {
    HttpResponse::Ok().body(format!(
        "hello {}",
        token.sub.as_deref().unwrap_or_default()
    ))
}

#[get("/admin")]
#[auth::required(claims = {"groups": ["admins"]}, scopes = "admin")]
async fn admin(token: IdToken) -> impl Responder {
    HttpResponse::Ok().body(format!(
        "hello {}",
        token.sub.as_deref().unwrap_or_default()
    ))
}

#[get("/baseline")]
async fn hand_written(token: BaselineToken) -> impl Responder {
    HttpResponse::Ok().body(format!("hello {}", token.sub))
}

#[get("/baseline-cached")]
async fn hand_written_cached(token: CachedBaselineToken) -> impl Responder {
    HttpResponse::Ok().body(format!("hello {}", token.sub))
}

/// The one key and the validation rules of the hand-written extractor, built once.
struct Baseline {
    key: DecodingKey,
    validation: Validation,
}

impl Baseline {
    fn new(issuer: &str) -> Result<Self, Box<dyn Error>> {
        // The key the mock provider signs with, parsed once from its public JWK.
        let jwk: Jwk = serde_json::from_value(TestKey::Rs256.public_jwk())?;
        let key = DecodingKey::from_jwk(&jwk)?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[TEST_AUDIENCE]);
        Ok(Self { key, validation })
    }
}

#[derive(Deserialize)]
struct BaselineClaims {
    sub: String,
}

/// A minimal bearer-token extractor written directly against `jsonwebtoken`.
struct BaselineToken {
    sub: String,
}

impl FromRequest for BaselineToken {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let unauthorized = || actix_web::error::ErrorUnauthorized("invalid token");
        let Some(baseline) = req.app_data::<web::Data<Baseline>>() else {
            return ready(Err(actix_web::error::ErrorInternalServerError(
                "no baseline",
            )));
        };
        let token = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        ready(match token {
            Some(token) => decode::<BaselineClaims>(token, &baseline.key, &baseline.validation)
                .map(|data| BaselineToken {
                    sub: data.claims.sub,
                })
                .map_err(|_| unauthorized()),
            None => Err(unauthorized()),
        })
    }
}

/// [`BaselineToken`] with the cache a hand-written extractor would add: per worker thread, the
/// verified tokens by their text, each until its `exp`. Its cache hit is the leanest there is
/// (a hash of the signature's tail, one comparison, one clock read): no key-rotation check, no
/// route policy, no claims model, and the `Authorization` header read as `Bearer ` + token only.
struct CachedBaselineToken {
    sub: Rc<str>,
}

#[derive(Deserialize)]
struct ExpiringClaims {
    sub: String,
    exp: u64,
}

/// Tokens at most per worker thread; a full cache is emptied (a bound, not a policy).
const CACHED_BASELINE_CAPACITY: usize = 2048;

/// Hashes a token by the last 8 bytes of its signature: only verified tokens are inserted.
#[derive(Default)]
struct SignatureTail(u64);

impl Hasher for SignatureTail {
    fn write(&mut self, bytes: &[u8]) {
        let mut word = [0u8; 8];
        let tail = &bytes[bytes.len().saturating_sub(8)..];
        word[..tail.len()].copy_from_slice(tail);
        self.0 = (self.0 ^ u64::from_le_bytes(word)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type VerifiedTokens = HashMap<Box<[u8]>, (u64, Rc<str>), BuildHasherDefault<SignatureTail>>;

thread_local! {
    static VERIFIED: RefCell<VerifiedTokens> = RefCell::default();
}

impl FromRequest for CachedBaselineToken {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(cached_baseline(req))
    }
}

fn cached_baseline(req: &HttpRequest) -> Result<CachedBaselineToken, actix_web::Error> {
    let unauthorized = || actix_web::error::ErrorUnauthorized("invalid token");
    let baseline = req
        .app_data::<web::Data<Baseline>>()
        .ok_or_else(|| actix_web::error::ErrorInternalServerError("no baseline"))?;
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "))
        .ok_or_else(unauthorized)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(u64::MAX, |since| since.as_secs());
    let hit = VERIFIED.with_borrow(|verified| {
        let (exp, sub) = verified.get(token)?;
        (now < *exp).then(|| Rc::clone(sub))
    });
    if let Some(sub) = hit {
        return Ok(CachedBaselineToken { sub });
    }
    let text = std::str::from_utf8(token).map_err(|_| unauthorized())?;
    let claims = decode::<ExpiringClaims>(text, &baseline.key, &baseline.validation)
        .map_err(|_| unauthorized())?
        .claims;
    let sub: Rc<str> = claims.sub.into();
    VERIFIED.with_borrow_mut(|verified| {
        if verified.len() >= CACHED_BASELINE_CAPACITY {
            verified.clear();
        }
        verified.insert(token.into(), (claims.exp, Rc::clone(&sub)));
    });
    Ok(CachedBaselineToken { sub })
}

struct Options {
    discovery_url: String,
    bind: String,
    workers: Option<usize>,
    cooldown: Option<Duration>,
    cache_capacity: Option<usize>,
}

fn usage() -> String {
    "usage: bench_app --discovery-url URL [--bind ADDR (default 127.0.0.1:0)] [--workers N] \
     [--cooldown SECONDS] [--token-cache-capacity N] (both default to the library's defaults; \
     for experiments and profiles only)"
        .to_owned()
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        discovery_url: String::new(),
        bind: "127.0.0.1:0".to_owned(),
        workers: None,
        cooldown: None,
        cache_capacity: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--discovery-url" => options.discovery_url = value()?,
            "--bind" => options.bind = value()?,
            "--workers" => {
                options.workers = Some(value()?.parse().map_err(|e| format!("--workers: {e}"))?)
            }
            "--cooldown" => {
                let seconds: f64 = value()?.parse().map_err(|e| format!("--cooldown: {e}"))?;
                options.cooldown = Some(Duration::from_secs_f64(seconds));
            }
            "--token-cache-capacity" => {
                options.cache_capacity = Some(
                    value()?
                        .parse()
                        .map_err(|e| format!("--token-cache-capacity: {e}"))?,
                )
            }
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other:?}\n{}", usage())),
        }
    }
    if options.discovery_url.is_empty() {
        return Err(usage());
    }
    Ok(options)
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let options = options()?;
    let issuer = options
        .discovery_url
        .strip_suffix(DISCOVERY_SUFFIX)
        .ok_or_else(|| format!("the discovery URL must end in {DISCOVERY_SUFFIX}"))?;
    let rules = web::Data::new(Baseline::new(issuer)?);
    let mut builder = OidcAuth::builder()
        .client_id(TEST_AUDIENCE)
        .discovery_url(options.discovery_url.as_str())
        .audience(TEST_AUDIENCE);
    if let Some(cooldown) = options.cooldown {
        builder = builder.jwks_refetch_cooldown(cooldown);
    }
    if let Some(capacity) = options.cache_capacity {
        builder = builder.token_cache_capacity(capacity);
    }
    // No warm-up: the first requests load discovery and keys (the cold-start scenario).
    let auth = builder.build()?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(auth.clone())
            .app_data(rules.clone())
            .service(public)
            .service(protected)
            // Right after `/protected`: actix tries the routes in order, and each route passed
            // over costs a request ~0.25 % (callgrind), so the two cache hits compared pay
            // nearly the same routing.
            .service(hand_written_cached)
            .service(admin)
            .service(hand_written)
    });
    let server = match options.workers {
        Some(workers) => server.workers(workers),
        None => server,
    }
    .bind(options.bind.as_str())?;
    let url = format!("http://{}", server.addrs()[0]);
    println!("{}", json!({ "url": url, "pid": std::process::id() }));
    std::io::stdout().flush()?;
    server.run().await?;
    Ok(())
}
