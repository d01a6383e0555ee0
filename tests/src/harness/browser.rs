//! A real headless browser for the dashboard's tests: Debian's `chromium`, driven through its
//! `chromedriver` (WebDriver, on a free loopback port) with fantoccini. One chromedriver and one
//! browser session per test, with a fresh profile; every page the test visits or submits is
//! photographed into `target/screenshots/NAME-NN-PAGE.png`. Dropping it stops chromedriver and
//! the browser with it. `make setup` installs both from Debian's packages when missing.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tempfile::TempDir;

use super::process::ManagedProcess;
use super::{free_port, target_dir};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a page or an htmx swap may take to show what the test waits for.
const WAIT: Duration = Duration::from_secs(20);

pub struct Browser {
    // Field order is drop order: the session's client before the driver it talks to.
    client: Client,
    base_url: String,
    name: String,
    shots: u32,
    _driver: ManagedProcess,
    _profile: TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium whose pages are at `base_url` (the edge);
    /// `name` prefixes the screenshots.
    pub async fn start(name: &str, base_url: &str) -> Self {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(binary).exists(),
                "{binary} is missing: `make setup` installs Debian's chromium and chromium-driver"
            );
        }
        let profile = tempfile::tempdir().expect("a temp dir for the browser profile");
        let port = free_port();
        let mut command = Command::new(CHROMEDRIVER);
        command.arg(format!("--port={port}"));
        let mut driver = ManagedProcess::spawn(
            "chromedriver",
            command,
            &profile.path().join("chromedriver.log"),
        );
        let webdriver = format!("http://127.0.0.1:{port}");
        driver
            .wait_until_ready(&format!("{webdriver}/status"), Duration::from_secs(30))
            .await;
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().join("chromium").display()),
                ],
            },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object literal")
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&webdriver)
            .await
            .unwrap_or_else(|e| panic!("a Chromium session: {e}\n{}", driver.log_tail()));
        Browser {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            name: name.to_owned(),
            shots: 0,
            _driver: driver,
            _profile: profile,
        }
    }

    /// The WebDriver session, for what the helpers below do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens `path` and photographs the page.
    pub async fn visit(&mut self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base_url))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
        self.snap().await;
    }

    /// Types `value` into the field with id `id` (what a label's `for` names), replacing it.
    pub async fn fill(&self, id: &str, value: &str) {
        let field = self
            .client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("#{id}: {e}"));
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    /// Clicks the button labelled `label`, waits until an element matching `then` (CSS) is on
    /// the page (one that was there before does not count: a redrawn form's error does) and
    /// photographs it.
    pub async fn press(&mut self, label: &str, then: &str) {
        self.mark_stale(then).await;
        let xpath = format!("//button[normalize-space()='{label}']");
        self.client
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("a button '{label}': {e}"))
            .click()
            .await
            .unwrap();
        self.wait_for(then).await;
    }

    /// Marks what matches `css` now, so that [`Browser::wait_for`] waits for a new one.
    async fn mark_stale(&self, css: &str) {
        let script = "document.querySelectorAll(arguments[0]).forEach(e => e.setAttribute('data-test-stale', ''))";
        self.client.execute(script, vec![json!(css)]).await.unwrap();
    }

    /// Waits until an element matching `css` that [`Browser::mark_stale`] did not mark is on the
    /// page, then photographs it.
    pub async fn wait_for(&mut self, css: &str) {
        let fresh = format!("{css}:not([data-test-stale])");
        if let Err(e) = self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(&fresh))
            .await
        {
            let path = self.snap().await;
            panic!(
                "no {css} after {WAIT:?} on {} ({e}); see {}",
                self.path().await,
                path.display()
            );
        }
        self.snap().await;
    }

    /// The path (and query) of the page shown.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// The visible text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .text()
            .await
            .unwrap()
    }

    /// An attribute of the first element matching `css`.
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .attr(name)
            .await
            .unwrap()
    }

    /// Runs `script` in the page (for what a user could do by hand, such as editing a form).
    pub async fn run(&self, script: &str) -> Value {
        self.client.execute(script, Vec::new()).await.unwrap()
    }

    /// Photographs the page into `target/screenshots/NAME-NN-PAGE.png`, PAGE from its path.
    pub async fn snap(&mut self) -> PathBuf {
        self.shots += 1;
        let page = self
            .path()
            .await
            .trim_start_matches('/')
            .split('?')
            .next()
            .unwrap_or_default()
            .split('/')
            .filter(|segment| !segment.is_empty() && !segment.starts_with("ten_"))
            .collect::<Vec<_>>()
            .join("-");
        let page = if page.is_empty() {
            "root".to_owned()
        } else {
            page
        };
        let dir = target_dir().join("screenshots");
        std::fs::create_dir_all(&dir).expect("target/screenshots");
        let path = dir.join(format!("{}-{:02}-{page}.png", self.name, self.shots));
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }

    /// Ends the browser session (dropping the browser also stops it, less politely).
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}
