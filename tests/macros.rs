//! Compile-time behaviour of `#[auth::required]` and `#[auth::optional]`: accepted handler
//! shapes (`tests/ui/pass`, compiled under `#![deny(warnings)]` and run) and rejected ones with
//! their exact diagnostics (`tests/ui/fail`). Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test --test macros` and read the diff before committing.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
