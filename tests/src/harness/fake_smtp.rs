//! A real SMTP server on loopback for the tests: it speaks enough ESMTP for a real client
//! (lettre) to deliver to it, records every message it accepted with its Message-ID, and fails
//! on request at a chosen point of the dialogue: it stalls, drops the connection, or answers
//! a chosen 4xx/5xx. A message counts as accepted only when its final `250` went out to a
//! client still connected, as a real server commits it.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// Where in the dialogue a fault applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The greeting, when a client connects.
    Greeting,
    Ehlo,
    MailFrom,
    RcptTo,
    /// The `DATA` command.
    Data,
    /// The answer to the message itself (after the final `.`).
    EndOfData,
}

/// What the server does at a stage instead of answering well.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answers `code text` (a 4xx or 5xx); at the greeting it then hangs up.
    Reply(u16, String),
    /// Waits this long, then answers well; a client that gives up meanwhile (writes or hangs
    /// up) gets no answer and nothing is committed.
    Stall(Duration),
    /// Closes the connection without answering.
    Drop,
}

/// A message the server accepted.
#[derive(Debug, Clone)]
pub struct AcceptedMessage {
    pub message_id: Option<String>,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The message as sent (headers and body, dot-unstuffed, CRLF line ends).
    pub data: String,
}

#[derive(Default)]
struct State {
    accepted: Vec<AcceptedMessage>,
    /// Faults still to apply, in order: `(stage, fault, times left)`.
    faults: VecDeque<(Stage, Fault, u32)>,
    connections: u64,
    /// Answers held back by a stall right now.
    stalling: u64,
}

/// The running server; stops when dropped.
pub struct FakeSmtp {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeSmtp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeSmtp {
    /// A server on a free loopback port.
    pub async fn start() -> FakeSmtp {
        Self::start_on(0).await
    }

    /// A server on `port` of loopback (0: any free one), e.g. one a client was already told
    /// about while nothing listened there.
    pub async fn start_on(port: u16) -> FakeSmtp {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("bind the SMTP fake on port {port}: {e}"));
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move { session(stream, state).await });
            }
        });
        FakeSmtp { addr, state, task }
    }

    /// The `SMTP_URL` that reaches it (plain SMTP, no authentication).
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// The next `times` times the dialogue reaches `stage` (on any connection), `fault`
    /// happens there. Faults queued for the same stage apply one after another.
    pub fn fail(&self, stage: Stage, fault: Fault, times: u32) {
        self.state
            .lock()
            .unwrap()
            .faults
            .push_back((stage, fault, times));
    }

    /// Every message accepted so far, in order.
    pub fn accepted(&self) -> Vec<AcceptedMessage> {
        self.state.lock().unwrap().accepted.clone()
    }

    /// Connections made so far.
    pub fn connections(&self) -> u64 {
        self.state.lock().unwrap().connections
    }

    /// Whether an answer is held back by a stall right now.
    pub fn is_stalling(&self) -> bool {
        self.state.lock().unwrap().stalling > 0
    }

    /// Waits until `check` holds over the accepted messages (or panics after `within`).
    pub async fn wait_until(
        &self,
        what: &str,
        within: Duration,
        check: impl Fn(&[AcceptedMessage]) -> bool,
    ) -> Vec<AcceptedMessage> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let accepted = self.accepted();
            if check(&accepted) {
                return accepted;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the SMTP fake timed out waiting for {what}: {accepted:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn take_fault(state: &Mutex<State>, stage: Stage) -> Option<Fault> {
    let mut state = state.lock().unwrap();
    let at = state.faults.iter().position(|(s, _, _)| *s == stage)?;
    let (_, fault, times) = &mut state.faults[at];
    let fault = fault.clone();
    *times -= 1;
    if *times == 0 {
        state.faults.remove(at);
    }
    Some(fault)
}

/// How a stage ended: answer well, or the session is over.
enum Outcome {
    Proceed,
    Answered,
    Closed,
}

struct Session {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    state: Arc<Mutex<State>>,
}

impl Session {
    async fn write(&mut self, line: &str) -> bool {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .is_ok()
    }

    /// Applies the fault queued for `stage`, if any.
    async fn at(&mut self, stage: Stage) -> Outcome {
        match take_fault(&self.state, stage) {
            None => Outcome::Proceed,
            Some(Fault::Drop) => Outcome::Closed,
            Some(Fault::Reply(code, text)) => {
                if !self.write(&format!("{code} {text}")).await || stage == Stage::Greeting {
                    return Outcome::Closed;
                }
                Outcome::Answered
            }
            Some(Fault::Stall(duration)) => {
                self.state.lock().unwrap().stalling += 1;
                // A client that writes or hangs up before the answer (without pipelining it
                // must wait) has given up on it: the session ends unanswered, uncommitted.
                let gave_up = tokio::select! {
                    () = tokio::time::sleep(duration) => false,
                    _ = self.reader.fill_buf() => true,
                };
                self.state.lock().unwrap().stalling -= 1;
                if gave_up {
                    Outcome::Closed
                } else {
                    Outcome::Proceed
                }
            }
        }
    }

    async fn read_line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line).await {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_owned()),
        }
    }
}

async fn session(stream: TcpStream, state: Arc<Mutex<State>>) {
    state.lock().unwrap().connections += 1;
    let (reader, writer) = stream.into_split();
    let mut s = Session {
        reader: BufReader::new(reader),
        writer,
        state,
    };
    match s.at(Stage::Greeting).await {
        Outcome::Proceed => {
            if !s.write("220 fake-smtp.test ESMTP ready").await {
                return;
            }
        }
        Outcome::Answered | Outcome::Closed => return,
    }
    let (mut from, mut to) = (String::new(), Vec::new());
    while let Some(line) = s.read_line().await {
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let (stage, answer) = match verb.as_str() {
            "EHLO" => (
                Some(Stage::Ehlo),
                "250-fake-smtp.test\r\n250-8BITMIME\r\n250 SMTPUTF8",
            ),
            "HELO" => (Some(Stage::Ehlo), "250 fake-smtp.test"),
            "MAIL" => (Some(Stage::MailFrom), "250 sender ok"),
            "RCPT" => (Some(Stage::RcptTo), "250 recipient ok"),
            "DATA" => (Some(Stage::Data), "354 end with <CRLF>.<CRLF>"),
            "RSET" | "NOOP" => (None, "250 ok"),
            "QUIT" => {
                let _ = s.write("221 bye").await;
                return;
            }
            _ => (None, "502 command not implemented"),
        };
        if let Some(stage) = stage {
            match s.at(stage).await {
                Outcome::Closed => return,
                Outcome::Answered => continue,
                Outcome::Proceed => {}
            }
        }
        match verb.as_str() {
            "MAIL" => {
                from = address_in(&line);
                to.clear();
            }
            "RCPT" => to.push(address_in(&line)),
            "RSET" => {
                from.clear();
                to.clear();
            }
            _ => {}
        }
        if !s.write(answer).await {
            return;
        }
        if verb == "DATA" {
            let mut data = String::new();
            loop {
                let Some(line) = s.read_line().await else {
                    return;
                };
                if line == "." {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
                data.push_str("\r\n");
            }
            match s.at(Stage::EndOfData).await {
                Outcome::Closed => return,
                Outcome::Answered => continue,
                Outcome::Proceed => {}
            }
            if !s.write("250 queued").await {
                return;
            }
            let message = AcceptedMessage {
                message_id: header(&data, "message-id"),
                mail_from: std::mem::take(&mut from),
                rcpt_to: std::mem::take(&mut to),
                data,
            };
            s.state.lock().unwrap().accepted.push(message);
        }
    }
}

/// The address in `MAIL FROM:<a@b> …` or `RCPT TO:<a@b>`.
fn address_in(line: &str) -> String {
    match (line.find('<'), line.find('>')) {
        (Some(start), Some(end)) if start < end => line[start + 1..end].to_owned(),
        _ => String::new(),
    }
}

/// The value of header `name` (case-insensitive) in a message's header block.
fn header(data: &str, name: &str) -> Option<String> {
    data.split("\r\n")
        .take_while(|line| !line.is_empty())
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn dialogue(fake: &FakeSmtp, lines: &[&str]) -> String {
        let mut stream = TcpStream::connect(fake.addr).await.unwrap();
        for line in lines {
            stream
                .write_all(format!("{line}\r\n").as_bytes())
                .await
                .unwrap();
        }
        let mut answer = String::new();
        let _ =
            tokio::time::timeout(Duration::from_secs(2), stream.read_to_string(&mut answer)).await;
        answer
    }

    const MESSAGE: [&str; 9] = [
        "EHLO me",
        "MAIL FROM:<shop@example.test>",
        "RCPT TO:<anna@example.net>",
        "DATA",
        "Message-ID: <m1@example.test>",
        "",
        "..dot-stuffed",
        ".",
        "QUIT",
    ];

    #[tokio::test]
    async fn accepts_a_message_and_records_its_message_id() {
        let fake = FakeSmtp::start().await;
        let answer = dialogue(&fake, &MESSAGE).await;
        assert!(answer.contains("250 queued"), "{answer}");
        let accepted = fake.accepted();
        assert_eq!(accepted.len(), 1);
        assert_eq!(accepted[0].message_id.as_deref(), Some("<m1@example.test>"));
        assert_eq!(accepted[0].rcpt_to, ["anna@example.net"]);
        assert!(accepted[0].data.contains("\r\n.dot-stuffed\r\n"));
    }

    #[tokio::test]
    async fn a_refusal_or_a_drop_accepts_nothing_and_then_it_recovers() {
        let fake = FakeSmtp::start().await;
        fake.fail(Stage::EndOfData, Fault::Reply(451, "try later".into()), 1);
        fake.fail(Stage::RcptTo, Fault::Drop, 1);
        let answer = dialogue(&fake, &MESSAGE).await;
        assert!(
            answer.is_empty() || !answer.contains("250 queued"),
            "{answer}"
        );
        let answer = dialogue(&fake, &MESSAGE).await;
        assert!(answer.contains("451 try later"), "{answer}");
        assert!(fake.accepted().is_empty());
        dialogue(&fake, &MESSAGE).await;
        assert_eq!(fake.accepted().len(), 1);
        assert_eq!(fake.connections(), 3);
        assert!(take_fault(&fake.state, Stage::RcptTo).is_none());
    }
}
