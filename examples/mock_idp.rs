//! The mock identity provider as a process of its own, for the load benchmark
//! (`tests/load/run.sh`, see `BENCHMARKS.md`).
//!
//! ```text
//! cargo run --release --example mock_idp -- --tokens DIR [--distinct N] [--forged N]
//! ```
//!
//! It starts [`MockIdp`] (discovery document and key set on a free port of `127.0.0.1`), writes
//! the benchmark's tokens into `DIR` (one per line; see [`TokenFiles`]), serves its request
//! counters on a second port (`GET /counts` answers `{"discovery": …, "jwks": …, "total": …}`),
//! and prints one JSON line when it is ready:
//! `{"issuer": …, "discovery_url": …, "admin_url": …, "minted": …, "mint_seconds": …}`.
//! It runs until it is killed, or with `--stdin-eof-stops` until its standard input closes (so
//! it does not outlive a benchmark script that dies).
//!
//! The private keys of `oidc_actix::testing` are public: this provider must only ever serve
//! tests and benchmarks on the loopback interface.

use std::error::Error;
use std::fs;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use actix_web::{App, HttpResponse, HttpServer, web};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oidc_actix::testing::{MockIdp, TestKey, TokenBuilder};
use serde_json::{Value, json};

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
}

struct Options {
    tokens: PathBuf,
    distinct: usize,
    forged: usize,
    stdin_eof_stops: bool,
}

fn usage() -> String {
    "usage: mock_idp --tokens DIR [--distinct N (default 1000)] [--forged N (default 1000)] \
     [--stdin-eof-stops]"
        .to_owned()
}

fn options() -> Result<Options, String> {
    let mut tokens = None;
    let (mut distinct, mut forged, mut stdin_eof_stops) = (1000, 1000, false);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--tokens" => tokens = Some(PathBuf::from(value()?)),
            "--distinct" => distinct = value()?.parse().map_err(|e| format!("--distinct: {e}"))?,
            "--forged" => forged = value()?.parse().map_err(|e| format!("--forged: {e}"))?,
            "--stdin-eof-stops" => stdin_eof_stops = true,
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other:?}\n{}", usage())),
        }
    }
    Ok(Options {
        tokens: tokens.ok_or_else(usage)?,
        distinct,
        forged,
        stdin_eof_stops,
    })
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
        Ok(match key {
            TestKey::Rs256 => Self::Rs256(RsaKeyPair::from_der(der)?),
            TestKey::Es256 => Self::Es256(EcdsaKeyPair::from_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                der,
            )?),
            other => return Err(format!("no fast signer for {other}").into()),
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

/// Mints every token file; returns how many tokens were written.
fn write_tokens(idp: &MockIdp, options: &Options) -> Result<usize, Box<dyn Error>> {
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
    Ok(single.len() + rs256.len() + es256.len() + forged.len())
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
    let admin = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/counts", web::get().to(counts))
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
            "minted": minted,
            "mint_seconds": (mint_seconds * 1000.0).round() / 1000.0,
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
