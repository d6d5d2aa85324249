//! Watching and telling: the offline watcher raises events for PCs that stopped checking in
//! (offline rules), and the mailer e-mails new events to the rule's alert users.
//!
//! The mailer works from the database (`notified_at IS NULL`), not from memory, so an event
//! raised just before a crash is still mailed after it. It sends one e-mail per rule at a
//! time, listing how many events which PCs raised, and a rule's users get at most one per
//! `alert_interval_seconds`: a PC (or someone with its key) pushing thousands of events makes
//! one e-mail, not thousands. A mail names the rule, the level, the PCs and the site, and links
//! to the portal; it never carries an event's summary, which comes from the PC and may hold a
//! citizen's name or CPR number.

use crate::config::NotificationsConfig;
use crate::store::Store;
use crate::store::events::AlertDigest;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use std::collections::HashMap;
use std::time::Duration;

#[derive(Clone)]
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

    /// The sender the configuration names (`notifications.from`).
    pub(crate) fn sender(&self) -> &Mailbox {
        &self.from
    }

    /// The portal's address for links (`server.public_url`, without a trailing `/`).
    pub(crate) fn portal_url(&self) -> Option<&str> {
        self.portal_url.as_deref()
    }

    /// Sends a mail of the portal's own (scheduled reports) over the configured server.
    pub(crate) async fn send(&self, m: Message) -> Result<(), lettre::transport::smtp::Error> {
        self.transport.send(m).await.map(|_| ())
    }

    /// The mail about a rule's new events (Danish first, then English).
    fn message(&self, d: &AlertDigest) -> anyhow::Result<Message> {
        use chrono::TimeZone as _;
        let time = |ms: i64| {
            self.time_zone
                .timestamp_millis_opt(ms)
                .single()
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default()
        };
        let when = if d.first_at == d.last_at {
            time(d.first_at)
        } else {
            format!("{} - {}", time(d.first_at), time(d.last_at))
        };
        let (da, en) = match d.rule_kind.as_str() {
            "offline" => ("Offline-advarsel", "Offline alert"),
            _ => ("Sikkerhedsadvarsel", "Security alert"),
        };
        let link = match &self.portal_url {
            Some(u) if d.events == 1 => format!("{u}/api/system/event/{}", d.last_event_id),
            Some(u) => format!(
                "{u}/api/system/events?site={} (seneste / latest: {u}/api/system/event/{})",
                d.site_uid, d.last_event_id
            ),
            None => format!("hændelse / event {}", d.last_event_id),
        };
        let mut pcs: String = d
            .pcs
            .iter()
            .map(|(name, n)| format!("  {name}: {n}\n"))
            .collect();
        if d.more_pcs > 0 {
            pcs.push_str(&format!(
                "  … og {m} computere mere / and {m} more computers\n",
                m = d.more_pcs
            ));
        }
        let body = format!(
            "{da}: {rule} ({level})\nSite: {site}\nHændelser: {n}\nTidspunkt: {when}\n\
             Computere:\n{pcs}\n\
             Se hændelserne i portalen: {link}\n\
             Computerens besked vises kun i portalen, fordi den kan indeholde personoplysninger.\n\n\
             {en}: {rule} ({level})\nSite: {site}\nEvents: {n}\nTime: {when}\n\
             Computers:\n{pcs}\n\
             See the events in the portal: {link}\n\
             The computer's message is only shown in the portal, as it may contain personal data.\n",
            rule = d.rule_name,
            level = d.level,
            site = d.site_name,
            n = d.events,
        );
        let about = match (d.pcs.as_slice(), d.events) {
            ([(pc, _)], 1) => pc.clone(),
            _ => format!("{} hændelser / events", d.events),
        };
        let mut m = Message::builder()
            .from(self.from.clone())
            .subject(format!("{da} / {en}: {} - {about}", d.rule_name));
        for r in &d.recipients {
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

/// Rules looked at per round at most.
const RULES_PER_ROUND: i64 = 200;

/// When each rule was last mailed to each set of recipients, so they get at most one e-mail
/// about it per interval.
#[derive(Debug, Default)]
pub struct Mailed {
    at: HashMap<(String, i64, Vec<String>), std::time::Instant>,
}

/// One round: one e-mail per rule with new events and set of recipients, unless they were
/// mailed about it less than `interval` ago (its events wait for a later round). Events of a rule without recipients
/// (or without a mailer) are marked done; a failed send is kept for the next round.
pub async fn send_round(
    store: &Store,
    mailer: Option<&Mailer>,
    mailed: &mut Mailed,
    interval: Duration,
) -> anyhow::Result<usize> {
    let mut sent = 0;
    let now = std::time::Instant::now();
    mailed.at.retain(|_, at| now.duration_since(*at) < interval);
    for d in store.alert_digests(RULES_PER_ROUND).await? {
        let m = match mailer {
            Some(m) if !d.recipients.is_empty() => m,
            _ => {
                store.mark_notified(&d).await?;
                continue;
            }
        };
        let rule = (d.rule_kind.clone(), d.rule_id, d.recipients.clone());
        if mailed.at.contains_key(&rule) {
            continue;
        }
        let message = match m.message(&d) {
            Ok(msg) => msg,
            Err(err) => {
                tracing::warn!(rule = d.rule_id, kind = %d.rule_kind, error = %err, "cannot build the alert e-mail; skipped");
                store.mark_notified(&d).await?;
                continue;
            }
        };
        match m.transport.send(message).await {
            Ok(_) => {
                store.mark_notified(&d).await?;
                mailed.at.insert(rule, now);
                metrics::counter!("borgerpc_alert_mails_total").increment(1);
                sent += 1;
            }
            Err(err) => {
                metrics::counter!("borgerpc_alert_mail_errors_total").increment(1);
                tracing::warn!(rule = d.rule_id, kind = %d.rule_kind, error = %err, "alert e-mail not sent; will retry");
                break;
            }
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
    let alert_interval = Duration::from_secs(config.alert_interval_seconds);
    let mut mailed = Mailed::default();
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
                if let Err(e) = send_round(&store, mailer.as_ref(), &mut mailed, alert_interval).await {
                    tracing::warn!(error = %e, "alert e-mails not sent");
                }
            }
        }
    }
}
