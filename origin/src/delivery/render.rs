//! The delivery email of some units of one order: the product's template (or the tenant's
//! default, or the built-in one) rendered with buyer, order, items, codes and links.

use serde_json::{Value, json};

use super::email::OutgoingEmail;
use super::links::download_token;
use crate::domain::templates::{
    DEFAULT_BODY, DEFAULT_SUBJECT, RENDER_DEADLINE, TemplateError, render,
};
use crate::ids::rfc3339;
use crate::store::pipeline::DeliveryBundle;

/// Where download links point and what signs them.
pub struct LinkSigner<'a> {
    pub base_url: &'a str,
    pub secret: &'a [u8],
}

/// A rendered email and which template made it.
pub struct RenderedEmail {
    pub email: OutgoingEmail,
    pub template: &'static str,
}

/// The data a template sees.
pub fn template_data(bundle: &DeliveryBundle, links: &LinkSigner<'_>) -> Value {
    let order = &bundle.order;
    let items: Vec<Value> = bundle
        .units
        .iter()
        .map(|unit| {
            let downloads: Vec<Value> = unit
                .links
                .iter()
                .map(|(link, filename)| {
                    json!({
                        "filename": filename,
                        "url": format!("{}/d/{}", links.base_url, download_token(links.secret, &link.id)),
                        "expires_at": rfc3339(link.expires_at),
                        "max_downloads": link.max_downloads,
                    })
                })
                .collect();
            let mut item = json!({
                "name": unit.product_name,
                "type": unit.delivery.product_type,
                "downloads": downloads,
            });
            if let Some(code) = &unit.delivery.code {
                item["code"] = json!(code);
            }
            // Always present, so a template may print it for any product type.
            item["download_url"] = downloads.first().map_or(json!(""), |d| d["url"].clone());
            item
        })
        .collect();
    json!({
        "buyer": { "name": order.buyer_name.clone().unwrap_or_default(), "email": order.buyer_email },
        "order": { "id": order.id, "platform": order.platform, "platform_order_id": order.platform_order_id },
        "shop": { "name": bundle.shop_name },
        "items": items,
    })
}

/// Renders subject and body with `data` off the async runtime, giving up after
/// [`RENDER_DEADLINE`] (the engine's fuel ends it soon after in any case).
pub async fn render_off_runtime(
    subject: String,
    body: String,
    data: Value,
) -> Result<(String, String), TemplateError> {
    let rendering = tokio::task::spawn_blocking(move || render(&subject, &body, &data));
    match tokio::time::timeout(RENDER_DEADLINE, rendering).await {
        Ok(Ok(rendered)) => rendered,
        Ok(Err(_)) | Err(_) => Err(TemplateError::deadline()),
    }
}

/// Renders the email. A template that fails to render falls back to the next one, so a
/// broken template never keeps a buyer from their purchase; one that exceeds the render
/// limits is the error (why, for the units' record), since the seller must fix it.
pub fn render_email(
    bundle: &DeliveryBundle,
    links: &LinkSigner<'_>,
    delivery_key: String,
) -> Result<RenderedEmail, TemplateError> {
    let data = template_data(bundle, links);
    let product = bundle.units.iter().find_map(|u| u.template.clone());
    let candidates = [
        (product, "product"),
        (bundle.default_template.clone(), "tenant_default"),
    ];
    let mut chosen = None;
    for ((subject, body), name) in candidates
        .into_iter()
        .filter_map(|(t, name)| t.map(|t| (t, name)))
    {
        match render(&subject, &body, &data) {
            Ok((s, b)) => {
                chosen = Some((s, b, name));
                break;
            }
            Err(error) if error.exceeded_limit => return Err(error),
            Err(_) => {}
        }
    }
    let (subject, body, template) =
        chosen.unwrap_or_else(|| match render(DEFAULT_SUBJECT, DEFAULT_BODY, &data) {
            Ok((s, b)) => (s, b, "built_in"),
            Err(_) => (
                format!("Your order {}", bundle.order.platform_order_id),
                data.to_string(),
                "raw",
            ),
        });
    Ok(RenderedEmail {
        email: OutgoingEmail {
            delivery_key,
            to: bundle.order.buyer_email.clone(),
            to_name: bundle.order.buyer_name.clone(),
            subject,
            text_body: body,
        },
        template,
    })
}
