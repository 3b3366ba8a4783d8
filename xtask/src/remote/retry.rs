//! Retries of calls to the engine, as REAPI clients make them (Bazel's
//! RemoteRetrier): the codes a restarting or loaded engine answers with are
//! tried again after an exponential backoff with jitter, or after the delay
//! the server asks for (google.rpc.RetryInfo), bounded in attempts and in
//! time; anything else is an answer, not a fault.

use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::StatusExt;

/// How long and how often a call is tried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// The first backoff's ceiling; it doubles each time up to `cap`.
    pub base: Duration,
    pub cap: Duration,
    /// No retry starts after this long since the first try.
    pub budget: Duration,
}

impl Default for Policy {
    /// About a minute: a scheduler restarting (seconds) is ridden out; an
    /// engine that is gone stops the build soon enough to say so.
    fn default() -> Self {
        Policy {
            attempts: 8,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(10),
            budget: Duration::from_secs(60),
        }
    }
}

impl Policy {
    /// For a build's first look at the engine: a URL with nothing behind it
    /// is said within seconds, not after a minute.
    pub fn quick() -> Self {
        Policy { attempts: 3, budget: Duration::from_secs(5), ..Policy::default() }
    }
}

/// Whether a failed call is worth trying again: the engine unavailable
/// (restarting, a dropped connection), overloaded, or failing inside in a
/// way that may pass. A CAS out of space is not: it stays out of space.
pub fn retryable(status: &Status) -> bool {
    match status.code() {
        Code::Unavailable | Code::Aborted | Code::Unknown => true,
        Code::ResourceExhausted | Code::Internal => !status.message().contains("OutOfSpace"),
        _ => false,
    }
}

/// The delay the server asked for in the status's details, if any.
pub fn asked_delay(status: &Status) -> Option<Duration> {
    status.get_details_retry_info().and_then(|r| r.retry_delay)
}

impl Policy {
    /// The wait before try `attempt + 1` (`attempt` counts from 1): the
    /// server's delay when it gave one, else between half the attempt's
    /// ceiling and all of it ("equal jitter": launchers that failed together
    /// do not come back together, and the waits add up to at least half the
    /// schedule, so a restart of some seconds is ridden out).
    pub fn delay(&self, attempt: u32, asked: Option<Duration>) -> Duration {
        if let Some(d) = asked {
            return d.min(self.cap);
        }
        let ceiling = self.base.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(self.cap);
        ceiling.mul_f64(0.5 + fastrand::f64() / 2.0)
    }

    /// Whether another try may start after `attempt` tries, `spent` since the first.
    pub fn again(&self, attempt: u32, spent: Duration) -> bool {
        attempt < self.attempts && spent < self.budget
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_codes_are_retried_and_answers_are_not() {
        assert!(retryable(&Status::unavailable("connection refused")));
        assert!(retryable(&Status::resource_exhausted("too many requests")));
        assert!(retryable(&Status::internal("stream reset")));
        assert!(!retryable(&Status::internal("OutOfSpaceException: no room")));
        assert!(!retryable(&Status::not_found("no such action")));
        assert!(!retryable(&Status::failed_precondition("missing blobs")));
        assert!(!retryable(&Status::invalid_argument("bad digest")));
    }

    #[test]
    fn backoff_grows_to_its_cap_with_jitter_and_the_server_decides_when_it_asks() {
        let p = Policy::default();
        for attempt in 1..=12 {
            let ceiling = (p.base * (1 << (attempt - 1).min(16))).min(p.cap);
            let d = p.delay(attempt, None);
            assert!(d <= ceiling && d >= ceiling / 2, "attempt {attempt}: {d:?} against {ceiling:?}");
        }
        let spread: std::collections::BTreeSet<u128> = (0..20).map(|_| p.delay(6, None).as_micros()).collect();
        assert!(spread.len() > 10, "jittered: {spread:?}");
        assert_eq!(p.delay(1, Some(Duration::from_secs(3))), Duration::from_secs(3));
        assert_eq!(p.delay(1, Some(Duration::from_secs(600))), p.cap, "a server's delay is capped");
        assert!(p.again(1, Duration::ZERO) && !p.again(p.attempts, Duration::ZERO) && !p.again(1, p.budget));
        // The waits before the last try add up to at least 15 s: a restart that long is ridden out.
        let least: Duration = (1..p.attempts).map(|a| (p.base * (1 << (a - 1))).min(p.cap) / 2).sum();
        assert!(least >= Duration::from_secs(15), "{least:?}");
    }

    #[test]
    fn a_servers_retry_info_is_read() {
        use tonic_types::{ErrorDetails, StatusExt};
        let details = ErrorDetails::with_retry_info(Some(Duration::from_millis(1500)));
        let status = Status::with_error_details(Code::Unavailable, "draining", details);
        assert_eq!(asked_delay(&status), Some(Duration::from_millis(1500)));
        assert_eq!(asked_delay(&Status::unavailable("plain")), None);
    }
}
