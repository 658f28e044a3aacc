//! `cargo fuzz run differential`: see `targets/differential.rs` beside this folder for the
//! input format and what is compared.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = oidc_actix_fuzz::differential::run(data);
});
