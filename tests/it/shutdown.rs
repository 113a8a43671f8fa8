//! Graceful shutdown: on SIGTERM, requests in flight get
//! `shutdown_timeout_secs` to finish, and no longer.

use std::io::Write;
use std::time::Duration;

use crate::cli::Workspace;
use crate::processes::Instance;

#[actix_web::test]
async fn sigterm_waits_for_requests_in_flight_up_to_the_shutdown_timeout() {
    let workspace = Workspace::new();
    // The request below stays in flight for a minute unless shutdown ends it.
    let env =
        [("PORTCULLIS_SHUTDOWN_TIMEOUT_SECS", "1".to_owned()), ("PORTCULLIS_REQUEST_BODY_TIMEOUT_SECS", "60".into())];
    let mut server = Instance::start(&workspace, &env).await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    // A body that never arrives whole: the request waits for the rest.
    write!(stream, "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n").unwrap();
    write!(stream, "Content-Length: 100\r\n\r\nemail=a").unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (status, took) = server.stop_with("-TERM", Duration::from_secs(20));
    assert!(status.success(), "exit {status:?}: {}", server.log());
    assert!(server.log().contains("\"stopped\""), "{}", server.log());
    assert!(took >= Duration::from_millis(900), "it waited for the request in flight: {took:?}");
    assert!(
        took < Duration::from_secs(8),
        "but no longer than the shutdown timeout (1 s), not the default 10: {took:?}"
    );
}
