//! Secrets people and programs log in with: passwords (stored as argon2id hashes, never
//! reversible) and bearer tokens (API keys, sessions), shown once and stored as sha256, so a
//! copy of the database lets no one in.
//!
//! Passwords are the one secret people choose, so this module also owns what a new one must
//! be (long enough, not only spaces, not a common password or a variation of one), and how
//! many are checked at once: each Argon2 check takes 19 MiB and tens of milliseconds of CPU,
//! so a login endpoint that runs them unbounded hands anyone who can reach it the machine's
//! memory ([`PasswordChecker`]). The checker also keeps its 19 MiB work areas and reuses
//! them: allocated anew on each blocking thread, they stayed in the allocator's per-thread
//! arenas, several hundred MiB after a burst.

use argon2::password_hash::PasswordHasher as _;
use argon2::password_hash::phc::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use sha2::Digest as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest, in bytes: more proves nothing and only makes every check dearer.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Words Danish passwords are often built from, which the common-password list (English)
/// does not know; they count as dictionary words, so "Sommer2024!" is as weak as it is.
const DANISH_WORDS: &[&str] = &[
    "kodeord",
    "adgangskode",
    "password",
    "hemmelig",
    "velkommen",
    "sommer",
    "vinter",
    "foraar",
    "forår",
    "efteraar",
    "efterår",
    "sommerferie",
    "jul",
    "julemand",
    "glaedeligjul",
    "godjul",
    "danmark",
    "dannebrog",
    "kobenhavn",
    "københavn",
    "aarhus",
    "odense",
    "aalborg",
    "esbjerg",
    "kommune",
    "kommunen",
    "borger",
    "borgerpc",
    "os2",
    "os2borgerpc",
    "bibliotek",
    "biblioteket",
    "skole",
    "skolen",
    "rådhus",
    "raadhus",
    "admin",
    "administrator",
    "jegelskerdig",
    "elskerdig",
    "kæreste",
    "kaereste",
    "fodbold",
    "hund",
    "hunden",
    "kat",
    "katten",
    "mandag",
    "tirsdag",
    "onsdag",
    "torsdag",
    "fredag",
    "lørdag",
    "loerdag",
    "søndag",
    "soendag",
    "januar",
    "februar",
    "marts",
    "april",
    "maj",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "december",
    "hejsa",
    "hejhej",
    "solskin",
    "blomst",
    "kage",
    "kaffe",
    "mormor",
    "morfar",
    "farmor",
    "farfar",
    "prinsesse",
    "sommerhus",
    "carlsberg",
    "tuborg",
];

/// Why a new password is refused, as data: a product shows it in its user's language.
/// [`check_new_password`] gives the same in English.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeakPassword {
    /// Empty, or only white space.
    Empty,
    /// Fewer than [`MIN_PASSWORD_CHARS`] characters.
    TooShort {
        /// The least number of characters.
        min: usize,
        /// How many the password has.
        chars: usize,
    },
    /// More than [`MAX_PASSWORD_BYTES`] bytes.
    TooLong {
        /// The most bytes.
        max_bytes: usize,
    },
    /// Long enough but easy to guess.
    Guessable {
        /// zxcvbn's warning (English), when it has one.
        warning: Option<String>,
    },
}

/// What is weak about `password`, if anything. `user_inputs` are words a guesser would try
/// first for this account (its name, e-mail).
pub fn password_weakness(password: &str, user_inputs: &[&str]) -> Option<WeakPassword> {
    if password.trim().is_empty() {
        return Some(WeakPassword::Empty);
    }
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Some(WeakPassword::TooShort {
            min: MIN_PASSWORD_CHARS,
            chars,
        });
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Some(WeakPassword::TooLong {
            max_bytes: MAX_PASSWORD_BYTES,
        });
    }
    // zxcvbn's matching grows faster than linearly with the length; its authors judge the
    // first 100 characters, and so do we (a weak start is a weak password).
    let judged: String = password.chars().take(100).collect();
    let mut words: Vec<&str> = DANISH_WORDS.to_vec();
    words.extend(user_inputs.iter().filter(|w| !w.is_empty()));
    let estimate = zxcvbn::zxcvbn(&judged, &words);
    // 3: "safely unguessable", about 10^8 guesses or more.
    if u8::from(estimate.score()) < 3 {
        let warning = estimate
            .feedback()
            .and_then(|f| f.warning())
            .map(|w| w.to_string());
        return Some(WeakPassword::Guessable { warning });
    }
    None
}

/// Whether `password` may become someone's password; `Err` says why in English, naming the
/// field ([`password_weakness`] for the reason as data).
pub fn check_new_password(password: &str, user_inputs: &[&str]) -> Result<(), String> {
    match password_weakness(password, user_inputs) {
        None => Ok(()),
        Some(WeakPassword::Empty) => Err("password: must not be empty or only spaces".into()),
        Some(WeakPassword::TooShort { min, chars }) => Err(format!(
            "password: must be at least {min} characters (it has {chars})"
        )),
        Some(WeakPassword::TooLong { max_bytes }) => {
            Err(format!("password: must be at most {max_bytes} bytes"))
        }
        Some(WeakPassword::Guessable { warning }) => {
            let why = warning.map(|w| format!(" ({w})")).unwrap_or_default();
            Err(format!(
                "password: too easy to guess{why}; it is a common password, a word or name with \
                 digits, or contains the user's name. Use a longer passphrase, e.g. four \
                 unrelated words"
            ))
        }
    }
}

/// Hashes a password that [`password_weakness`] found nothing wrong with, for storage (PHC
/// string, argon2id with a random salt).
pub fn hash_checked_password(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))
}

/// Checks a new password ([`check_new_password`]) and hashes it for storage (PHC string,
/// argon2id with a random salt).
pub fn hash_new_password(password: &str, user_inputs: &[&str]) -> anyhow::Result<String> {
    check_new_password(password, user_inputs).map_err(anyhow::Error::msg)?;
    hash_checked_password(password)
}

/// The largest work area a stored hash may ask for (64 MiB; ours take 19): a hash is data,
/// and must not be a way around the checker's memory bound.
const MAX_BLOCKS: usize = 64 * 1024;

/// Whether `password` matches a stored hash, computed in `memory` (resized to what the hash
/// asks for); a malformed hash matches nothing. Blocking and dear: servers go through
/// [`PasswordChecker`].
fn verify_password(password: &str, stored: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let (Ok(params), Ok(algorithm)) = (
        Params::try_from(&hash),
        Algorithm::try_from(hash.algorithm.as_str()),
    ) else {
        return false;
    };
    let Ok(version) = hash
        .version
        .map_or(Ok(Version::default()), Version::try_from)
    else {
        return false;
    };
    if params.block_count() > MAX_BLOCKS {
        return false;
    }
    memory.resize(params.block_count(), Block::default());
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..])
        .is_ok()
        // Output's comparison takes the same time wherever the bytes differ.
        && Output::new(&out).is_ok_and(|computed| computed == *expected)
}

/// A hash with the parameters of [`hash_new_password`] that no password matches: checked
/// against when there is no such user, so the answer takes as long as for a real one.
const NO_USER_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// The checker is full: the caller should answer "busy, try again" at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks at once")]
pub struct Busy;

/// Runs password checks on the blocking thread pool, at most `concurrent` at once (so at most
/// `concurrent` × 19 MiB), with at most `waiting` more queued behind them; beyond that a
/// check is refused at once ([`Busy`]) instead of queueing without end. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PasswordChecker {
    inner: Arc<CheckerInner>,
}

#[derive(Debug)]
struct CheckerInner {
    /// Work areas of checks that ended, for the next ones (at most `concurrent`).
    memory: std::sync::Mutex<Vec<Vec<Block>>>,
    running: tokio::sync::Semaphore,
    admitted: tokio::sync::Semaphore,
    concurrent: usize,
    runs: AtomicU64,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

impl PasswordChecker {
    /// At most `concurrent` checks run at once (at least one), each on the blocking thread pool;
    /// at most `waiting` more wait for a turn, and any beyond are refused at
    /// once, so a flood of logins cannot queue unbounded memory-hard work.
    pub fn new(concurrent: usize, waiting: usize) -> Self {
        let concurrent = concurrent.max(1);
        Self {
            inner: Arc::new(CheckerInner {
                memory: std::sync::Mutex::new(Vec::new()),
                running: tokio::sync::Semaphore::new(concurrent),
                admitted: tokio::sync::Semaphore::new(concurrent + waiting),
                concurrent,
                runs: AtomicU64::new(0),
                in_flight: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
            }),
        }
    }

    /// Whether `password` matches `stored`, or, without a stored hash (no such user), a check
    /// against a hash nothing matches: the same work, so timing does not tell which names
    /// exist. `Err(Busy)` at once when the checker is full.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool, Busy> {
        let inner = &self.inner;
        let _admitted = inner.admitted.try_acquire().map_err(|_| {
            metrics::counter!("password_checks_refused_total").increment(1);
            Busy
        })?;
        let _running = inner.running.acquire().await.map_err(|_| Busy)?;
        let now = inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        inner.peak.fetch_max(now, Ordering::SeqCst);
        metrics::gauge!("password_checks_in_flight").set(now as f64);
        metrics::gauge!("password_checks_peak").set(inner.peak.load(Ordering::SeqCst) as f64);
        let (password, stored) = (
            password.to_owned(),
            stored.unwrap_or(NO_USER_HASH).to_owned(),
        );
        let spare = inner.memory.lock().map(|mut m| m.pop()).unwrap_or_default();
        let checked = tokio::task::spawn_blocking(move || {
            let mut memory = spare.unwrap_or_default();
            let matched = verify_password(&password, &stored, &mut memory);
            (matched, memory)
        })
        .await;
        let matched = match checked {
            Ok((matched, memory)) => {
                if let Ok(mut m) = inner.memory.lock() {
                    m.push(memory);
                }
                matched
            }
            Err(_) => false,
        };
        let now = inner.in_flight.fetch_sub(1, Ordering::SeqCst) - 1;
        inner.runs.fetch_add(1, Ordering::SeqCst);
        metrics::gauge!("password_checks_in_flight").set(now as f64);
        metrics::counter!("password_checks_total").increment(1);
        Ok(matched)
    }

    /// Checks run so far (every one ran Argon2).
    pub fn runs(&self) -> u64 {
        self.inner.runs.load(Ordering::SeqCst)
    }

    /// The most checks that ran at once; never more than `concurrent`.
    pub fn peak(&self) -> usize {
        self.inner.peak.load(Ordering::SeqCst)
    }

    /// How many checks may run at once (what it was built with, at least one).
    pub fn concurrent(&self) -> usize {
        self.inner.concurrent
    }
}

/// A new random bearer token: `prefix` (so people can tell keys apart) and 256 random bits.
pub fn new_token(prefix: &str) -> String {
    format!("{prefix}{}", hex::encode(rand::random::<[u8; 32]>()))
}

/// What is stored of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let h = hash_new_password("correct horse battery", &[]).unwrap();
        assert!(h.starts_with("$argon2id$"));
        let mut memory = Vec::new();
        assert!(verify_password("correct horse battery", &h, &mut memory));
        assert!(!verify_password("correct horse batterx", &h, &mut memory));
        assert!(!verify_password("x", "not a hash", &mut memory));
        // Reused as is for the next check.
        assert_eq!(memory.len(), Params::default().block_count());
        assert!(verify_password("correct horse battery", &h, &mut memory));
        // The stand-in for a missing user parses and has the same cost as a real hash.
        let real = PasswordHash::new(&h).unwrap();
        let dummy = PasswordHash::new(NO_USER_HASH).unwrap();
        assert_eq!(real.params.to_string(), dummy.params.to_string());
        assert!(!verify_password(
            "correct horse battery",
            NO_USER_HASH,
            &mut memory
        ));
        // A stored hash cannot ask for more memory than the bound.
        let greedy = "$argon2id$v=19$m=1048576,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(!verify_password("x", greedy, &mut memory));
    }

    #[test]
    fn weak_passwords_are_refused_with_the_reason() {
        for (p, why) in [
            ("short", "at least 10 characters"),
            ("            ", "only spaces"),
            ("", "only spaces"),
            ("password123", "too easy to guess"),
            ("qwertyuiop", "too easy to guess"),
            ("Sommer2024!", "too easy to guess"),
            ("kodeord123", "too easy to guess"),
            ("Velkommen1", "too easy to guess"),
            ("Borgerpc2024", "too easy to guess"),
        ] {
            let e = check_new_password(p, &[]).unwrap_err();
            assert!(e.starts_with("password: ") && e.contains(why), "{p:?}: {e}");
        }
        let long = "a".repeat(MAX_PASSWORD_BYTES + 1);
        assert!(
            check_new_password(&long, &[])
                .unwrap_err()
                .contains("at most")
        );
        // The account's own name is a guess too.
        assert!(check_new_password("mette.frederiksen", &[]).is_ok());
        assert!(check_new_password("mette.frederiksen", &["mette.frederiksen"]).is_err());
        for good in [
            "correct horse battery",
            "it-vagt-kode-17",
            "Tr0ub4dor&3x",
            "en lang sætning om kaffe",
        ] {
            assert_eq!(check_new_password(good, &[]), Ok(()), "{good}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checks_are_bounded_and_a_full_checker_answers_at_once() {
        let hash = hash_new_password("correct horse battery", &[]).unwrap();
        // Room for all 12 to wait: at most 2 run at once, every one runs.
        let checker = PasswordChecker::new(2, 10);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..12 {
            let (c, h) = (checker.clone(), hash.clone());
            tasks.spawn(async move {
                let stored = (i % 2 == 0).then_some(h.as_str());
                c.verify("correct horse battery", stored).await
            });
        }
        let mut matched = 0;
        while let Some(r) = tasks.join_next().await {
            matched += usize::from(r.unwrap().expect("admitted"));
        }
        assert_eq!(matched, 6, "only the real hashes match");
        assert_eq!(
            checker.runs(),
            12,
            "the unknown users' checks ran Argon2 too"
        );
        assert!((1..=2).contains(&checker.peak()), "peak {}", checker.peak());
        let kept = checker.inner.memory.lock().unwrap().len();
        assert!((1..=2).contains(&kept), "work areas kept: {kept}");
        // Full (every admission taken): refused at once, nothing run.
        let held = checker.inner.admitted.try_acquire_many(12).unwrap();
        assert_eq!(checker.verify("x", None).await, Err(Busy));
        assert_eq!(checker.runs(), 12);
        drop(held);
        assert_eq!(checker.verify("x", None).await, Ok(false));
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let (a, b) = (new_token("bpk_"), new_token("bpk_"));
        assert!(a.starts_with("bpk_") && a.len() == 68 && a != b);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&b));
    }
}
