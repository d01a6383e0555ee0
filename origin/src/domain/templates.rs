//! Email templates: subject and body in minijinja, checked when saved and rendered for
//! previews (and, with the delivery pipeline, for real emails) in a sandbox without I/O.

use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Value, json};

/// A template that failed to compile or render, with where and why.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct TemplateError {
    pub field: &'static str,
    pub message: String,
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // A typo in a variable name should show in the preview, not send an email with a hole.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

/// Checks that subject and body compile.
pub fn check(subject: &str, body: &str) -> Result<(), TemplateError> {
    let env = environment();
    env.template_from_str(subject)
        .map_err(|e| error("subject", &e))?;
    env.template_from_str(body).map_err(|e| error("body", &e))?;
    Ok(())
}

/// Renders subject and body with `data` (or [`sample_data`] when none is given).
pub fn render(subject: &str, body: &str, data: &Value) -> Result<(String, String), TemplateError> {
    let env = environment();
    let subject = env
        .render_str(subject, data)
        .map_err(|e| error("subject", &e))?;
    let body = env.render_str(body, data).map_err(|e| error("body", &e))?;
    Ok((subject, body))
}

/// What a delivery email can use: buyer, order, and the items with their codes and links.
pub fn sample_data() -> Value {
    json!({
        "buyer": { "name": "Anna Keller", "email": "anna.keller@example.net" },
        "order": { "id": "ord_sample", "platform": "woocommerce", "platform_order_id": "1287" },
        "shop": { "name": "Example Shop" },
        "items": [
            { "name": "Photo Editor Pro licence", "type": "CODE", "code": "PEP-7QM2-LX9V-B4NC" },
            { "name": "Preset pack", "type": "FILE", "download_url": "https://example.com/d/abc" }
        ]
    })
}

fn error(field: &'static str, e: &minijinja::Error) -> TemplateError {
    let message = match e.line() {
        Some(line) => format!("{} (line {line})", e.kind()),
        None => e.kind().to_string(),
    };
    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
    TemplateError {
        field,
        message: format!("{message}{detail}"),
    }
}

/// The template a tenant gets until it writes its own.
pub const DEFAULT_SUBJECT: &str = "Your order {{ order.platform_order_id }} is here";
pub const DEFAULT_BODY: &str = "Hello {{ buyer.name }},\n\n{% for item in items %}- {{ item.name }}: {% if item.code is defined %}{{ item.code }}{% else %}{{ item.download_url }}{% endif %}\n{% endfor %}";

/// Whether a template being saved is its tenant's default afterwards: when it asks to be, or
/// when no other template of the tenant is (the first template a tenant makes is its default
/// until another one claims it). Saving a default takes the flag from every other template.
pub fn is_default_after_save(asks_default: bool, another_is_default: bool) -> bool {
    asks_default || !another_is_default
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_template_is_the_default_until_another_claims_it() {
        assert!(is_default_after_save(false, false), "the first one");
        assert!(!is_default_after_save(false, true));
        assert!(is_default_after_save(true, true), "claiming takes it");
        assert!(is_default_after_save(true, false));
    }

    #[test]
    fn default_template_renders_sample_data() {
        let (subject, body) = render(DEFAULT_SUBJECT, DEFAULT_BODY, &sample_data()).unwrap();
        assert_eq!(subject, "Your order 1287 is here");
        assert!(body.contains("PEP-7QM2-LX9V-B4NC"), "{body}");
    }

    #[test]
    fn broken_and_undefined_names_are_errors() {
        assert_eq!(check("ok", "{% for %}").unwrap_err().field, "body");
        assert!(render("{{ buyer.nmae }}", "", &sample_data()).is_err());
    }
}
