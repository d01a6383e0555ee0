//! Email templates: subject and body in minijinja, checked when saved and rendered for
//! previews (and, with the delivery pipeline, for real emails) in a sandbox without I/O.
//!
//! Templates are written by sellers, so every render is bounded: fuel (the engine's
//! instruction budget), a recursion limit and a cap on the output. A template that exceeds one
//! is refused when saved (rendered with sample data) and when previewed, and a delivery email
//! that exceeds one fails instead of going out half-made. Callers render off the async
//! runtime (`spawn_blocking`) under [`RENDER_DEADLINE`].

use std::io;
use std::time::Duration;

use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde_json::{Value, json};

/// Engine instructions one subject or body may take: a delivery of hundreds of units renders
/// in a few thousand; two nested loops of a thousand do not fit.
pub const FUEL: u64 = 100_000;
/// How deep includes, macros and nested blocks may go.
pub const RECURSION_LIMIT: usize = 32;
/// The largest rendered subject or body, in bytes.
pub const MAX_OUTPUT_BYTES: usize = 256 * 1024;
/// How long a caller waits for one render before giving it up.
pub const RENDER_DEADLINE: Duration = Duration::from_secs(2);

/// A template that failed to compile or render, with where and why.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct TemplateError {
    pub field: &'static str,
    pub message: String,
    /// It ran out of fuel, recursion or output room: too much work for any data.
    pub exceeded_limit: bool,
}

impl TemplateError {
    /// A render that did not finish within [`RENDER_DEADLINE`].
    pub fn deadline() -> Self {
        TemplateError {
            field: "body",
            message: format!("rendering took longer than {} s", RENDER_DEADLINE.as_secs()),
            exceeded_limit: true,
        }
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // A typo in a variable name should show in the preview, not send an email with a hole.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    env
}

/// Checks that subject and body compile, and that with sample data they stay within the
/// limits (other render errors are left to the preview: sample data lacks some fields).
pub fn check(subject: &str, body: &str) -> Result<(), TemplateError> {
    let env = environment();
    env.template_from_str(subject)
        .map_err(|e| error("subject", &e))?;
    env.template_from_str(body).map_err(|e| error("body", &e))?;
    match render(subject, body, &sample_data()) {
        Err(error) if error.exceeded_limit => Err(error),
        _ => Ok(()),
    }
}

/// Renders subject and body with `data` (or [`sample_data`] when none is given).
pub fn render(subject: &str, body: &str, data: &Value) -> Result<(String, String), TemplateError> {
    let env = environment();
    let subject = render_one(&env, "subject", subject, data)?;
    let body = render_one(&env, "body", body, data)?;
    Ok((subject, body))
}

fn render_one(
    env: &Environment<'static>,
    field: &'static str,
    source: &str,
    data: &Value,
) -> Result<String, TemplateError> {
    let template = env
        .template_from_str(source)
        .map_err(|e| error(field, &e))?;
    let mut out = CappedOutput(Vec::new());
    template
        .render_captured_to(data, &mut out)
        .map_err(|e| error(field, &e))?;
    String::from_utf8(out.0).map_err(|_| TemplateError {
        field,
        message: "the output is not UTF-8".into(),
        exceeded_limit: false,
    })
}

/// Collects output up to [`MAX_OUTPUT_BYTES`]; past that, writing fails and so does the render.
struct CappedOutput(Vec<u8>);

impl io::Write for CappedOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.0.len() + buf.len() > MAX_OUTPUT_BYTES {
            return Err(io::Error::other("the output cap is reached"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
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
    let exceeded_limit = match e.kind() {
        ErrorKind::OutOfFuel | ErrorKind::WriteFailure => true,
        // The recursion limit is reported as an invalid operation naming it.
        ErrorKind::InvalidOperation => e.detail().is_some_and(|d| d.contains("recursion")),
        _ => false,
    };
    if exceeded_limit {
        let message = match e.kind() {
            ErrorKind::OutOfFuel => "the template does too much work (its loops are too long)",
            ErrorKind::WriteFailure => "the rendered text is longer than the limit",
            _ => "the template nests too deeply",
        };
        let limits =
            format!("limits: {FUEL} steps, {MAX_OUTPUT_BYTES} bytes, depth {RECURSION_LIMIT}");
        return TemplateError {
            field,
            message: format!("{message} ({limits})"),
            exceeded_limit,
        };
    }
    let message = match e.line() {
        Some(line) => format!("{} (line {line})", e.kind()),
        None => e.kind().to_string(),
    };
    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
    TemplateError {
        field,
        message: format!("{message}{detail}"),
        exceeded_limit,
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
    fn runaway_templates_are_stopped_by_their_limits() {
        let loops =
            "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}";
        let error = render("s", loops, &sample_data()).unwrap_err();
        assert!(
            error.exceeded_limit && error.message.contains("too much work"),
            "{error}"
        );
        let long = "{{ 'x' * 1000000 }}";
        let error = render("s", long, &sample_data()).unwrap_err();
        assert!(
            error.exceeded_limit && error.message.contains("longer"),
            "{error}"
        );
        assert!(check("s", loops).is_err(), "refused when saved");
        // A missing variable is an ordinary error, not a limit, and saving leaves it to preview.
        let missing = render("s", "{{ nope }}", &sample_data()).unwrap_err();
        assert!(!missing.exceeded_limit);
        assert!(check("s", "{{ nope }}").is_ok());
    }

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
