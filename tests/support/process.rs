//! Child processes: one that announces readiness with a line on stdout (`READY <url>`), with its
//! output kept for failure reports and the process killed on drop; and a command run to
//! completion.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running child process and what it printed.
pub struct ReadyProcess {
    child: Child,
    /// What followed the ready prefix on the ready line.
    pub ready: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl ReadyProcess {
    /// Spawns `command` with piped stdio and waits up to `timeout` for a stdout line starting
    /// with `prefix`. Panics with the process output if it does not come.
    pub fn spawn(
        mut command: Command,
        prefix: &'static str,
        timeout: Duration,
        what: &str,
    ) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what} ({command:?}): {e}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let out_log = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix(prefix) {
                    let _ = ready_tx.send(rest.trim().to_owned());
                }
                push(&out_log, line);
            }
        });
        let err_log = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                push(&err_log, line);
            }
        });
        match ready_rx.recv_timeout(timeout) {
            Ok(ready) => Self { child, ready, log },
            Err(error) => {
                let _ = child.kill();
                let status = child.wait().ok();
                // Let the reader threads drain what the process printed last.
                std::thread::sleep(Duration::from_millis(100));
                let why = match error {
                    mpsc::RecvTimeoutError::Timeout => format!("no ready line within {timeout:?}"),
                    mpsc::RecvTimeoutError::Disconnected => format!("it exited ({status:?})"),
                };
                panic!(
                    "{what} did not start: {why}\n--- output ---\n{}",
                    text(&log)
                );
            }
        }
    }

    /// Everything the process printed so far.
    pub fn log(&self) -> String {
        text(&self.log)
    }
}

impl Drop for ReadyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- process output ---\n{}", self.log());
        }
    }
}

/// Appends a line of a child's output to `log` (a poisoned log, which no reader thread can
/// cause, would lose it).
pub fn push(log: &Mutex<Vec<String>>, line: String) {
    if let Ok(mut log) = log.lock() {
        log.push(line);
    }
}

/// Runs `command` to completion without input; answers its stdout, or panics with `what` and
/// everything it printed.
pub fn run(command: &mut Command, what: &str) -> String {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{what}\n{command:?} exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn text(log: &Mutex<Vec<String>>) -> String {
    log.lock().map(|l| l.join("\n")).unwrap_or_default()
}
