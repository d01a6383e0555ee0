//! The dashboard's accounts in a real headless Chromium, through the worker under `wrangler
//! dev` in front of the real origin: sign up → the overview shows the balance and what to do
//! first; sign out → sign in again; a wrong password is said next to the field; a form sent
//! without its CSRF token is refused with a page saying so; a sign-in after too many failures
//! says so and when to retry; another tenant's pages are not found. Every page visited is
//! photographed into `target/screenshots/`.

use e2e::{Browser, EdgeSystem, SystemOptions};

const PASSWORD: &str = "correct horse battery staple";

async fn sign_up(browser: &mut Browser, shop: &str, email: &str) -> String {
    browser.visit("/app/sign-up").await;
    browser.fill("shop_name", shop).await;
    browser.fill("email", email).await;
    browser.fill("password", PASSWORD).await;
    browser.press("Create account", "#token-balance").await;
    browser.path().await
}

async fn sign_in(browser: &mut Browser, email: &str, password: &str, then: &str) {
    browser.fill("email", email).await;
    browser.fill("password", password).await;
    browser.press("Sign in", then).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seller_signs_up_signs_in_and_sees_only_their_own_dashboard() {
    let system = EdgeSystem::start(SystemOptions::default()).await;
    let mut browser = Browser::start("dashboard_accounts", &system.edge.base_url).await;

    // Sign up: the new tenant's overview, its balance and the first thing to do.
    let anna = sign_up(&mut browser, "Keller Keys", "anna@keller.example").await;
    assert!(anna.starts_with("/app/ten_"), "{anna}");
    assert_eq!(browser.text("#token-balance").await, "0");
    assert_eq!(
        browser.text("#connect-heading").await,
        "Connect a store to start receiving orders"
    );
    assert_eq!(
        browser
            .attr("nav a[aria-current=page]", "href")
            .await
            .as_deref(),
        Some(anna.as_str())
    );

    // A form sent without its CSRF token (here: removed from the sign-out form) is refused
    // with a page saying so, and changes nothing.
    browser
        .run("document.querySelector('form.sign-out input[name=csrf]').remove()")
        .await;
    browser.press("Sign out", "main h1").await;
    assert_eq!(
        browser.text("main h1").await,
        "This form could not be accepted"
    );
    assert_eq!(
        browser
            .attr("main [data-code]", "data-code")
            .await
            .as_deref(),
        Some("FORBIDDEN")
    );
    browser.visit(&anna).await;
    assert_eq!(browser.text("#token-balance").await, "0", "still signed in");

    // Sign out, then back in; a wrong password is said next to the password field.
    browser.press("Sign out", "#password").await;
    assert_eq!(browser.path().await, "/app/sign-in");
    sign_in(
        &mut browser,
        "anna@keller.example",
        "not the password at all",
        "#password-error",
    )
    .await;
    let words = browser.text("#password-error").await;
    assert!(
        words.ends_with("The email or password is wrong."),
        "{words}"
    );
    assert_eq!(
        browser
            .attr("#password-error", "data-code")
            .await
            .as_deref(),
        Some("UNAUTHORIZED")
    );
    assert_eq!(
        browser
            .attr("#password", "aria-describedby")
            .await
            .as_deref(),
        Some("password-error")
    );
    sign_in(
        &mut browser,
        "anna@keller.example",
        PASSWORD,
        "#token-balance",
    )
    .await;
    assert_eq!(browser.path().await, anna);

    // Another tenant's session does not see this tenant's pages.
    browser.press("Sign out", "#password").await;
    let bert = sign_up(&mut browser, "Bert's Books", "bert@books.example").await;
    assert_ne!(bert, anna);
    browser.visit(&anna).await;
    assert_eq!(browser.text("main h1").await, "Page not found");
    assert_eq!(
        browser
            .attr("main [data-code]", "data-code")
            .await
            .as_deref(),
        Some("NOT_FOUND")
    );
    browser.visit(&bert).await;
    assert_eq!(browser.text(".who .tenant").await, "Bert's Books");

    // Five failed sign-ins to Anna's account: the sixth, right password or not, is refused and
    // says when to try again.
    browser.press("Sign out", "#password").await;
    for _ in 0..5 {
        sign_in(
            &mut browser,
            "anna@keller.example",
            "a wrong guess again",
            "#password-error",
        )
        .await;
        assert_eq!(
            browser
                .attr("#password-error", "data-code")
                .await
                .as_deref(),
            Some("UNAUTHORIZED")
        );
    }
    sign_in(
        &mut browser,
        "anna@keller.example",
        PASSWORD,
        "#password-error",
    )
    .await;
    let words = browser.text("#password-error").await;
    assert!(
        words.contains("Too many failed sign-ins to this account. Try again in 15 minutes"),
        "{words}"
    );
    assert_eq!(
        browser
            .attr("#password-error", "data-code")
            .await
            .as_deref(),
        Some("RATE_LIMITED")
    );
    assert_eq!(browser.path().await, "/app/sign-in");
    browser.close().await;
}
