//! A crash under load: the server process is killed (SIGKILL, no shutdown)
//! while it makes API keys, rotates refresh tokens and issues authorization
//! codes, then started again on the same database. Whatever it answered
//! before it died must still work (or have been rotated by a request the
//! crash cut off), and nothing it never answered may exist beyond the
//! requests in flight at the kill.

use std::time::Duration;

use oauth2::PkceCodeChallenge;
use serde_json::{Value, json};

use crate::cli::Workspace;
use crate::oauth_support::{REDIRECT, query};
use crate::processes::Instance;
use crate::support::{location, on_postgres, urlencode};
use crate::two_processes::{EMAIL, active, approve, oauth, refresh, register, session, signed_in_browser, tokens, v1};

/// How a load task ended: at the kill, with its last request in flight or
/// not (refused at connect: sent after the kill, never seen by the server).
struct Ended<T> {
    answered: T,
    sent: usize,
    in_flight: bool,
}

fn cut_off(e: &reqwest::Error) -> bool {
    !e.is_connect()
}

/// Makes API keys until the server dies: the keys it answered.
async fn make_keys(base: String, owner: String, task: usize) -> Ended<Vec<String>> {
    let client = reqwest::Client::new();
    let mut made = Vec::new();
    for n in 1.. {
        let body = json!({"name": format!("crash {task}-{n}"), "scopes": ["read"]});
        let res = client.post(format!("{base}/v1/api-keys")).bearer_auth(&owner).json(&body).send().await;
        let res = match res {
            Ok(res) => res,
            Err(e) => return Ended { answered: made, sent: n, in_flight: cut_off(&e) },
        };
        let status = res.status().as_u16();
        match res.json::<Value>().await {
            Ok(b) if status == 201 => made.push(b["data"]["key"].as_str().unwrap().to_owned()),
            // Too busy: told to try again, nothing made.
            Ok(b) if status == 503 => assert_eq!(b["error"]["code"], "SERVICE_UNAVAILABLE"),
            Ok(b) => panic!("{status}: {b}"),
            // The answer was cut off: as good as in flight.
            Err(_) => return Ended { answered: made, sent: n, in_flight: true },
        }
    }
    unreachable!("the loop ends at the crash")
}

/// Rotates one refresh family until the server dies: the last refresh
/// token it answered.
async fn rotate(base: String, app: (String, String), mut token: String) -> Ended<String> {
    let client = reqwest::Client::new();
    for n in 1.. {
        let form = [("grant_type", "refresh_token"), ("refresh_token", token.as_str())];
        let res = client.post(format!("{base}/oauth/token")).basic_auth(&app.0, Some(&app.1)).form(&form).send().await;
        let res = match res {
            Ok(res) => res,
            Err(e) => return Ended { answered: token, sent: n, in_flight: cut_off(&e) },
        };
        let status = res.status().as_u16();
        match res.json::<Value>().await {
            Ok(b) if status == 200 => token = tokens(&b).0,
            Ok(b) if status == 503 => assert_eq!(b["error"], "temporarily_unavailable"),
            Ok(b) => panic!("{status}: {b}"),
            Err(_) => return Ended { answered: token, sent: n, in_flight: true },
        }
    }
    unreachable!("the loop ends at the crash")
}

/// Issues codes through remembered consent until the server dies: the
/// codes it answered, with their verifiers.
async fn issue_codes(base: String, browser: reqwest::Client, client_id: String) -> Ended<Vec<(String, String)>> {
    let mut issued = Vec::new();
    for n in 1.. {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let url = format!(
            "{base}/oauth/authorize?response_type=code&client_id={client_id}&redirect_uri={}&scope={}&state=s&code_challenge={}&code_challenge_method=S256",
            urlencode(REDIRECT),
            urlencode("read offline_access"),
            challenge.as_str()
        );
        let res = match browser.get(&url).send().await {
            Ok(res) => res,
            Err(e) => return Ended { answered: issued, sent: n, in_flight: cut_off(&e) },
        };
        if res.status() == 303 {
            let back = url::Url::parse(&location(&res)).unwrap();
            if let Some(code) = query(&back, "code") {
                issued.push((code, verifier.secret().clone()));
                continue;
            }
            assert_eq!(query(&back, "error").as_deref(), Some("temporarily_unavailable"), "{back}");
        } else {
            panic!("{}: {}", res.status(), res.text().await.unwrap_or_default());
        }
    }
    unreachable!("the loop ends at the crash")
}

/// Every key of the organization, through the paged list.
async fn listed_keys(at: &Instance, owner: &str) -> usize {
    let (mut count, mut after) = (0, None::<String>);
    loop {
        let path = match &after {
            Some(id) => format!("/v1/api-keys?limit=100&starting_after={id}"),
            None => "/v1/api-keys?limit=100".to_owned(),
        };
        let (s, b) = v1(at, "GET", &path, owner, None).await;
        assert_eq!(s, 200, "{b}");
        count += b["data"].as_array().unwrap().len();
        match b["next_cursor"].as_str() {
            Some(next) if b["has_more"] == true => after = Some(next.to_owned()),
            _ => return count,
        }
    }
}

#[actix_web::test]
async fn a_crash_under_load_loses_nothing_that_was_answered() {
    let workspace = Workspace::new();
    let master_key: [u8; 32] = rand::random();
    let env = [
        ("PORTCULLIS_MASTER_KEY", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, master_key)),
        // The load is one owner's: no rate limit in its way.
        ("PORTCULLIS_API__RATE_LIMIT_PER_MINUTE", "60000".to_owned()),
        ("PORTCULLIS_API__RATE_LIMIT_BURST", "60000".to_owned()),
    ];
    let mut server = Instance::start(&workspace, &env).await;
    workspace.create_user(EMAIL, "Acme");
    let owner = session(&server).await;
    let keys_before = listed_keys(&server, &owner).await;
    let app = register(
        &server,
        &owner,
        json!({
            "name": "Example App", "redirect_uris": [REDIRECT], "scopes": ["read", "offline_access"],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"]
        }),
    )
    .await;
    let browser = signed_in_browser(&server).await;
    let mut families = Vec::new();
    for _ in 0..4 {
        let (code, verifier) = approve(&server, &browser, &app, "read offline_access").await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
        ];
        let (s, b) = oauth(&server, "/oauth/token", &app, &form).await;
        assert_eq!(s, 200, "{b}");
        families.push(tokens(&b).0);
    }

    let base = server.base.clone();
    let makers: Vec<_> = (0..2).map(|t| tokio::spawn(make_keys(base.clone(), owner.clone(), t))).collect();
    let rotators: Vec<_> = families
        .into_iter()
        .map(|t| tokio::spawn(rotate(base.clone(), (app.id.clone(), app.secret.clone()), t)))
        .collect();
    let issuers = tokio::spawn(issue_codes(base.clone(), browser.clone(), app.id.clone()));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill_9();

    let (mut keys, mut key_requests_in_flight, mut sent) = (Vec::new(), 0, 0);
    for m in makers {
        let ended = m.await.unwrap();
        keys.extend(ended.answered);
        key_requests_in_flight += usize::from(ended.in_flight);
        sent += ended.sent;
    }
    let mut rotated = Vec::new();
    for r in rotators {
        let ended = r.await.unwrap();
        sent += ended.sent;
        rotated.push(ended);
    }
    let codes = issuers.await.unwrap();
    sent += codes.sent;
    let in_flight =
        key_requests_in_flight + rotated.iter().filter(|r| r.in_flight).count() + usize::from(codes.in_flight);
    assert!(!keys.is_empty() && !codes.answered.is_empty(), "the load made nothing before the kill");

    // Started again on the same database.
    let server = Instance::start(&workspace, &env).await;
    for (i, key) in keys.iter().enumerate() {
        let (s, b) = v1(&server, "GET", "/v1/auth/validate", key, None).await;
        assert_eq!(s, 200, "key {i} of {}, answered before the crash, is gone: {b}", keys.len());
    }
    // No key beyond those answered, but for creations the kill cut off.
    let made = listed_keys(&server, &owner).await - keys_before;
    assert!(
        (keys.len()..=keys.len() + key_requests_in_flight).contains(&made),
        "{made} keys stored, {} answered, {key_requests_in_flight} in flight",
        keys.len()
    );
    for (i, family) in rotated.iter().enumerate() {
        let (s, b) = refresh(&server, &app, &family.answered).await;
        if s == 200 {
            assert!(active(&server, &app, &tokens(&b).1).await, "family {i}");
        } else {
            // Only a rotation the kill cut off may have spent it first.
            assert!(family.in_flight, "family {i}'s last answered token is dead: {s} {b}");
            assert_eq!(
                (s, b),
                (400, json!({"error": "invalid_grant", "error_description": "The refresh token was already used."})),
                "family {i}: a lost answer is a lost race, not a replay"
            );
        }
    }
    for (i, (code, verifier)) in codes.answered.iter().enumerate() {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
        ];
        let (s, b) = oauth(&server, "/oauth/token", &app, &form).await;
        assert_eq!(s, 200, "code {i} of {}, issued before the crash: {b}", codes.answered.len());
    }
    eprintln!(
        "crash on {}: {sent} requests sent under load, {in_flight} in flight at the kill; checked after restart: \
         {} API keys, {} refresh families, {} authorization codes",
        if on_postgres() { "PostgreSQL" } else { "SQLite" },
        keys.len(),
        rotated.len(),
        codes.answered.len()
    );
}
