//! `cargo fuzz run provider_documents`: see `targets/provider_documents.rs` beside this folder for the input format and
//! invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = oidc_actix_fuzz::provider_documents::run(data);
});
