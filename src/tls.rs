//! TLS served by portcullis itself, for deployments without a proxy in
//! front (`[tls]` in the configuration).
//!
//! The certificate chain and key are PEM files; the key may be PKCS#8,
//! PKCS#1 (RSA) or SEC1 (EC). rustls serves them with its safe defaults:
//! TLS 1.2 and 1.3 only, its cipher suites, ALPN `http/1.1` (actix adds it;
//! the server speaks no HTTP/2). The key pair sits behind a resolver that
//! SIGHUP swaps: a renewed certificate is served to new connections while
//! the listener and open connections stay as they are, and a reload that
//! fails leaves the certificate served before.
//!
//! Errors name the setting and the file, never what the file holds.

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::config::TlsConfig;

/// Why a certificate or key could not be used: the setting, its file, and
/// what is wrong with it (never the file's contents).
#[derive(Debug, thiserror::Error)]
#[error("{setting} {}: {problem}", path.display())]
pub struct TlsError {
    pub setting: &'static str,
    pub path: std::path::PathBuf,
    pub problem: String,
}

impl TlsError {
    fn new(setting: &'static str, path: &Path, problem: impl Into<String>) -> Self {
        Self { setting, path: path.to_owned(), problem: problem.into() }
    }
}

/// The certificate served, swapped whole by `reload`.
#[derive(Debug)]
pub struct ReloadableCert {
    files: TlsConfig,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadableCert {
    /// Reads and checks the files named by the configuration.
    pub fn load(files: &TlsConfig) -> Result<Arc<Self>, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let current = RwLock::new(Arc::new(read_certified_key(files, &provider)?));
        Ok(Arc::new(Self { files: files.clone(), provider, current }))
    }

    /// Reads the files again and serves them from the next handshake on;
    /// on failure the certificate served so far stays. Returns the new
    /// certificate's fingerprint.
    pub fn reload(&self) -> Result<String, TlsError> {
        let fresh = Arc::new(read_certified_key(&self.files, &self.provider)?);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(self.fingerprint())
    }

    /// SHA-256 of the certificate served (the chain's first), in hex: what
    /// `openssl x509 -fingerprint -sha256` shows, without the colons.
    pub fn fingerprint(&self) -> String {
        let current = self.current();
        current.end_entity_cert().map(|der| hex::encode(Sha256::digest(der))).unwrap_or_default()
    }

    /// A rustls server configuration that serves whatever this holds now.
    pub fn server_config(self: &Arc<Self>) -> rustls::ServerConfig {
        rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            // aws-lc-rs's default provider supports both safe versions; the
            // builder only refuses a provider without any.
            .expect("the default provider supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_cert_resolver(self.clone())
    }

    fn current(&self) -> Arc<CertifiedKey> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The chain and key from their PEM files, checked to belong together.
fn read_certified_key(files: &TlsConfig, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    const CERT: &str = "tls.cert_file";
    const KEY: &str = "tls.key_file";
    let (cert_path, key_path) = (files.cert_file.as_path(), files.key_file.as_path());

    let pem = read(CERT, cert_path)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| TlsError::new(CERT, cert_path, "not a readable PEM file of certificates"))?;
    if chain.is_empty() {
        return Err(TlsError::new(CERT, cert_path, "holds no CERTIFICATE block"));
    }

    let pem = read(KEY, key_path)?;
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            TlsError::new(KEY, key_path, "holds no PRIVATE KEY block (PKCS#8, RSA or EC)")
        }
        _ => TlsError::new(KEY, key_path, "not a readable PEM file of a private key"),
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => TlsError::new(
            KEY,
            key_path,
            format!("the private key does not match the certificate in {}", cert_path.display()),
        ),
        rustls::Error::General(_) => {
            TlsError::new(KEY, key_path, "not an RSA, ECDSA (P-256, P-384) or Ed25519 key that rustls can use")
        }
        _ => TlsError::new(CERT, cert_path, "the first certificate is not a valid X.509 certificate"),
    })
}

/// A file's bytes, wiped from memory when dropped (one of them is a key).
fn read(setting: &'static str, path: &Path) -> Result<Zeroizing<Vec<u8>>, TlsError> {
    std::fs::read(path).map(Zeroizing::new).map_err(|e| TlsError::new(setting, path, format!("cannot read it: {e}")))
}

/// On SIGHUP, reads the certificate and key again (a renewal, say); the
/// listener and the connections open stay. Without `[tls]` there is nothing
/// to reload, but SIGHUP (systemd's `ExecReload`) must not end the server as
/// its default action would. Call inside the server's runtime.
#[cfg(unix)]
pub fn reload_on_hangup(cert: Option<Arc<ReloadableCert>>) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    // Registered now, before the server answers: a SIGHUP from then on is ours.
    let mut hangups = signal(SignalKind::hangup())?;
    actix_web::rt::spawn(async move {
        while hangups.recv().await.is_some() {
            let Some(cert) = &cert else {
                tracing::info!("SIGHUP: nothing to reload (no [tls] configured)");
                continue;
            };
            match cert.reload() {
                Ok(fingerprint) => tracing::info!(%fingerprint, "TLS certificate reloaded"),
                Err(e) => {
                    tracing::error!(cause = %e, fingerprint = %cert.fingerprint(), "TLS certificate reload failed; still serving the previous certificate")
                }
            }
        }
    });
    Ok(())
}

#[cfg(not(unix))]
pub fn reload_on_hangup(_cert: Option<Arc<ReloadableCert>>) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate for localhost: its PEM, its key's PEM.
    fn self_signed() -> (String, String) {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        (made.cert.pem(), made.signing_key.serialize_pem())
    }

    struct Files {
        _dir: tempfile::TempDir,
        config: TlsConfig,
    }

    impl Files {
        fn new(cert: &str, key: &str) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let config = TlsConfig { cert_file: dir.path().join("cert.pem"), key_file: dir.path().join("key.pem") };
            let files = Self { _dir: dir, config };
            files.write(cert, key);
            files
        }

        fn write(&self, cert: &str, key: &str) {
            std::fs::write(&self.config.cert_file, cert).unwrap();
            std::fs::write(&self.config.key_file, key).unwrap();
        }
    }

    fn fingerprint_of(pem: &str) -> String {
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        hex::encode(Sha256::digest(&der))
    }

    #[test]
    fn a_reload_serves_the_new_certificate_and_a_failed_one_keeps_the_old() {
        let (cert, key) = self_signed();
        let files = Files::new(&cert, &key);
        let served = ReloadableCert::load(&files.config).unwrap();
        assert_eq!(served.fingerprint(), fingerprint_of(&cert));

        let (renewed, renewed_key) = self_signed();
        files.write(&renewed, &renewed_key);
        assert_eq!(served.reload().unwrap(), fingerprint_of(&renewed));
        assert_eq!(served.fingerprint(), fingerprint_of(&renewed));

        // Half-written renewal: the new certificate with the old key.
        let (next, _) = self_signed();
        files.write(&next, &renewed_key);
        let err = served.reload().unwrap_err();
        assert_eq!(err.setting, "tls.key_file");
        assert!(err.problem.starts_with("the private key does not match the certificate in "), "{err}");
        assert_eq!(served.fingerprint(), fingerprint_of(&renewed));
    }

    #[test]
    fn an_unusable_file_is_named_with_its_problem_and_never_shown() {
        let (cert, key) = self_signed();
        let secret_looking = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0IHNlY3JldA==!!\n-----END PRIVATE KEY-----\n";
        let cases = [
            ("not pem at all", key.as_str(), "tls.cert_file", "holds no CERTIFICATE block"),
            (cert.as_str(), "", "tls.key_file", "holds no PRIVATE KEY block (PKCS#8, RSA or EC)"),
            (cert.as_str(), cert.as_str(), "tls.key_file", "holds no PRIVATE KEY block (PKCS#8, RSA or EC)"),
            (cert.as_str(), secret_looking, "tls.key_file", "not a readable PEM file of a private key"),
            (
                cert.as_str(),
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                "tls.key_file",
                "not an RSA, ECDSA (P-256, P-384) or Ed25519 key that rustls can use",
            ),
            (
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                key.as_str(),
                "tls.cert_file",
                "the first certificate is not a valid X.509 certificate",
            ),
        ];
        for (cert, key, setting, problem) in cases {
            let files = Files::new(cert, key);
            let err = ReloadableCert::load(&files.config).unwrap_err();
            let path = if setting == "tls.cert_file" { &files.config.cert_file } else { &files.config.key_file };
            assert_eq!(err.to_string(), format!("{setting} {}: {problem}", path.display()));
            assert!(!err.to_string().contains("c2VjcmV0"), "{err}");
        }

        let files = Files::new(&cert, &key);
        std::fs::remove_file(&files.config.cert_file).unwrap();
        let err = ReloadableCert::load(&files.config).unwrap_err().to_string();
        assert!(err.starts_with(&format!("tls.cert_file {}: cannot read it: ", files.config.cert_file.display())));
    }
}
