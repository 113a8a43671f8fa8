//! The pages in a real browser: headless Chromium driven over WebDriver.
//!
//! Needs `chromium` and `chromedriver` (Debian: chromium, chromium-driver;
//! `.ci/run` installs them), so these tests are `#[ignore]`d: the harness
//! reports them as ignored, and `cargo test -- --include-ignored` (as
//! `.ci/run` does) runs them, failing when the browser is missing.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::support::{PASSWORD, TestApp};

pub(crate) struct ChromeDriver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find(names: &[&str]) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file()).map(|p| p.display().to_string())
    })
}

/// Starts chromedriver; on its exit, what it said on stdout and stderr.
fn start_chromedriver(driver: &str) -> Result<(ChromeDriver, u16), String> {
    let mut stderr = tempfile::tempfile().unwrap();
    let mut child = Command::new(driver)
        .arg("--port=0")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr.try_clone().unwrap()))
        .spawn()
        .expect("chromedriver starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    // Killed on drop, also when the test fails while it starts.
    let driver = ChromeDriver { child, url: String::new(), _profile: tempfile::tempdir().unwrap() };
    let mut said = String::new();
    let port = loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            drop(driver);
            let mut errors = String::new();
            let _ = stderr.seek(SeekFrom::Start(0)).and_then(|_| stderr.read_to_string(&mut errors));
            return Err(format!("chromedriver exited: {said}{errors}"));
        }
        said.push_str(&line);
        if let Some(rest) = line.trim_end().strip_prefix("ChromeDriver was started successfully on port ") {
            break rest.trim_end_matches('.').parse::<u16>().unwrap_or_else(|_| panic!("no port in {line:?}"));
        }
    };
    // Keep reading what it prints, so that it never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    Ok((driver, port))
}

/// Starts chromedriver and a headless Chromium session.
pub(crate) async fn open_browser() -> (ChromeDriver, Client) {
    let (Some(driver), Some(chromium)) = (find(&["chromedriver"]), find(&["chromium", "chromium-browser"])) else {
        panic!("the browser tests need chromium and chromedriver on PATH (Debian: chromium, chromium-driver)");
    };
    // Port 0: chromedriver picks a free port and says which on stdout. Under
    // load it has exited once right after starting: then it is started again,
    // and if it keeps exiting, the failure says what it wrote.
    let mut failures = Vec::new();
    let (mut driver, port) = loop {
        match start_chromedriver(&driver) {
            Ok(started) => break started,
            Err(said) if failures.len() < 2 => failures.push(said),
            Err(said) => panic!("chromedriver exited three times: {failures:?}, {said}"),
        }
    };
    driver.url = format!("http://127.0.0.1:{port}");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1200,900",
                format!("--user-data-dir={}", driver._profile.path().display()),
            ]
        }),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector).capabilities(caps.clone()).connect(&driver.url).await {
            Ok(client) => return (driver, client),
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("cannot start a Chromium session: {e}"),
        }
    }
}

/// How long a page may take to come, under load included.
const WAIT: Duration = Duration::from_secs(30);

/// Where the browser is and what its page says, for failure messages.
pub(crate) async fn whereabouts(b: &Client) -> String {
    let url = match b.current_url().await {
        Ok(url) => url.to_string(),
        Err(e) => format!("(no URL: {e})"),
    };
    let text = match b
        .execute("return document.body ? document.body.innerText : document.documentElement.outerHTML", vec![])
        .await
    {
        Ok(serde_json::Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(e) => format!("(no page text: {e})"),
    };
    let text: String = text.chars().take(800).collect();
    format!("browser is at {url}; the page says {text:?}")
}

/// Waits for an element of the page; a failure says where the browser is.
pub(crate) async fn wait_for(b: &Client, what: Locator<'_>) -> Element {
    let deadline = Instant::now() + WAIT;
    loop {
        match b.find(what).await {
            Ok(element) => return element,
            Err(e) if e.is_no_such_element() && Instant::now() < deadline => {}
            Err(e) => panic!("no {what:?} ({e}); {}", whereabouts(b).await),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn fill(b: &Client, id: &str, value: &str) {
    if let Err(e) = wait_for(b, Locator::Id(id)).await.send_keys(value).await {
        panic!("cannot fill #{id} ({e}); {}", whereabouts(b).await);
    }
}

/// The text of an element, waiting for the page that has it (a click that
/// submits a form returns before the next page is there, and an element
/// found just before the page goes is stale: found again).
pub(crate) async fn text_of(b: &Client, id: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        match wait_for(b, Locator::Id(id)).await.text().await {
            Ok(text) => return text,
            Err(e) if e.is_stale_element_reference() && Instant::now() < deadline => {}
            Err(e) => panic!("no text of #{id} ({e}); {}", whereabouts(b).await),
        }
    }
}

/// Clicks an element once it is there.
pub(crate) async fn click(b: &Client, what: Locator<'_>) {
    if let Err(e) = wait_for(b, what).await.click().await {
        panic!("cannot click {what:?} ({e}); {}", whereabouts(b).await);
    }
}

pub(crate) async fn submit(b: &Client, form_action: &str) {
    click(b, Locator::Css(&format!("form[action='{form_action}'] button[type=submit]"))).await;
}

/// Fills the sign-in form on the page with `email` and the tests' password, and sends it.
pub(crate) async fn sign_in(b: &Client, email: &str) {
    fill(b, "email", email).await;
    fill(b, "password", PASSWORD).await;
    submit(b, "/login").await;
}

/// The folder of the pages' screenshots, which `.ci/run` prints.
pub(crate) fn screenshot_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
}

/// Saves the page as `NAME.png` in [`screenshot_dir`].
pub(crate) async fn screenshot(b: &Client, name: &str) {
    let png = b.screenshot().await.unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// The page at a phone's width (375 CSS pixels): nothing wider than the
/// screen (no horizontal scrolling); saved as `NAME-375.png`, then the
/// window is as wide as before.
pub(crate) async fn assert_fits_a_phone(b: &Client, name: &str) {
    let (_, _, width, height) = b.get_window_rect().await.unwrap();
    b.set_window_size(375, 812).await.unwrap();
    let inner: u64 = serde_json::from_value(b.execute("return window.innerWidth", vec![]).await.unwrap()).unwrap();
    // Headless Chromium may keep a window wider than asked: the layout is
    // judged at the width the page got, which must be a phone's.
    assert!(inner <= 420, "the window did not narrow to a phone's width: {inner}px");
    let wide = b
        .execute("return document.documentElement.scrollWidth - document.documentElement.clientWidth", vec![])
        .await
        .unwrap();
    assert_eq!(wide, serde_json::json!(0), "{name} scrolls sideways at {inner}px; {}", whereabouts(b).await);
    screenshot(b, &format!("{name}-375")).await;
    b.set_window_size(width as u32, height as u32).await.unwrap();
}

pub(crate) async fn wait_for_path(b: &Client, path: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let url = b.current_url().await.unwrap();
        let here = format!("{}{}", url.path(), url.query().map(|q| format!("?{q}")).unwrap_or_default());
        if here == path {
            return here;
        }
        if Instant::now() >= deadline {
            panic!("expected {path}; {}", whereabouts(b).await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An app's redirect URI, `http://127.0.0.1:PORT/callback`, served for the
/// whole test: every request gets a small page, and the request lines are
/// kept. Listening (rather than leaving the port closed) keeps the port from
/// being taken by another test's server, and the browser lands on a real page.
pub(crate) struct AppCallback {
    pub(crate) url: String,
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    seen: AtomicUsize,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AppCallback {
    pub(crate) fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let requests = requests.clone();
                    // One thread a connection: a browser's preconnected socket may never ask.
                    std::thread::spawn(move || answer(stream, &requests));
                }
            })
        };
        AppCallback {
            url: format!("http://{addr}/callback"),
            addr,
            requests,
            seen: AtomicUsize::new(0),
            stop,
            thread: Some(thread),
        }
    }

    /// Waits until the browser has asked for the callback again and is on its
    /// page; the query of the browser's URL, which is the one the app got.
    pub(crate) async fn landed(&self, b: &Client) -> HashMap<String, String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let callbacks: Vec<String> =
                self.requests.lock().unwrap().iter().filter(|r| r.starts_with("GET /callback")).cloned().collect();
            let seen = self.seen.load(Ordering::SeqCst);
            if callbacks.len() > seen {
                let url = b.current_url().await.unwrap();
                if url.as_str().starts_with(&self.url) {
                    let target = format!("{}?{}", url.path(), url.query().unwrap_or_default());
                    let asked = &callbacks[callbacks.len() - 1];
                    assert_eq!(asked, &format!("GET {target} HTTP/1.1"), "the app got what the browser shows");
                    self.seen.store(callbacks.len(), Ordering::SeqCst);
                    return url.query_pairs().into_owned().collect();
                }
            }
            if Instant::now() >= deadline {
                let all = self.requests.lock().unwrap().clone();
                panic!("the browser did not land at {} (it asked {all:?}); {}", self.url, whereabouts(b).await);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Reads one request's head, keeps its request line and answers with a page.
fn answer(stream: TcpStream, requests: &Mutex<Vec<String>>) {
    let _ = stream.set_read_timeout(Some(WAIT));
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => return,
            Ok(_) if header.trim_end().is_empty() => break,
            Ok(_) => {}
        }
    }
    requests.lock().unwrap().push(request_line.trim_end().to_owned());
    let body = "<!doctype html><title>The app</title><p id=\"app-callback\">The app got the answer.</p>";
    let _ = (&stream).write_all(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
}

impl Drop for AppCallback {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread, which then stops.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver: cargo test -- --include-ignored"]
async fn signup_dashboard_logout_login_in_chromium() {
    let (_driver, b) = open_browser().await;
    let app = TestApp::spawn().await;

    b.goto(&app.url("/signup")).await.unwrap();
    fill(&b, "email", "lin@example.com").await;
    fill(&b, "password", PASSWORD).await;
    fill(&b, "organization", "Lin & <Co>").await;
    submit(&b, "/signup").await;
    // Sign-up never signs in (that would tell a new email from one in use): sign in.
    wait_for_path(&b, "/login?notice=signed-up").await;
    assert_eq!(text_of(&b, "notice").await, "If this email was new, your account is ready: sign in.");
    fill(&b, "email", "lin@example.com").await;
    fill(&b, "password", PASSWORD).await;
    submit(&b, "/login").await;
    wait_for_path(&b, "/dashboard").await;
    assert_eq!(text_of(&b, "who").await, "lin@example.com");
    assert_eq!(text_of(&b, "organization").await, "Lin & <Co>");
    assert_eq!(text_of(&b, "role").await, "OWNER");

    // The stylesheet loads under the page's CSP.
    let radius = b
        .execute("return getComputedStyle(document.querySelector('.card')).borderTopLeftRadius", vec![])
        .await
        .unwrap();
    assert_eq!(radius, json!("8px"));
    screenshot(&b, "dashboard").await;
    assert_fits_a_phone(&b, "dashboard").await;

    // Sign out from the navigation bar.
    submit(&b, "/logout").await;
    wait_for_path(&b, "/login").await;
    b.goto(&app.url("/dashboard")).await.unwrap();
    wait_for_path(&b, "/login?return_to=%2Fdashboard").await;

    // A wrong password keeps the form and says so, without saying which part was wrong.
    fill(&b, "email", "lin@example.com").await;
    fill(&b, "password", "not the password").await;
    submit(&b, "/login").await;
    // The answer is the same page: wait for it rather than race the submit.
    let error = wait_for(&b, Locator::Css("p.error")).await.text().await.unwrap();
    assert_eq!(error, "Invalid email or password.");

    fill(&b, "password", PASSWORD).await;
    submit(&b, "/login").await;
    wait_for_path(&b, "/dashboard").await;
    assert_eq!(text_of(&b, "who").await, "lin@example.com");

    b.close().await.unwrap();
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver: cargo test -- --include-ignored"]
async fn consent_page_in_chromium_sends_the_code_back_to_the_app() {
    let (_driver, b) = open_browser().await;
    let app = TestApp::spawn().await;
    // The app's callback: a page that the browser lands on, and we read the URL.
    let app_callback = AppCallback::start();
    let callback = app_callback.url.clone();
    let reg = app.oauth_client().await.redirect_uris(&[&callback]).create().await;
    let (user, _) = app.user().create().await;

    let authorize = format!(
        "{}?response_type=code&client_id={}&redirect_uri={}&scope=read%20write&state=st-42\
         &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        app.url("/oauth/authorize"),
        reg.client.client_id,
        crate::support::urlencode(&callback),
    );
    b.goto(&authorize).await.unwrap();
    // Not signed in: the login page, then back to the request.
    fill(&b, "email", &user.email).await;
    fill(&b, "password", PASSWORD).await;
    submit(&b, "/login").await;
    // The login page names the app too: wait for the consent page's button.
    let approve = wait_for(&b, Locator::Id("approve")).await;
    assert_eq!(text_of(&b, "app-name").await, "Example App");
    assert_eq!(text_of(&b, "redirect-to").await, callback);
    let scopes = wait_for(&b, Locator::Css("ul.scopes")).await.text().await.unwrap();
    assert!(scopes.contains("Read your data") && scopes.contains("Create and change your data"), "{scopes}");
    screenshot(&b, "consent").await;
    assert_fits_a_phone(&b, "consent").await;
    approve.click().await.unwrap();

    let q = app_callback.landed(&b).await;
    assert_eq!(q.get("state").map(String::as_str), Some("st-42"));
    assert_eq!(q.get("iss").map(String::as_str), Some(app.base.as_str()));
    assert!(q.get("code").is_some_and(|c| c.len() >= 43));
    b.close().await.unwrap();
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver: cargo test -- --include-ignored"]
async fn a_long_organization_name_wraps_in_the_header_at_a_phones_width_in_chromium() {
    let (_driver, b) = open_browser().await;
    let app = TestApp::spawn().await;
    // The builder's name: "Org " and 32 hex digits, one long word.
    let (user, org) = app.user().create().await;
    b.goto(&app.url("/login")).await.unwrap();
    fill(&b, "email", &user.email).await;
    fill(&b, "password", PASSWORD).await;
    submit(&b, "/login").await;
    wait_for_path(&b, "/dashboard").await;
    assert_eq!(text_of(&b, "organization").await, org.name);
    assert_fits_a_phone(&b, "dashboard-long-name").await;
    b.close().await.unwrap();
}
