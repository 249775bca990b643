//! A small SMTP server the tests start in-process: it speaks enough of
//! RFC 5321 for lettre (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT; no TLS,
//! no AUTH) and keeps every mail it takes, so a test reads what idstore
//! really sent over a real SMTP connection.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// One mail as the sink took it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body, as sent (dot-stuffing undone).
    pub data: String,
}

impl Mail {
    /// The body as a mail client shows it: after the headers, with a
    /// quoted-printable transfer encoding undone.
    pub fn text(&self) -> String {
        let (headers, body) = self
            .data
            .split_once("\r\n\r\n")
            .or_else(|| self.data.split_once("\n\n"))
            .unwrap_or(("", &self.data));
        if headers
            .to_ascii_lowercase()
            .contains("content-transfer-encoding: quoted-printable")
        {
            quoted_printable(body)
        } else {
            body.to_owned()
        }
    }

    /// The header `name`'s value, as sent.
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.data
            .lines()
            .take_while(|l| !l.is_empty())
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    }

    /// The value of the first `invitation_token=` in the mail.
    pub fn invitation_token(&self) -> Option<String> {
        let text = self.text();
        let at = text.find("invitation_token=")? + "invitation_token=".len();
        let token: String = text[at..]
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '&')
            .collect();
        (!token.is_empty()).then_some(token)
    }

    /// The link the mail carries: its first `http` word.
    pub fn link(&self) -> Option<String> {
        self.text()
            .split_whitespace()
            .find(|w| w.starts_with("http://") || w.starts_with("https://"))
            .map(str::to_owned)
    }
}

#[derive(Default)]
struct Inbox {
    mails: Mutex<Vec<Mail>>,
    arrived: Notify,
}

pub struct SmtpSink {
    pub address: SocketAddr,
    inbox: Arc<Inbox>,
    accepting: JoinHandle<()>,
}

impl SmtpSink {
    /// A sink on a free port of 127.0.0.1.
    pub async fn start() -> Self {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// A sink on `address` (a port reserved earlier, for a server that is
    /// down at first).
    pub async fn start_on(address: SocketAddr) -> Self {
        let listener = TcpListener::bind(address)
            .await
            .expect("bind the SMTP sink");
        let address = listener.local_addr().unwrap();
        let inbox = Arc::new(Inbox::default());
        let accepting = tokio::spawn({
            let inbox = inbox.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(session(stream, inbox.clone()));
                }
            }
        });
        Self {
            address,
            inbox,
            accepting,
        }
    }

    /// Every mail taken so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.inbox.mails.lock().unwrap().clone()
    }

    /// Waits until at least `n` mails arrived; panics after `within`.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Mail> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let arrived = self.inbox.arrived.notified();
            let mails = self.mails();
            if mails.len() >= n {
                return mails;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!(
                    "{n} mails expected within {within:?}; the sink has {}",
                    self.mails().len()
                );
            }
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// Sends `config`'s mail to the sink at `sink` (up or not), retrying
/// and polling quickly.
pub fn mail_to(config: &mut idstore_server::Config, sink: SocketAddr) {
    use idstore_server::{MailTransport, SmtpTls};
    config.mail_transport = MailTransport::Smtp;
    config.smtp_host = Some(sink.ip().to_string());
    config.smtp_port = Some(sink.port());
    config.smtp_tls = SmtpTls::None;
    config.mail_from = Some("Acme Directory <no-reply@idstore.test>".into());
    config.mail_retry_ms = 50;
    config.mail_retry_max_ms = 200;
    config.mail_poll_ms = 50;
}

/// A free port on 127.0.0.1 with nothing listening on it (yet).
pub fn unused_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

async fn session(stream: TcpStream, inbox: Arc<Inbox>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let reply = async |write: &mut tokio::net::tcp::OwnedWriteHalf, text: &str| {
        write.write_all(text.as_bytes()).await.is_ok()
    };
    if !reply(&mut write, "220 sink ESMTP\r\n").await {
        return;
    }
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end().to_owned();
        let verb = command.split(' ').next().unwrap_or("").to_ascii_uppercase();
        let answer = match verb.as_str() {
            "EHLO" | "HELO" => "250-sink\r\n250 8BITMIME\r\n".to_owned(),
            "MAIL" => {
                from = address_in(&command);
                "250 OK\r\n".to_owned()
            }
            "RCPT" => {
                to.push(address_in(&command));
                "250 OK\r\n".to_owned()
            }
            "DATA" => {
                if !reply(&mut write, "354 go ahead\r\n").await {
                    return;
                }
                let mut data = String::new();
                loop {
                    line.clear();
                    match lines.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                inbox.mails.lock().unwrap().push(Mail {
                    from: std::mem::take(&mut from),
                    to: std::mem::take(&mut to),
                    data,
                });
                inbox.arrived.notify_waiters();
                "250 OK queued\r\n".to_owned()
            }
            "RSET" => {
                from.clear();
                to.clear();
                "250 OK\r\n".to_owned()
            }
            "QUIT" => {
                let _ = reply(&mut write, "221 bye\r\n").await;
                return;
            }
            _ => "250 OK\r\n".to_owned(),
        };
        if !reply(&mut write, &answer).await {
            return;
        }
    }
}

/// RFC 2045's quoted-printable, decoded.
fn quoted_printable(body: &str) -> String {
    let bytes = body.replace("=\r\n", "").replace("=\n", "").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `MAIL FROM:<a@b>` -> `a@b`.
fn address_in(command: &str) -> String {
    command
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(address, _)| address.to_owned())
        .unwrap_or_default()
}
