//! Shared support of the integration and end-to-end tests: the test provider and a scripted
//! browser for it, the conformance example as a process, a protected application on a real
//! server, helpers of the in-process tests, and the process plumbing. Each test binary uses a
//! part of it.
#![allow(dead_code)]

pub mod app;
pub mod browser;
pub mod idp;
pub mod inproc;
pub mod lock;
pub mod process;
pub mod python;
pub mod server;
