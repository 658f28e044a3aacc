//! `cargo fuzz run jwt`: see `oidc_actix::__fuzz::jwt` for the input format and invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = oidc_actix::__fuzz::jwt(data);
});
