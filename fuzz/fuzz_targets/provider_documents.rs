//! `cargo fuzz run provider_documents`: see `oidc_actix::__fuzz::provider_documents` for the input format and invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = oidc_actix::__fuzz::provider_documents(data);
});
