//! Shared support of the integration and end-to-end tests: the test provider, the conformance
//! example as a process, a protected application on a real server, and the process plumbing. Each test binary uses a part of it.
#![allow(dead_code)]

pub mod app;
pub mod idp;
pub mod lock;
pub mod process;
pub mod python;
pub mod server;
