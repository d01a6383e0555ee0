//! The real origin (`origin serve`) on a free port with a temporary data dir and SQLite database,
//! restartable on the same port and data, plus the admin and API calls tests set up data with.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use super::process::ManagedProcess;
use super::{free_port, project_root, target_dir};

/// A 32-byte master key (hex) used only by tests.
const TEST_MASTER_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// A tenant made with `origin admin create-tenant`.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub tenant_id: String,
    pub api_key: String,
}

/// A running (or stopped, between [`OriginProcess::stop`] and [`OriginProcess::start_again`]) origin.
pub struct OriginProcess {
    pub base_url: String,
    port: u16,
    edge_secret: String,
    data: TempDir,
    process: Option<ManagedProcess>,
    /// More environment for the origin (pipeline timings in tests).
    extra_env: Vec<(String, String)>,
}

impl OriginProcess {
    /// Builds the origin if needed and starts it; returns once `GET /healthz` answers.
    pub async fn start(edge_secret: &str) -> Self {
        Self::start_with_env(edge_secret, &[]).await
    }

    /// Starts the origin with `env` added to its environment.
    pub async fn start_with_env(edge_secret: &str, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut origin = OriginProcess {
            base_url: format!("http://127.0.0.1:{port}"),
            port,
            edge_secret: edge_secret.to_owned(),
            data: tempfile::tempdir().expect("a temp dir for the origin's data"),
            process: None,
            extra_env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        origin.start_again().await;
        origin
    }

    /// Starts the origin again on the same port with the same data (after [`Self::stop`]).
    pub async fn start_again(&mut self) {
        assert!(self.process.is_none(), "the origin is already running");
        let mut command = self.command();
        command.arg("serve");
        let log = self.data.path().join(format!("origin-{}.log", free_port()));
        let mut process = ManagedProcess::spawn("origin", command, &log);
        process
            .wait_until_ready(
                &format!("{}/healthz", self.base_url),
                Duration::from_secs(60),
            )
            .await;
        self.process = Some(process);
    }

    /// Stops the origin (SIGTERM, then SIGKILL), keeping its data.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.stop();
        }
    }

    /// Kills the origin at once (SIGKILL), as a crash would, keeping its data.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// The origin's data dir (database, files, outbox).
    pub fn data_dir(&self) -> &std::path::Path {
        self.data.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Everything the origin process wrote so far (its request and job logs).
    pub fn log_text(&self) -> String {
        self.process
            .as_ref()
            .map(ManagedProcess::log_text)
            .unwrap_or_default()
    }

    pub fn log_tail(&self) -> String {
        self.process
            .as_ref()
            .map(ManagedProcess::log_tail)
            .unwrap_or_default()
    }

    /// `origin admin create-tenant --name N --tokens T`, which prints `{"tenant_id","api_key"}`.
    pub fn create_tenant(&self, name: &str, tokens: u64) -> Tenant {
        let mut command = self.command();
        command.args([
            "admin",
            "create-tenant",
            "--name",
            name,
            "--tokens",
            &tokens.to_string(),
        ]);
        let output = command.output().expect("run origin admin create-tenant");
        assert!(
            output.status.success(),
            "create-tenant failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout
            .lines()
            .rev()
            .find(|line| line.trim_start().starts_with('{'))
            .unwrap_or_else(|| panic!("create-tenant printed no JSON line: {stdout}"));
        let value: Value = serde_json::from_str(line).expect("create-tenant prints JSON");
        Tenant {
            tenant_id: value["tenant_id"].as_str().expect("tenant_id").to_owned(),
            api_key: value["api_key"].as_str().expect("api_key").to_owned(),
        }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(origin_binary());
        let data_dir = self.data.path();
        command
            .current_dir(data_dir)
            .env("ORIGIN_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("DATA_DIR", data_dir)
            // The origin's own default, spelled out so an inherited DATABASE_URL cannot leak in.
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", data_dir.join("origin.db").display()),
            )
            .env("EDGE_SHARED_SECRET", &self.edge_secret)
            .env("MASTER_KEY", TEST_MASTER_KEY)
            .env("PUBLIC_BASE_URL", &self.base_url)
            // The platform fakes listen on loopback, which the origin calls only when allowed.
            .env("OUTBOUND_ALLOW_HOSTS", "127.0.0.1")
            .env("RUST_LOG", "info")
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)));
        command
    }
}

impl Drop for OriginProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The origin binary: `ORIGIN_BIN` if set, else built once per test run with `cargo build -p origin`.
pub fn origin_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("ORIGIN_BIN") {
                return PathBuf::from(path);
            }
            let root = project_root();
            let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .current_dir(&root)
                .args(["build", "--quiet", "-p", "origin"])
                .status()
                .expect("run cargo build -p origin");
            assert!(status.success(), "cargo build -p origin failed");
            target_dir().join("debug").join("origin")
        })
        .clone()
}
