//! Invitation mail: the transport (SMTP through lettre, or the log for
//! development) and the worker that drains the outbox. Each replica runs
//! one worker; a mail is claimed with `FOR UPDATE SKIP LOCKED` and leased
//! past any send, so two replicas do not both send it, and no transaction
//! stays open while an SMTP server takes its time. Delivery is at least
//! once: a replica that dies between sending a mail and recording it
//! leaves the mail to be sent again when the lease ends. The accept
//! link's secret is minted here, just before sending; only its digest is
//! stored.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use idstore_store::PgPool;
use idstore_store::invitations::{self, Delivery, InvitationMail};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use tokio::sync::Notify;

use crate::config::{Config, MailTransport, SmtpTls};

/// The built-in invitation: the subject line, then the body.
const DEFAULT_TEMPLATE: &str = "You are invited to {organization}
You have been invited to join {organization} on {application}.

Accept the invitation by opening this link:

{link}

The link works until {expires_at}. If you did not expect this invitation,
you can ignore this mail.
";

/// Longest an SMTP exchange may take before it counts as failed.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a claimed mail is nobody else's: beyond any send, so only a
/// worker that died mid-send lets another send it again.
const LEASE: Duration = Duration::from_secs(120);

enum Transport {
    Log,
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// What sends idstore's mail, as configured.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    subject: String,
    body: String,
    retry_ms: u64,
    retry_max_ms: u64,
    poll: Duration,
}

impl Mailer {
    /// The configured mailer; `None` with `mail_transport = none`.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Self>> {
        let transport = match config.mail_transport {
            MailTransport::None => return Ok(None),
            MailTransport::Log => {
                tracing::warn!(
                    "mail_transport = log: invitation mail, accept links included, is written to \
                     the log instead of being sent; use smtp in production"
                );
                Transport::Log
            }
            MailTransport::Smtp => Transport::Smtp(smtp(config)?),
        };
        let from = config
            .mail_from
            .as_deref()
            .context("mail_from is required when mail_transport is not none: set the From address, e.g. IDSTORE_MAIL_FROM=no-reply@example.com")?
            .parse::<Mailbox>()
            .context("mail_from is not a mailbox; write e.g. no-reply@example.com or Example <no-reply@example.com>")?;
        let template = match &config.mail_template_file {
            None => DEFAULT_TEMPLATE.to_owned(),
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("mail_template_file: cannot read {}", path.display()))?,
        };
        let (subject, body) = split_template(&template)?;
        Ok(Some(Self {
            transport,
            from,
            subject,
            body,
            retry_ms: config.mail_retry_ms,
            retry_max_ms: config.mail_retry_max_ms.max(config.mail_retry_ms),
            poll: Duration::from_millis(config.mail_poll_ms),
        }))
    }

    /// Sends one mail; the error says why it did not go.
    async fn send(&self, to: &str, subject: String, body: String) -> Result<(), String> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| format!("the invited address is not a mailbox: {e}"))?;
        match &self.transport {
            Transport::Log => {
                tracing::info!(to = %to, subject = %subject, body = %body, "mail (mail_transport = log)");
                Ok(())
            }
            Transport::Smtp(smtp) => {
                let message = Message::builder()
                    .from(self.from.clone())
                    .to(to)
                    .subject(subject)
                    .header(ContentType::TEXT_PLAIN)
                    .body(body)
                    .map_err(|e| format!("the mail could not be built: {e}"))?;
                smtp.send(message)
                    .await
                    .map(drop)
                    .map_err(|e| format!("the SMTP server did not take the mail: {e}"))
            }
        }
    }

    /// The delay before the next try of a mail that failed `attempts`
    /// times before this failure.
    fn retry_in_ms(&self, attempts: i32) -> u64 {
        let doubled = self.retry_ms.saturating_mul(1u64 << attempts.clamp(0, 30));
        doubled.min(self.retry_max_ms)
    }
}

fn smtp(config: &Config) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let host = config
        .smtp_host
        .as_deref()
        .context("smtp_host is required with mail_transport = smtp: name the SMTP server, e.g. IDSTORE_SMTP_HOST=smtp.example.com")?;
    let (builder, port) = match config.smtp_tls {
        SmtpTls::Starttls => (
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)?,
            587,
        ),
        SmtpTls::Tls => (AsyncSmtpTransport::<Tokio1Executor>::relay(host)?, 465),
        SmtpTls::None => (
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            25,
        ),
    };
    let mut builder = builder
        .port(config.smtp_port.unwrap_or(port))
        .timeout(Some(SMTP_TIMEOUT));
    match (&config.smtp_username, &config.smtp_password) {
        (Some(user), Some(password)) => {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        (None, None) => {}
        _ => anyhow::bail!("smtp_username and smtp_password go together: set both, or neither"),
    }
    Ok(builder.build())
}

/// The template's first line and the rest; `{link}` must be in the rest.
fn split_template(template: &str) -> anyhow::Result<(String, String)> {
    let (subject, body) = template
        .split_once('\n')
        .context("mail_template_file: the first line is the subject, the rest the body; the file has one line")?;
    anyhow::ensure!(
        body.contains("{link}"),
        "mail_template_file: the body must contain {{link}}, the invitation's accept link"
    );
    Ok((
        subject.trim().to_owned(),
        body.trim_start_matches('\n').to_owned(),
    ))
}

fn fill(text: &str, mail: &InvitationMail, link: &str) -> String {
    text.replace("{organization}", &mail.organization_name)
        .replace("{application}", &mail.app_name)
        .replace(
            "{expires_at}",
            &mail.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        )
        .replace("{link}", link)
}

fn link(base: &str, secret: &str) -> String {
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}invitation_token={secret}")
}

/// Tells the worker to stop once the mail it is sending, if any, went:
/// stopping mid-send would leave a sent mail to be sent again.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    asked: Arc<std::sync::atomic::AtomicBool>,
    wake: Arc<Notify>,
}

impl Stop {
    pub fn ask(&self) {
        self.asked.store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake.notify_one();
    }

    fn asked(&self) -> bool {
        self.asked.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// How long a stopping worker may take: the send under way.
pub const STOP_WITHIN: Duration = Duration::from_secs(SMTP_TIMEOUT.as_secs() + 5);

/// Sends due mail until `stop` is asked: at once when `due` is notified,
/// else every `mail_poll_ms` (mail made due by other replicas).
pub async fn drain(pool: PgPool, mailer: Arc<Mailer>, due: Arc<Notify>, stop: Stop) {
    while !stop.asked() {
        match claim(&pool, &mailer).await {
            Ok(Some((delivery, secret))) => {
                deliver(&pool, &mailer, delivery, &secret).await;
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "mail worker: could not read the outbox"),
        }
        tokio::select! {
            () = due.notified() => {}
            () = stop.wake.notified() => {}
            () = tokio::time::sleep(mailer.poll) => {}
        }
    }
}

/// The next due mail and the secret its link carries.
async fn claim(pool: &PgPool, mailer: &Mailer) -> anyhow::Result<Option<(Delivery, String)>> {
    let (secret, digest) = idstore_auth::ticket::new_ticket()?;
    let claimed = invitations::claim_mail(pool, &digest, LEASE.as_secs(), |attempts| {
        mailer.retry_in_ms(attempts)
    })
    .await?;
    Ok(claimed.map(|delivery| (delivery, secret)))
}

async fn deliver(pool: &PgPool, mailer: &Mailer, delivery: Delivery, secret: &str) {
    let mail = &delivery.mail;
    let link = link(&mail.link_base, secret);
    let subject = fill(&mailer.subject, mail, &link);
    let body = fill(&mailer.body, mail, &link);
    let invitation_id = mail.invitation_id.clone();
    let sent = tokio::time::timeout(SMTP_TIMEOUT, mailer.send(&mail.email, subject, body))
        .await
        .unwrap_or_else(|_| Err("the SMTP server did not answer in time".into()));
    match sent {
        Ok(()) => match delivery.sent(pool).await {
            Ok(()) => {
                metrics::counter!("idstore_mail_sent_total").increment(1);
                tracing::info!(invitation_id, "invitation mail sent");
            }
            // Sent, but not recorded: once its lease ends it is sent again,
            // with a new link (delivery is at least once).
            Err(e) => {
                tracing::warn!(invitation_id, error = %e, "mail worker: a sent mail could not be recorded")
            }
        },
        Err(error) => {
            metrics::counter!("idstore_mail_failed_total").increment(1);
            let retry_in_ms = mailer.retry_in_ms(delivery.attempts());
            tracing::warn!(
                invitation_id,
                error,
                retry_in_ms,
                "invitation mail not sent; will retry"
            );
            if let Err(e) = delivery.failed(pool, &error, retry_in_ms).await {
                tracing::warn!(invitation_id, error = %e, "mail worker: a failure could not be recorded");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_template_has_a_subject_and_a_link() {
        let (subject, body) = split_template(DEFAULT_TEMPLATE).unwrap();
        assert_eq!(subject, "You are invited to {organization}");
        assert!(body.starts_with("You have been invited"), "{body}");
        assert!(body.contains("{link}"));
    }

    #[test]
    fn a_template_without_the_link_is_refused() {
        let e = split_template("Subject\nno link here").unwrap_err();
        assert!(e.to_string().contains("{link}"), "{e}");
        assert!(split_template("one line only").is_err());
    }

    #[test]
    fn retries_double_from_the_first_delay_up_to_the_cap() {
        let mailer = Mailer {
            transport: Transport::Log,
            from: "a@example.com".parse().unwrap(),
            subject: String::new(),
            body: String::new(),
            retry_ms: 100,
            retry_max_ms: 1_000,
            poll: Duration::from_secs(1),
        };
        let delays: Vec<u64> = (0..6).map(|n| mailer.retry_in_ms(n)).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(mailer.retry_in_ms(i32::MAX), 1_000, "no overflow");
    }

    #[test]
    fn links_keep_the_pages_own_query() {
        assert_eq!(
            link("https://a.example/i", "s"),
            "https://a.example/i?invitation_token=s"
        );
        assert_eq!(
            link("https://a.example/i?x=1", "s"),
            "https://a.example/i?x=1&invitation_token=s"
        );
    }
}
