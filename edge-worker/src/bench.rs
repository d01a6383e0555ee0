//! CPU measurement routes, enabled only with `BENCH_ROUTES=on`: each runs the verification a
//! webhook needs `n` times inside one request, so timing `n = 1` against a large `n` from outside
//! gives the CPU per verification in workerd (whose clock does not advance during CPU work).

use serde::Deserialize;
use shared::ErrorCode;
use shared::ebay::{EbayPublicKey, SignatureHeader, der_signature_to_raw, verify_ebay_signature};
use shared::woo::verify_woocommerce_signature;
use worker::{Request, Response, Result, RouteContext};

use crate::{ebay_keys, respond, settings};

#[derive(Deserialize)]
struct BenchInput {
    n: u32,
    /// WooCommerce: the secret and the `X-WC-Webhook-Signature` value.
    #[serde(default)]
    secret: String,
    #[serde(default)]
    signature: String,
    /// eBay: the key endpoint's JSON answer and the `X-EBAY-SIGNATURE` value.
    #[serde(default)]
    key_response: String,
    #[serde(default)]
    ebay_signature: String,
    body: String,
}

/// `POST /bench/{kind}` (woocommerce, ebay-webcrypto, ebay-webcrypto-cached, ebay-p256):
/// answers how many of the `n` verifications passed.
pub async fn verify(mut req: Request, ctx: RouteContext<()>) -> Result<Response> {
    if !settings::bench_routes_enabled(&ctx.env) {
        return respond::error(ErrorCode::NotFound, "no such route");
    }
    let input: BenchInput = req.json().await?;
    let body = input.body.as_bytes();
    let mut passed = 0u32;
    match ctx.param("kind").map(String::as_str) {
        Some("woocommerce") => {
            for _ in 0..input.n {
                passed += u32::from(
                    verify_woocommerce_signature(
                        input.secret.as_bytes(),
                        body,
                        Some(&input.signature),
                    )
                    .is_ok(),
                );
            }
        }
        Some("ebay-webcrypto") => {
            // What a cache miss in isolate memory costs: parse, import, verify.
            for _ in 0..input.n {
                let header =
                    SignatureHeader::parse(Some(&input.ebay_signature)).map_err(bad_input)?;
                let key = EbayPublicKey::from_response_json(input.key_response.as_bytes())
                    .map_err(bad_input)?;
                let crypto_key = ebay_keys::import_spki(key.spki_der()).await?;
                let raw = der_signature_to_raw(&header.signature_der).map_err(bad_input)?;
                passed += u32::from(ebay_keys::verify(&crypto_key, &raw, body).await?);
            }
        }
        Some("ebay-webcrypto-cached") => {
            // The usual path: the imported key is already in isolate memory.
            let key = EbayPublicKey::from_response_json(input.key_response.as_bytes())
                .map_err(bad_input)?;
            let crypto_key = ebay_keys::import_spki(key.spki_der()).await?;
            for _ in 0..input.n {
                let header =
                    SignatureHeader::parse(Some(&input.ebay_signature)).map_err(bad_input)?;
                let raw = der_signature_to_raw(&header.signature_der).map_err(bad_input)?;
                passed += u32::from(ebay_keys::verify(&crypto_key, &raw, body).await?);
            }
        }
        Some("ebay-p256") => {
            for _ in 0..input.n {
                let header =
                    SignatureHeader::parse(Some(&input.ebay_signature)).map_err(bad_input)?;
                let key = EbayPublicKey::from_response_json(input.key_response.as_bytes())
                    .map_err(bad_input)?;
                passed += u32::from(verify_ebay_signature(&key, &header, body).is_ok());
            }
        }
        _ => return respond::error(ErrorCode::NotFound, "no such benchmark"),
    }
    respond::json(200, &serde_json::json!({ "n": input.n, "passed": passed }))
}

fn bad_input(e: shared::ebay::EbayError) -> worker::Error {
    worker::Error::RustError(format!("bench input: {e}"))
}
