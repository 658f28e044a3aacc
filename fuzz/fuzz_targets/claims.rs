//! `cargo fuzz run claims`: see `oidc_actix::__fuzz::claims` for the input format and invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = oidc_actix::__fuzz::claims(data);
});
