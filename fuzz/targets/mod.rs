//! The fuzz targets' logic: one module per target (`fuzz_targets/<target>.rs` is its libFuzzer
//! binary), each with its function, its invariants and its seed inputs. The fuzz crate builds
//! this folder as its library; `tests/fuzz_corpus.rs` includes it as a module (`#[path]`) to
//! replay the seeds, the committed corpora and the regressions on every `cargo test`.
//!
//! Each target function takes the fuzzer's bytes, runs one parser or decision of oidc-actix on
//! them (its internal steps through `oidc_actix::__fuzz`, behind the `fuzzing` feature), and
//! panics when an invariant breaks (besides any panic of the code under test). Inputs that start
//! with a mode byte pick a sub-target by `mode % 2`; committed seeds use the ASCII digits `0` and
//! `1` so that they stay readable. Every check runs against fixed keys, secrets and clock values,
//! so a corpus file gives the same outcome on every run; `differential` compares with
//! jsonwebtoken, which reads the wall clock, so its inputs write their times relative to the
//! clock (`NOW+300`) and its whole tokens expire in the year 3000, to the same effect.

pub mod claims;
pub mod differential;
pub mod jwt;
pub mod macro_args;
pub mod provider_documents;
pub mod state;
pub mod token_route;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oidc_actix::__fuzz::{self, KeySet, Verified};
use oidc_actix::Algorithm;
use oidc_actix::testing::TEST_AUDIENCE;
use serde_json::Value;

/// The issuer of the fixed key set and of the seed tokens.
pub const ISSUER: &str = "https://idp.fuzz.example";
/// The fixed clock of the token checks (2025-06-15), so that corpus tokens never expire.
pub const NOW: i64 = 1_750_000_000;
/// The leeway of the token checks, the library's default.
const LEEWAY: Duration = Duration::from_secs(60);
/// The largest token the checks read, the library's default.
const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// The secret of the fixed state sealer.
const STATE_SECRET: &[u8] = b"oidc-actix fuzzing state secret";

/// How one input ended, so the corpus replay can check that the seeds reach the deep paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Went all the way: a token verified, constraints held, a form was built, a state opened,
    /// a document was read, arguments were accepted.
    Accepted,
    /// Refused somewhere on the way (the expected fate of most fuzz inputs).
    Rejected,
}

impl Outcome {
    fn from_bool(accepted: bool) -> Self {
        if accepted {
            Self::Accepted
        } else {
            Self::Rejected
        }
    }
}

/// A seed input: which target it feeds, a file name, the bytes, and the outcome it must have.
#[derive(Debug, Clone)]
pub struct Seed {
    /// The fuzz target.
    pub target: &'static str,
    /// The file name under `fuzz/work/seeds/<target>/`.
    pub name: String,
    /// The input.
    pub data: Vec<u8>,
    /// What the target's function must return for it.
    pub expected: Outcome,
}

impl Seed {
    fn new(target: &'static str, name: &str, data: Vec<u8>, expected: Outcome) -> Self {
        let name = format!("seed-{name}");
        Self {
            target,
            name,
            data,
            expected,
        }
    }
}

/// A fuzz target's function.
pub type Target = fn(&[u8]) -> Outcome;

/// Every fuzz target, by the name of its `fuzz_targets/<name>.rs`, with its function.
pub const TARGETS: [(&str, Target); 7] = [
    ("jwt", jwt::run),
    ("claims", claims::run),
    ("token_route", token_route::run),
    ("state", state::run),
    ("provider_documents", provider_documents::run),
    ("macro_args", macro_args::run),
    ("differential", differential::run),
];

/// The seed inputs of every target, each with the outcome it must have. The corpus test checks
/// those outcomes and writes the seeds out for libFuzzer (`fuzz/run.sh` has it do so).
pub fn seeds() -> Vec<Seed> {
    [
        jwt::seeds(),
        claims::seeds(),
        token_route::seeds(),
        state::seeds(),
        provider_documents::seeds(),
        macro_args::seeds(),
        differential::seeds(),
    ]
    .concat()
}

/// The sub-target (`mode % 2`) and the rest of an input.
fn split_mode(data: &[u8]) -> Option<(u8, &[u8])> {
    data.split_first().map(|(mode, rest)| (mode % 2, rest))
}

/// A seed of a target with modes: the mode digit, then the rest.
fn with_mode(mode: &str, rest: &[u8]) -> Vec<u8> {
    [mode.as_bytes(), rest].concat()
}

/// Verifies `raw` with the library's default rules at [`NOW`], for our audience if `audience`.
fn verify(
    raw: &str,
    keys: &KeySet,
    audience: bool,
    algorithms: &[Algorithm],
) -> Result<Verified, String> {
    let audience = audience.then_some(TEST_AUDIENCE);
    __fuzz::verify(
        raw,
        keys,
        audience,
        algorithms,
        LEEWAY,
        MAX_TOKEN_BYTES,
        NOW as f64,
    )
}

/// The JWK members that carry a key, decoded (RSA moduli without leading zero bytes).
fn key_members(jwk: &Value) -> Option<Vec<Vec<u8>>> {
    let kty = jwk.get("kty")?.as_str()?;
    let names: &[&str] = match kty {
        "RSA" => &["n", "e"],
        "EC" => &["crv", "x", "y"],
        _ => &["crv", "x"],
    };
    names
        .iter()
        .map(|name| {
            let text = jwk.get(*name)?.as_str()?;
            if *name == "crv" {
                return Some(text.as_bytes().to_vec());
            }
            let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
            let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
            Some(bytes[start..].to_vec())
        })
        .collect()
}
