//! Re-authentication tickets: how /oauth/authorize recognises, when the
//! browser comes back from the login page, that the user signed in again
//! for *this* request (`prompt=login`, `max_age`, `select_account`, an
//! `id_token_hint` naming someone else), so the request proceeds instead of
//! sending the user to sign in once more.
//!
//! Sending the user to sign in adds `reauth_ticket=T.mac` to the request it
//! comes back to: `T` the time it was sent (Unix milliseconds), `mac` an HMAC-SHA256 under a
//! key derived from the master key over `T` and every other parameter of
//! the request. The request counts as re-authenticated only when the
//! ticket verifies, is at most `TICKET_LIFETIME` old, and the session
//! signed in at or after `T`. Nobody without the key can make a ticket;
//! one made for another request (another state, nonce, client…) does not
//! verify; an old one has expired; and a session older than the ticket
//! does not satisfy it, so the ticket never stands in for a sign-in.

use crate::tokens::master_key::{MasterKey, hmac_sha256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};

/// The parameter that carries a ticket.
pub const TICKET_PARAM: &str = "reauth_ticket";

/// How long the user has to sign in once sent to the login page.
pub const TICKET_LIFETIME: Duration = Duration::minutes(10);

/// The ticket key: HMAC-SHA256(master key, a label of its own), so it is
/// useless for anything else the master key protects.
#[derive(Clone)]
pub struct ReauthKey([u8; 32]);

impl std::fmt::Debug for ReauthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReauthKey(***)")
    }
}

impl ReauthKey {
    pub fn derive(master: &MasterKey) -> Self {
        Self(master.derive(b"portcullis oidc reauth ticket v1"))
    }

    /// A ticket for the request with `params` (the ticket parameter itself
    /// is left out), made at `now`.
    pub fn issue(&self, params: &[(String, String)], now: DateTime<Utc>) -> String {
        let t = now.timestamp_millis();
        format!("{t}.{}", URL_SAFE_NO_PAD.encode(self.mac(t, params)))
    }

    /// When the ticket in `params` was made, if there is one, made by this
    /// key for exactly these parameters, and still alive at `now`.
    pub fn verify(&self, params: &[(String, String)], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let ticket = params.iter().find(|(k, _)| k == TICKET_PARAM).map(|(_, v)| v.as_str())?;
        let (t, mac) = ticket.split_once('.')?;
        let t: i64 = t.parse().ok()?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        aws_lc_rs::constant_time::verify_slices_are_equal(&self.mac(t, params), &mac).ok()?;
        let made = DateTime::from_timestamp_millis(t)?;
        // A few seconds of clock difference between instances are allowed.
        (made <= now + Duration::seconds(5) && now - made <= TICKET_LIFETIME).then_some(made)
    }

    /// The MAC's input: `t`, then every parameter but the ticket, sorted,
    /// each length-prefixed so no two lists encode alike.
    fn mac(&self, t: i64, params: &[(String, String)]) -> [u8; 32] {
        let mut sorted: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != TICKET_PARAM).collect();
        sorted.sort();
        let mut input = t.to_string().into_bytes();
        for part in sorted.into_iter().flat_map(|(k, v)| [k, v]) {
            input.extend_from_slice(&(part.len() as u64).to_be_bytes());
            input.extend_from_slice(part.as_bytes());
        }
        hmac_sha256(&self.0, &[&input])
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn key() -> ReauthKey {
        ReauthKey::derive(&MasterKey::from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap())
    }

    fn params(state: &str) -> Vec<(String, String)> {
        [("client_id", "app"), ("state", state), ("prompt", "login")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .to_vec()
    }

    fn with_ticket(mut p: Vec<(String, String)>, ticket: String) -> Vec<(String, String)> {
        p.push((TICKET_PARAM.into(), ticket));
        p
    }

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap() + Duration::seconds(secs)
    }

    #[test]
    fn a_ticket_verifies_for_its_own_request_while_alive() {
        let k = key();
        let ticket = k.issue(&params("s1"), at(0));
        assert_eq!(k.verify(&with_ticket(params("s1"), ticket.clone()), at(30)), Some(at(0)));
        // The parameters' order does not matter; the ticket's place neither.
        let mut reordered = with_ticket(params("s1"), ticket.clone());
        reordered.reverse();
        assert_eq!(k.verify(&reordered, at(30)), Some(at(0)));
        assert_eq!(k.verify(&with_ticket(params("s1"), ticket), at(601)), None, "expired");
    }

    #[test]
    fn a_ticket_does_not_verify_for_another_request_or_when_forged() {
        let k = key();
        let ticket = k.issue(&params("s1"), at(0));
        assert_eq!(k.verify(&with_ticket(params("s2"), ticket.clone()), at(1)), None, "another state");
        let later = ticket.replacen(&at(0).timestamp_millis().to_string(), &at(100).timestamp_millis().to_string(), 1);
        assert_eq!(k.verify(&with_ticket(params("s1"), later), at(101)), None, "another time");
        for forged in ["", "1", "x.y", "1.", ".AAAA"] {
            assert_eq!(k.verify(&with_ticket(params("s1"), forged.into()), at(1)), None, "{forged:?}");
        }
        assert_eq!(k.verify(&params("s1"), at(1)), None, "no ticket");
        let other = ReauthKey::derive(&MasterKey::from_base64("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=").unwrap());
        assert_eq!(other.verify(&with_ticket(params("s1"), k.issue(&params("s1"), at(0))), at(1)), None);
    }

    #[test]
    fn a_ticket_from_the_future_is_refused() {
        let k = key();
        let ticket = k.issue(&params("s1"), at(60));
        assert_eq!(k.verify(&with_ticket(params("s1"), ticket), at(0)), None);
    }
}
