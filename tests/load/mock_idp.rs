//! The mock identity provider as a process of its own, for the load benchmark
//! (`tests/load/run.sh`, see `BENCHMARKS.md`) and the soak test (`tests/load/soak.sh`).
//!
//! ```text
//! cargo run --release --example mock_idp -- --tokens DIR [--distinct N] [--forged N]
//!     [--expired N] [--bad-signature N] [--alg-none N] [--expiring N --expiring-in SECS]
//!     [--warm N] [--rotation N] [--stdin-eof-stops]
//! ```
//!
//! It starts [`MockIdp`] (discovery document and key set on a free port of `127.0.0.1`), writes
//! the benchmark's tokens into `DIR` (one per line; see [`TokenFiles`]), serves its request
//! counters on a second port (`GET /counts` answers `{"discovery": …, "jwks": …, "total": …}`),
//! and prints one JSON line when it is ready:
//! `{"issuer": …, "discovery_url": …, "admin_url": …, "jwks_proxy_url": …, "minted": …,
//! "mint_seconds": …, "expiring_exp": …}`.
//! It runs until it is killed, or with `--stdin-eof-stops` until its standard input closes (so
//! it does not outlive a benchmark script that dies).
//!
//! The flags after `--forged` (all 0 by default, so the benchmark's files are unchanged) mint the
//! soak test's extra token files. The second port also serves the soak test's controls, all in
//! addition to `/counts`:
//!
//! | request | what |
//! |---|---|
//! | `GET /keys` | `{"published": [kid…], "signer": kid}` |
//! | `POST /keys/publish/{kid}`, `POST /keys/unpublish/{kid}` | change the key set; answer `{"published": [kid…], "at_us": …}` (404 for a `kid` no [`TestKey`] has) |
//! | `GET /jwks` | the provider's key set, fetched from it for each request (so its counters count it), and logged |
//! | `GET /jwks-log` | `{"now_us": …, "serves": [{"start_us", "end_us", "status", "kids"}…]}`: every `GET /jwks` above |
//!
//! Times are microseconds since the Unix epoch. An application configured with
//! `jwks_uri = jwks_proxy_url` fetches its keys through the logged `/jwks`, so the log tells which
//! key set it received and when: the soak test reconstructs from it which keys the application
//! held at any moment.
//!
//! The private keys of `oidc_actix::testing` are public: this provider must only ever serve
//! tests and benchmarks on the loopback interface.

use std::error::Error;
use std::fs;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_web::{App, HttpResponse, HttpServer, web};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oidc_actix::Algorithm;
use oidc_actix::testing::{MockIdp, TestKey, TokenBuilder};
use serde_json::{Value, json};

mod soak_shared;
use soak_shared::{lock, unix_us};

/// How long the minted tokens stay valid: longer than any benchmark run.
const TOKEN_LIFETIME_SECS: i64 = 6 * 3600;

/// The token files written into the `--tokens` directory, one token per line.
struct TokenFiles;

impl TokenFiles {
    /// One valid RS256 token, sent again and again (cache hits).
    const REUSED: &str = "rs256.txt";
    /// One valid RS256 token with `groups: ["admins"]` and the `admin` scope.
    const CLAIMS: &str = "claims.txt";
    /// One RS256 token naming a published `kid`, signed with an unpublished key.
    const BAD_SIGNATURE: &str = "badsig.txt";
    /// `--distinct` valid RS256 tokens, each with its own `sub` and `jti`.
    const DISTINCT_RS256: &str = "distinct-rs256.txt";
    /// `--distinct` valid ES256 tokens.
    const DISTINCT_ES256: &str = "distinct-es256.txt";
    /// `--forged` ES256 tokens, each naming a `kid` nobody publishes.
    const UNKNOWN_KID: &str = "unknown-kid.txt";
    /// `--expired` RS256 tokens whose `exp` passed an hour before minting (signature valid).
    const EXPIRED: &str = "expired.txt";
    /// `--bad-signature` RS256 tokens naming the published `kid` of [`TestKey::Rs256`], each
    /// signed with an unpublished key.
    const BAD_SIGNATURE_DISTINCT: &str = "bad-signature.txt";
    /// `--alg-none` unsecured tokens (`alg: none`, empty signature).
    const ALG_NONE: &str = "alg-none.txt";
    /// `--expiring` valid ES256 tokens, all expiring `--expiring-in` seconds after minting ended.
    const EXPIRING: &str = "expiring.txt";
    /// `--warm` valid ES256 tokens (`sub` `warm-…`), cheap to mint by the hundred thousand.
    const WARM: &str = "warm-es256.txt";
}

/// The keys the soak test rotates through (the order of [`MockIdp::rotate`]); `--rotation N`
/// writes `rotation-<kid>.txt` with `N` valid tokens signed by each.
const ROTATION_KEYS: [TestKey; 4] = [TestKey::Rs256, TestKey::Rsa2, TestKey::Rsa3, TestKey::Rsa4];

struct Options {
    tokens: PathBuf,
    distinct: usize,
    forged: usize,
    expired: usize,
    bad_signature: usize,
    alg_none: usize,
    expiring: usize,
    expiring_in: i64,
    warm: usize,
    rotation: usize,
    stdin_eof_stops: bool,
}

fn usage() -> String {
    "usage: mock_idp --tokens DIR [--distinct N (default 1000)] [--forged N (default 1000)] \
     [--expired N] [--bad-signature N] [--alg-none N] [--expiring N] \
     [--expiring-in SECS (default 120)] [--warm N] [--rotation N] [--stdin-eof-stops]"
        .to_owned()
}

fn options() -> Result<Options, String> {
    let mut tokens = None;
    let mut options = Options {
        tokens: PathBuf::new(),
        distinct: 1000,
        forged: 1000,
        expired: 0,
        bad_signature: 0,
        alg_none: 0,
        expiring: 0,
        expiring_in: 120,
        warm: 0,
        rotation: 0,
        stdin_eof_stops: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        fn number<T: std::str::FromStr>(flag: &str, value: String) -> Result<T, String>
        where
            T::Err: std::fmt::Display,
        {
            value.parse().map_err(|e| format!("{flag}: {e}"))
        }
        match flag.as_str() {
            "--tokens" => tokens = Some(PathBuf::from(value()?)),
            "--distinct" => options.distinct = number(&flag, value()?)?,
            "--forged" => options.forged = number(&flag, value()?)?,
            "--expired" => options.expired = number(&flag, value()?)?,
            "--bad-signature" => options.bad_signature = number(&flag, value()?)?,
            "--alg-none" => options.alg_none = number(&flag, value()?)?,
            "--expiring" => options.expiring = number(&flag, value()?)?,
            "--expiring-in" => options.expiring_in = number(&flag, value()?)?,
            "--warm" => options.warm = number(&flag, value()?)?,
            "--rotation" => options.rotation = number(&flag, value()?)?,
            "--stdin-eof-stops" => options.stdin_eof_stops = true,
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other:?}\n{}", usage())),
        }
    }
    options.tokens = tokens.ok_or_else(usage)?;
    Ok(options)
}

/// Signs the bulk of the tokens with a key parsed once. `TokenBuilder::sign` parses (and checks)
/// the private key for every token, which costs more than the signature itself; with a few
/// hundred thousand RS256 tokens to mint per run that matters.
enum FastSigner {
    Rs256(RsaKeyPair),
    Es256(EcdsaKeyPair),
}

impl FastSigner {
    fn new(key: TestKey) -> Result<Self, Box<dyn Error>> {
        let der = key.private_key_der();
        Ok(match key.algorithm() {
            Algorithm::RS256 => Self::Rs256(RsaKeyPair::from_der(der)?),
            Algorithm::ES256 => Self::Es256(EcdsaKeyPair::from_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                der,
            )?),
            _ => return Err(format!("no fast signer for {key}").into()),
        })
    }

    /// The token `builder` describes, with `kid` in its header, signed with this key.
    fn sign(&self, builder: &TokenBuilder, kid: &str) -> String {
        let alg = match self {
            Self::Rs256(_) => "RS256",
            Self::Es256(_) => "ES256",
        };
        let header = json!({"alg": alg, "typ": "JWT", "kid": kid});
        let encode = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
        let claims = Value::Object(builder.claims().clone());
        let input = format!("{}.{}", encode(&header), encode(&claims));
        let rng = SystemRandom::new();
        let signature = match self {
            Self::Rs256(key) => {
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut signature)
                    .map(|()| signature)
                    .ok()
            }
            Self::Es256(key) => key
                .sign(&rng, input.as_bytes())
                .map(|signature| signature.as_ref().to_vec())
                .ok(),
        }
        .expect("an embedded test key signs");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// Signs `count` tokens on every core; `make(i)` builds the `i`-th.
fn mint(count: usize, make: impl Fn(usize) -> String + Sync) -> Vec<String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = count.div_ceil(threads).max(1);
    let make = &make;
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..count)
            .step_by(chunk)
            .map(|start| {
                scope.spawn(move || {
                    (start..(start + chunk).min(count))
                        .map(make)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("a minting thread panicked"))
            .collect()
    })
}

fn write_lines(dir: &Path, name: &str, tokens: &[String]) -> std::io::Result<()> {
    let mut file = BufWriter::new(fs::File::create(dir.join(name))?);
    for token in tokens {
        writeln!(file, "{token}")?;
    }
    file.flush()
}

/// What [`write_tokens`] minted.
struct Minted {
    /// Tokens written.
    count: usize,
    /// The `exp` of the `--expiring` tokens (seconds since the epoch), if any were minted.
    expiring_exp: Option<i64>,
}

/// Mints every token file.
fn write_tokens(idp: &MockIdp, options: &Options) -> Result<Minted, Box<dyn Error>> {
    fs::create_dir_all(&options.tokens)?;
    let dir = options.tokens.as_path();
    let base = |sub: &str| -> TokenBuilder {
        idp.token()
            .sub(sub)
            .claim("jti", json!(format!("{sub}-jti")))
            .claim("email", json!(format!("{sub}@example.org")))
            .expires_in(TOKEN_LIFETIME_SECS)
    };
    let single = [
        (TokenFiles::REUSED, base("bench-user").sign()),
        (
            TokenFiles::CLAIMS,
            base("bench-admin")
                .scope("openid profile email admin")
                .claim("groups", json!(["admins", "users"]))
                .sign(),
        ),
        (
            TokenFiles::BAD_SIGNATURE,
            base("bench-forger").sign_with_unpublished_key(),
        ),
    ];
    for (name, token) in &single {
        write_lines(dir, name, std::slice::from_ref(token))?;
    }
    let (rs256_key, es256_key) = (
        FastSigner::new(TestKey::Rs256)?,
        FastSigner::new(TestKey::Es256)?,
    );
    // PKCS#1 v1.5 signatures are deterministic: the fast path must give `sign`'s token.
    let check = base("user-check");
    if rs256_key.sign(&check, TestKey::Rs256.kid()) != check.sign() {
        return Err("the fast RS256 signer disagrees with TokenBuilder::sign".into());
    }
    let user = |i: usize| base(&format!("user-{i:07}"));
    let rs256 = mint(options.distinct, |i| {
        rs256_key.sign(&user(i), TestKey::Rs256.kid())
    });
    write_lines(dir, TokenFiles::DISTINCT_RS256, &rs256)?;
    let es256 = mint(options.distinct, |i| {
        es256_key.sign(&user(i), TestKey::Es256.kid())
    });
    write_lines(dir, TokenFiles::DISTINCT_ES256, &es256)?;
    let forged = mint(options.forged, |i| {
        es256_key.sign(&user(i), &format!("forged-{i:07}"))
    });
    write_lines(dir, TokenFiles::UNKNOWN_KID, &forged)?;
    let mut count = single.len() + rs256.len() + es256.len() + forged.len();

    // The soak test's files: written only when asked for, so the benchmark's runs are unchanged.
    let mut write_if_asked = |name: &str, tokens: Vec<String>| -> std::io::Result<()> {
        count += tokens.len();
        if tokens.is_empty() {
            Ok(())
        } else {
            write_lines(dir, name, &tokens)
        }
    };
    write_if_asked(
        TokenFiles::EXPIRED,
        mint(options.expired, |i| {
            let expired = base(&format!("expired-{i:07}")).expires_in(-3600);
            rs256_key.sign(&expired, TestKey::Rs256.kid())
        }),
    )?;
    // `sign_with_unpublished_key` parses the forger's key for every token: keep this file small.
    write_if_asked(
        TokenFiles::BAD_SIGNATURE_DISTINCT,
        mint(options.bad_signature, |i| {
            base(&format!("forger-{i:07}")).sign_with_unpublished_key()
        }),
    )?;
    write_if_asked(
        TokenFiles::ALG_NONE,
        mint(options.alg_none, |i| {
            base(&format!("unsigned-{i:07}")).unsigned()
        }),
    )?;
    write_if_asked(
        TokenFiles::WARM,
        mint(options.warm, |i| {
            es256_key.sign(&base(&format!("warm-{i:07}")), TestKey::Es256.kid())
        }),
    )?;
    for key in ROTATION_KEYS.into_iter().filter(|_| options.rotation > 0) {
        let signer = FastSigner::new(key)?;
        let tokens = mint(options.rotation, |i| {
            signer.sign(&base(&format!("{}-{i:07}", key.kid())), key.kid())
        });
        write_if_asked(&format!("rotation-{}.txt", key.kid()), tokens)?;
    }
    // Last, so that `--expiring-in` counts from the end of minting (the run starts right after).
    let mut expiring_exp = None;
    if options.expiring > 0 {
        let exp = i64::try_from(unix_us() / 1_000_000)? + options.expiring_in;
        expiring_exp = Some(exp);
        write_if_asked(
            TokenFiles::EXPIRING,
            mint(options.expiring, |i| {
                let expiring = base(&format!("expiring-{i:07}")).claim("exp", json!(exp));
                es256_key.sign(&expiring, TestKey::Es256.kid())
            }),
        )?;
    }
    Ok(Minted {
        count,
        expiring_exp,
    })
}

/// One `GET /jwks` of the admin port: when it was asked, when its answer was ready, and the
/// `kid`s it carried.
struct JwksServe {
    start_us: u64,
    end_us: u64,
    status: u16,
    kids: Vec<String>,
}

/// Every [`JwksServe`] so far, in the order they finished.
#[derive(Default)]
struct JwksLog(Mutex<Vec<JwksServe>>);

/// The key set of the provider, fetched from it (so [`MockIdp::requests`] counts it) and logged.
async fn jwks(idp: web::Data<MockIdp>, log: web::Data<JwksLog>) -> HttpResponse {
    let start_us = unix_us();
    let fetched = async {
        let mut response = awc::Client::default()
            .get(idp.jwks_uri())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body = response.body().await.map_err(|e| e.to_string())?;
        Ok::<_, String>((response.status(), body))
    }
    .await;
    let (status, body) = match fetched {
        Ok(answer) => answer,
        Err(e) => {
            return HttpResponse::BadGateway().json(json!({"error": e}));
        }
    };
    let kids = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|document| {
            document["keys"].as_array().map(|keys| {
                keys.iter()
                    .filter_map(|key| key["kid"].as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default();
    // The answer is complete here; the application stores the set at the earliest when it has
    // read this body, which is what the soak test's oracle needs `end_us` to bound.
    lock(&log.0).push(JwksServe {
        start_us,
        end_us: unix_us(),
        status: status.as_u16(),
        kids,
    });
    HttpResponse::build(status)
        .content_type("application/json")
        .body(body)
}

async fn jwks_log(log: web::Data<JwksLog>) -> HttpResponse {
    // Read the clock under the lock: every serve that finished before `now_us` is listed.
    let serves = lock(&log.0);
    let now_us = unix_us();
    let serves: Vec<Value> = serves
        .iter()
        .map(|serve| {
            json!({
                "start_us": serve.start_us,
                "end_us": serve.end_us,
                "status": serve.status,
                "kids": serve.kids,
            })
        })
        .collect();
    HttpResponse::Ok().json(json!({"now_us": now_us, "serves": serves}))
}

async fn keys(idp: web::Data<MockIdp>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "published": idp.published_kids(),
        "signer": idp.signer().kid(),
    }))
}

/// `POST /keys/{publish|unpublish}/{kid}`.
async fn change_keys(idp: web::Data<MockIdp>, path: web::Path<(String, String)>) -> HttpResponse {
    let (action, kid) = path.into_inner();
    let Some(key) = TestKey::ALL.iter().copied().find(|key| key.kid() == kid) else {
        return HttpResponse::NotFound().json(json!({"error": format!("no test key {kid:?}")}));
    };
    match action.as_str() {
        "publish" => idp.publish(key),
        "unpublish" => {
            idp.unpublish(key.kid());
        }
        _ => return HttpResponse::NotFound().finish(),
    }
    HttpResponse::Ok().json(json!({
        "published": idp.published_kids(),
        "at_us": unix_us(),
    }))
}

async fn counts(idp: web::Data<MockIdp>) -> HttpResponse {
    let counts = idp.requests();
    HttpResponse::Ok().json(json!({
        "discovery": counts.discovery,
        "jwks": counts.jwks,
        "total": counts.total,
    }))
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let options = options()?;
    let idp = web::Data::from(Arc::new(MockIdp::start()));
    let began = Instant::now();
    let minted = write_tokens(&idp, &options)?;
    let mint_seconds = began.elapsed().as_secs_f64();
    let data = idp.clone();
    let log = web::Data::new(JwksLog::default());
    let admin = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(log.clone())
            .route("/counts", web::get().to(counts))
            .route("/keys", web::get().to(keys))
            .route("/keys/{action}/{kid}", web::post().to(change_keys))
            .route("/jwks", web::get().to(jwks))
            .route("/jwks-log", web::get().to(jwks_log))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))?;
    let admin_url = format!("http://{}", admin.addrs()[0]);
    let admin = admin.run();
    let handle = admin.handle();
    println!(
        "{}",
        json!({
            "issuer": idp.issuer(),
            "discovery_url": idp.discovery_url(),
            "admin_url": admin_url,
            "jwks_proxy_url": format!("{admin_url}/jwks"),
            "minted": minted.count,
            "mint_seconds": (mint_seconds * 1000.0).round() / 1000.0,
            "expiring_exp": minted.expiring_exp,
        })
    );
    std::io::stdout().flush()?;
    if options.stdin_eof_stops {
        // Stop when the benchmark script goes away, even if it could not kill us.
        std::thread::spawn(move || {
            let mut sink = [0u8; 64];
            while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
            actix_web::rt::System::new().block_on(handle.stop(false));
        });
    }
    admin.await?;
    idp.stop();
    Ok(())
}
