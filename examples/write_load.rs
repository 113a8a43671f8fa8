//! Concurrent writes against a running portcullis, for `bench/writes.sh`:
//! `--flows` clients run signed-in authorization-code flows (authorize with
//! remembered consent, then the PKCE token exchange) while `--keys` clients
//! create API keys and `--refreshes` clients rotate a refresh token (each
//! starts with one code flow for `read offline_access`), for `--secs`
//! seconds. Prints one Markdown table row: flows/s, keys/s, and every failure
//! by what it was; with `--json`, one JSON object instead (for bench/kit.sh).
//!
//! Only meant for 127.0.0.1; it stops by itself at the deadline.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser;
use rand::Rng;
use sha2::{Digest, Sha256};

#[derive(Parser)]
struct Args {
    /// The server, e.g. http://127.0.0.1:8080 (loopback only).
    #[arg(long)]
    base: String,
    #[arg(long)]
    client_id: String,
    #[arg(long)]
    client_secret: String,
    /// The app's registered redirect URI.
    #[arg(long)]
    redirect_uri: String,
    /// A member of the app's organization allowed to create keys.
    #[arg(long)]
    email: String,
    #[arg(long)]
    password: String,
    #[arg(long, default_value_t = 6)]
    flows: usize,
    #[arg(long, default_value_t = 4)]
    keys: usize,
    #[arg(long, default_value_t = 0)]
    refreshes: usize,
    /// Print a JSON object instead of a table row.
    #[arg(long)]
    json: bool,
    #[arg(long, default_value_t = 5)]
    secs: u64,
    /// First column of the printed row.
    #[arg(long, default_value = "?")]
    label: String,
}

#[derive(Default)]
struct Tally {
    flows: u64,
    keys: u64,
    refreshes: u64,
    /// "what failed: how" → how often.
    failures: BTreeMap<String, u64>,
}

type Shared = Arc<Mutex<Tally>>;

fn fail(tally: &Shared, what: String) {
    *tally.lock().unwrap().failures.entry(what).or_default() += 1;
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Arc::new(Args::parse());
    let host = url::Url::parse(&args.base)?.host_str().unwrap_or_default().to_owned();
    if host != "127.0.0.1" && host != "localhost" && host != "[::1]" {
        bail!("--base must be a loopback address, not {host}");
    }
    let tally = Shared::default();

    // Sign everyone in before the clock starts.
    let mut browsers = Vec::new();
    for _ in 0..args.flows {
        browsers.push(signed_in_browser(&args).await?);
    }
    let token = dashboard_token(&args).await?;
    let mut refresh_tokens = Vec::new();
    for _ in 0..args.refreshes {
        let browser = signed_in_browser(&args).await?;
        let tokens = code_flow(&args, &browser, "read offline_access").await.map_err(anyhow::Error::msg)?;
        let refresh = tokens["refresh_token"].as_str().context("the code flow returned no refresh token")?;
        refresh_tokens.push(refresh.to_owned());
    }

    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.secs);
    let mut tasks = Vec::new();
    for browser in browsers {
        let (args, tally) = (args.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                match code_flow(&args, &browser, "read").await {
                    Ok(_) => tally.lock().unwrap().flows += 1,
                    Err(e) => fail(&tally, e),
                }
            }
        }));
    }
    for _ in 0..args.keys {
        let (args, tally, token) = (args.clone(), tally.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let http = plain_client();
            while Instant::now() < deadline {
                match create_key(&args, &http, &token).await {
                    Ok(()) => tally.lock().unwrap().keys += 1,
                    Err(e) => fail(&tally, e),
                }
            }
        }));
    }
    for mut refresh in refresh_tokens {
        let (args, tally) = (args.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            let http = plain_client();
            while Instant::now() < deadline {
                match rotate(&args, &http, &refresh).await {
                    Ok(next) => {
                        refresh = next;
                        tally.lock().unwrap().refreshes += 1;
                    }
                    // A lost refresh token ends this client: counted, not retried.
                    Err(e) => return fail(&tally, e),
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let secs = started.elapsed().as_secs_f64();
    let tally = tally.lock().unwrap();
    let failed: u64 = tally.failures.values().sum();
    let detail: Vec<String> = tally.failures.iter().map(|(what, n)| format!("{n}× {what}")).collect();
    if args.json {
        let rate = |n: u64| n as f64 / secs;
        let out = serde_json::json!({
            "flows_per_sec": rate(tally.flows),
            "keys_per_sec": rate(tally.keys),
            "refreshes_per_sec": rate(tally.refreshes),
            "failures": failed,
            "failures_by_kind": detail,
        });
        println!("{out}");
        return Ok(());
    }
    println!(
        "| {} | {} + {} | {:.0} | {:.0} | {} | {} |",
        args.label,
        args.flows,
        args.keys,
        tally.flows as f64 / secs,
        tally.keys as f64 / secs,
        failed,
        if detail.is_empty() { "-".into() } else { detail.join("; ") }
    );
    Ok(())
}

fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// The `name`/`value` pairs of a page's `<input>` fields (our own pages,
/// escaped by askama).
fn inputs(html: &str) -> Vec<(String, String)> {
    let attr = |tag: &str, name: &str| {
        let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        let end = tag[start..].find('"')?;
        Some(unescape(&tag[start..start + end]))
    };
    html.split("<input")
        .skip(1)
        .filter_map(|rest| {
            let tag = &rest[..rest.find('>')?];
            Some((attr(tag, "name")?, attr(tag, "value").unwrap_or_default()))
        })
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn field(fields: &[(String, String)], name: &str) -> Option<String> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

async fn signed_in_browser(args: &Args) -> Result<reqwest::Client> {
    let b = browser();
    let page = b.get(format!("{}/login", args.base)).send().await?.text().await?;
    let csrf = field(&inputs(&page), "csrf_token").context("no csrf_token on /login")?;
    let res = b
        .post(format!("{}/login", args.base))
        .form(&[("csrf_token", csrf.as_str()), ("email", &args.email), ("password", &args.password)])
        .send()
        .await?;
    if res.status() != 303 {
        bail!("sign-in answered {}", res.status());
    }
    Ok(b)
}

async fn dashboard_token(args: &Args) -> Result<String> {
    let res: serde_json::Value = plain_client()
        .post(format!("{}/v1/auth/login", args.base))
        .json(&serde_json::json!({"email": args.email, "password": args.password}))
        .send()
        .await?
        .json()
        .await?;
    res["data"]["access_token"].as_str().map(str::to_owned).with_context(|| format!("login: {res}"))
}

fn pkce() -> (String, String) {
    let verifier: String =
        rand::thread_rng().sample_iter(rand::distributions::Alphanumeric).take(64).map(char::from).collect();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// One signed-in flow for `scope`: authorize (answering the consent page
/// the first time), then exchange the code; the token response. The error
/// says which step failed and how.
async fn code_flow(args: &Args, browser: &reqwest::Client, scope: &str) -> Result<serde_json::Value, String> {
    let (verifier, challenge) = pkce();
    let mut url = url::Url::parse(&format!("{}/oauth/authorize", args.base)).map_err(|e| e.to_string())?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &args.client_id)
        .append_pair("redirect_uri", &args.redirect_uri)
        .append_pair("scope", scope)
        .append_pair("state", "load")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let send = |r: reqwest::RequestBuilder, step: &'static str| async move {
        r.send().await.map_err(|e| format!("{step}: {}", if e.is_timeout() { "timeout" } else { "connection" }))
    };
    let mut res = send(browser.get(url.as_str()), "authorize").await?;
    if res.status() == 200 {
        let html = res.text().await.map_err(|e| e.to_string())?;
        let mut form = inputs(&html);
        form.retain(|(k, _)| k != "decision");
        form.push(("decision".into(), "approve".into()));
        res = send(browser.post(format!("{}/oauth/authorize", args.base)).form(&form), "consent").await?;
    }
    if res.status() != 303 {
        return Err(format!("authorize: {}", res.status().as_u16()));
    }
    let location = res.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default();
    let back = url::Url::parse(location).map_err(|_| format!("authorize: redirect to {location:?}"))?;
    let param = |k: &str| back.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned());
    let code = match (param("code"), param("error")) {
        (Some(code), _) => code,
        (None, Some(error)) => return Err(format!("authorize: error={error}")),
        (None, None) => return Err("authorize: redirect without code".into()),
    };
    let res = send(
        plain_client()
            .post(format!("{}/oauth/token", args.base))
            .basic_auth(&args.client_id, Some(&args.client_secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &args.redirect_uri),
                ("code_verifier", &verifier),
            ]),
        "token",
    )
    .await?;
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    match (status, body["access_token"].is_string()) {
        (200, true) => Ok(body),
        _ => Err(format!("token: {status} {}", body["error"].as_str().unwrap_or("(no error field)"))),
    }
}

/// One refresh-token rotation; the new refresh token.
async fn rotate(args: &Args, http: &reqwest::Client, refresh: &str) -> Result<String, String> {
    let res = http
        .post(format!("{}/oauth/token", args.base))
        .basic_auth(&args.client_id, Some(&args.client_secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .send()
        .await
        .map_err(|e| format!("refresh: {}", if e.is_timeout() { "timeout" } else { "connection" }))?;
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    match body["refresh_token"].as_str() {
        Some(next) if status == 200 => Ok(next.to_owned()),
        _ => Err(format!("refresh: {status} {}", body["error"].as_str().unwrap_or("(no error field)"))),
    }
}

async fn create_key(args: &Args, http: &reqwest::Client, token: &str) -> Result<(), String> {
    let res = http
        .post(format!("{}/v1/api-keys", args.base))
        .bearer_auth(token)
        .json(&serde_json::json!({"name": "load", "scopes": ["read"]}))
        .send()
        .await
        .map_err(|e| format!("key: {}", if e.is_timeout() { "timeout" } else { "connection" }))?;
    let status = res.status().as_u16();
    if status == 201 {
        return Ok(());
    }
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    Err(format!("key: {status} {}", body["error"]["code"].as_str().unwrap_or("(no code)")))
}
