//! `cargo fuzz run state`: see `oidc_actix::__fuzz::state` for the input format and invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = oidc_actix::__fuzz::state(data);
});
