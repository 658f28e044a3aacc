//! `cargo fuzz run macro_args`: see `targets/macro_args.rs` beside this folder for the input format and
//! invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = oidc_actix_fuzz::macro_args::run(data);
});
