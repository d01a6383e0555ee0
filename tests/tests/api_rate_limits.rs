//! `/api/v1/*` through the worker: 60 calls per minute per key, the 61st refused at the edge with
//! the rate-limit headers, each key counted on its own.

use std::time::Duration;

use e2e::harness::{header_number, unix_now};
use e2e::{EdgeSystem, SystemOptions};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_61st_call_in_a_minute_is_refused_and_keys_are_counted_apart() {
    let system = EdgeSystem::start(SystemOptions::default()).await;
    let (first, _) = system.tenant("First");
    let (second, _) = system.tenant("Second");
    let client = reqwest::Client::new();
    let url = system.edge.url("/api/v1/events");

    // The limit is per clock minute: start early in one so all 61 calls land in it.
    let into_minute = unix_now() % 60;
    if into_minute > 35 {
        tokio::time::sleep(Duration::from_secs(61 - into_minute)).await;
    }
    let minute_end = unix_now() - unix_now() % 60 + 60;

    for call in 1..=60u64 {
        let response = client
            .get(&url)
            .bearer_auth(&first.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "call {call}: {}",
            response.text().await.unwrap()
        );
        assert_eq!(
            header_number(&response, "x-ratelimit-limit"),
            Some(60),
            "call {call}"
        );
        assert_eq!(
            header_number(&response, "x-ratelimit-remaining"),
            Some(60 - call),
            "call {call}"
        );
        assert_eq!(
            header_number(&response, "x-ratelimit-reset"),
            Some(minute_end),
            "call {call}"
        );
        assert!(response.headers().get("retry-after").is_none());
        let body: Value = response.json().await.unwrap();
        assert!(
            body["data"].is_array(),
            "the origin's answer is passed through: {body}"
        );
    }

    let refused = client
        .get(&url)
        .bearer_auth(&first.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(header_number(&refused, "x-ratelimit-limit"), Some(60));
    assert_eq!(header_number(&refused, "x-ratelimit-remaining"), Some(0));
    assert_eq!(
        header_number(&refused, "x-ratelimit-reset"),
        Some(minute_end)
    );
    let retry_after = header_number(&refused, "retry-after").expect("Retry-After on 429");
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert!(
        refused.headers().get("x-request-id").is_none(),
        "a refused call never reaches the origin"
    );
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    assert_eq!(body["data"], Value::Null);

    // Another key has its own counter.
    let other = client
        .get(&url)
        .bearer_auth(&second.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    assert_eq!(header_number(&other, "x-ratelimit-remaining"), Some(59));

    // A malformed key is refused at the edge, counted apart from every real key.
    let malformed = client
        .get(&url)
        .bearer_auth("ys_live_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 401);
    assert_eq!(header_number(&malformed, "x-ratelimit-limit"), Some(60));
    assert_eq!(header_number(&malformed, "x-ratelimit-remaining"), Some(59));
    let body: Value = malformed.json().await.unwrap();
    assert_eq!(body["error"]["code"], "UNAUTHORIZED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_keys_share_one_budget_per_client_address() {
    use shared::apikey::{KeyEnvironment, RANDOM_BYTES, generate_api_key};

    let system = EdgeSystem::start(SystemOptions::default()).await;
    let client = reqwest::Client::new();
    let url = system.edge.url("/api/v1/products");
    let into_minute = unix_now() % 60;
    if into_minute > 30 {
        tokio::time::sleep(Duration::from_secs(61 - into_minute)).await;
    }

    // Well-formed keys (their checksum is public), each new: each would have its own window.
    let mut statuses = Vec::new();
    for n in 0..301u32 {
        let mut random = [0u8; RANDOM_BYTES];
        random[..4].copy_from_slice(&n.to_be_bytes());
        let made_up = generate_api_key(KeyEnvironment::Live, random).secret;
        let answer = client.get(&url).bearer_auth(&made_up).send().await.unwrap();
        statuses.push(answer.status().as_u16());
    }
    assert!(statuses[..300].iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(
        statuses[300], 429,
        "the address has spent its 300 calls a minute"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_keys_together_get_a_few_keys_worth() {
    let system = EdgeSystem::start(SystemOptions::default()).await;
    let (_, api) = system.tenant("Many keys");
    let mut keys = Vec::new();
    for n in 0..5 {
        let (status, made) = api
            .call(
                reqwest::Method::POST,
                "/api/v1/keys",
                Some(serde_json::json!({"name": format!("key {n}"), "scopes": ["*"]})),
            )
            .await;
        assert_eq!(status, 201, "{made}");
        keys.push(made["data"]["secret"].as_str().unwrap().to_owned());
    }
    let client = reqwest::Client::new();
    let url = system.edge.url("/api/v1/tenant");
    let into_minute = unix_now() % 60;
    if into_minute > 30 {
        tokio::time::sleep(Duration::from_secs(61 - into_minute)).await;
    }
    let call = |key: String| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let answer = client.get(&url).bearer_auth(&key).send().await.unwrap();
            let status = answer.status().as_u16();
            (status, answer.json::<Value>().await.unwrap())
        }
    };

    // Each key's first call tells the edge whose key it is.
    for key in &keys {
        assert_eq!(call(key.clone()).await.0, 200);
    }
    // Then the five keys together get 240 calls a minute, though each alone could make 60.
    for n in 0..240 {
        let (status, body) = call(keys[n % 5].clone()).await;
        assert_eq!(status, 200, "call {n}: {body}");
    }
    let (status, body) = call(keys[0].clone()).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("together"),
        "{body}"
    );
}
