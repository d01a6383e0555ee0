//! A child process in its own process group, logged to a file, killed with all its
//! descendants on drop, and polled for readiness instead of slept on.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// A running child; dropping it stops the whole process group.
pub struct ManagedProcess {
    name: String,
    child: Child,
    log_path: PathBuf,
}

impl ManagedProcess {
    /// Starts `command` in a new process group with stdout and stderr going to `log_path`.
    pub fn spawn(name: &str, mut command: Command, log_path: &Path) -> Self {
        let log = File::create(log_path).expect("create the process log");
        let log_err = log.try_clone().expect("clone the log handle");
        command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {name} ({command:?}): {e}"));
        ManagedProcess {
            name: name.to_owned(),
            child,
            log_path: log_path.to_path_buf(),
        }
    }

    /// Polls `url` until it answers 2xx, failing with the process log if the process exits
    /// or `timeout` passes first.
    pub async fn wait_until_ready(&mut self, url: &str, timeout: Duration) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("build an HTTP client");
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before it was ready:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            if let Ok(response) = client.get(url).send().await
                && response.status().is_success()
            {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "{} not ready at {url} after {timeout:?}:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Everything the process wrote so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The last lines the process wrote, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the process group: SIGTERM, then SIGKILL if it has not gone within a few seconds.
    pub fn stop(&mut self) {
        self.signal_group(Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Descendants (workerd under wrangler) may outlive their parent: always sweep the group.
        self.signal_group(Signal::SIGKILL);
        let _ = self.child.wait();
    }

    /// Kills the group at once, as a crash would.
    pub fn kill(&mut self) {
        self.signal_group(Signal::SIGKILL);
        let _ = self.child.wait();
    }

    fn signal_group(&self, signal: Signal) {
        let pgid = Pid::from_raw(self.child.id() as i32);
        let _ = killpg(pgid, signal);
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
