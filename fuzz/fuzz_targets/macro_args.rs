//! `cargo fuzz run macro_args`: see `macro_args.rs` beside this folder for the invariants.
#![no_main]

// `seeds` is for the corpus replay and `run.sh --seed`, not for libFuzzer.
#[allow(dead_code)]
#[path = "../macro_args.rs"]
mod macro_args;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = macro_args::macro_args(data);
});
