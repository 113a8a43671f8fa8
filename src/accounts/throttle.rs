//! Throttling of sign-in (per account and per client IP) and sign-up (per
//! client IP): attempts counted over a sliding window; at the limit, further
//! attempts wait until the oldest leaves the window.
//!
//! The attempt is reserved before the password is checked or hashed, so N
//! parallel attempts against a limit of 5 get at most 5 password checks.

use chrono::{Duration, NaiveDateTime};

use crate::store::throttle::{self as rows, Reservation};
use crate::store::{DbConnection, StoreError};

pub fn account_key(email_normalized: &str) -> String {
    format!("account:{email_normalized}")
}

pub fn ip_key(ip: &str) -> String {
    format!("ip:{}", network_of(ip))
}

/// The unit an IP throttle counts: an IPv4 address, or an IPv6 /64 (one
/// host is usually given a whole /64, so single addresses would be free).
fn network_of(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(std::net::IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(|v4| v4.to_string()).unwrap_or_default(),
        _ => ip.to_owned(),
    }
}

/// Sign-ups are counted apart from sign-ins: a busy office signing people
/// up does not lock its members out of signing in.
pub fn signup_ip_key(ip: &str) -> String {
    format!("signup-ip:{}", network_of(ip))
}

/// An attempt counted under its keys, or how long to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Counted; the ids of its rows, to release when it succeeds.
    Reserved(Vec<String>),
    /// A key is at its limit: seconds until the oldest attempt leaves the window.
    Throttled { retry_after_secs: i64 },
}

impl Attempt {
    /// The ids of a counted attempt, or the refusal to answer with.
    pub fn reserved(self) -> Result<Vec<String>, super::AccountsError> {
        match self {
            Self::Reserved(ids) => Ok(ids),
            Self::Throttled { retry_after_secs } => Err(super::AccountsError::Throttled { retry_after_secs }),
        }
    }
}

/// Counts an attempt under every key unless one is at its limit.
pub fn reserve(
    conn: &mut DbConnection,
    keys: &[(String, u32)],
    window_secs: i64,
    now: NaiveDateTime,
) -> Result<Attempt, StoreError> {
    let window = Duration::seconds(window_secs);
    Ok(match rows::reserve_attempt(conn, keys, now - window, now)? {
        Reservation::Granted(ids) => Attempt::Reserved(ids),
        Reservation::Full { oldest } => {
            Attempt::Throttled { retry_after_secs: (oldest + window - now).num_seconds().max(1) }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_hosts_are_counted_by_their_64_and_ipv4_by_address() {
        assert_eq!(ip_key("2001:db8:1:2::1"), ip_key("2001:db8:1:2:ffff::3"));
        assert_ne!(ip_key("2001:db8:1:2::1"), ip_key("2001:db8:1:3::1"));
        assert_eq!(ip_key("203.0.113.9"), "ip:203.0.113.9");
        assert_eq!(ip_key("::ffff:203.0.113.9"), "ip:203.0.113.9");
        assert_ne!(ip_key("203.0.113.9"), ip_key("203.0.113.10"));
        assert_eq!(signup_ip_key("unknown"), "signup-ip:unknown");
    }
}
