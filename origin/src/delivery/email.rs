//! Sending delivery emails: SMTP when `SMTP_URL` is set, otherwise an outbox folder of `.eml`
//! files that local runs and tests read exactly as a buyer's mail client would.
//!
//! Each email's Message-ID and outbox file name derive from the delivery it carries. Sending is
//! at least once at the transport boundary (a crash after the SMTP server took the message but
//! before we recorded it sends it again); a stable Message-ID lets mail systems fold such a
//! repeat into one, and the outbox simply rewrites the same file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::{Mailbox, Message, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

/// One email to one buyer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// Stable per delivery: names the outbox file and the Message-ID.
    pub delivery_key: String,
    pub to: String,
    pub to_name: Option<String>,
    pub subject: String,
    pub text_body: String,
}

/// Whether a failed send is worth retrying.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("the message could not be built: {0}")]
    Invalid(String),
    #[error("the mail server refused the message permanently: {0}")]
    Permanent(String),
    #[error("sending failed, will retry: {0}")]
    Transient(String),
}

impl SendError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, SendError::Invalid(_) | SendError::Permanent(_))
    }
}

/// Where emails go.
#[derive(Clone)]
pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    Outbox {
        dir: PathBuf,
        from: Mailbox,
    },
}

impl std::fmt::Debug for Mailer {
    // The SMTP URL carries credentials: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mailer::Smtp { from, .. } => write!(f, "Mailer::Smtp(from {from})"),
            Mailer::Outbox { dir, from } => {
                write!(f, "Mailer::Outbox({}, from {from})", dir.display())
            }
        }
    }
}

impl Mailer {
    /// SMTP when `smtp_url` is given (`smtps://user:pass@host:465`, `smtp://host:25?tls=required`),
    /// else the outbox under `outbox_dir`. `smtp_timeout` bounds each SMTP command (lettre's
    /// default is a minute, as long as a lease). Call within the Tokio runtime: the SMTP
    /// connection pool starts a task.
    pub fn new(
        smtp_url: Option<&str>,
        outbox_dir: &Path,
        from: &str,
        smtp_timeout: Duration,
    ) -> Result<Self, SendError> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| SendError::Invalid(format!("sender address {from:?}: {e}")))?;
        match smtp_url {
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| SendError::Invalid(format!("SMTP_URL is not usable: {e}")))?
                    .timeout(Some(smtp_timeout))
                    .build();
                Ok(Mailer::Smtp { transport, from })
            }
            None => {
                std::fs::create_dir_all(outbox_dir).map_err(|e| {
                    SendError::Invalid(format!("outbox {}: {e}", outbox_dir.display()))
                })?;
                Ok(Mailer::Outbox {
                    dir: outbox_dir.to_path_buf(),
                    from,
                })
            }
        }
    }

    pub async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError> {
        match self {
            Mailer::Smtp { transport, from } => {
                let message = build_message(from, email)?;
                transport
                    .send(message)
                    .await
                    .map(drop)
                    .map_err(|e| smtp_failure(&e))
            }
            Mailer::Outbox { dir, from } => {
                let bytes = build_message(from, email)?.formatted();
                write_atomically(&dir.join(outbox_file_name(&email.delivery_key)), &bytes)
                    .await
                    .map_err(|e| SendError::Transient(format!("outbox write: {e}")))
            }
        }
    }
}

/// What an SMTP failure means for the message. Only a permanent answer about the message
/// itself (its recipient refused, its content rejected) fails it for good. Everything else is
/// worth retrying: the server unreachable, timing out or dropping the connection, answering
/// 4xx, or refusing the session (authentication, an unknown command), which its operator
/// fixes without the message changing.
fn smtp_failure(error: &lettre::transport::smtp::Error) -> SendError {
    let code = error.status().map(|code| code.to_string());
    let about_the_message = match code.as_deref() {
        Some(code) => error.is_permanent() && !SESSION_REFUSALS.contains(&code),
        // The client refused to send it (an address or body the server cannot take).
        None => error.is_client(),
    };
    if about_the_message {
        SendError::Permanent(error.to_string())
    } else {
        SendError::Transient(error.to_string())
    }
}

/// Permanent SMTP answers about the session rather than a message: command syntax or
/// sequence, a server taking no mail, authentication required or refused.
const SESSION_REFUSALS: [&str; 8] = ["500", "502", "503", "504", "521", "530", "534", "535"];

/// The outbox file of a delivery: its key, made safe as a file name.
pub fn outbox_file_name(delivery_key: &str) -> String {
    let safe: String = delivery_key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.eml")
}

fn build_message(from: &Mailbox, email: &OutgoingEmail) -> Result<Message, SendError> {
    let to = Mailbox::new(
        email.to_name.clone(),
        email
            .to
            .parse()
            .map_err(|e| SendError::Invalid(format!("buyer address {:?}: {e}", email.to)))?,
    );
    let domain = from.email.domain().to_owned();
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(&email.subject)
        .message_id(Some(format!(
            "<{}@{domain}>",
            outbox_file_name(&email.delivery_key).trim_end_matches(".eml")
        )))
        .header(ContentType::TEXT_PLAIN)
        .body(email.text_body.clone())
        .map_err(|e| SendError::Invalid(e.to_string()))
}

/// Writes beside the target and renames, so a reader never sees half an email.
async fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("eml.tmp");
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(5);

    fn email() -> OutgoingEmail {
        OutgoingEmail {
            delivery_key: "dlv_01/2".into(),
            to: "anna.keller@example.net".into(),
            to_name: Some("Anna Keller".into()),
            subject: "Your order 1287".into(),
            text_body: "Your code: ABCD-1234\n".into(),
        }
    }

    #[tokio::test]
    async fn the_outbox_holds_one_readable_email_per_delivery() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::new(
            None,
            dir.path(),
            "YourSender <deliver@yoursender.test>",
            TIMEOUT,
        )
        .unwrap();
        mailer.send(&email()).await.unwrap();
        mailer.send(&email()).await.unwrap(); // a retry rewrites, never doubles
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(dir.path().join("dlv_01_2.eml")).unwrap();
        assert!(
            text.contains("To: \"Anna Keller\" <anna.keller@example.net>"),
            "{text}"
        );
        assert!(text.contains("Subject: Your order 1287"));
        assert!(text.contains("Message-ID: <dlv_01_2@yoursender.test>"));
        assert!(text.contains("Your code: ABCD-1234"));
    }

    #[tokio::test]
    async fn a_bad_buyer_address_is_a_permanent_failure() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::new(None, dir.path(), "deliver@yoursender.test", TIMEOUT).unwrap();
        let mut bad = email();
        bad.to = "not an address".into();
        let error = mailer.send(&bad).await.unwrap_err();
        assert!(error.is_permanent(), "{error}");
    }

    #[test]
    fn an_unusable_smtp_url_is_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let error = Mailer::new(
            Some("ftp://x"),
            dir.path(),
            "deliver@yoursender.test",
            TIMEOUT,
        )
        .unwrap_err();
        assert!(matches!(error, SendError::Invalid(_)));
    }

    #[tokio::test]
    async fn debug_never_shows_the_smtp_url() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::new(
            Some("smtps://user:hunter2@mail.example.com:465"),
            dir.path(),
            "deliver@yoursender.test",
            TIMEOUT,
        )
        .unwrap();
        assert!(!format!("{mailer:?}").contains("hunter2"));
    }
}
