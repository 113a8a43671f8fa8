//! The master key: 32 bytes that encrypt signing keys at rest.
//!
//! Given in configuration (base64) in production. In development, when the
//! issuer is plain http and none is given, one is generated into the data
//! directory with 0600 permissions, and a warning says so.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

pub const FILE_NAME: &str = "master.key";

/// XChaCha20-Poly1305's nonce: 24 random bytes, never repeated in practice.
pub const NONCE_LEN: usize = 24;

/// HMAC-SHA256 under `key` of `parts`, fed one after another.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    use aws_lc_rs::hmac;
    let mut mac = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, key));
    for part in parts {
        mac.update(part);
    }
    let mut out = [0; 32];
    out.copy_from_slice(mac.sign().as_ref());
    out
}

#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("master_key must be base64 of exactly 32 bytes")]
    Malformed,
    #[error(
        "no master key configured: an https issuer requires PORTCULLIS_MASTER_KEY \
         (generate one with: head -c 32 /dev/urandom | base64)"
    )]
    Required,
    #[error("master key file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Where the key came from, so start-up can warn about generated ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Configured,
    File(PathBuf),
    Generated(PathBuf),
}

impl MasterKey {
    pub fn from_base64(s: &str) -> Result<Self, MasterKeyError> {
        let bytes = STANDARD.decode(s.trim()).map_err(|_| MasterKeyError::Malformed)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| MasterKeyError::Malformed)?;
        Ok(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `base64(nonce || XChaCha20-Poly1305(msg, aad))` under the master key:
    /// what is stored sealed (signing keys, the email outbox). `aad` binds
    /// the sealed value to what it belongs to, so it cannot be moved.
    pub fn seal(&self, aad: &[u8], msg: &[u8]) -> Option<String> {
        use chacha20poly1305::aead::{Aead, Payload};
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self.cipher().encrypt(chacha20poly1305::XNonce::from_slice(&nonce), Payload { msg, aad }).ok()?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Some(STANDARD.encode(out))
    }

    /// What `seal` sealed with the same `aad`; `None` when it was not that.
    pub fn open(&self, aad: &[u8], stored: &str) -> Option<zeroize::Zeroizing<Vec<u8>>> {
        use chacha20poly1305::aead::{Aead, Payload};
        let raw = STANDARD.decode(stored).ok()?;
        if raw.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        self.cipher()
            .decrypt(chacha20poly1305::XNonce::from_slice(nonce), Payload { msg: sealed, aad })
            .ok()
            .map(zeroize::Zeroizing::new)
    }

    fn cipher(&self) -> chacha20poly1305::XChaCha20Poly1305 {
        use chacha20poly1305::KeyInit;
        chacha20poly1305::XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(&self.0))
    }

    /// A key of its own for one purpose: HMAC-SHA256(master key, `label`),
    /// useless for anything else the master key protects.
    pub fn derive(&self, label: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.0, &[label])
    }

    /// Configured key, else (http issuer only) the data directory's key,
    /// generated on first use.
    pub fn resolve(
        configured: Option<&str>,
        https: bool,
        data_dir: &Path,
    ) -> Result<(Self, KeySource), MasterKeyError> {
        if let Some(found) = Self::find(configured, https, data_dir)? {
            return Ok(found);
        }
        let path = data_dir.join(FILE_NAME);
        let io = |source| MasterKeyError::Io { path: path.clone(), source };
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path).map_err(io)?;
        file.write_all(STANDARD.encode(bytes).as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok((Self(bytes), KeySource::Generated(path)))
    }

    /// The key `resolve` would use, without generating one: `None` when
    /// none is configured and the data directory has no key file (http
    /// issuer only; https requires a configured key).
    pub fn find(
        configured: Option<&str>,
        https: bool,
        data_dir: &Path,
    ) -> Result<Option<(Self, KeySource)>, MasterKeyError> {
        if let Some(s) = configured {
            return Ok(Some((Self::from_base64(s)?, KeySource::Configured)));
        }
        if https {
            return Err(MasterKeyError::Required);
        }
        let path = data_dir.join(FILE_NAME);
        match std::fs::read_to_string(&path) {
            Ok(s) => Ok(Some((Self::from_base64(&s)?, KeySource::File(path)))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(MasterKeyError::Io { path, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_is_rfc_4231s_and_parts_are_one_message() {
        // RFC 4231 §4.3, test case 2. Pairwise subjects depend on this
        // staying the same whatever implements it.
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(hex::encode(hmac_sha256(b"Jefe", &[b"what do ya want for nothing?"])), expected);
        assert_eq!(hex::encode(hmac_sha256(b"Jefe", &[b"what do ya ", b"want for nothing?"])), expected);
    }

    #[test]
    fn https_without_a_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(MasterKey::resolve(None, true, dir.path()), Err(MasterKeyError::Required)));
        assert!(!dir.path().join(FILE_NAME).exists());
    }

    #[test]
    fn development_key_is_generated_once_with_0600() {
        let dir = tempfile::tempdir().unwrap();
        let (a, src) = MasterKey::resolve(None, false, dir.path()).unwrap();
        assert!(matches!(src, KeySource::Generated(_)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FILE_NAME)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (b, src) = MasterKey::resolve(None, false, dir.path()).unwrap();
        assert!(matches!(src, KeySource::File(_)));
        assert_eq!(a.as_bytes(), b.as_bytes());
    }

    #[test]
    fn configured_key_must_be_32_bytes() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(MasterKey::resolve(Some("c2hvcnQ="), true, dir.path()), Err(MasterKeyError::Malformed)));
        let good = STANDARD.encode([7u8; 32]);
        let (k, src) = MasterKey::resolve(Some(&good), true, dir.path()).unwrap();
        assert_eq!(k.as_bytes(), &[7u8; 32]);
        assert_eq!(src, KeySource::Configured);
        assert_eq!(format!("{k:?}"), "MasterKey(***)");
    }
}
