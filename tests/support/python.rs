//! The real Python client, py-oidc-auth-client from PyPI, driven by `tests/client/compat.py`.
//!
//! [`venv_python`] makes a virtual environment at `target/py-client-venv` with
//! `tests/client/requirements.txt` installed: once per machine, again whenever that file (or the
//! Python it was made with) changes, behind a lock file so that parallel test binaries do not
//! install over each other. The environment is made with `python3` from `PATH`, or the
//! interpreter named by `OIDC_ACTIX_PYTHON`. It panics with a clear message when that Python, its
//! `venv` module or `pip` is missing or the install fails: these tests never skip.
//!
//! [`ClientRun::spawn`] runs `compat.py` in that environment and hands over the events it prints
//! (`COMPAT <json>` lines, see the script's docstring) one at a time, asynchronously, so that a
//! test can act (approve a device, follow a login) while the client waits or polls. The process
//! is killed on drop; its output is printed when the test fails.

use std::cell::Cell;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::lock::InstallLock;
use super::process::{push, run};

/// The version of py-oidc-auth-client that `tests/client/requirements.txt` pins.
pub const CLIENT_VERSION: &str = "2603.0.1";
/// How long creating the environment and `pip install` may take, and so how long another
/// process waits for the lock.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);
/// The prefix of the event lines `compat.py` prints.
const EVENT_PREFIX: &str = "COMPAT ";
/// Names the Python that makes the environment, instead of `python3`.
const PYTHON_VAR: &str = "OIDC_ACTIX_PYTHON";

/// The Python that makes the virtual environment.
fn system_python() -> String {
    std::env::var(PYTHON_VAR).unwrap_or_else(|_| "python3".to_owned())
}

fn client_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("client")
}

/// Cargo's target directory (the parent of the integration tests' `CARGO_TARGET_TMPDIR`).
fn target_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).to_path_buf()
}

fn venv_dir() -> PathBuf {
    target_dir().join("py-client-venv")
}

fn venv_bin(venv: &Path, program: &str) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join(format!("{program}.exe"))
    } else {
        venv.join("bin").join(program)
    }
}

/// The interpreter of the client's virtual environment, which is created or brought up to date
/// first (see the module documentation).
pub fn venv_python() -> PathBuf {
    static READY: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut ready = READY.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(python) = ready.as_ref() {
        return python.clone();
    }
    let requirements = client_dir().join("requirements.txt");
    let wanted = fs::read_to_string(&requirements)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", requirements.display()));
    let stamp_content = format!(
        "{wanted}\n# made with: {} ({})\n",
        system_python(),
        system_python_version()
    );
    let venv = venv_dir();
    let python = venv_bin(&venv, "python");
    let stamp = venv.join(".oidc-actix-requirements");
    let up_to_date =
        || python.is_file() && fs::read_to_string(&stamp).is_ok_and(|s| s == stamp_content);
    if !up_to_date() {
        let _lock = InstallLock::acquire(
            "oidc-actix-py-client-venv.lock",
            INSTALL_TIMEOUT,
            "install of the Python client",
        );
        if !up_to_date() {
            install(&venv, &python, &requirements);
            fs::write(&stamp, &stamp_content)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", stamp.display()));
        }
    }
    *ready = Some(python.clone());
    python
}

/// `python3 --version`, or a panic saying that the tests need it.
fn system_python_version() -> String {
    let python = system_python();
    let output = Command::new(&python)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "the client compatibility tests run the real Python client (py-oidc-auth-client \
                 from PyPI) and need `python3` (3.9 or later, with the `venv` module and pip) on \
                 PATH, or its path in {PYTHON_VAR}: running `{python} --version` failed: {e}"
            )
        });
    assert!(
        output.status.success(),
        "`{python} --version` failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let mut numbers = version
        .trim_start_matches("Python ")
        .split('.')
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let (major, minor) = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    assert!(
        (major, minor) >= (3, 9),
        "py-oidc-auth-client needs Python 3.9 or later; `{python}` is `{version}`"
    );
    version
}

fn install(venv: &Path, python: &Path, requirements: &Path) {
    let began = Instant::now();
    if venv.exists() {
        fs::remove_dir_all(venv)
            .unwrap_or_else(|e| panic!("cannot remove the old {}: {e}", venv.display()));
    }
    run(
        Command::new(system_python()).args(["-m", "venv"]).arg(venv),
        "creating the client's virtual environment failed; `python3 -m venv` needs the venv \
         module with ensurepip (on Debian and Ubuntu: the python3-venv package)",
    );
    run(
        Command::new(python)
            .args([
                "-m",
                "pip",
                "install",
                "--no-input",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(requirements),
        &format!(
            "installing py-oidc-auth-client with pip from {} failed (PyPI unreachable, or a pin \
             that does not exist?)",
            requirements.display()
        ),
    );
    let version = run(
        Command::new(python).args([
            "-c",
            "import py_oidc_auth_client as c; print(c.__version__)",
        ]),
        "py-oidc-auth-client does not import after the install",
    );
    assert_eq!(
        version.trim(),
        CLIENT_VERSION,
        "the virtual environment holds the wrong client version"
    );
    eprintln!(
        "py-oidc-auth-client {CLIENT_VERSION}: virtual environment {} made in {:.1?}",
        venv.display(),
        began.elapsed()
    );
}

/// A fresh directory under cargo's target tmp directory, removed on drop (kept if the test
/// fails, for a look at the client's token store).
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// Creates `target/tmp/py-client-<pid>-<n>`.
    pub fn new() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "py-client-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Self { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `{dir}/{name}` as a string.
    pub fn file(&self, name: &str) -> String {
        self.path.join(name).to_string_lossy().into_owned()
    }
}

impl Default for ScratchDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("client files kept in {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// One run of `tests/client/compat.py`: the client, unmodified, reporting what it does.
pub struct ClientRun {
    child: Child,
    events: Receiver<Value>,
    log: Arc<Mutex<Vec<String>>>,
    seen: Vec<Value>,
    /// Whether a panic message already carries the output.
    reported: Cell<bool>,
}

impl ClientRun {
    /// Starts `compat.py {args}` in the client's virtual environment (made first if needed),
    /// with browser opening disabled (`BROWSER=true`), no proxy for the loopback, and the
    /// platform cache directory in `scratch`.
    pub fn spawn(args: &[&str], scratch: &ScratchDir) -> Self {
        let python = venv_python();
        let mut command = Command::new(&python);
        command
            .arg(client_dir().join("compat.py"))
            .args(args)
            .current_dir(scratch.path())
            .env("BROWSER", "true")
            .env("PYTHONUNBUFFERED", "1")
            .env("INTERACTIVE_SESSION", "0")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .env("XDG_CACHE_HOME", scratch.path().join("cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the Python client ({command:?}): {e}"));
        let log = Arc::new(Mutex::new(vec![format!("$ compat.py {}", args.join(" "))]));
        let (tx, events) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let out_log = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(json) = line.strip_prefix(EVENT_PREFIX) {
                    match serde_json::from_str::<Value>(json) {
                        Ok(event) => {
                            let _ = tx.send(event);
                        }
                        Err(e) => push(&out_log, format!("(not a JSON event: {e})")),
                    }
                }
                push(&out_log, line);
            }
        });
        let err_log = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                push(&err_log, format!("stderr: {line}"));
            }
        });
        Self {
            child,
            events,
            log,
            seen: Vec::new(),
            reported: Cell::new(false),
        }
    }

    /// The next event, waiting up to `timeout` without blocking the actix runtime. Panics with
    /// the client's output when the client ends first or nothing comes.
    pub async fn next_event(&mut self, timeout: Duration) -> Value {
        let began = Instant::now();
        loop {
            match self.events.try_recv() {
                Ok(event) => {
                    self.seen.push(event.clone());
                    return event;
                }
                Err(TryRecvError::Empty) if began.elapsed() < timeout => {
                    actix_web::rt::time::sleep(Duration::from_millis(20)).await;
                }
                Err(TryRecvError::Empty) => self.fail(&format!("no event within {timeout:?}")),
                Err(TryRecvError::Disconnected) => {
                    let status = self.child.wait().ok();
                    self.fail(&format!(
                        "the client ended ({status:?}) before the next event"
                    ))
                }
            }
        }
    }

    /// Waits up to `timeout` for the client to exit; panics unless it exits with 0 and without
    /// further events.
    pub async fn expect_success(&mut self, timeout: Duration) {
        let status = self.wait(timeout).await;
        if let Ok(event) = self.events.try_recv() {
            self.fail(&format!("unexpected event after the end: {event}"));
        }
        if !status.success() {
            self.fail(&format!("the client exited with {status}"));
        }
    }

    async fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let began = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status,
                Ok(None) if began.elapsed() < timeout => {
                    actix_web::rt::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(None) => self.fail(&format!("the client did not exit within {timeout:?}")),
                Err(e) => self.fail(&format!("cannot wait for the client: {e}")),
            }
        }
    }

    /// The events handed out so far.
    pub fn seen(&self) -> &[Value] {
        &self.seen
    }

    /// Everything the client printed so far (stdout, and stderr marked as such).
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// Panics with `why` and the client's output.
    pub fn fail(&self, why: &str) -> ! {
        // Let the reader threads drain what the process printed last.
        std::thread::sleep(Duration::from_millis(100));
        self.reported.set(true);
        panic!(
            "Python client: {why}\n--- client output ---\n{}",
            self.log()
        )
    }
}

impl Drop for ClientRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() && !self.reported.get() {
            eprintln!("--- Python client output ---\n{}", self.log());
        }
    }
}
