//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) and the inputs of past crashes
//! (`fuzz/regressions/<target>/`) through the fuzz targets' own functions, on stable and
//! without libFuzzer, so that every `cargo test` re-checks the invariants on what fuzzing found
//! interesting. Fuzzing itself is `fuzz/run.sh` (see `fuzz/README.md`).
//!
//! The seed inputs are defined in code and checked here too; `fuzz/run.sh` has this test write
//! them out for libFuzzer.

// The targets' logic, invariants and seeds, which the fuzz crate builds as its library. The
// macro argument parser that `macro_args` includes brings its own unit tests, which run here too.
#[path = "../fuzz/targets/mod.rs"]
mod targets;

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use targets::{Outcome, Seed, TARGETS, Target};

/// Every fuzz target, by the name of its `fuzz/fuzz_targets/<name>.rs`.
fn targets() -> Vec<(&'static str, Target)> {
    TARGETS.to_vec()
}

fn target(name: &str) -> Target {
    targets()
        .into_iter()
        .find_map(|(known, run)| (known == name).then_some(run))
        .unwrap_or_else(|| panic!("no fuzz target {name}"))
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of a folder, sorted; none when it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a readable folder entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `run` on each file; returns how many were accepted and rejected, and the failures.
fn replay(run: Target, files: &[PathBuf]) -> (usize, usize, Vec<String>) {
    let (mut accepted, mut rejected, mut failures) = (0, 0, Vec::new());
    for file in files {
        let data = fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        match catch_unwind(AssertUnwindSafe(|| run(&data))) {
            Ok(Outcome::Accepted) => accepted += 1,
            Ok(Outcome::Rejected) => rejected += 1,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)");
                failures.push(format!("{}: {message}", file.display()));
            }
        }
    }
    (accepted, rejected, failures)
}

/// Replays a target's corpus and regression inputs: none may panic. (The seeds, which reach
/// each target's deep paths, are checked from code by `seeds_have_their_expected_outcomes`.)
fn replay_target(name: &str) {
    let run = target(name);
    let corpus = files(&fuzz_dir().join("corpus").join(name));
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{name}/ is missing or empty; `fuzz/run.sh --seconds 60 {name}` fills it"
    );
    let regressions = files(&fuzz_dir().join("regressions").join(name));
    let (accepted, rejected, mut failures) = replay(run, &corpus);
    failures.extend(replay(run, &regressions).2);
    assert!(
        failures.is_empty(),
        "{name}: {} of {} inputs failed:\n{}",
        failures.len(),
        corpus.len() + regressions.len(),
        failures.join("\n")
    );
    assert_eq!(accepted + rejected, corpus.len());
}

#[test]
fn jwt_corpus_replays() {
    replay_target("jwt");
}

#[test]
fn claims_corpus_replays() {
    replay_target("claims");
}

#[test]
fn token_route_corpus_replays() {
    replay_target("token_route");
}

#[test]
fn state_corpus_replays() {
    replay_target("state");
}

#[test]
fn provider_documents_corpus_replays() {
    replay_target("provider_documents");
}

#[test]
fn macro_args_corpus_replays() {
    replay_target("macro_args");
}

/// Each seed has the outcome it was written for: valid tokens verify, attacks do not, and so
/// on. With `OIDC_ACTIX_FUZZ_WRITE_SEEDS=<folder>`, the seeds are also written to
/// `<folder>/<target>/<name>` for libFuzzer (`fuzz/run.sh` does this).
#[test]
fn seeds_have_their_expected_outcomes() {
    let seeds: Vec<Seed> = targets::seeds();
    let wrong: Vec<String> = seeds
        .iter()
        .filter_map(|seed| {
            let outcome = target(seed.target)(&seed.data);
            (outcome != seed.expected).then(|| {
                format!(
                    "{}/{}: {outcome:?}, expected {:?}",
                    seed.target, seed.name, seed.expected
                )
            })
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "seeds with another outcome:\n{}",
        wrong.join("\n")
    );
    for (name, _) in targets() {
        let outcomes: Vec<Outcome> = seeds
            .iter()
            .filter(|seed| seed.target == name)
            .map(|seed| seed.expected)
            .collect();
        assert!(
            outcomes.contains(&Outcome::Accepted) && outcomes.contains(&Outcome::Rejected),
            "the seeds of {name} must reach both outcomes"
        );
    }
    if let Some(folder) = std::env::var_os("OIDC_ACTIX_FUZZ_WRITE_SEEDS") {
        for seed in &seeds {
            let dir = PathBuf::from(&folder).join(seed.target);
            fs::create_dir_all(&dir).expect("the seed folder can be created");
            fs::write(dir.join(&seed.name), &seed.data).expect("the seed can be written");
        }
    }
}

/// The replayed targets are exactly the libFuzzer targets, so neither list can drift.
#[test]
fn every_fuzz_target_is_replayed() {
    let binaries: Vec<String> = files(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .filter_map(|path| Some(path.file_stem()?.to_str()?.to_owned()))
        .collect();
    let mut replayed: Vec<String> = targets()
        .into_iter()
        .map(|(name, _)| name.to_owned())
        .collect();
    replayed.sort();
    assert_eq!(binaries, replayed);
}

/// `jwt` mode `1`: header and payload for the harness to sign with the Ed25519 test key.
fn signed_by_harness(payload: &str) -> Vec<u8> {
    let header = r#"{"alg":"EdDSA","kid":"ed25519-EdDSA"}"#;
    format!("10{header}\n{payload}").into_bytes()
}

/// Found with the `jwt` target's invariants: verification once read only the registered claims
/// of the payload, so JSON that serde_json's `Value` refuses elsewhere in the payload (a number
/// beyond `f64`, a lone UTF-16 surrogate) passed it, and `IdToken::payload` could not parse the
/// verified payload. Verification now parses the whole claims set strictly.
#[test]
fn a_verified_payload_always_parses_as_a_claims_map() {
    let exp = targets::NOW + 300;
    let iss = targets::ISSUER;
    for payload in [
        format!(r#"{{"iss":"{iss}","exp":{exp},"x":1e400}}"#),
        format!(r#"{{"iss":"{iss}","exp":{exp},"x":"\ud800"}}"#),
    ] {
        let outcome = catch_unwind(|| targets::jwt::run(&signed_by_harness(&payload)));
        assert!(outcome.is_ok(), "payload {payload}");
    }
}

/// Found with the `state` target: the login route seals any `redirect_uri`, but
/// `StateSealer::open` refuses a sealed state longer than 8 KiB, so the login route bounds the
/// redirect URI (2048 bytes, no control characters): every URI it accepts must seal into a state
/// that opens, even one of characters JSON escapes (`"`, `\\`). A regression test: before the
/// bound, a login with a redirect URI of about 6 KB could never finish.
#[test]
fn a_state_sealed_for_the_longest_redirect_uri_opens() {
    let prefix = "http://localhost:53100/callback?";
    for filler in ["a", "\"", "\\"] {
        let redirect_uri = format!("{prefix}{}", filler.repeat(2048 - prefix.len()));
        assert_eq!(redirect_uri.len(), 2048);
        // Mode 1, a live state, tamper position 0; verifier, redirect URI, nonce and id, as long
        // as the login route makes them.
        let input = format!(
            "10\0{}\0{redirect_uri}\0{}\0{}",
            "v".repeat(43),
            "n".repeat(22),
            "i".repeat(16)
        );
        let outcome = catch_unwind(|| targets::state::run(input.as_bytes()));
        assert!(
            outcome.is_ok(),
            "a state sealed for {filler:?} × 2016 was refused"
        );
    }
}
