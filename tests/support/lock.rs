//! An exclusive, cross-process lock held by creating a file, for one-time installs (npm, the
//! Python virtual environment) that parallel test binaries must not run twice at once. A lock
//! left by a process that died is taken over.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Held while it lives; the file is removed on drop.
pub struct InstallLock {
    path: PathBuf,
}

impl InstallLock {
    /// Takes the lock named `name` (a file in cargo's test temporary directory), waiting up to
    /// `timeout` for another holder doing `what`.
    pub fn acquire(name: &str, timeout: Duration, what: &str) -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let path = dir.join(name);
        let began = Instant::now();
        loop {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    let _ = write!(file, "{}", std::process::id());
                    return Self { path };
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    if is_stale(&path, timeout) {
                        let _ = fs::remove_file(&path);
                        continue;
                    }
                    assert!(
                        began.elapsed() < timeout,
                        "waited {timeout:?} for another {what} (lock file {}); remove it if no test runs",
                        path.display()
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("cannot create the lock file {}: {e}", path.display()),
            }
        }
    }
}

/// The owner died (Linux: its /proc entry is gone), or the lock is older than any install.
fn is_stale(path: &Path, timeout: Duration) -> bool {
    let mut owner = String::new();
    let _ = fs::File::open(path).and_then(|mut f| f.read_to_string(&mut owner));
    if let Ok(pid) = owner.trim().parse::<u32>()
        && Path::new("/proc/self").exists()
    {
        return !Path::new(&format!("/proc/{pid}")).exists();
    }
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age > timeout)
}

impl Drop for InstallLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}
