//! TLS served by the binary itself (`[tls]`): https with the configured
//! certificate and nothing for plain http on that port; a renewed
//! certificate picked up on SIGHUP by the same process while open
//! connections go on; a broken renewal ignored; unusable files refused at
//! start-up with the file named and its contents never shown.
//!
//! The client is rustls over a blocking socket, trusting only the test's
//! CA, so a test can see the certificate, version and ALPN it was served.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, ProtocolVersion, RootCertStore, StreamOwned};
use sha2::{Digest, Sha256};

use crate::cli::{Workspace, text};
use crate::processes::Instance;

/// A test CA, and the server certificates it issues for `localhost`.
struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate: the chain's PEM, its key's PEM, its fingerprint.
struct ServerCert {
    chain: String,
    key: String,
    fingerprint: String,
}

impl Pki {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "portcullis test CA");
        Self { ca: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    fn issue(&self) -> ServerCert {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&key, &self.ca).unwrap();
        ServerCert {
            // A full chain, as an ACME client writes it.
            chain: format!("{}{}", cert.pem(), self.ca.pem()),
            key: key.serialize_pem(),
            fingerprint: hex::encode(Sha256::digest(cert.der())),
        }
    }

    /// A client that trusts this CA alone, offering `versions`, and h2
    /// before http/1.1.
    fn client(&self, versions: &[&'static rustls::SupportedProtocolVersion]) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let mut config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

/// One TLS connection to the server, kept open across requests.
struct Https {
    stream: StreamOwned<ClientConnection, TcpStream>,
}

impl Https {
    fn connect(port: u16, config: Arc<ClientConfig>) -> std::io::Result<Self> {
        let tcp = TcpStream::connect(("127.0.0.1", port))?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
        let name = ServerName::try_from("localhost").unwrap();
        let mut stream = StreamOwned::new(ClientConnection::new(config, name).map_err(std::io::Error::other)?, tcp);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(Self { stream })
    }

    /// SHA-256 of the certificate the server presented on this connection.
    fn fingerprint(&self) -> String {
        hex::encode(Sha256::digest(&self.stream.conn.peer_certificates().unwrap()[0]))
    }

    /// GET `path` on this connection, kept alive: the status code.
    fn get(&mut self, path: &str) -> std::io::Result<u16> {
        write!(self.stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
        self.stream.flush()?;
        let mut response = Vec::new();
        let mut byte = [0u8; 1];
        // The head, then exactly the body it announces: the connection stays usable.
        while !response.ends_with(b"\r\n\r\n") {
            self.stream.read_exact(&mut byte)?;
            response.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&response).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |n| n.trim().parse().unwrap_or_else(|_| panic!("{head}")));
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body)?;
        Ok(head[9..12].parse().unwrap_or_else(|_| panic!("{head}")))
    }
}

/// Where the server's certificate and key live, in the workspace.
struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
    master_key: String,
}

impl CertFiles {
    fn new(workspace: &Workspace) -> Self {
        use base64::Engine;
        Self {
            cert: workspace.path().join("fullchain.pem"),
            key: workspace.path().join("privkey.pem"),
            master_key: base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>()),
        }
    }

    fn write(&self, cert: &ServerCert) {
        std::fs::write(&self.cert, &cert.chain).unwrap();
        std::fs::write(&self.key, &cert.key).unwrap();
    }

    /// The settings that serve these files, under an https issuer.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PORTCULLIS_ISSUER", "https://localhost".to_owned()),
            ("PORTCULLIS_MASTER_KEY", self.master_key.clone()),
            ("PORTCULLIS_TLS__CERT_FILE", self.cert.display().to_string()),
            ("PORTCULLIS_TLS__KEY_FILE", self.key.display().to_string()),
        ]
    }
}

/// `portcullis serve` with TLS on a fresh workspace, serving a first
/// certificate of a fresh CA, once /healthz answers over https.
struct Served {
    // Dropped first: the server, then its database.
    instance: Instance,
    port: u16,
    first: ServerCert,
    files: CertFiles,
    pki: Pki,
    _workspace: Workspace,
}

impl Served {
    async fn start() -> Self {
        let (workspace, pki) = (Workspace::new(), Pki::new());
        let (files, first) = (CertFiles::new(&workspace), pki.issue());
        files.write(&first);
        let (instance, port) = Instance::spawn(&workspace, &files.env());
        let port = match tokio::time::timeout(Duration::from_secs(60), port).await {
            Ok(Ok(port)) => port,
            other => panic!("the server did not start ({other:?}): {}", instance.log()),
        };
        let served = Self { instance, port, first, files, pki, _workspace: workspace };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = served.try_connect(rustls::ALL_VERSIONS).and_then(|mut c| c.get("/healthz"));
            if answer.as_ref().is_ok_and(|s| *s == 200) {
                return served;
            }
            assert!(Instant::now() < deadline, "no https answer ({answer:?}): {}", served.instance.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn try_connect(&self, versions: &[&'static rustls::SupportedProtocolVersion]) -> std::io::Result<Https> {
        Https::connect(self.port, self.pki.client(versions))
    }

    /// A new connection, trusting the test CA.
    fn connect(&self) -> Https {
        self.try_connect(rustls::ALL_VERSIONS).unwrap()
    }
}

/// Sends SIGHUP to the server and waits for the log to say `outcome` once
/// more than before.
async fn hang_up(instance: &Instance, outcome: &str) {
    let before = instance.log().matches(outcome).count();
    // SAFETY: kill(2) on the pid of a child this test started and still holds.
    assert_eq!(unsafe { libc::kill(instance.pid() as libc::pid_t, libc::SIGHUP) }, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while instance.log().matches(outcome).count() == before {
        assert!(Instant::now() < deadline, "no {outcome:?} after SIGHUP: {}", instance.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether the process started is still running (not ended, nor a zombie
/// waiting for its parent): what answers is that process, not a successor.
fn running(instance: &Instance) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", instance.pid())).unwrap_or_default();
    // "pid (comm) S ...": the state follows the command's closing parenthesis.
    stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z'))
}

#[actix_web::test]
async fn https_serves_the_configured_certificate_and_plain_http_gets_nothing() {
    let served = Served::start().await;
    let log = served.instance.log();
    assert!(log.contains(&served.first.fingerprint), "the log names the certificate: {log}");

    let mut https = served.connect();
    assert_eq!(https.get("/readyz").unwrap(), 200);
    assert_eq!(https.fingerprint(), served.first.fingerprint);
    assert_eq!(https.stream.conn.alpn_protocol(), Some(&b"http/1.1"[..]), "no h2 is offered back");
    assert_eq!(https.stream.conn.protocol_version(), Some(ProtocolVersion::TLSv1_3));
    // A TLS 1.2 client is served too (rustls offers nothing older).
    let mut tls12 = served.try_connect(&[&rustls::version::TLS12]).unwrap();
    assert_eq!(tls12.get("/healthz").unwrap(), 200);
    assert_eq!(tls12.stream.conn.protocol_version(), Some(ProtocolVersion::TLSv1_2));

    // A client that does not trust the CA is refused by its own check.
    let stranger = Pki::new();
    let err = Https::connect(served.port, stranger.client(rustls::ALL_VERSIONS)).err().expect("untrusted");
    assert!(err.to_string().starts_with("invalid peer certificate"), "{err}");

    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/healthz", served.port))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    assert!(plain.is_err(), "plain http answered on the TLS port: {plain:?}");
    // And the server still serves https after it.
    assert_eq!(https.get("/healthz").unwrap(), 200);
}

#[actix_web::test]
async fn sighup_serves_a_renewed_certificate_from_the_same_process_and_a_broken_one_is_ignored() {
    let served = Served::start().await;
    let (instance, files) = (&served.instance, &served.files);
    let mut open = served.connect();
    assert_eq!(open.get("/healthz").unwrap(), 200);

    let renewed = served.pki.issue();
    files.write(&renewed);
    hang_up(instance, "TLS certificate reloaded").await;
    let mut fresh = served.connect();
    assert_eq!(fresh.fingerprint(), renewed.fingerprint);
    assert_eq!(fresh.get("/healthz").unwrap(), 200);
    // The connection opened before goes on, with the certificate it was given.
    assert_eq!(open.get("/healthz").unwrap(), 200);
    assert_eq!(open.fingerprint(), served.first.fingerprint);
    assert!(running(instance), "the same process serves the renewed certificate");

    // A renewal caught half-written: the next certificate, the old key.
    let next = served.pki.issue();
    std::fs::write(&files.cert, &next.chain).unwrap();
    hang_up(instance, "TLS certificate reload failed").await;
    let log = instance.log();
    let failure = log.lines().rfind(|l| l.contains("reload failed")).unwrap();
    assert!(failure.contains(&format!("tls.key_file {}", files.key.display())), "{failure}");
    assert!(failure.contains("does not match the certificate"), "{failure}");
    assert!(failure.contains(r#""level":"ERROR""#), "{failure}");
    let mut after = served.connect();
    assert_eq!(after.fingerprint(), renewed.fingerprint, "still the last good certificate");
    assert_eq!(after.get("/healthz").unwrap(), 200);

    // An unreadable key file: the same.
    std::fs::write(&files.cert, &renewed.chain).unwrap();
    std::fs::remove_file(&files.key).unwrap();
    hang_up(instance, "TLS certificate reload failed").await;
    assert_eq!(served.connect().fingerprint(), renewed.fingerprint);
    assert!(!instance.log().contains("PRIVATE KEY"), "no key material in the log");
    assert!(running(instance));
}

/// `portcullis serve` expected to stop at start-up: its exit and output,
/// waited for at most a minute.
fn serve_refused(workspace: &Workspace, env: &[(&str, String)]) -> (ExitStatus, String) {
    let mut cmd = workspace.portcullis();
    cmd.arg("serve").env("PORTCULLIS_BIND", "127.0.0.1:0").envs(env.iter().map(|(k, v)| (k, v)));
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("serve kept running: {}", text(&child.wait_with_output().unwrap()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (out.status, text(&out))
}

#[test]
fn unusable_files_and_an_http_issuer_stop_the_start_with_the_setting_named() {
    let (workspace, pki) = (Workspace::new(), Pki::new());
    let files = CertFiles::new(&workspace);
    let (good, other) = (pki.issue(), pki.issue());
    let key_path = files.key.display().to_string();
    let cert_path = files.cert.display().to_string();

    // No files at all.
    let (status, out) = serve_refused(&workspace, &files.env());
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains(&format!("error: tls.cert_file {cert_path}: cannot read it: ")), "{out}");

    // A key of another certificate.
    std::fs::write(&files.cert, &good.chain).unwrap();
    std::fs::write(&files.key, &other.key).unwrap();
    let (status, out) = serve_refused(&workspace, &files.env());
    assert_eq!(status.code(), Some(1), "{out}");
    let says = format!("error: tls.key_file {key_path}: the private key does not match the certificate in {cert_path}");
    assert!(out.contains(&says), "{out}");
    assert!(!out.contains("PRIVATE KEY") && !out.contains("listening"), "{out}");

    // Damaged key material is named, never shown.
    let mut lines: Vec<String> = other.key.lines().map(str::to_owned).collect();
    lines[1] = format!("!!{}", &lines[1][2..]);
    let damaged = lines.join("\n");
    std::fs::write(&files.key, &damaged).unwrap();
    let (status, out) = serve_refused(&workspace, &files.env());
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!("error: tls.key_file {key_path}: not a readable PEM file of a private key")),
        "{out}"
    );
    let body_line = damaged.lines().nth(1).unwrap();
    assert!(!out.contains(body_line), "{out}");

    // TLS with an http issuer: a configuration error, before anything starts.
    files.write(&good);
    let mut env = files.env();
    env.push(("PORTCULLIS_ISSUER", "http://localhost".to_owned()));
    let (status, out) = serve_refused(&workspace, &env);
    assert_eq!(status.code(), Some(2), "{out}");
    assert!(
        out.contains("tls: the issuer must be the https:// URL clients use when portcullis serves TLS itself"),
        "{out}"
    );

    // Half a [tls] section.
    let (status, out) = serve_refused(&workspace, &[files.env()[0].clone(), files.env()[2].clone()]);
    assert_eq!(status.code(), Some(2), "{out}");
    assert!(out.contains("key_file"), "{out}");
}

#[actix_web::test]
async fn sighup_without_tls_reloads_nothing_and_the_server_goes_on() {
    // systemd's `ExecReload` sends SIGHUP whatever the configuration: its
    // default action, ending the process, must not happen.
    let workspace = Workspace::new();
    let instance = Instance::start(&workspace, &[]).await;
    hang_up(&instance, "SIGHUP: nothing to reload").await;
    let ready = reqwest::get(instance.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert!(running(&instance));
}
