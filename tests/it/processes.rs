//! The server binary as a process of its own (`portcullis serve`), for
//! tests of what only real processes show: several instances, crashes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cli::{Workspace, listening_port};

/// The public URL the processes serve under (a load balancer's).
pub const ISSUER: &str = "http://portcullis.internal";

/// One `portcullis serve` process; killed when dropped, so a failing test
/// leaves no server behind.
pub struct Instance {
    child: Child,
    pub base: String,
    log: Arc<Mutex<String>>,
}

impl Instance {
    /// Starts the binary in `workspace` with `env`, on a port the system
    /// picks. Its log is read all along (a full pipe would stall the
    /// server) and kept for failure messages. `ready` waits for it.
    pub fn spawn(workspace: &Workspace, env: &[(&str, String)]) -> (Instance, tokio::sync::oneshot::Receiver<u16>) {
        let mut cmd = workspace.portcullis();
        cmd.arg("serve")
            .env("PORTCULLIS_BIND", "127.0.0.1:0")
            .env("PORTCULLIS_LOG_FORMAT", "json")
            .env("PORTCULLIS_WORKERS", "2")
            .env("PORTCULLIS_ISSUER", ISSUER);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (sink, (tx, rx)) = (log.clone(), tokio::sync::oneshot::channel());
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("portcullis listening") {
                    tx.take().map(|tx| tx.send(listening_port(&line)));
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        (Instance { child, base: String::new(), log }, rx)
    }

    /// Waits until the instance listens and `/readyz` says ready.
    pub async fn ready(&mut self, port: tokio::sync::oneshot::Receiver<u16>) {
        let port = match tokio::time::timeout(Duration::from_secs(60), port).await {
            Ok(Ok(port)) => port,
            other => panic!("the server did not start ({other:?}): {}", self.log()),
        };
        self.base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = reqwest::get(self.url("/readyz")).await.map(|r| r.status().as_u16());
            if ready.as_ref().is_ok_and(|s| *s == 200) {
                return;
            }
            assert!(Instant::now() < deadline, "not ready ({ready:?}): {}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Instance {
    /// Starts one and waits until it is ready.
    pub async fn start(workspace: &Workspace, env: &[(&str, String)]) -> Instance {
        let (mut instance, port) = Instance::spawn(workspace, env);
        instance.ready(port).await;
        instance
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The number of threads the process runs now.
    pub fn threads(&self) -> usize {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status.lines().find_map(|l| l.strip_prefix("Threads:")).unwrap().trim().parse().unwrap()
    }

    /// Sends `signal` (`-TERM`, `-INT`) and waits, at most `limit`, for the
    /// process to exit: how it exited and how long that took.
    pub fn stop_with(&mut self, signal: &str, limit: Duration) -> (std::process::ExitStatus, Duration) {
        let sent = Instant::now();
        let kill = std::process::Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(kill.success());
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, sent.elapsed());
            }
            assert!(sent.elapsed() < limit, "still running {limit:?} after {signal}: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no shutdown, no flush, whatever it was doing. Waits until the
    /// process is gone.
    pub fn kill_9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
