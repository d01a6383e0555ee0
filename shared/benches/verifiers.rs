//! Cost of every signature check the edge makes per request, natively.
//! Run with `cargo bench -p shared`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

use shared::ebay::{EbayPublicKey, SignatureHeader, verify_ebay_signature};
use shared::forward::{sign_forwarded_request, verify_forwarded_request};
use shared::woo::{verify_woocommerce_signature, woocommerce_signature};

fn woocommerce(c: &mut Criterion) {
    let mut group = c.benchmark_group("woocommerce_verify");
    let secret = b"wcfixturesecret7Qm2Lx9Vb4Nc8Zr1";
    for size in [1024usize, 64 * 1024] {
        let body: Vec<u8> =
            br#"{"id":727,"status":"processing"},"#.iter().copied().cycle().take(size).collect();
        let signature = woocommerce_signature(secret, &body);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &body, |b, body| {
            b.iter(|| {
                verify_woocommerce_signature(secret, black_box(body), Some(&signature)).unwrap()
            })
        });
    }
    group.finish();
}

fn ebay(c: &mut Criterion) {
    let key = EbayPublicKey::from_response_json(include_bytes!(
        "../../fixtures/ebay/public-key-response.json"
    ))
    .unwrap();
    let vector: serde_json::Value =
        serde_json::from_str(include_str!("../../fixtures/ebay/signed-test-vector.json")).unwrap();
    let header_value = vector["cases"][1]["x_ebay_signature"].as_str().unwrap();
    let body = include_bytes!("../../fixtures/ebay/notification-order-confirmation.body");
    c.bench_function("ebay_verify/parse_header+verify", |b| {
        b.iter(|| {
            let header = SignatureHeader::parse(Some(black_box(header_value))).unwrap();
            verify_ebay_signature(&key, &header, black_box(body)).unwrap()
        })
    });
}

fn forward(c: &mut Criterion) {
    let secret = b"edge-origin-shared-secret-32-bytes!!";
    let body = vec![b'x'; 1024];
    let path = "/internal/v1/events?source=woocommerce";
    let header = sign_forwarded_request(secret, 1_764_000_000, "POST", path, &body);
    c.bench_function("forward_verify/1024", |b| {
        b.iter(|| {
            verify_forwarded_request(
                &[secret],
                Some(&header),
                1_764_000_010,
                "POST",
                path,
                black_box(&body),
            )
            .unwrap()
        })
    });
}

criterion_group!(benches, woocommerce, ebay, forward);
criterion_main!(benches);
