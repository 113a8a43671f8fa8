//! Overload: far more connections than workers, some idle, some trickling
//! headers, many asking at once. Latency may grow, but every request that
//! arrives is answered, the process stays within memory and file
//! descriptors, and when the load goes, it is back to normal.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cli::Workspace;
use crate::processes::Instance;
use crate::two_processes::{EMAIL, new_key, session};

fn status_field(pid_status: &str, field: &str) -> u64 {
    let line = pid_status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Open file descriptors and resident memory (KiB) of the server.
fn footprint(server: &Instance) -> (usize, u64) {
    let pid = server.pid();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    (fds, status_field(&status, "VmRSS:"))
}

/// One request on a fresh connection, raw: the status line's code.
async fn validate(addr: String, key: String) -> Result<u16, String> {
    let mut s = tokio::net::TcpStream::connect(&addr).await.map_err(|e| e.to_string())?;
    let req = format!(
        "GET /v1/auth/validate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out);
    text.get(9..12).and_then(|c| c.parse().ok()).ok_or_else(|| format!("no status line: {text:?}"))
}

#[actix_web::test]
async fn far_more_connections_than_workers_degrade_latency_not_the_process() {
    let workspace = Workspace::new();
    workspace.create_user(EMAIL, "Acme");
    let env = [
        ("PORTCULLIS_WORKERS", "1".to_owned()),
        ("PORTCULLIS_API__RATE_LIMIT_PER_MINUTE", "60000".to_owned()),
        ("PORTCULLIS_API__RATE_LIMIT_BURST", "60000".to_owned()),
    ];
    let server = Instance::start(&workspace, &env).await;
    let owner = session(&server).await;
    let (_, key) = new_key(&server, &owner, json!({"name": "load", "scopes": ["read"]})).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    assert_eq!(validate(addr.clone(), key.clone()).await, Ok(200));
    let (fds_before, rss_before) = footprint(&server);

    // 600 connections that say nothing, 300 that trickle a header forever.
    let mut idle = Vec::new();
    for i in 0..900 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        if i % 3 == 0 {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
        }
        idle.push(s);
    }
    // 1,000 requests at once beside them, on one worker.
    let started = Instant::now();
    let asks: Vec<_> = (0..1000).map(|_| tokio::spawn(validate(addr.clone(), key.clone()))).collect();
    let (fds_peak, rss_peak) = footprint(&server);
    let mut answered = 0;
    for a in asks {
        assert_eq!(a.await.unwrap(), Ok(200), "a request that arrives is answered");
        answered += 1;
    }
    let took = started.elapsed();
    let (fds_during, rss_during) = footprint(&server);
    assert!(rss_during.max(rss_peak) < 200 * 1024, "RSS {rss_during} KiB under load");
    assert!(fds_during.max(fds_peak) < 4000, "{fds_during} descriptors under load");

    // The load goes: descriptors come back, and a request is quick again.
    // The pool may have opened connections under the load and keep them
    // (min_idle 0 opens on demand): up to pool_size (10 by default) of them,
    // each a socket (PostgreSQL) or up to three files (SQLite). A leak of
    // the 900 connections would be far beyond.
    drop(idle);
    let kept = fds_before + 8 + 3 * 10;
    let deadline = Instant::now() + Duration::from_secs(10);
    let fds_after = loop {
        let (fds, _) = footprint(&server);
        if fds <= kept || Instant::now() > deadline {
            break fds;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(fds_after <= kept, "descriptors kept after the load: {fds_before} before, {fds_after} after");
    let quick = Instant::now();
    assert_eq!(validate(addr.clone(), key.clone()).await, Ok(200));
    let quick = quick.elapsed();
    assert!(quick < Duration::from_secs(1), "still slow after the load: {quick:?}");
    let (_, rss_after) = footprint(&server);
    eprintln!(
        "overload, one worker: 900 idle or trickling connections and {answered} requests at once, all answered in {took:?}; \
         descriptors {fds_before} -> {} -> {fds_after}, RSS {} -> {} -> {} MiB; a request after: {quick:?}",
        fds_during.max(fds_peak),
        rss_before / 1024,
        rss_during.max(rss_peak) / 1024,
        rss_after / 1024
    );
}
