//! A product file uploaded through the worker with the signed URL the origin hands out: the
//! URL is the credential, the body streams through the edge, the file appears on the product.

use e2e::{EdgeSystem, SystemOptions};
use reqwest::Method;
use serde_json::{Value, json};

/// An API call through the worker with the tenant's key; the answer's JSON.
async fn call(
    system: &EdgeSystem,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut request = reqwest::Client::new()
        .request(method, system.edge.url(path))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_uploaded_through_the_edge_appears_on_its_product() {
    let system = EdgeSystem::start(SystemOptions::default()).await;
    let (tenant, _) = system.tenant("Uploads");
    let client = reqwest::Client::new();
    let api = |path: &str| system.edge.url(path);

    let key = tenant.api_key.as_str();
    let product = call(
        &system,
        key,
        Method::POST,
        "/api/v1/products",
        Some(json!({"sku": "EBOOK-1", "name": "Rust in Production", "type": "FILE"})),
    )
    .await;
    let product_id = product["data"]["id"]
        .as_str()
        .expect("product created")
        .to_owned();
    let files_path = format!("/api/v1/products/{product_id}/files");
    let slot = call(
        &system,
        key,
        Method::POST,
        &files_path,
        Some(json!({"filename": "book.pdf", "content_type": "application/pdf"})),
    )
    .await;
    // The origin names its public base URL; send the same path and query to the edge.
    let upload_url = slot["data"]["upload_url"].as_str().expect("an upload URL");
    let path_and_query = &upload_url[upload_url.find("/api/v1/uploads/").unwrap()..];

    let unsigned = path_and_query.split('?').next().unwrap();
    let refused = client.put(api(unsigned)).body("x").send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "UNAUTHORIZED");

    let forged = path_and_query.replace("signature=", "signature=AAAA");
    let refused = client.put(api(&forged)).body("x").send().await.unwrap();
    assert!(refused.status().is_client_error(), "{}", refused.status());

    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let uploaded = client
        .put(api(path_and_query))
        .header("Content-Type", "application/pdf")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert!(
        uploaded.status().is_success(),
        "{}",
        uploaded.text().await.unwrap()
    );
    assert!(uploaded.headers().contains_key("x-ratelimit-remaining"));

    let product = call(
        &system,
        key,
        Method::GET,
        &format!("/api/v1/products/{product_id}"),
        None,
    )
    .await;
    let file = &product["data"]["files"][0];
    assert_eq!(file["status"], "uploaded", "{product}");
    assert_eq!(file["size_bytes"], bytes.len());
}
