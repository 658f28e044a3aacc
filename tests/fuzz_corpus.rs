//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) and the inputs of past defects
//! (`fuzz/regressions/<target>/`) through the fuzz targets' own functions, on stable and
//! without libFuzzer, so that every `cargo test` re-checks the invariants on what fuzzing found
//! interesting. Fuzzing itself is `fuzz/run.sh` (see `fuzz/README.md`).
//!
//! Every input has an expected outcome, listed in `fuzz/<corpus|regressions>/<target>.outcomes`:
//! recorded for the corpus (`OIDC_ACTIX_FUZZ_RECORD_CORPUS=1` rewrites those lists, as
//! `fuzz/run.sh` does after committing a corpus), stated by hand for a regression. The seed
//! inputs are defined in code with theirs, and checked here too; `fuzz/run.sh` has this test
//! write them out for libFuzzer.

// The targets' logic, invariants and seeds, which the fuzz crate builds as its library. The
// macro argument parser that `macro_args` includes brings its own unit tests, which run here too.
#[path = "../fuzz/targets/mod.rs"]
mod targets;

use std::collections::BTreeMap;
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use targets::{Outcome, Seed, TARGETS, Target};

fn target(name: &str) -> Target {
    TARGETS
        .iter()
        .find_map(|&(known, run)| (known == name).then_some(run))
        .unwrap_or_else(|| panic!("no fuzz target {name}"))
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The entries of a folder, sorted by name.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut paths: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a readable folder entry").path())
        .collect();
    paths.sort();
    paths
}

fn file_name(path: &Path) -> &str {
    path.file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_else(|| panic!("{}: not a UTF-8 file name", path.display()))
}

fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Accepted => "accepted",
        Outcome::Rejected => "rejected",
    }
}

/// The expected outcome of each input of `<kind>/<target>/`, by file name, from
/// `<kind>/<target>.outcomes` (`<file> accepted|rejected` lines; `#` starts a comment).
fn expected_outcomes(kind: &str, name: &str) -> BTreeMap<String, Outcome> {
    let manifest = fuzz_dir().join(kind).join(format!("{name}.outcomes"));
    let text = fs::read_to_string(&manifest).unwrap_or_else(|e| {
        panic!(
            "fuzz/{kind}/{name}.outcomes: {e}; every target states the outcome of each of its \
             inputs there (an empty list: none), see fuzz/README.md"
        )
    });
    let mut expected = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (file, outcome) = match line.split_whitespace().collect::<Vec<_>>()[..] {
            [file, "accepted"] => (file, Outcome::Accepted),
            [file, "rejected"] => (file, Outcome::Rejected),
            _ => panic!("fuzz/{kind}/{name}.outcomes: {line:?} is not `<file> accepted|rejected`"),
        };
        let earlier = expected.insert(file.to_owned(), outcome);
        assert!(
            earlier.is_none(),
            "fuzz/{kind}/{name}.outcomes lists {file} twice"
        );
    }
    expected
}

/// Runs `run` on each input file of `<kind>/<target>/` (none when the folder does not exist),
/// by file name: its outcome, or the panic message.
fn replay(run: Target, kind: &str, name: &str) -> BTreeMap<String, Result<Outcome, String>> {
    let dir = fuzz_dir().join(kind).join(name);
    if !dir.exists() {
        return BTreeMap::new();
    }
    entries(&dir)
        .iter()
        .map(|path| {
            assert!(path.is_file(), "{}: not a file", path.display());
            let data = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let outcome = catch_unwind(AssertUnwindSafe(|| run(&data))).map_err(|panic| {
                panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)")
                    .to_owned()
            });
            (file_name(path).to_owned(), outcome)
        })
        .collect()
}

/// Rewrites `corpus/<target>.outcomes` with the outcomes of a replay (an input that panicked is
/// left out, and fails the replay).
fn record_outcomes(name: &str, outcomes: &BTreeMap<String, Result<Outcome, String>>) {
    let mut list = format!(
        "# The outcome of each input of corpus/{name}/, recorded when it was committed (see \
         README.md).\n"
    );
    for (file, outcome) in outcomes {
        if let Ok(outcome) = outcome {
            list += &format!("{file} {}\n", outcome_name(*outcome));
        }
    }
    let manifest = fuzz_dir().join("corpus").join(format!("{name}.outcomes"));
    fs::write(&manifest, list).expect("the corpus outcomes can be written");
}

/// Replays a target's corpus and regression inputs: none may panic, and each has the outcome its
/// folder's list states. With `OIDC_ACTIX_FUZZ_RECORD_CORPUS=1`, the corpus list is rewritten
/// from the outcomes instead (after a fuzzing run has replaced the corpus).
fn replay_target(name: &str) {
    let run = target(name);
    let record = std::env::var_os("OIDC_ACTIX_FUZZ_RECORD_CORPUS").is_some();
    let mut failures = Vec::new();
    for kind in ["corpus", "regressions"] {
        let outcomes = replay(run, kind, name);
        if kind == "corpus" {
            assert!(
                !outcomes.is_empty(),
                "fuzz/corpus/{name}/ is missing or empty; `fuzz/run.sh --seconds 60 {name}` fills it"
            );
        }
        if kind == "corpus" && record {
            record_outcomes(name, &outcomes);
        }
        let expected = expected_outcomes(kind, name);
        for (file, outcome) in &outcomes {
            match (outcome, expected.get(file)) {
                (Err(panic), _) => failures.push(format!("{kind}/{name}/{file}: {panic}")),
                (Ok(outcome), Some(want)) if outcome == want => {}
                (Ok(outcome), want) => failures.push(format!(
                    "{kind}/{name}/{file}: {}, but {kind}/{name}.outcomes says {}",
                    outcome_name(*outcome),
                    want.map_or("nothing", |want| outcome_name(*want)),
                )),
            }
        }
        for file in expected.keys().filter(|file| !outcomes.contains_key(*file)) {
            failures.push(format!(
                "{kind}/{name}.outcomes lists {file}, which {kind}/{name}/ does not hold"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: {} inputs failed (after a fuzzing run, \
         `OIDC_ACTIX_FUZZ_RECORD_CORPUS=1 cargo test --test fuzz_corpus` records the corpus \
         outcomes):\n{}",
        failures.len(),
        failures.join("\n")
    );
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

#[test]
fn differential_corpus_replays() {
    replay_target("differential");
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
    for (name, _) in TARGETS {
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

/// The replayed targets are exactly the libFuzzer targets, and `corpus/` and `regressions/`
/// hold inputs and outcome lists of those targets only, so that no list can drift.
#[test]
fn every_fuzz_target_is_replayed() {
    let stems = |paths: &[PathBuf]| -> Vec<String> {
        paths
            .iter()
            .map(|path| {
                file_name(path)
                    .split('.')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    let mut replayed: Vec<String> = TARGETS.iter().map(|(name, _)| (*name).to_owned()).collect();
    replayed.sort();
    assert_eq!(stems(&entries(&fuzz_dir().join("fuzz_targets"))), replayed);
    for kind in ["corpus", "regressions"] {
        let (folders, lists): (Vec<PathBuf>, Vec<PathBuf>) = entries(&fuzz_dir().join(kind))
            .into_iter()
            .partition(|path| path.is_dir());
        assert!(
            lists
                .iter()
                .all(|path| file_name(path).ends_with(".outcomes")),
            "fuzz/{kind}/ holds other files than outcome lists: {lists:?}"
        );
        assert_eq!(stems(&lists), replayed, "the outcome lists of fuzz/{kind}/");
        for folder in stems(&folders) {
            assert!(
                replayed.contains(&folder),
                "fuzz/{kind}/{folder}/ is no target's"
            );
        }
    }
}

/// The `differential` seeds have the verdicts their names say: `valid-…` both validators accept,
/// `refused-…` neither, `stricter-…` jsonwebtoken alone, `difference-…` oidc-actix alone, and
/// jsonwebtoken too once the accepted differences are allowed for, which change no other
/// seed's verdict. The `stricter-…` and `difference-…` seeds are the cases that
/// `fuzz/targets/differential.rs` and `HARDENING.md` list, so the lists stay true: if
/// jsonwebtoken came to refuse one, or oidc-actix to accept one, the list would be wrong and
/// this test fails.
#[test]
fn differential_seeds_have_the_verdicts_their_names_say() {
    for seed in targets::differential::seeds() {
        let [ours, theirs, allowing] = targets::differential::verdicts(&seed.data)
            .unwrap_or_else(|| panic!("{}: not an input of the target", seed.name));
        let name = seed.name.strip_prefix("seed-").unwrap_or(&seed.name);
        let (class, _) = name.split_once('-').unwrap_or((name, ""));
        let expected = match class {
            "valid" => (true, true, true),
            "refused" => (false, false, false),
            "stricter" => (false, true, true),
            "difference" => (true, false, true),
            _ => {
                panic!("{name}: a differential seed is valid-, refused-, stricter- or difference-")
            }
        };
        assert_eq!(
            (ours.is_ok(), theirs.is_ok(), allowing.is_ok()),
            expected,
            "{name}: oidc-actix {ours:?}, jsonwebtoken {theirs:?}, allowing for the accepted \
             differences {allowing:?}"
        );
    }
}

/// `jwt` mode `1`: header and payload for the harness to sign with the Ed25519 test key.
fn signed_by_harness(payload: &str) -> Vec<u8> {
    let header = r#"{"alg":"EdDSA","kid":"ed25519-EdDSA"}"#;
    format!("10{header}\n{payload}").into_bytes()
}

/// Found with the `jwt` target's invariants: verification once read only the registered claims
/// of the payload, so JSON that serde_json's `Value` refuses elsewhere in the payload (a number
/// beyond `f64`, a lone UTF-16 surrogate) passed it, and `IdToken::payload` could not parse the
/// verified payload. Verification now parses the whole claims set strictly, and refuses them.
#[test]
fn a_verified_payload_always_parses_as_a_claims_map() {
    let exp = targets::NOW + 300;
    let iss = targets::ISSUER;
    for payload in [
        format!(r#"{{"iss":"{iss}","exp":{exp},"x":1e400}}"#),
        format!(r#"{{"iss":"{iss}","exp":{exp},"x":"\ud800"}}"#),
    ] {
        let outcome = catch_unwind(|| targets::jwt::run(&signed_by_harness(&payload)));
        assert_eq!(outcome.ok(), Some(Outcome::Rejected), "payload {payload}");
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
        assert_eq!(
            outcome.ok(),
            Some(Outcome::Accepted),
            "a state sealed for {filler:?} × 2016 was refused"
        );
    }
}
