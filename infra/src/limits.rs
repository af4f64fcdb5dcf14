//! Limits that keep one client from exhausting the gateway (OWASP API4):
//! how long a client may take to send its request head or sit idle, how
//! many connections may be open in total and per client address, HTTP/2's
//! stream limits, and a per-principal request rate (token bucket, per role).
//!
//! The connection cap and the rate limit are checked in `server.rs`'s accept
//! loop and request wrapper; [`Guarded`] is the connection's I/O with the
//! idle timer.

use carehub_domain::{Principal, Role};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The connection limits; [`Default`] gives the documented defaults.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// How long an HTTP/1 client may take to send a request head, counted
    /// from when the gateway starts waiting for it (so it also bounds an
    /// idle keep-alive connection).
    pub header_read_timeout: Duration,
    /// How long a connection may stay open with no request in progress and
    /// no byte read or written, HTTP/1 and HTTP/2 alike.
    pub idle_timeout: Duration,
    /// Open connections at once, all clients together.
    pub max_connections: usize,
    /// Open connections at once from one client IP address.
    pub max_connections_per_ip: usize,
    /// HTTP/2: streams one connection may have open at once.
    pub h2_max_concurrent_streams: u32,
    /// HTTP/2: streams reset by the client before the gateway accepted them
    /// that may be pending at once (rapid reset, CVE-2023-44487); beyond it
    /// the connection is closed with `ENHANCE_YOUR_CALM`.
    pub h2_max_pending_accept_reset_streams: usize,
    /// HTTP/2: streams the gateway may reset because of the client's
    /// errors before it closes the connection.
    pub h2_max_local_error_reset_streams: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            max_connections_per_ip: 512,
            h2_max_concurrent_streams: 100,
            h2_max_pending_accept_reset_streams: 20,
            h2_max_local_error_reset_streams: 256,
        }
    }
}

/// Counts open connections in total and per client address.
#[derive(Debug)]
pub struct ConnectionCap {
    max_total: usize,
    max_per_ip: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The total cap is reached.
    Total,
    /// The cap of the client's address is reached.
    PerIp,
}

impl Refusal {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Total => "total",
            Refusal::PerIp => "per_ip",
        }
    }
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Admitted {
    cap: Arc<ConnectionCap>,
    ip: IpAddr,
}

impl ConnectionCap {
    /// A cap of `max_total` connections, `max_per_ip` from one address.
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<ConnectionCap> {
        Arc::new(ConnectionCap {
            max_total: max_total.max(1),
            max_per_ip: max_per_ip.max(1),
            open: Mutex::new(Open::default()),
        })
    }

    /// Admits a connection from `ip`, or says which cap it would pass.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, Refusal> {
        let mut open = self.open.lock().expect("connection cap lock");
        if open.total >= self.max_total {
            return Err(Refusal::Total);
        }
        let from_ip = open.by_ip.entry(ip).or_insert(0);
        if *from_ip >= self.max_per_ip {
            return Err(Refusal::PerIp);
        }
        *from_ip += 1;
        open.total += 1;
        Ok(Admitted {
            cap: self.clone(),
            ip,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.lock().expect("connection cap lock").total
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.cap.open.lock().expect("connection cap lock");
        open.total -= 1;
        if let Some(n) = open.by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.by_ip.remove(&self.ip);
            }
        }
    }
}

/// Requests in progress on one connection, shared by the connection's I/O
/// (the idle timer waits while there are some) and its requests.
#[derive(Debug, Default)]
pub struct InFlight(AtomicUsize);

/// One request in progress; dropping it ends it.
pub struct Busy(Arc<InFlight>);

impl InFlight {
    /// Marks a request as started.
    pub fn start(self: &Arc<Self>) -> Busy {
        self.0.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }

    fn any(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 0
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection's I/O with the idle timer: once no request is in progress
/// and nothing was read or written for `idle`, reads end (EOF) and the
/// connection closes. The time of the last activity is only written on each
/// read and write; the timer looks at it when it fires.
pub struct Guarded<S> {
    inner: S,
    idle: Duration,
    last: Instant,
    timer: Pin<Box<tokio::time::Sleep>>,
    in_flight: Arc<InFlight>,
    expired: bool,
}

impl<S> Guarded<S> {
    /// Wraps `inner`; `in_flight` is shared with the connection's requests.
    pub fn new(inner: S, idle: Duration, in_flight: Arc<InFlight>) -> Guarded<S> {
        Guarded {
            inner,
            idle,
            last: Instant::now(),
            timer: Box::pin(tokio::time::sleep(idle)),
            in_flight,
            expired: false,
        }
    }

    /// Whether the idle timer has run out: re-armed while a request is in
    /// progress or something happened since it was set.
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            let now = Instant::now();
            let due = self.last + self.idle;
            if self.in_flight.any() {
                self.timer
                    .as_mut()
                    .reset(tokio::time::Instant::from_std(now + self.idle));
            } else if due > now {
                self.timer
                    .as_mut()
                    .reset(tokio::time::Instant::from_std(due));
            } else {
                return true;
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.expired {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.last = Instant::now();
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                if self.idle_expired(cx) {
                    tracing::debug!("closing an idle connection");
                    self.expired = true;
                    // EOF: the connection ends as if the client had closed it.
                    Poll::Ready(Ok(()))
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.last = Instant::now();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.last = Instant::now();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A sustained rate with a burst: a token bucket refilled at `per_second`
/// tokens a second, holding at most `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests a second, sustained.
    pub per_second: NonZeroU32,
    /// Requests that may come at once after a quiet spell.
    pub burst: NonZeroU32,
}

impl Rate {
    /// Parses `RATE` or `RATE/BURST` (requests a second; the burst
    /// defaults to twice the rate).
    pub fn parse(s: &str) -> Result<Rate, String> {
        let number = |t: &str| {
            t.trim()
                .parse::<NonZeroU32>()
                .map_err(|_| format!("{t:?} is not a positive whole number"))
        };
        let (rate, burst) = match s.split_once('/') {
            Some((r, b)) => (number(r)?, number(b)?),
            None => {
                let r = number(s)?;
                (r, r.saturating_mul(NonZeroU32::MIN.saturating_add(1)))
            }
        };
        Ok(Rate {
            per_second: rate,
            burst,
        })
    }

    fn quota(self) -> Quota {
        Quota::per_second(self.per_second).allow_burst(self.burst)
    }
}

/// Which roles a rate applies to: one role, or every role without its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateScope {
    /// Every role not named by a rule of its own.
    Default,
    /// One role.
    Role(Role),
}

/// One `--rate-limit` rule: `ROLE=RATE[/BURST]`, `*=RATE[/BURST]` for every
/// other role, `ROLE=off` to exempt a role, `off` for no limit at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateRule {
    /// Whom it applies to.
    pub scope: RateScope,
    /// The rate; `None`: no limit.
    pub rate: Option<Rate>,
}

impl RateRule {
    /// Parses one rule.
    pub fn parse(s: &str) -> Result<RateRule, String> {
        let (scope, rate) = match s.split_once('=') {
            Some((scope, rate)) => (scope.trim(), rate.trim()),
            None => ("*", s.trim()),
        };
        let scope = if scope == "*" {
            RateScope::Default
        } else {
            RateScope::Role(
                scope
                    .parse::<Role>()
                    .map_err(|_| format!("{scope:?} is not a role (or *)"))?,
            )
        };
        let rate = if rate == "off" {
            None
        } else {
            Some(Rate::parse(rate)?)
        };
        Ok(RateRule { scope, rate })
    }
}

/// The per-principal rate limit: one keyed token bucket per role that has a
/// rate, keyed by the principal.
pub struct RateLimiter {
    by_role: HashMap<Role, DefaultKeyedRateLimiter<Principal>>,
    exempt: Vec<Role>,
    default: Option<DefaultKeyedRateLimiter<Principal>>,
    clock: DefaultClock,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("roles", &self.by_role.keys().collect::<Vec<_>>())
            .field("default", &self.default.is_some())
            .finish()
    }
}

impl RateLimiter {
    /// The limiter the rules describe (later rules for the same scope win);
    /// `None` when no principal is limited.
    pub fn new(rules: &[RateRule]) -> Option<RateLimiter> {
        let mut named: BTreeMap<Role, Option<Rate>> = BTreeMap::new();
        let mut default = None;
        for rule in rules {
            match rule.scope {
                RateScope::Default => default = rule.rate,
                RateScope::Role(role) => {
                    named.insert(role, rule.rate);
                }
            }
        }
        let by_role: HashMap<Role, DefaultKeyedRateLimiter<Principal>> = named
            .into_iter()
            .filter_map(|(role, rate)| {
                // A role exempted by name (`ROLE=off`) is left out of the
                // default too: it gets no limiter and is never refused.
                Some((role, governor::RateLimiter::keyed(rate?.quota())))
            })
            .collect();
        let exempt: Vec<Role> = rules
            .iter()
            .filter_map(|r| match r.scope {
                RateScope::Role(role) if !by_role.contains_key(&role) => Some(role),
                _ => None,
            })
            .collect();
        let default = default.map(|r| governor::RateLimiter::keyed(r.quota()));
        if by_role.is_empty() && default.is_none() {
            return None;
        }
        Some(RateLimiter {
            by_role,
            exempt,
            default,
            clock: DefaultClock::default(),
        })
    }

    /// Takes a token for `principal`: `Ok` when it may go on, else how long
    /// until it may.
    pub fn check(&self, principal: &Principal) -> Result<(), Duration> {
        let role = principal.role();
        let limiter = match self.by_role.get(&role) {
            Some(l) => l,
            None if self.exempt.contains(&role) => return Ok(()),
            None => match &self.default {
                Some(l) => l,
                None => return Ok(()),
            },
        };
        limiter
            .check_key(principal)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets principals whose buckets are full again (memory stays
    /// bounded by the principals active within a burst's refill time).
    pub fn forget_idle(&self) {
        for l in self.by_role.values().chain(self.default.as_ref()) {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// `Retry-After` in whole seconds, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(urn: &str) -> Principal {
        Principal::parse_urn(urn).unwrap()
    }

    #[test]
    fn the_cap_counts_per_address_and_in_total_and_frees_on_drop() {
        let cap = ConnectionCap::new(3, 2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let a1 = cap.admit(a).unwrap();
        let _a2 = cap.admit(a).unwrap();
        assert_eq!(cap.admit(a).unwrap_err(), Refusal::PerIp);
        let _b1 = cap.admit(b).unwrap();
        assert_eq!(cap.admit(b).unwrap_err(), Refusal::Total);
        assert_eq!(cap.open(), 3);
        drop(a1);
        assert_eq!(cap.open(), 2);
        let _b2 = cap.admit(b).unwrap();
        assert_eq!(cap.admit(b).unwrap_err(), Refusal::Total);
    }

    #[test]
    fn rates_and_rules_parse() {
        let r = Rate::parse("5/10").unwrap();
        assert_eq!((r.per_second.get(), r.burst.get()), (5, 10));
        let r = Rate::parse("7").unwrap();
        assert_eq!((r.per_second.get(), r.burst.get()), (7, 14));
        for bad in ["0", "-1", "x", "5/0", "5/"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            RateRule::parse("municipality=3/4").unwrap(),
            RateRule {
                scope: RateScope::Role(Role::Municipality),
                rate: Some(Rate::parse("3/4").unwrap()),
            }
        );
        assert_eq!(RateRule::parse("*=off").unwrap().rate, None);
        assert_eq!(RateRule::parse("off").unwrap().scope, RateScope::Default);
        assert!(RateRule::parse("mayor=1").is_err());
    }

    #[test]
    fn a_principal_over_its_rate_waits_while_others_go_on() {
        let limiter = RateLimiter::new(&[
            RateRule::parse("*=1/2").unwrap(),
            RateRule::parse("portal=off").unwrap(),
        ])
        .unwrap();
        let a = principal("urn:carehub:municipality:131016");
        let b = principal("urn:carehub:municipality:131024");
        let portal = principal("urn:carehub:portal:mynaportal");
        assert!(limiter.check(&a).is_ok());
        assert!(limiter.check(&a).is_ok());
        let wait = limiter.check(&a).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert_eq!(retry_after_secs(wait), 1);
        assert!(limiter.check(&b).is_ok());
        for _ in 0..100 {
            assert!(limiter.check(&portal).is_ok());
        }
        assert!(RateLimiter::new(&[RateRule::parse("off").unwrap()]).is_none());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }
}
