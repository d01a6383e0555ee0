//! The dashboard's accounts through HTTP, as a browser without JavaScript uses them: sign-up
//! makes a tenant and signs its owner in, errors are shown next to their field with the API's
//! codes, every form needs its CSRF token, sign-ins are limited per account and per address,
//! a session sees only its own tenants, and sign-out ends it.

use crate::common;

use common::Backend;
use common::TestApp;
use common::dashboard::Browser;
use reqwest::StatusCode;

const PASSWORD: &str = "correct horse battery staple";

async fn sign_up_makes_a_tenant_and_signs_its_owner_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut browser = Browser::new(&app);
    let form = browser.get("/app/sign-up").await;
    assert_eq!(form.status, StatusCode::OK);
    // A signed-out form is bound to a pre-session cookie, so it has a token too.
    assert!(browser.cookies.contains_key("ys_presession"));

    let page = browser
        .submit(
            "/app/sign-up",
            "/app/sign-up",
            &[
                ("shop_name", "Keller Keys"),
                ("email", " Anna@Keller.Example "),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let tenant_id = page.location().strip_prefix("/app/").unwrap().to_owned();
    let cookie = page
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("ys_session="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/app"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    // The test app's public address is http, as a local run's is.
    assert!(!cookie.contains("Secure"), "{cookie}");

    let tenant = app.store.get_tenant(&tenant_id).await.unwrap().unwrap();
    assert_eq!(tenant.name, "Keller Keys");
    assert_eq!(tenant.tokens, 0);
    let overview = browser.get(&format!("/app/{tenant_id}")).await;
    assert_eq!(overview.status, StatusCode::OK, "{}", overview.html);
    assert!(
        overview
            .html
            .contains(r#"<strong id="token-balance">0</strong>"#)
    );
    assert!(
        overview
            .html
            .contains("Connect a store to start receiving orders")
    );
    assert!(
        overview.html.contains("anna@keller.example"),
        "the email as normalised"
    );
    // `/app` leads a signed-in seller to their overview.
    let start = browser.get("/app").await;
    assert_eq!(start.location(), format!("/app/{tenant_id}"));

    // Tokens an operator grants show on the next view.
    app.store.add_tokens(&tenant_id, 25).await.unwrap();
    let overview = browser.get(&format!("/app/{tenant_id}")).await;
    assert!(
        overview
            .html
            .contains(r#"<strong id="token-balance">25</strong>"#)
    );
}

async fn errors_are_shown_next_to_their_field_with_the_api_codes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut browser = Browser::new(&app);
    let page = browser
        .submit(
            "/app/sign-up",
            "/app/sign-up",
            &[("shop_name", " "), ("email", "anna"), ("password", "short")],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    for field in ["shop_name", "email", "password"] {
        let (code, words) = page
            .field_error(field)
            .unwrap_or_else(|| panic!("{field}: {}", page.html));
        assert_eq!(code, "VALIDATION_FAILED", "{field}");
        assert!(!words.is_empty());
    }
    assert!(
        page.html.contains(r#"value="anna""#),
        "what was typed is kept"
    );
    assert!(
        !page.html.contains("short"),
        "a password is never sent back"
    );

    let tenant_id = browser
        .sign_up("Keller Keys", "anna@keller.example", PASSWORD)
        .await;
    let mut other = Browser::new(&app);
    let taken = other
        .submit(
            "/app/sign-up",
            "/app/sign-up",
            &[
                ("shop_name", "Copy"),
                ("email", "ANNA@keller.example"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.field_error("email").unwrap().0, "CONFLICT");

    let wrong = other
        .sign_in("anna@keller.example", "not the password at all")
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let (code, words) = wrong.field_error("password").unwrap();
    assert_eq!(code, "UNAUTHORIZED");
    assert_eq!(words, "The email or password is wrong.");
    assert!(!other.cookies.contains_key("ys_session"));
    let malformed = other.sign_in("anna at keller", PASSWORD).await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        malformed.field_error("email").unwrap().0,
        "VALIDATION_FAILED"
    );

    let right = other.sign_in("Anna@Keller.example", PASSWORD).await;
    assert_eq!(right.status, StatusCode::SEE_OTHER, "{}", right.html);
    assert_eq!(right.location(), format!("/app/{tenant_id}"));
}

async fn every_form_needs_its_csrf_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut browser = Browser::new(&app);
    browser.get("/app/sign-up").await;
    let fields = [
        ("shop_name", "Keller Keys"),
        ("email", "anna@keller.example"),
        ("password", PASSWORD),
    ];
    let refused = browser.post("/app/sign-up", &fields).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.html.contains("This form could not be accepted"),
        "{}",
        refused.html
    );
    assert!(refused.html.contains(r#"data-code="FORBIDDEN""#));
    assert!(
        app.store
            .find_account_by_email("anna@keller.example")
            .await
            .unwrap()
            .is_none()
    );

    // Another browser's token does not fit this browser's cookie.
    let mut other = Browser::new(&app);
    let foreign = other.get("/app/sign-up").await.csrf();
    let mut with_foreign = fields.to_vec();
    with_foreign.push(("csrf", &foreign));
    assert_eq!(
        browser.post("/app/sign-up", &with_foreign).await.status,
        StatusCode::FORBIDDEN
    );

    // Signed in, a form is bound to the session: sign-out without its token changes nothing.
    let tenant_id = browser
        .sign_up("Keller Keys", "anna@keller.example", PASSWORD)
        .await;
    let overview = browser.get(&format!("/app/{tenant_id}")).await;
    assert_eq!(
        browser.post("/app/sign-out", &[]).await.status,
        StatusCode::FORBIDDEN
    );
    let old_token = with_foreign.last().unwrap().1;
    assert_eq!(
        browser
            .post("/app/sign-out", &[("csrf", old_token)])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        browser.get(&format!("/app/{tenant_id}")).await.status,
        StatusCode::OK
    );
    // The header htmx sends counts as the field does; htmx is sent on with HX-Redirect.
    let signed_out = browser
        .post_htmx("/app/sign-out", &[], &overview.csrf())
        .await;
    assert_eq!(signed_out.status, StatusCode::OK, "{}", signed_out.html);
    assert_eq!(signed_out.headers["hx-redirect"], "/app/sign-in");
    assert!(!browser.cookies.contains_key("ys_session"));
}

async fn sign_ins_are_limited_per_account_and_per_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut owner = Browser::new(&app);
    owner
        .sign_up("Keller Keys", "anna@keller.example", PASSWORD)
        .await;

    let mut guesser = Browser::new(&app);
    guesser.address = "198.51.100.1".to_owned();
    for _ in 0..5 {
        let page = guesser
            .sign_in("anna@keller.example", "a wrong guess, again")
            .await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    // The sixth attempt is refused unread, even with the right password, and says until when.
    let limited = guesser.sign_in("anna@keller.example", PASSWORD).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.html
    );
    let (code, words) = limited.field_error("password").unwrap();
    assert_eq!(code, "RATE_LIMITED");
    assert!(
        words.starts_with("Too many failed sign-ins to this account. Try again in 15 minutes"),
        "{words}"
    );
    let retry: i64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((890..=900).contains(&retry), "{retry}");
    assert!(!guesser.cookies.contains_key("ys_session"));
    // The account is held back from every address, its owner's too.
    let from_home = owner.sign_in("anna@keller.example", PASSWORD).await;
    assert_eq!(from_home.status, StatusCode::TOO_MANY_REQUESTS);
    // Another account is not.
    let mut second = Browser::new(&app);
    second
        .sign_up("Second", "bert@keller.example", PASSWORD)
        .await;
    assert_eq!(
        guesser
            .sign_in("bert@keller.example", PASSWORD)
            .await
            .status,
        StatusCode::SEE_OTHER
    );

    // From one address, failures to many accounts add up.
    let mut sprayer = Browser::new(&app);
    sprayer.address = "198.51.100.2".to_owned();
    for n in 0..20 {
        let page = sprayer
            .sign_in(
                &format!("user{n}@elsewhere.example"),
                "a wrong guess, again",
            )
            .await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    let limited = sprayer.sign_in("bert@keller.example", PASSWORD).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let (_, words) = limited.field_error("password").unwrap();
    assert!(
        words.starts_with("Too many failed sign-ins from your network."),
        "{words}"
    );
    sprayer.address = "198.51.100.3".to_owned();
    assert_eq!(
        sprayer
            .sign_in("bert@keller.example", PASSWORD)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
}

async fn a_session_sees_only_its_own_tenants(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut anna = Browser::new(&app);
    let annas = anna
        .sign_up("Keller Keys", "anna@keller.example", PASSWORD)
        .await;
    let mut bert = Browser::new(&app);
    let berts = bert
        .sign_up("Bert's Books", "bert@books.example", PASSWORD)
        .await;

    let other = anna.get(&format!("/app/{berts}")).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert!(other.html.contains("Page not found"));
    assert!(
        !other.html.contains("Bert"),
        "nothing of the other tenant shows"
    );
    let missing = anna.get("/app/ten_0000000000000000000000000000000").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        missing.html, other.html,
        "another tenant's page is as missing as a made-up one"
    );
    assert_eq!(
        anna.get(&format!("/app/{annas}")).await.status,
        StatusCode::OK
    );

    // Signed out, a tenant's page sends the browser to sign in.
    let mut stranger = Browser::new(&app);
    let page = stranger.get(&format!("/app/{annas}")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/app/sign-in");
}

async fn sign_out_ends_the_session_for_good(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut browser = Browser::new(&app);
    let tenant_id = browser
        .sign_up("Keller Keys", "anna@keller.example", PASSWORD)
        .await;
    let kept = browser.cookies.clone();
    let csrf = browser.get(&format!("/app/{tenant_id}")).await.csrf();
    let page = browser.post("/app/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(
        !browser.cookies.contains_key("ys_session"),
        "the browser drops it"
    );
    // The old cookie, replayed, is no session any more.
    browser.cookies = kept;
    let page = browser.get(&format!("/app/{tenant_id}")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/app/sign-in");
}

async fn assets_come_from_the_origin_with_a_long_cache(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut browser = Browser::new(&app);
    let page = browser.get("/app/sign-in").await;
    let link = |marker: &str| {
        let start = page.html.find(marker).unwrap() + marker.len();
        page.html[start..start + page.html[start..].find('"').unwrap()].to_owned()
    };
    for (path, content_type) in [
        (link(r#"<link rel="stylesheet" href=""#), "text/css"),
        (link(r#"<script src=""#), "text/javascript"),
    ] {
        assert!(path.starts_with("/app/assets/"), "{path}");
        let asset = browser.get(&path).await;
        assert_eq!(asset.status, StatusCode::OK, "{path}");
        let header = |name: &str| asset.headers[name].to_str().unwrap().to_owned();
        assert!(header("content-type").starts_with(content_type), "{path}");
        assert!(header("cache-control").contains("immutable"), "{path}");
        assert!(!asset.html.is_empty());
    }
    assert!(
        page.html.contains("htmx-2.0.11.min.js"),
        "htmx's version is in its name"
    );
    let missing = browser.get("/app/assets/htmx-1.0.0.min.js").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

on_both_backends!(
    sign_up_makes_a_tenant_and_signs_its_owner_in,
    errors_are_shown_next_to_their_field_with_the_api_codes,
    every_form_needs_its_csrf_token,
    sign_ins_are_limited_per_account_and_per_address,
    a_session_sees_only_its_own_tenants,
    sign_out_ends_the_session_for_good,
    assets_come_from_the_origin_with_a_long_cache,
);
