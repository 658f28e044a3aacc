//! `cargo fuzz run token_route`: see `oidc_actix::__fuzz::token_route` for the input format and invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = oidc_actix::__fuzz::token_route(data);
});
