//! Watching and telling: the offline watcher raises events for PCs that stopped checking in
//! (offline rules), and the mailer e-mails every new event to the rule's alert users.
//!
//! The mailer works from the database (`notified_at IS NULL`), not from memory, so an event
//! raised just before a crash is still mailed after it. A mail names the rule, the level, the
//! PC and the site, and links to the portal; it never carries the event's summary, which comes
//! from the PC and may hold a citizen's name or CPR number.

use crate::config::NotificationsConfig;
use crate::store::Store;
use crate::store::events::Unnotified;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use std::time::Duration;

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    portal_url: Option<String>,
    time_zone: chrono_tz::Tz,
}

impl Mailer {
    /// `None` when no SMTP server is configured.
    pub fn from_config(
        c: &NotificationsConfig,
        config_dir: &std::path::Path,
        portal_url: Option<String>,
        time_zone: chrono_tz::Tz,
    ) -> anyhow::Result<Option<Self>> {
        let Some(host) = &c.smtp_host else {
            return Ok(None);
        };
        let mut builder = match c.smtp_security.as_str() {
            "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(host)?,
            "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)?,
            _ => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        }
        .port(c.smtp_port)
        .timeout(Some(Duration::from_secs(30)));
        if let Some(user) = &c.smtp_username {
            let password = match &c.smtp_password {
                Some(s) => s.read(config_dir)?,
                None => anyhow::bail!(
                    "notifications.smtp_password: give it (file or env) with smtp_username"
                ),
            };
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Some(Self {
            transport: builder.build(),
            from: c
                .from
                .parse()
                .map_err(|e| anyhow::anyhow!("notifications.from: {e}"))?,
            portal_url,
            time_zone,
        }))
    }

    /// The mail about one event (Danish first, then English).
    fn message(&self, e: &Unnotified) -> anyhow::Result<Message> {
        use chrono::TimeZone as _;
        let when = self
            .time_zone
            .timestamp_millis_opt(e.occurred_at)
            .single()
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default();
        let (da, en) = match e.rule_kind.as_str() {
            "offline" => ("Offline-advarsel", "Offline alert"),
            _ => ("Sikkerhedsadvarsel", "Security alert"),
        };
        let link = self
            .portal_url
            .as_ref()
            .map(|u| format!("{u}/api/system/event/{}", e.id))
            .unwrap_or_else(|| format!("hændelse / event {}", e.id));
        let body = format!(
            "{da}: {rule} ({level})\nComputer: {pc}\nSite: {site}\nTidspunkt: {when}\n\n\
             Se hændelsen i portalen: {link}\n\
             Computerens besked vises kun i portalen, fordi den kan indeholde personoplysninger.\n\n\
             {en}: {rule} ({level})\nComputer: {pc}\nSite: {site}\nTime: {when}\n\n\
             See the event in the portal: {link}\n\
             The computer's message is only shown in the portal, as it may contain personal data.\n",
            rule = e.rule_name,
            level = e.level,
            pc = e.pc_name,
            site = e.site_name,
        );
        let mut m = Message::builder()
            .from(self.from.clone())
            .subject(format!("{da} / {en}: {} - {}", e.rule_name, e.pc_name));
        for r in &e.recipients {
            m = m.to(r
                .parse()
                .map_err(|err| anyhow::anyhow!("user e-mail {r:?}: {err}"))?);
        }
        // Quoted-printable keeps the ASCII of the text readable in the raw mail.
        Ok(m.singlepart(
            lettre::message::SinglePart::builder()
                .header(lettre::message::header::ContentType::TEXT_PLAIN)
                .header(lettre::message::header::ContentTransferEncoding::QuotedPrintable)
                .body(body),
        )?)
    }
}

/// One round: mail every waiting event. An event without recipients (or without a mailer)
/// is marked done; a failed send is kept for the next round.
pub async fn send_round(store: &Store, mailer: Option<&Mailer>) -> anyhow::Result<usize> {
    let mut sent = 0;
    for e in store.unnotified_events(200).await? {
        match mailer {
            Some(m) if !e.recipients.is_empty() => {
                let message = match m.message(&e) {
                    Ok(msg) => msg,
                    Err(err) => {
                        tracing::warn!(event = e.id, error = %err, "cannot build the alert e-mail; skipped");
                        store.mark_notified(e.id).await?;
                        continue;
                    }
                };
                match m.transport.send(message).await {
                    Ok(_) => {
                        store.mark_notified(e.id).await?;
                        metrics::counter!("borgerpc_alert_mails_total").increment(1);
                        sent += 1;
                    }
                    Err(err) => {
                        metrics::counter!("borgerpc_alert_mail_errors_total").increment(1);
                        tracing::warn!(event = e.id, error = %err, "alert e-mail not sent; will retry");
                        break;
                    }
                }
            }
            _ => store.mark_notified(e.id).await?,
        }
    }
    Ok(sent)
}

/// Runs the offline watcher and the mailer until the task is aborted.
pub async fn run(
    store: Store,
    mailer: Option<Mailer>,
    config: NotificationsConfig,
    time_zone: chrono_tz::Tz,
) {
    let mut offline = tokio::time::interval(Duration::from_secs(config.offline_check_seconds));
    let mut send = tokio::time::interval(Duration::from_secs(config.send_interval_seconds));
    loop {
        tokio::select! {
            _ = offline.tick() => {
                use chrono::Timelike as _;
                let now = chrono::Utc::now();
                let local = now.with_timezone(&time_zone);
                let minute = local.hour() * 60 + local.minute();
                match store.check_offline_rules(now.timestamp_millis(), minute).await {
                    Ok(0) => {}
                    Ok(n) => {
                        metrics::counter!("borgerpc_offline_events_total").increment(n as u64);
                        tracing::info!(events = n, "offline rules raised events");
                    }
                    Err(e) => tracing::warn!(error = %e, "offline rules not checked"),
                }
            }
            _ = send.tick() => {
                if let Err(e) = send_round(&store, mailer.as_ref()).await {
                    tracing::warn!(error = %e, "alert e-mails not sent");
                }
            }
        }
    }
}
