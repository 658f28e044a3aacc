//! `cargo fuzz run token_route`: see `targets/token_route.rs` beside this folder for the input format and
//! invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = oidc_actix_fuzz::token_route::run(data);
});
