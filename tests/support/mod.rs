//! Shared support of the end-to-end tests: the test provider, the conformance example as a
//! process, and the process plumbing under both. Each test binary uses a part of it.
#![allow(dead_code)]

pub mod app;
pub mod idp;
pub mod lock;
pub mod process;
pub mod python;
