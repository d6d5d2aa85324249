//! What bounds an outsider's requests that need no credential (logins, PC registrations):
//! who the caller is on the network ([`ClientAddress`]), failures that earn a growing wait
//! ([`Backoff`]), and a steady rate ([`RateLimit`]).
//!
//! The counts live in this process's memory: they are about minutes, a restart forgets them,
//! and several instances on one PostgreSQL database each keep their own. Every map is bounded
//! (an attacker with many addresses or names must not grow it without end), and IPv6 callers
//! are counted by their /64, which one household or attacker holds whole.

use axum::http::HeaderMap;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Entries a map keeps at most; past it, forgotten ones go first, then the oldest.
const MAX_ENTRIES: usize = 100_000;

/// The caller's address: the TCP peer, unless the peer is a trusted reverse proxy, which then
/// says in a header (X-Forwarded-For or X-Real-IP) whom it is forwarding for.
#[derive(Debug, Clone, Default)]
pub struct ClientAddress {
    trusted_proxies: Vec<IpAddr>,
    header: Option<axum::http::HeaderName>,
}

impl ClientAddress {
    pub fn new(trusted_proxies: &[IpAddr], header: &str) -> anyhow::Result<Self> {
        let header = axum::http::HeaderName::from_bytes(header.as_bytes()).map_err(|_| {
            anyhow::anyhow!("server.client_ip_header: {header:?} is not an HTTP header name")
        })?;
        Ok(Self {
            trusted_proxies: trusted_proxies.to_vec(),
            header: Some(header),
        })
    }

    /// Whom `peer` speaks for. A proxy appends the address it saw to X-Forwarded-For, so the
    /// right-most entry that is not one of our proxies is the client; what is left of it the
    /// client may have written itself.
    pub fn of(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer.ip());
        let Some(header) = &self.header else {
            return peer;
        };
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        let forwarded = headers
            .get_all(header)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter_map(|s| s.parse::<IpAddr>().ok())
            .map(canonical)
            .collect::<Vec<_>>();
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !self.trusted_proxies.contains(ip))
            .unwrap_or(peer)
    }
}

/// IPv4-mapped IPv6 addresses as IPv4, so one caller has one key.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The key an address is counted under: IPv4 whole, IPv6 by its /64.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// Removes what `expired` says is over, then, if still full, the entry `age` says is oldest.
fn make_room<K: Eq + Hash + Clone, V>(
    map: &mut HashMap<K, V>,
    expired: impl Fn(&V) -> bool,
    age: impl Fn(&V) -> Instant,
) {
    if map.len() < MAX_ENTRIES {
        return;
    }
    map.retain(|_, v| !expired(v));
    if map.len() >= MAX_ENTRIES
        && let Some(oldest) = map
            .iter()
            .min_by_key(|(_, v)| age(v))
            .map(|(k, _)| k.clone())
    {
        map.remove(&oldest);
    }
}

/// Failures per key: the first `free` cost nothing, each one after that makes the key wait
/// `base` · 2^(failures − free), at most `max`. A key is forgotten `forget` after its last
/// failure.
#[derive(Debug)]
pub struct Backoff<K> {
    entries: HashMap<K, Failures>,
    free: u32,
    base: Duration,
    max: Duration,
    forget: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    until: Instant,
}

impl<K: Eq + Hash + Clone> Backoff<K> {
    pub fn new(free: u32, base: Duration, max: Duration, forget: Duration) -> Self {
        Self {
            entries: HashMap::new(),
            free,
            base,
            max,
            forget,
        }
    }

    /// How long `key` must still wait, if it must.
    pub fn wait(&self, key: &K, now: Instant) -> Option<Duration> {
        let f = self.entries.get(key)?;
        (f.until > now && now.duration_since(f.last) < self.forget).then(|| f.until - now)
    }

    /// Counts a failure; returns the wait it starts, if it starts one.
    pub fn failed(&mut self, key: &K, now: Instant) -> Option<Duration> {
        let forget = self.forget;
        if !self.entries.contains_key(key) {
            make_room(
                &mut self.entries,
                |f| now.duration_since(f.last) >= forget,
                |f| f.last,
            );
        }
        let f = self.entries.entry(key.clone()).or_insert(Failures {
            count: 0,
            last: now,
            until: now,
        });
        if now.duration_since(f.last) >= forget {
            f.count = 0;
        }
        f.count = f.count.saturating_add(1);
        f.last = now;
        if f.count < self.free {
            return None;
        }
        let doublings = (f.count - self.free).min(30);
        let wait = self.base.saturating_mul(1 << doublings).min(self.max);
        f.until = now + wait;
        Some(wait)
    }

    pub fn succeeded(&mut self, key: &K) {
        self.entries.remove(key);
    }
}

/// At most `per_minute` per key and minute, in bursts of up to `per_minute` (a token bucket);
/// 0 means no limit.
#[derive(Debug)]
pub struct RateLimit<K> {
    per_minute: u32,
    buckets: HashMap<K, Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl<K: Eq + Hash + Clone> RateLimit<K> {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: HashMap::new(),
        }
    }

    /// Takes one; `Err(wait)` when the key has none left.
    pub fn take(&mut self, key: &K, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_s = capacity / 60.0;
        if !self.buckets.contains_key(key) {
            make_room(
                &mut self.buckets,
                |b| b.tokens + now.duration_since(b.at).as_secs_f64() * per_s >= capacity,
                |b| b.at,
            );
        }
        let b = self.buckets.entry(key.clone()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * per_s).min(capacity);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / per_s))
        }
    }
}

/// Seconds to tell a caller to wait (Retry-After), at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn peer(s: &str) -> SocketAddr {
        SocketAddr::new(s.parse().unwrap(), 40000)
    }

    #[test]
    fn the_forwarded_address_counts_only_from_a_trusted_proxy() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let a = ClientAddress::new(&[proxy], "X-Forwarded-For").unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 192.0.2.7"),
        );
        // The proxy appended 192.0.2.7; 6.6.6.6 is what the client claimed.
        assert_eq!(
            a.of(peer("127.0.0.1"), &h),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
        // Anyone else's header is ignored.
        assert_eq!(
            a.of(peer("192.0.2.9"), &h),
            "192.0.2.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            a.of(peer("127.0.0.1"), &HeaderMap::new()),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
        // Without trusted proxies, always the peer.
        let none = ClientAddress::new(&[], "X-Forwarded-For").unwrap();
        assert_eq!(none.of(peer("127.0.0.1"), &h), proxy);
        assert_eq!(
            ClientAddress::default().of(peer("::ffff:192.0.2.1"), &h),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
        assert!(ClientAddress::new(&[], "bad header").is_err());
    }

    #[test]
    fn ipv6_callers_are_counted_by_their_64() {
        assert_eq!(
            address_key("2001:db8:1:2:aaaa::1".parse().unwrap()),
            address_key("2001:db8:1:2:bbbb::2".parse().unwrap())
        );
        assert_ne!(
            address_key("192.0.2.1".parse().unwrap()),
            address_key("192.0.2.2".parse().unwrap())
        );
    }

    #[test]
    fn failures_past_the_free_ones_double_the_wait_up_to_the_most() {
        let s = Duration::from_secs;
        let mut b = Backoff::new(3, s(1), s(8), s(3600));
        let t = Instant::now();
        assert_eq!(b.failed(&"k", t), None);
        assert_eq!(b.failed(&"k", t), None);
        assert_eq!(b.wait(&"k", t), None);
        assert_eq!(b.failed(&"k", t), Some(s(1)));
        assert_eq!(b.wait(&"k", t), Some(s(1)));
        assert_eq!(b.wait(&"k", t + s(1)), None);
        assert_eq!(b.failed(&"k", t + s(1)), Some(s(2)));
        for _ in 0..10 {
            b.failed(&"k", t + s(2));
        }
        assert_eq!(b.wait(&"k", t + s(2)), Some(s(8)), "capped");
        assert_eq!(b.wait(&"other", t), None);
        // Forgotten an hour after the last failure; a success forgets at once.
        assert_eq!(b.failed(&"k", t + s(2) + s(3600)), None);
        b.failed(&"k", t + s(3700));
        b.failed(&"k", t + s(3700));
        assert!(b.wait(&"k", t + s(3700)).is_some());
        b.succeeded(&"k");
        assert_eq!(b.wait(&"k", t + s(3700)), None);
    }

    #[test]
    fn a_rate_limit_allows_a_burst_then_its_rate() {
        let mut r = RateLimit::new(60);
        let t = Instant::now();
        for _ in 0..60 {
            r.take(&1, t).unwrap();
        }
        let wait = r.take(&1, t).unwrap_err();
        assert!(wait <= Duration::from_secs(1) && !wait.is_zero());
        assert_eq!(r.take(&1, t + Duration::from_secs(1)), Ok(()));
        assert!(r.take(&1, t + Duration::from_secs(1)).is_err());
        assert_eq!(r.take(&2, t), Ok(()), "keys are apart");
        let mut off = RateLimit::new(0);
        for _ in 0..1000 {
            off.take(&1, t).unwrap();
        }
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }

    #[test]
    fn maps_stay_bounded() {
        let mut b = Backoff::new(
            1,
            Duration::from_secs(1),
            Duration::from_secs(1),
            Duration::from_secs(60),
        );
        let t = Instant::now();
        for i in 0..(MAX_ENTRIES + 10) {
            b.failed(&i, t);
        }
        assert!(b.entries.len() <= MAX_ENTRIES);
    }
}
