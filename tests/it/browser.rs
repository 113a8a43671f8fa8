//! The pages in a real browser: headless Chromium driven over WebDriver.
//!
//! Needs `chromium` and `chromedriver` (Debian: chromium, chromium-driver;
//! `.ci/run` installs them), so these tests are `#[ignore]`d: the harness
//! reports them as ignored, and `cargo test -- --include-ignored` (as
//! `.ci/run` does) runs them, failing when the browser is missing.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// Starts chromedriver and a headless Chromium session.
pub(crate) async fn open_browser() -> (ChromeDriver, Client) {
    let (Some(driver), Some(chromium)) = (find(&["chromedriver"]), find(&["chromium", "chromium-browser"])) else {
        panic!("the browser tests need chromium and chromedriver on PATH (Debian: chromium, chromium-driver)");
    };
    // Port 0: chromedriver picks a free port and says which on stdout.
    let mut child = Command::new(driver)
        .arg("--port=0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    // Killed on drop, also when the test fails while it starts.
    let mut driver = ChromeDriver { child, url: String::new(), _profile: tempfile::tempdir().unwrap() };
    let mut said = String::new();
    let port = loop {
        let mut line = String::new();
        assert_ne!(stdout.read_line(&mut line).unwrap(), 0, "chromedriver exited: {said}");
        said.push_str(&line);
        if let Some(rest) = line.trim_end().strip_prefix("ChromeDriver was started successfully on port ") {
            break rest.trim_end_matches('.').parse::<u16>().unwrap_or_else(|_| panic!("no port in {line:?}"));
        }
    };
    // Keep reading what it prints, so that it never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
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

pub(crate) async fn fill(b: &Client, id: &str, value: &str) {
    b.find(Locator::Id(id)).await.unwrap().send_keys(value).await.unwrap();
}

/// The text of an element, waiting for the page that has it (a click that
/// submits a form returns before the next page is there).
pub(crate) async fn text_of(b: &Client, id: &str) -> String {
    b.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id(id)).await.unwrap().text().await.unwrap()
}

pub(crate) async fn submit(b: &Client, form_action: &str) {
    b.find(Locator::Css(&format!("form[action='{form_action}'] button[type=submit]")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn wait_for_path(b: &Client, path: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let url = b.current_url().await.unwrap();
        let here = format!("{}{}", url.path(), url.query().map(|q| format!("?{q}")).unwrap_or_default());
        if here == path {
            return here;
        }
        assert!(Instant::now() < deadline, "expected {path}, browser is at {here}");
        tokio::time::sleep(Duration::from_millis(50)).await;
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
    if let Ok(png) = b.screenshot().await {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
        let _ = std::fs::write(dir.join("dashboard.png"), png);
    }

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
    let error = b
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("p.error"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(error, "Invalid email or password.");

    b.find(Locator::Id("password")).await.unwrap().send_keys(PASSWORD).await.unwrap();
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
    // Nothing listens at the app's callback: the browser stops there and we read the URL.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let callback = format!("http://127.0.0.1:{port}/callback");
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
    assert_eq!(text_of(&b, "app-name").await, "Example App");
    assert_eq!(text_of(&b, "redirect-to").await, callback);
    let scopes = b.find(Locator::Css("ul.scopes")).await.unwrap().text().await.unwrap();
    assert!(scopes.contains("Read your data") && scopes.contains("Create and change your data"), "{scopes}");
    if let Ok(png) = b.screenshot().await {
        let _ = std::fs::write(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("consent.png"), png);
    }
    b.find(Locator::Id("approve")).await.unwrap().click().await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    let landed = loop {
        let url = b.current_url().await.unwrap();
        if url.as_str().starts_with(&callback) {
            break url;
        }
        assert!(Instant::now() < deadline, "browser is at {url}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let q: std::collections::HashMap<_, _> = landed.query_pairs().into_owned().collect();
    assert_eq!(q.get("state").map(String::as_str), Some("st-42"));
    assert_eq!(q.get("iss").map(String::as_str), Some(app.base.as_str()));
    assert!(q.get("code").is_some_and(|c| c.len() >= 43));
    b.close().await.unwrap();
}
