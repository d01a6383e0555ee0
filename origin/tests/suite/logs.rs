//! The real `origin serve` process, logging at debug level, never writes a secret: not the
//! API keys it authenticates or creates, not the platform secrets it stores or hands to the
//! edge, not the edge secret or the master key. Its request lines carry the request id.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const EDGE_SECRET: &str = "edge-secret-LEAKCHECK-1";
const WEBHOOK_SECRET: &str = "wc-secret-LEAKCHECK-2";

#[tokio::test]
async fn serve_logs_requests_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let master_key = "5e".repeat(32);
    let binary = env!("CARGO_BIN_EXE_origin");
    let created = Command::new(binary)
        .args(["admin", "create-tenant", "--name", "Logs", "--tokens", "1"])
        .env("DATA_DIR", dir.path())
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(created.status.success());
    let tenant: Value = serde_json::from_slice(&created.stdout).unwrap();
    let key = tenant["api_key"].as_str().unwrap().to_owned();
    let tenant_id = tenant["tenant_id"].as_str().unwrap().to_owned();

    let mut child = Command::new(binary)
        .arg("serve")
        .env("ORIGIN_LISTEN", "127.0.0.1:0")
        .env("DATA_DIR", dir.path())
        .env_remove("DATABASE_URL")
        .env("EDGE_SHARED_SECRET", EDGE_SECRET)
        .env("MASTER_KEY", &master_key)
        .env("RUST_LOG", "debug")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let reader = {
        let log = log.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        })
    };
    let started = Instant::now();
    let addr = loop {
        let text = log.lock().unwrap().clone();
        if let Some(line) = text.lines().find(|l| l.contains("origin listening")) {
            let at = line.find("addr=").unwrap() + 5;
            break line[at..].split_whitespace().next().unwrap().to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "origin did not start: {text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();

    let response = signed(
        &client,
        &base,
        "POST",
        "/api/v1/connections",
        &key,
        Some(json!({"platform": "woocommerce", "store_url": "https://s.example.com", "webhook_secret": WEBHOOK_SECRET})),
    )
    .await;
    assert_eq!(response.status(), 201);
    let made: Value = signed(
        &client,
        &base,
        "POST",
        "/api/v1/keys",
        &key,
        Some(json!({"name": "second", "scopes": ["*"]})),
    )
    .await
    .json()
    .await
    .unwrap();
    let second = made["data"]["secret"].as_str().unwrap().to_owned();
    let response = signed(&client, &base, "GET", "/api/v1/connections", &second, None).await;
    assert_eq!(response.status(), 200);
    let path = shared::internal::edge_config_path(&tenant_id);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signature =
        shared::forward::sign_forwarded_request(EDGE_SECRET.as_bytes(), now, "GET", &path, b"");
    let config: Value = client
        .get(format!("{base}{path}"))
        .header(shared::forward::SIGNATURE_HEADER, signature)
        .header("x-request-id", "edge-req-77")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        config["data"]["woocommerce"]["connections"][0]["secrets"][0]["secret"],
        WEBHOOK_SECRET
    );

    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
    let log = log.lock().unwrap().clone();
    assert!(
        log.contains("request_id=edge-req-77"),
        "request lines carry the request id:\n{log}"
    );
    assert!(
        log.lines().filter(|l| l.contains("served")).count() >= 4,
        "{log}"
    );
    for secret in [
        key.as_str(),
        second.as_str(),
        WEBHOOK_SECRET,
        EDGE_SECRET,
        master_key.as_str(),
    ] {
        assert!(!log.contains(secret), "a secret reached the log:\n{log}");
    }
}

/// An API call with `key`, signed as the edge signs it (the origin serves nothing unsigned).
async fn signed(
    client: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signature =
        shared::forward::sign_forwarded_request(EDGE_SECRET.as_bytes(), now, method, path, &bytes);
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    client
        .request(method, format!("{base}{path}"))
        .bearer_auth(key)
        .header(shared::forward::SIGNATURE_HEADER, signature)
        .header("content-type", "application/json")
        .body(bytes)
        .send()
        .await
        .unwrap()
}
