//! `examples/conformance.rs` as a black-box server process, configured by environment.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use super::idp::IdpClient;
use super::process::ReadyProcess;

/// The running example.
pub struct ConformanceApp {
    process: ReadyProcess,
    base: String,
}

/// Builds the example once per test process (cargo serialises concurrent builds itself).
fn binary() -> PathBuf {
    static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.as_ref() {
        return path.clone();
    }
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--example",
            "conformance",
            "-p",
            "oidc-actix-suite",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cannot run cargo to build the conformance example");
    assert!(status.success(), "building the conformance example failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let path = target.join("debug").join("examples").join("conformance");
    assert!(path.exists(), "no example binary at {}", path.display());
    *built = Some(path.clone());
    path
}

impl ConformanceApp {
    /// Starts the example with these `OIDC_*` variables, on a free loopback port.
    pub fn start(env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(binary());
        command.env("BIND", "127.0.0.1:0").env("RUST_LOG", "warn");
        for (name, value) in env {
            command.env(name, value);
        }
        let process = ReadyProcess::spawn(
            command,
            "READY ",
            Duration::from_secs(60),
            "the conformance example",
        );
        let base = process.ready.clone();
        Self { process, base }
    }

    /// Starts the example for `client` of the test provider at `discovery_url`, with the client
    /// id as the audience (the test provider's `aud`).
    pub fn for_client(discovery_url: &str, client: IdpClient) -> Self {
        let mut env = vec![
            ("OIDC_DISCOVERY_URL", discovery_url),
            ("OIDC_CLIENT_ID", client.id),
            ("OIDC_AUDIENCE", client.id),
        ];
        if let Some(secret) = client.secret {
            env.push(("OIDC_CLIENT_SECRET", secret));
        }
        Self::start(&env)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `{base}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// What the example printed so far.
    pub fn log(&self) -> String {
        self.process.log()
    }
}
