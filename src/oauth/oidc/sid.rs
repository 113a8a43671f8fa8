//! The `sid` of ID tokens and logout tokens (Back-Channel Logout 1.0 §2.1,
//! §2.4): one per app per browser session,
//! `base64url(HMAC-SHA256(sid_key, session_id 0x00 client_id))`.
//!
//! Not the session's own id: that would leak a dashboard secret to every
//! app, and let two apps (even pairwise ones, whose `sub` differ) link a
//! user through the one value they share. The keyed hash is stable for an
//! app and a session, so its logout token and an `id_token_hint` still name
//! the session, and unlinkable across apps without the key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::tokens::master_key::{MasterKey, hmac_sha256};

/// Fixes the derivation: another label (or version) gives other sids.
const LABEL: &[u8] = b"portcullis/oidc/session-id/v1";

/// The key sids are computed with, derived from the master key under a
/// label of its own.
pub struct SidKey([u8; 32]);

impl std::fmt::Debug for SidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SidKey(***)")
    }
}

impl SidKey {
    pub fn derive(master: &MasterKey) -> Self {
        Self(master.derive(LABEL))
    }

    /// The `sid` that `client_id` sees for the browser session `session_id`.
    pub fn sid(&self, session_id: &str, client_id: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac_sha256(&self.0, &[session_id.as_bytes(), b"\0", client_id.as_bytes()]))
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    fn master(byte: u8) -> MasterKey {
        MasterKey::from_base64(&STANDARD.encode([byte; 32])).unwrap()
    }

    #[test]
    fn a_sid_is_stable_per_app_and_session_and_differs_across_apps_sessions_and_keys() {
        let key = SidKey::derive(&master(1));
        let sid = key.sid("session-1", "pc_a");
        assert_eq!(sid, key.sid("session-1", "pc_a"), "stable");
        assert_ne!(sid, key.sid("session-1", "pc_b"), "another app");
        assert_ne!(sid, key.sid("session-2", "pc_a"), "another session");
        assert_ne!(sid, SidKey::derive(&master(2)).sid("session-1", "pc_a"), "another master key");
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(key.sid("ab", "c"), key.sid("a", "bc"));
    }

    #[test]
    fn a_sid_does_not_show_the_session_id_and_is_not_keyed_by_the_master_key_itself() {
        let master = master(1);
        let sid = SidKey::derive(&master).sid("session-1", "pc_a");
        assert!(!sid.contains("session-1"));
        assert_eq!(sid.len(), 43, "base64url of 32 bytes: {sid}");
        let raw = URL_SAFE_NO_PAD.encode(hmac_sha256(master.as_bytes(), &[b"session-1", b"\0", b"pc_a"]));
        assert_ne!(sid, raw);
    }
}
