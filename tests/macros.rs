//! Compile-time behaviour of `#[auth::required]` and `#[auth::optional]`: accepted handler
//! shapes (`tests/ui/pass`, compiled under `#![deny(warnings)]` and run) and rejected ones with
//! their exact diagnostics (`tests/ui/fail`).
//!
//! The `.stderr` files are the exact text of one compiler, the pinned stable toolchain
//! (Rust 1.95), and rustc rewords its diagnostics between releases. So, as actix-web does, the
//! rejected shapes are compared on that toolchain only: on any other, `rejected_shapes` is
//! reported as ignored, with the reason, while `accepted_shapes` still compiles and runs every
//! pass case. To move the pin, change `stable(1.95)` below, regenerate the files with
//! `TRYBUILD=overwrite cargo test --all-features --test macros` on the new toolchain, and read
//! the diff before committing.

#[test]
fn accepted_shapes() {
    trybuild::TestCases::new().pass("tests/ui/pass/*.rs");
}

#[rustversion::attr(
    not(stable(1.95)),
    ignore = "tests/ui/fail/*.stderr hold the exact diagnostics of the pinned stable Rust 1.95; \
              run this test on that toolchain"
)]
#[test]
fn rejected_shapes() {
    trybuild::TestCases::new().compile_fail("tests/ui/fail/*.rs");
}
