//! `cargo fuzz run claims`: see `targets/claims.rs` beside this folder for the input format and
//! invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = oidc_actix_fuzz::claims::run(data);
});
