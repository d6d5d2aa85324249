//! The second factor: a TOTP code from an authenticator app (RFC 6238: SHA-1, 6 digits,
//! 30 s, what every app reads from a QR code), and one-time backup codes for the day the
//! phone is lost.
//!
//! Enrolment is two steps, so a user cannot lock themselves out with a secret their app
//! never saw: the secret is stored unconfirmed and shown as a QR code (SVG drawn here, no
//! external service, no `data:` image the page's CSP would block); only a code typed from it
//! confirms it. A code is accepted once (the newest accepted time step is stored), and the
//! step before and after the current one are accepted for clocks a little off.

use crate::accounts::token_hash;
use crate::db::{Db, now_ms};
use totp_rs::{Algorithm, Builder, Secret, Totp};

/// How many backup codes a user gets at a time.
pub const BACKUP_CODES: usize = 10;

/// A user's second factor as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Enrolment {
    secret: String,
    /// Whether a code from it has been typed; until then it does not guard the login.
    pub confirmed: bool,
    last_step: i64,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrolment")
            .field("confirmed", &self.confirmed)
            .finish_non_exhaustive()
    }
}

/// What a new secret is shown as.
#[derive(Debug)]
pub struct Provisioning {
    /// The `otpauth://` URL apps read.
    pub url: String,
    /// The same as a QR code, an `<svg>` element to put in the page.
    pub qr_svg: String,
    /// The secret in base32, for typing by hand, in groups of four.
    pub secret_text: String,
}

/// The second factors of one product's database (with [`crate::web::session::SCHEMA`]).
#[derive(Debug, Clone)]
pub struct SecondFactors {
    db: Db,
    /// The issuer the app shows beside the account ("Ærø Kommune BorgerPC").
    issuer: String,
}

fn totp(secret: &str, issuer: &str, account: &str) -> anyhow::Result<Totp> {
    let secret = Secret::try_from_base32(secret)
        .map_err(|e| anyhow::anyhow!("the stored TOTP secret is not base32: {e:?}"))?;
    // ':' separates issuer and account in the URL; the crate refuses it in either.
    let clean = |s: &str| s.replace(':', " ");
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_skew(1)
        .with_secret(secret)
        .with_issuer(Some(clean(issuer)))
        .with_account_name(clean(account))
        .build()
        .map_err(|e| anyhow::anyhow!("TOTP: {e:?}"))
}

impl SecondFactors {
    /// Second factors in `db`, shown in apps under `issuer`.
    pub fn new(db: Db, issuer: impl Into<String>) -> Self {
        Self {
            db,
            issuer: issuer.into(),
        }
    }

    /// The user's second factor, if one is stored (confirmed or not).
    pub async fn enrolment(&self, user_id: i64) -> anyhow::Result<Option<Enrolment>> {
        let row: Option<(String, Option<i64>, i64)> = sqlx::query_as(
            "SELECT secret, confirmed_at, last_step FROM web_second_factors WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(self.db.reader())
        .await?;
        Ok(row.map(|(secret, confirmed_at, last_step)| Enrolment {
            secret,
            confirmed: confirmed_at.is_some(),
            last_step,
        }))
    }

    /// Whether the user must type a code at login.
    pub async fn is_enrolled(&self, user_id: i64) -> anyhow::Result<bool> {
        Ok(self.enrolment(user_id).await?.is_some_and(|e| e.confirmed))
    }

    /// Starts (or restarts) enrolment with a new secret, unless one is confirmed already:
    /// then the answer is `None` and nothing changes (resetting it is an administrator's
    /// [`SecondFactors::remove`]).
    pub async fn begin(&self, user_id: i64, account: &str) -> anyhow::Result<Option<Provisioning>> {
        if self.is_enrolled(user_id).await? {
            return Ok(None);
        }
        let secret = Secret::generate().to_base32();
        let t = totp(&secret, &self.issuer, account)?;
        let stored = secret.clone();
        self.db
            .write(move |c| {
                Box::pin(async move {
                    sqlx::query("DELETE FROM web_second_factors WHERE user_id = $1")
                        .bind(user_id)
                        .execute(&mut *c)
                        .await?;
                    sqlx::query(
                        "INSERT INTO web_second_factors (user_id, secret, last_step)
                         VALUES ($1, $2, 0)",
                    )
                    .bind(user_id)
                    .bind(&stored)
                    .execute(&mut *c)
                    .await?;
                    Ok(())
                })
            })
            .await?;
        Ok(Some(provisioning(&t, &secret)?))
    }

    /// The QR code of an enrolment in progress again (a reload of the enrolment page).
    pub async fn pending(
        &self,
        user_id: i64,
        account: &str,
    ) -> anyhow::Result<Option<Provisioning>> {
        match self.enrolment(user_id).await? {
            Some(e) if !e.confirmed => {
                let t = totp(&e.secret, &self.issuer, account)?;
                Ok(Some(provisioning(&t, &e.secret)?))
            }
            _ => Ok(None),
        }
    }

    /// Checks a code typed by the user: a TOTP code from the app (each used once), or an
    /// unused backup code (then used up). A right TOTP code also confirms an enrolment in
    /// progress, which then gets its backup codes: they are returned, to be shown once.
    pub async fn check(&self, user_id: i64, account: &str, code: &str) -> anyhow::Result<Checked> {
        self.check_at(user_id, account, code, now_ms()).await
    }

    async fn check_at(
        &self,
        user_id: i64,
        account: &str,
        code: &str,
        now: i64,
    ) -> anyhow::Result<Checked> {
        let Some(e) = self.enrolment(user_id).await? else {
            return Ok(Checked::Wrong);
        };
        let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
            let t = totp(&e.secret, &self.issuer, account)?;
            let secs = u64::try_from(now / 1000).unwrap_or(0);
            let Some(step) = t.check(&digits, secs) else {
                return Ok(Checked::Wrong);
            };
            let step = i64::try_from(step).unwrap_or(i64::MAX);
            if step <= e.last_step {
                return Ok(Checked::Reused);
            }
            let confirming = !e.confirmed;
            let codes = if confirming {
                backup_codes()
            } else {
                Vec::new()
            };
            let hashes: Vec<String> = codes.iter().map(|c| token_hash(&normal(c))).collect();
            let accepted = self
                .db
                .write(move |c| {
                    Box::pin(async move {
                        // Only if no one accepted this step or a later one meanwhile.
                        let done = sqlx::query(
                            "UPDATE web_second_factors
                             SET last_step = $1, confirmed_at = COALESCE(confirmed_at, $2)
                             WHERE user_id = $3 AND last_step < $1",
                        )
                        .bind(step)
                        .bind(now)
                        .bind(user_id)
                        .execute(&mut *c)
                        .await?;
                        if done.rows_affected() == 1 && confirming {
                            sqlx::query("DELETE FROM web_backup_codes WHERE user_id = $1")
                                .bind(user_id)
                                .execute(&mut *c)
                                .await?;
                            for h in &hashes {
                                sqlx::query(
                                    "INSERT INTO web_backup_codes (user_id, code_sha256)
                                     VALUES ($1, $2)",
                                )
                                .bind(user_id)
                                .bind(h)
                                .execute(&mut *c)
                                .await?;
                            }
                        }
                        Ok(done.rows_affected() == 1)
                    })
                })
                .await?;
            return Ok(match (accepted, confirming) {
                (false, _) => Checked::Reused,
                (true, true) => Checked::Confirmed {
                    backup_codes: codes,
                },
                (true, false) => Checked::Right,
            });
        }
        if !e.confirmed {
            return Ok(Checked::Wrong);
        }
        let hash = token_hash(&normal(code));
        let used = self
            .db
            .write(move |c| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE web_backup_codes SET used_at = $1
                         WHERE user_id = $2 AND code_sha256 = $3 AND used_at IS NULL",
                    )
                    .bind(now)
                    .bind(user_id)
                    .bind(&hash)
                    .execute(&mut *c)
                    .await?;
                    Ok(done.rows_affected() == 1)
                })
            })
            .await?;
        Ok(if used {
            Checked::BackupCodeUsed
        } else {
            Checked::Wrong
        })
    }

    /// Unused backup codes left.
    pub async fn backup_codes_left(&self, user_id: i64) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM web_backup_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(self.db.reader())
        .await?)
    }

    /// New backup codes for an enrolled user, replacing the old ones; shown once.
    pub async fn renew_backup_codes(&self, user_id: i64) -> anyhow::Result<Vec<String>> {
        anyhow::ensure!(
            self.is_enrolled(user_id).await?,
            "the user has no second factor"
        );
        let codes = backup_codes();
        let hashes: Vec<String> = codes.iter().map(|c| token_hash(&normal(c))).collect();
        self.db
            .write(move |c| {
                Box::pin(async move {
                    sqlx::query("DELETE FROM web_backup_codes WHERE user_id = $1")
                        .bind(user_id)
                        .execute(&mut *c)
                        .await?;
                    for h in &hashes {
                        sqlx::query(
                            "INSERT INTO web_backup_codes (user_id, code_sha256) VALUES ($1, $2)",
                        )
                        .bind(user_id)
                        .bind(h)
                        .execute(&mut *c)
                        .await?;
                    }
                    Ok(())
                })
            })
            .await?;
        Ok(codes)
    }

    /// Removes the user's second factor and backup codes (an administrator's reset for a lost
    /// phone); the user enrols again at the next login where the policy requires it.
    pub async fn remove(&self, user_id: i64) -> anyhow::Result<()> {
        self.db
            .write(move |c| {
                Box::pin(async move {
                    sqlx::query("DELETE FROM web_second_factors WHERE user_id = $1")
                        .bind(user_id)
                        .execute(&mut *c)
                        .await?;
                    sqlx::query("DELETE FROM web_backup_codes WHERE user_id = $1")
                        .bind(user_id)
                        .execute(&mut *c)
                        .await?;
                    Ok(())
                })
            })
            .await
    }
}

/// What a typed code turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// A right code from the app.
    Right,
    /// A right code that confirmed enrolment; the new backup codes, to show once.
    Confirmed {
        /// The codes, as the user types them.
        backup_codes: Vec<String>,
    },
    /// An unused backup code, now used up.
    BackupCodeUsed,
    /// A code from the app that was accepted before (someone watched it being typed).
    Reused,
    /// Not a right code.
    Wrong,
}

impl Checked {
    /// Whether the user passed.
    pub fn passed(&self) -> bool {
        matches!(
            self,
            Checked::Right | Checked::Confirmed { .. } | Checked::BackupCodeUsed
        )
    }
}

fn provisioning(t: &Totp, secret: &str) -> anyhow::Result<Provisioning> {
    let url = t.to_url().map_err(|e| anyhow::anyhow!("TOTP URL: {e:?}"))?;
    let svg = qrcode::QrCode::with_error_correction_level(url.as_bytes(), qrcode::EcLevel::M)?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    // Inline in the page: no XML declaration, and an accessible name is given by the page.
    let qr_svg = match svg.find("<svg") {
        Some(i) => svg[i..].to_owned(),
        None => svg,
    };
    let secret_text = secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Provisioning {
        url,
        qr_svg,
        secret_text,
    })
}

/// Ten codes of ten characters from an alphabet without look-alikes (no 0/O, 1/l/I), in two
/// groups: about 50 bits each, typed once.
fn backup_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    (0..BACKUP_CODES)
        .map(|_| {
            let bytes: [u8; 10] = rand::random();
            let chars: String = bytes
                .iter()
                .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
                .collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect()
}

/// A backup code as stored: typed with or without the dash, spaces or capitals.
fn normal(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Migration, test_db};

    async fn factors() -> (tempfile::TempDir, SecondFactors) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = test_db(dir.path()).await.expect("db");
        db.migrate(&[Migration {
            version: 1,
            name: "web",
            sql: crate::web::session::SCHEMA,
        }])
        .await
        .expect("schema");
        (dir, SecondFactors::new(db, "Ærø Kommune: BorgerPC"))
    }

    fn code_at(p: &Provisioning, ms: i64) -> String {
        let t = Totp::from_url(&p.url).expect("url");
        t.generate(u64::try_from(ms / 1000).expect("time"))
            .to_string()
    }

    #[tokio::test]
    async fn enrolment_is_confirmed_by_a_code_and_each_code_counts_once() {
        let (_dir, f) = factors().await;
        assert!(!f.is_enrolled(1).await.expect("read"));
        let p = f
            .begin(1, "anna@aeroe.dk")
            .await
            .expect("begin")
            .expect("new");
        assert!(p.url.starts_with("otpauth://totp/"), "{}", p.url);
        assert!(p.qr_svg.starts_with("<svg") && !p.qr_svg.contains("style="));
        assert_eq!(p.secret_text.split(' ').count(), 8);
        // Not confirmed yet: it guards nothing, and a reload shows the same secret.
        assert!(!f.is_enrolled(1).await.expect("read"));
        assert_eq!(
            f.pending(1, "anna@aeroe.dk")
                .await
                .expect("pending")
                .expect("some")
                .url,
            p.url
        );

        let now = 1_780_000_000_000;
        assert_eq!(
            f.check_at(1, "anna@aeroe.dk", "000000", now)
                .await
                .expect("check"),
            Checked::Wrong
        );
        let Checked::Confirmed { backup_codes } = f
            .check_at(1, "anna@aeroe.dk", &code_at(&p, now), now)
            .await
            .expect("check")
        else {
            panic!("the first right code confirms");
        };
        assert_eq!(backup_codes.len(), BACKUP_CODES);
        assert!(f.is_enrolled(1).await.expect("read"));
        assert!(f.begin(1, "anna@aeroe.dk").await.expect("begin").is_none());

        // The same code again, or one of an earlier step: refused.
        let same = code_at(&p, now);
        assert_eq!(
            f.check_at(1, "a", &same, now + 1000).await.expect("check"),
            Checked::Reused
        );
        // The next step's code, with spaces: accepted once.
        let next = code_at(&p, now + 30_000);
        let spaced = format!("{} {}", &next[..3], &next[3..]);
        assert_eq!(
            f.check_at(1, "a", &spaced, now + 30_000)
                .await
                .expect("check"),
            Checked::Right
        );
        // A code from two minutes ago: wrong.
        assert_eq!(
            f.check_at(1, "a", &code_at(&p, now - 120_000), now + 30_000)
                .await
                .expect("check"),
            Checked::Wrong
        );

        // A backup code works once, however it is typed.
        let typed = backup_codes[3].to_uppercase().replace('-', " ");
        assert_eq!(
            f.check_at(1, "a", &typed, now).await.expect("check"),
            Checked::BackupCodeUsed
        );
        assert_eq!(
            f.check_at(1, "a", &backup_codes[3], now)
                .await
                .expect("check"),
            Checked::Wrong
        );
        assert_eq!(f.backup_codes_left(1).await.expect("count"), 9);
        let renewed = f.renew_backup_codes(1).await.expect("renew");
        assert_eq!(f.backup_codes_left(1).await.expect("count"), 10);
        assert_eq!(
            f.check_at(1, "a", &backup_codes[4], now)
                .await
                .expect("check"),
            Checked::Wrong
        );
        assert_eq!(
            f.check_at(1, "a", &renewed[0], now).await.expect("check"),
            Checked::BackupCodeUsed
        );

        f.remove(1).await.expect("remove");
        assert!(f.enrolment(1).await.expect("read").is_none());
        assert_eq!(f.backup_codes_left(1).await.expect("count"), 0);
    }

    #[tokio::test]
    async fn backup_codes_do_not_confirm_an_enrolment() {
        let (_dir, f) = factors().await;
        f.begin(2, "b").await.expect("begin");
        assert_eq!(
            f.check_at(2, "b", "abcde-fghjk", 0).await.expect("check"),
            Checked::Wrong
        );
        assert_eq!(
            f.check_at(3, "c", "123456", 0).await.expect("check"),
            Checked::Wrong
        );
    }

    #[test]
    fn backup_codes_are_distinct_and_readable() {
        let codes = backup_codes();
        let set: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(set.len(), BACKUP_CODES);
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 11 && c.as_bytes()[5] == b'-')
        );
        assert!(codes.iter().all(|c| !c.contains(['0', '1', 'l', 'o', 'i'])));
    }
}
