//! A crash under load: the server process is killed (SIGKILL, no shutdown)
//! while it makes API keys, rotates refresh tokens and issues authorization
//! codes, then started again on the same database. Whatever it answered
//! before it died must still work (or have been rotated by a request the
//! crash cut off), and nothing it never answered may exist beyond the
//! requests in flight at the kill. Then the same with two instances on one
//! database, one of them killed: the other serves on.

use std::time::{Duration, Instant};

use oauth2::PkceCodeChallenge;
use serde_json::{Value, json};

use crate::cli::Workspace;
use crate::oauth_support::{REDIRECT, query};
use crate::processes::Instance;
use crate::support::{location, on_postgres, urlencode};
use crate::two_processes::{
    App, EMAIL, active, approve, oauth, refresh, register, session, signed_in_browser, tokens, v1,
};

/// How a load task ended: at the kill, with its last request in flight or
/// not (refused at connect: sent after the kill, never seen by the server),
/// or at its deadline with every request answered (`failed` false).
pub(crate) struct Ended<T> {
    pub answered: T,
    pub sent: usize,
    pub in_flight: bool,
    /// Ended by a failed request (the server died), not by the deadline.
    pub failed: bool,
    /// Requests answered 503 (too busy, try again).
    pub busy: usize,
}

impl<T> Ended<T> {
    fn at_failure(answered: T, sent: usize, e: Option<&reqwest::Error>, busy: usize) -> Self {
        // No error: the answer was cut off, as good as in flight.
        let in_flight = e.is_none_or(|e| !e.is_connect());
        Ended { answered, sent, in_flight, failed: true, busy }
    }

    fn at_deadline(answered: T, sent: usize, busy: usize) -> Self {
        Ended { answered, sent, in_flight: false, failed: false, busy }
    }
}

/// Until the server dies (`None`), or until this instant.
pub(crate) type Until = Option<Instant>;

fn over(until: Until) -> bool {
    until.is_some_and(|u| Instant::now() >= u)
}

/// Makes API keys until the server dies or `until`: the keys it answered.
pub(crate) async fn make_keys(base: String, owner: String, task: usize, until: Until) -> Ended<Vec<String>> {
    let client = reqwest::Client::new();
    let (mut made, mut busy) = (Vec::new(), 0);
    for n in 1.. {
        if over(until) {
            return Ended::at_deadline(made, n - 1, busy);
        }
        let body = json!({"name": format!("crash {task}-{n}"), "scopes": ["read"]});
        let res = client.post(format!("{base}/v1/api-keys")).bearer_auth(&owner).json(&body).send().await;
        let res = match res {
            Ok(res) => res,
            Err(e) => return Ended::at_failure(made, n, Some(&e), busy),
        };
        let status = res.status().as_u16();
        match res.json::<Value>().await {
            Ok(b) if status == 201 => made.push(b["data"]["key"].as_str().unwrap().to_owned()),
            // Too busy: told to try again, nothing made.
            Ok(b) if status == 503 => {
                assert_eq!(b["error"]["code"], "SERVICE_UNAVAILABLE");
                busy += 1;
            }
            Ok(b) => panic!("{status}: {b}"),
            Err(_) => return Ended::at_failure(made, n, None, busy),
        }
    }
    unreachable!("the loop ends at the crash or the deadline")
}

/// Rotates one refresh family until the server dies or `until`: the last
/// refresh token it answered.
pub(crate) async fn rotate(base: String, app: (String, String), mut token: String, until: Until) -> Ended<String> {
    let client = reqwest::Client::new();
    let mut busy = 0;
    for n in 1.. {
        if over(until) {
            return Ended::at_deadline(token, n - 1, busy);
        }
        let form = [("grant_type", "refresh_token"), ("refresh_token", token.as_str())];
        let res = client.post(format!("{base}/oauth/token")).basic_auth(&app.0, Some(&app.1)).form(&form).send().await;
        let res = match res {
            Ok(res) => res,
            Err(e) => return Ended::at_failure(token, n, Some(&e), busy),
        };
        let status = res.status().as_u16();
        match res.json::<Value>().await {
            Ok(b) if status == 200 => token = tokens(&b).0,
            Ok(b) if status == 503 => {
                assert_eq!(b["error"], "temporarily_unavailable");
                busy += 1;
            }
            Ok(b) => panic!("{status}: {b}"),
            Err(_) => return Ended::at_failure(token, n, None, busy),
        }
    }
    unreachable!("the loop ends at the crash or the deadline")
}

/// Issues codes through remembered consent until the server dies or
/// `until`: the codes it answered, with their verifiers.
pub(crate) async fn issue_codes(
    base: String,
    browser: reqwest::Client,
    client_id: String,
    until: Until,
) -> Ended<Vec<(String, String)>> {
    let (mut issued, mut busy) = (Vec::new(), 0);
    for n in 1.. {
        if over(until) {
            return Ended::at_deadline(issued, n - 1, busy);
        }
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let url = format!(
            "{base}/oauth/authorize?response_type=code&client_id={client_id}&redirect_uri={}&scope={}&state=s&code_challenge={}&code_challenge_method=S256",
            urlencode(REDIRECT),
            urlencode("read offline_access"),
            challenge.as_str()
        );
        let res = match browser.get(&url).send().await {
            Ok(res) => res,
            Err(e) => return Ended::at_failure(issued, n, Some(&e), busy),
        };
        if res.status() == 303 {
            let back = url::Url::parse(&location(&res)).unwrap();
            if let Some(code) = query(&back, "code") {
                issued.push((code, verifier.secret().clone()));
                continue;
            }
            assert_eq!(query(&back, "error").as_deref(), Some("temporarily_unavailable"), "{back}");
            busy += 1;
        } else {
            panic!("{}: {}", res.status(), res.text().await.unwrap_or_default());
        }
    }
    unreachable!("the loop ends at the crash or the deadline")
}

/// Every key of the organization, through the paged list.
pub(crate) async fn listed_keys(at: &Instance, owner: &str) -> usize {
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

/// The app the load uses, registered by the owner at `at`.
async fn load_app(at: &Instance, owner: &str) -> App {
    register(
        at,
        owner,
        json!({
            "name": "Example App", "redirect_uris": [REDIRECT], "scopes": ["read", "offline_access"],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"]
        }),
    )
    .await
}

/// `n` refresh families, each from a code flow at `at`: their first tokens.
async fn families(at: &Instance, browser: &reqwest::Client, app: &App, n: usize) -> Vec<String> {
    let mut families = Vec::new();
    for _ in 0..n {
        let (code, verifier) = approve(at, browser, app, "read offline_access").await;
        let (s, b) = redeem(at, app, &code, &verifier).await;
        assert_eq!(s, 200, "{b}");
        families.push(tokens(&b).0);
    }
    families
}

async fn redeem(at: &Instance, app: &App, code: &str, verifier: &str) -> (u16, Value) {
    let form =
        [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT), ("code_verifier", verifier)];
    oauth(at, "/oauth/token", app, &form).await
}

/// What one instance answered under load: the credentials, and how the
/// load ended there.
#[derive(Default)]
struct Answered {
    keys: Vec<String>,
    key_requests_in_flight: usize,
    families: Vec<Ended<String>>,
    codes: Vec<(String, String)>,
    sent: usize,
    in_flight: usize,
    busy: usize,
    /// Tasks ended by a failed request rather than by their deadline.
    failed: usize,
    tasks: usize,
}

impl Answered {
    fn count<T>(&mut self, ended: &Ended<T>) {
        self.sent += ended.sent;
        self.in_flight += usize::from(ended.in_flight);
        self.busy += ended.busy;
        self.failed += usize::from(ended.failed);
        self.tasks += 1;
    }
}

/// Loads the instance at `base` with `makers` key makers (numbered from
/// `first_task`), one rotator per family and a code issuer, until it dies or
/// `until`; waits for all (bounded: a minute).
async fn load(
    base: &str,
    (makers, first_task): (usize, usize),
    owner: &str,
    app: &App,
    families: Vec<String>,
    browser: &reqwest::Client,
    until: Until,
) -> Answered {
    let makers: Vec<_> = (first_task..first_task + makers)
        .map(|t| tokio::spawn(make_keys(base.to_owned(), owner.to_owned(), t, until)))
        .collect();
    let rotators: Vec<_> = families
        .into_iter()
        .map(|t| tokio::spawn(rotate(base.to_owned(), (app.id.clone(), app.secret.clone()), t, until)))
        .collect();
    let issuer = tokio::spawn(issue_codes(base.to_owned(), browser.clone(), app.id.clone(), until));
    let all = async {
        let mut done = Answered::default();
        for m in makers {
            let ended = m.await.unwrap();
            done.count(&ended);
            done.key_requests_in_flight += usize::from(ended.in_flight);
            done.keys.extend(ended.answered);
        }
        for r in rotators {
            let ended = r.await.unwrap();
            done.count(&ended);
            done.families.push(ended);
        }
        let ended = issuer.await.unwrap();
        done.count(&ended);
        done.codes = ended.answered;
        done
    };
    tokio::time::timeout(Duration::from_secs(60), all).await.expect("the load did not stop within a minute")
}

/// Every credential answered with 200 works at the instances `at` (in
/// turn), or was rotated by a request in flight at the kill; no key exists
/// beyond those answered and those in flight.
/// Returns the families' newest refresh tokens (those that go on).
async fn check_answered(
    at: &[&Instance],
    app: &App,
    owner: &str,
    keys_before: usize,
    answered: &Answered,
) -> Vec<String> {
    let pick = |i: usize| at[i % at.len()];
    for server in at {
        for (i, key) in answered.keys.iter().enumerate() {
            let (s, b) = v1(server, "GET", "/v1/auth/validate", key, None).await;
            assert_eq!(
                s,
                200,
                "key {i} of {}, answered before the crash, is gone at {}: {b}",
                answered.keys.len(),
                server.base
            );
        }
    }
    // No key beyond those answered, but for creations the kill cut off.
    let made = listed_keys(at[0], owner).await - keys_before;
    let (keys, cut) = (answered.keys.len(), answered.key_requests_in_flight);
    assert!((keys..=keys + cut).contains(&made), "{made} keys stored, {keys} answered, {cut} in flight");
    let mut going_on = Vec::new();
    for (i, family) in answered.families.iter().enumerate() {
        let (s, b) = refresh(pick(i), app, &family.answered).await;
        if s == 200 {
            for server in at {
                assert!(active(server, app, &tokens(&b).1).await, "family {i}");
            }
            going_on.push(tokens(&b).0);
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
    for (i, (code, verifier)) in answered.codes.iter().enumerate() {
        let (s, b) = redeem(pick(i), app, code, verifier).await;
        assert_eq!(s, 200, "code {i} of {}, issued before the crash: {b}", answered.codes.len());
    }
    going_on
}

fn backend() -> &'static str {
    if on_postgres() { "PostgreSQL" } else { "SQLite" }
}

/// The load is one owner's: no rate limit in its way.
fn unlimited() -> [(&'static str, String); 2] {
    [
        ("PORTCULLIS_API__RATE_LIMIT_PER_MINUTE", "60000".to_owned()),
        ("PORTCULLIS_API__RATE_LIMIT_BURST", "60000".to_owned()),
    ]
}

#[actix_web::test]
async fn a_crash_under_load_loses_nothing_that_was_answered() {
    let workspace = Workspace::new();
    let master_key: [u8; 32] = rand::random();
    let mut env =
        vec![("PORTCULLIS_MASTER_KEY", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, master_key))];
    env.extend(unlimited());
    let mut server = Instance::start(&workspace, &env).await;
    workspace.create_user(EMAIL, "Acme");
    let owner = session(&server).await;
    let keys_before = listed_keys(&server, &owner).await;
    let app = load_app(&server, &owner).await;
    let browser = signed_in_browser(&server).await;
    let families = families(&server, &browser, &app, 4).await;

    let base = server.base.clone();
    let (killed, ()) = tokio::join!(load(&base, (2, 0), &owner, &app, families, &browser, None), async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        server.kill_9();
    });
    assert!(!killed.keys.is_empty() && !killed.codes.is_empty(), "the load made nothing before the kill");
    assert_eq!(killed.failed, killed.tasks, "every task ends at the kill");

    // Started again on the same database.
    let server = Instance::start(&workspace, &env).await;
    check_answered(&[&server], &app, &owner, keys_before, &killed).await;
    eprintln!(
        "crash on {}: {} requests sent under load, {} in flight at the kill; checked after restart: \
         {} API keys, {} refresh families, {} authorization codes",
        backend(),
        killed.sent,
        killed.in_flight,
        killed.keys.len(),
        killed.families.len(),
        killed.codes.len()
    );
}

/// Two instances on one database under the same load, one killed (SIGKILL)
/// in the middle: the other answers on without a single error (its load runs
/// 1.5 s past the kill), every credential either instance answered works at
/// the survivor, and the killed one, started again, serves them all too.
#[actix_web::test]
async fn a_crash_of_one_of_two_instances_under_load_loses_nothing_and_the_other_serves_on() {
    let (workspace, mut a, b, env) = crate::two_processes::two_instances_env(&unlimited()).await;
    let owner = session(&b).await;
    let keys_before = listed_keys(&b, &owner).await;
    let app = load_app(&b, &owner).await;
    let browser = signed_in_browser(&a).await;
    let (families_a, families_b) = (families(&a, &browser, &app, 2).await, families(&b, &browser, &app, 2).await);

    let (base_a, base_b) = (a.base.clone(), b.base.clone());
    let kill_after = Duration::from_millis(1500);
    let until = Some(Instant::now() + kill_after + Duration::from_millis(1500));
    let (killed, survived, ()) = tokio::join!(
        load(&base_a, (1, 0), &owner, &app, families_a, &browser, None),
        load(&base_b, (1, 1), &owner, &app, families_b, &browser, until),
        async {
            tokio::time::sleep(kill_after).await;
            a.kill_9();
        }
    );
    assert_eq!(killed.failed, killed.tasks, "every task on the killed instance ends at the kill");
    assert_eq!(survived.failed, 0, "a request to the survivor failed: {}", b.log());
    assert!(!survived.keys.is_empty() && !survived.codes.is_empty() && !killed.keys.is_empty());
    // Asked again now, the survivor answers at once.
    let (s, t) = oauth(&b, "/oauth/token", &app, &[("grant_type", "client_credentials"), ("scope", "read")]).await;
    assert_eq!(s, 200, "{t}");

    // At the survivor alone first: nothing it needs was held by the other.
    let mut codes: Vec<_> = killed.codes.iter().chain(&survived.codes).cloned().collect();
    let later = codes.split_off(codes.len() / 2);
    let first = Answered {
        keys: killed.keys.iter().chain(&survived.keys).cloned().collect(),
        key_requests_in_flight: killed.key_requests_in_flight,
        families: killed.families.into_iter().chain(survived.families).collect(),
        codes,
        ..Answered::default()
    };
    let rotated = check_answered(&[&b], &app, &owner, keys_before, &first).await;

    // The killed one, started again on the same database, serves what both
    // answered: keys, the families as the survivor left them, codes.
    let restarted = Instance::start(&workspace, &env).await;
    let second = Answered {
        keys: first.keys.clone(),
        key_requests_in_flight: first.key_requests_in_flight,
        families: rotated.into_iter().map(|t| Ended::at_deadline(t, 0, 0)).collect(),
        codes: later,
        ..Answered::default()
    };
    check_answered(&[&restarted, &b], &app, &owner, keys_before, &second).await;
    // Secrets in logs (issue 11): no credential issued in the whole run is in
    // any of the three processes' logs, the killed one's included.
    let issued: Vec<&String> = first
        .keys
        .iter()
        .chain(first.codes.iter().map(|(code, _)| code))
        .chain(first.families.iter().map(|f| &f.answered))
        .chain([&owner, &app.secret])
        .collect();
    for instance in [&a, &b, &restarted] {
        let log = instance.log();
        assert!(!log.contains("panicked"), "{log}");
        assert!(log.contains("\"status\":200"), "the log is the request log");
        for secret in &issued {
            assert!(!log.contains(secret.as_str()), "an issued credential is in the log of {}", instance.base);
        }
    }
    eprintln!(
        "crash of one of two instances on {}: {} requests sent to the killed one, {} in flight at the kill; \
         {} to the survivor, none failed, {} answered 503 (busy); checked at the survivor and after the restart: \
         {} API keys, {} refresh families, {} authorization codes; {} credentials looked for in the logs",
        backend(),
        killed.sent,
        killed.in_flight,
        survived.sent,
        survived.busy,
        first.keys.len(),
        first.families.len(),
        first.codes.len() + second.codes.len(),
        issued.len()
    );
}
