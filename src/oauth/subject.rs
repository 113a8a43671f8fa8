//! The `sub` of a user's ID tokens, as each client sees it (OIDC Core §8).
//!
//! Public clients get the user's id. Pairwise clients get
//! `base64url(HMAC-SHA256(pairwise_key, organization_id 0x00 sector 0x00 user_id))`:
//! stable for one sector, unlinkable across sectors, and not reversible
//! without the key. The organization is part of the input because the
//! sector identifier is an operator's word, not proven (no
//! `sector_identifier_uri` is fetched): claiming another organization's
//! host must not yield that organization's subjects.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::clients::{Client, SubjectType};
use crate::tokens::master_key::{MasterKey, hmac_sha256 as hmac};

/// Fixes the derivation: another label (or version) gives other subjects.
const LABEL: &[u8] = b"portcullis/oidc/pairwise-subject/v1";

/// The key pairwise subjects are computed with: an HMAC of a fixed label
/// under the master key, so the master key itself never keys anything else.
pub struct PairwiseKey([u8; 32]);

impl std::fmt::Debug for PairwiseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PairwiseKey(***)")
    }
}

impl PairwiseKey {
    pub fn derive(master: &MasterKey) -> Self {
        Self(master.derive(LABEL))
    }
}

/// The length of a pairwise subject: base64url of 32 bytes. A user id is a
/// UUID (36 characters), so a token's `sub` says by its shape alone whether
/// it needs the way back to its user (`store::pairwise_subjects`), even
/// when the app has since changed its subject type.
const PAIRWISE_LEN: usize = 43;

/// True when `sub` has the shape of a pairwise subject, not of a user id.
pub fn is_pairwise(sub: &str) -> bool {
    sub.len() == PAIRWISE_LEN
}

/// The `sub` of `user_id` for `client`.
pub fn subject(client: &Client, user_id: &str, key: &PairwiseKey) -> String {
    match client.subject_type {
        SubjectType::Public => user_id.to_owned(),
        SubjectType::Pairwise => {
            // Registration always stores a sector for a pairwise client; a
            // row without one still gets a subject of its own, never the id.
            let sector = client.sector_identifier.as_deref().unwrap_or(&client.client_id);
            let digest =
                hmac(&key.0, &[client.organization_id.as_bytes(), b"\0", sector.as_bytes(), b"\0", user_id.as_bytes()]);
            URL_SAFE_NO_PAD.encode(digest)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> PairwiseKey {
        use base64::engine::general_purpose::STANDARD;
        PairwiseKey::derive(&MasterKey::from_base64(&STANDARD.encode([byte; 32])).unwrap())
    }

    fn client(subject_type: SubjectType, sector: Option<&str>) -> Client {
        let mut c = Client::dashboard(60);
        c.client_id = "pc_client".into();
        c.organization_id = "org-1".into();
        c.subject_type = subject_type;
        c.sector_identifier = sector.map(str::to_owned);
        c
    }

    #[test]
    fn a_public_client_sees_the_user_id() {
        assert_eq!(subject(&client(SubjectType::Public, None), "user-1", &key(1)), "user-1");
    }

    #[test]
    fn pairwise_subjects_are_stable_per_sector_and_differ_across_sectors_and_users() {
        let k = key(1);
        let a = client(SubjectType::Pairwise, Some("a.example"));
        let b = client(SubjectType::Pairwise, Some("b.example"));
        let sub = subject(&a, "user-1", &k);
        assert_eq!(sub, subject(&a, "user-1", &k), "stable");
        let mut same_sector = a.clone();
        same_sector.client_id = "pc_other".into();
        assert_eq!(sub, subject(&same_sector, "user-1", &k), "one sector, one subject");
        assert_ne!(sub, subject(&b, "user-1", &k), "another sector");
        assert_ne!(sub, subject(&a, "user-2", &k), "another user");
        let mut other_org = a.clone();
        other_org.organization_id = "org-2".into();
        assert_ne!(sub, subject(&other_org, "user-1", &k), "another organization claiming the sector");
        assert_ne!(sub, subject(&a, "user-1", &key(2)), "another master key");
    }

    #[test]
    fn a_pairwise_subject_is_not_the_user_id_nor_derived_from_the_master_key_directly() {
        let (master, user) =
            (MasterKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([1u8; 32])).unwrap(), "user-1");
        let k = PairwiseKey::derive(&master);
        assert_ne!(&k.0, master.as_bytes());
        let sub = subject(&client(SubjectType::Pairwise, Some("a.example")), user, &k);
        assert!(!sub.contains(user));
        assert_eq!(sub.len(), 43, "base64url of 32 bytes: {sub}");
        assert!(is_pairwise(&sub) && !is_pairwise(&uuid::Uuid::now_v7().to_string()));
        assert!(sub.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        // Keyed by the derived key, not by the master key itself.
        let raw =
            URL_SAFE_NO_PAD.encode(hmac(master.as_bytes(), &[b"org-1", b"\0", b"a.example", b"\0", user.as_bytes()]));
        assert_ne!(sub, raw);
    }
}
