//! A browser without JavaScript for the dashboard's tests: it keeps the cookies the pages set,
//! follows no redirect by itself (so a test sees each 303 and its cookie), reads the CSRF
//! token out of a page's form, and sends from a client address of its choosing (as the edge
//! forwards it in `X-YS-Client-Address`).

use std::collections::BTreeMap;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, HeaderMap, LOCATION, SET_COOKIE};

use super::TestApp;

/// A page as a browser got it.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub html: String,
}

impl Page {
    /// Where a redirect sends the browser.
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The value of the first `name="csrf"` field of the page.
    pub fn csrf(&self) -> String {
        let marker = r#"name="csrf" value=""#;
        let start = self
            .html
            .find(marker)
            .expect("the page has a form with a csrf field")
            + marker.len();
        let end = self.html[start..].find('"').unwrap() + start;
        self.html[start..end].to_owned()
    }

    /// The words shown next to `field` and the code behind them, if the page shows an error there.
    pub fn field_error(&self, field: &str) -> Option<(String, String)> {
        let marker = format!(r#"id="{field}-error" data-code=""#);
        let start = self.html.find(&marker)? + marker.len();
        let code_end = self.html[start..].find('"')? + start;
        let code = self.html[start..code_end].to_owned();
        let text_start = self.html[code_end..].find("</span>")? + code_end + "</span>".len();
        let text_end = self.html[text_start..].find("</p>")? + text_start;
        Some((code, self.html[text_start..text_end].trim().to_owned()))
    }
}

pub struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    /// Cookie name → value, as the pages set them.
    pub cookies: BTreeMap<String, String>,
    /// The client address the edge would forward.
    pub address: String,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Browser {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
            address: "203.0.113.7".to_owned(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let mut request = request.header(shared::forward::CLIENT_ADDRESS_HEADER, &self.address);
        if !self.cookies.is_empty() {
            request = request.header(COOKIE, self.cookie_header());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        for set in headers.get_all(SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Page {
            status,
            headers,
            html: response.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(format!("{}{path}", self.app.base));
        self.send(request).await
    }

    /// A POST of `fields` as a form.
    fn form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::RequestBuilder {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.client
            .post(format!("{}{path}", self.app.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    }

    /// POSTs `fields` as a form (the browser adds nothing, not even the CSRF token).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let request = self.form(path, fields);
        self.send(request).await
    }

    /// POSTs `fields` as htmx does: `HX-Request`, and the page's token in `X-CSRF-Token`.
    pub async fn post_htmx(&mut self, path: &str, fields: &[(&str, &str)], csrf: &str) -> Page {
        let request = self
            .form(path, fields)
            .header("HX-Request", "true")
            .header("X-CSRF-Token", csrf);
        self.send(request).await
    }

    /// Opens `form_page`, then submits its form with `fields` and the page's CSRF token.
    pub async fn submit(&mut self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.get(form_page).await.csrf();
        let mut all = fields.to_vec();
        all.push(("csrf", &csrf));
        self.post(action, &all).await
    }

    /// Signs up a shop; the tenant id the browser was sent to.
    pub async fn sign_up(&mut self, shop: &str, email: &str, password: &str) -> String {
        let page = self
            .submit(
                "/app/sign-up",
                "/app/sign-up",
                &[
                    ("shop_name", shop),
                    ("email", email),
                    ("password", password),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
        page.location()
            .strip_prefix("/app/")
            .expect("to the tenant's overview")
            .to_owned()
    }

    pub async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        self.submit(
            "/app/sign-in",
            "/app/sign-in",
            &[("email", email), ("password", password)],
        )
        .await
    }
}
