//! `cargo fuzz run jwt`: see `targets/jwt.rs` beside this folder for the input format and
//! invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = oidc_actix_fuzz::jwt::run(data);
});
