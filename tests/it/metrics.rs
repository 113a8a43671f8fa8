//! Prometheus metrics: real requests move exactly the counters they should,
//! under route patterns (never paths); the scrape is parsed strictly as the
//! text exposition format; the bearer token and the separate listener
//! decide who sees it. Each app owns its recorder, so these exact counts
//! hold while other tests run in the same process.

use std::collections::{BTreeMap, HashMap};

use chrono::Duration;
use portcullis::apikeys::format::{self, Environment, KeyKind};

use crate::oauth_support::post_form;
use crate::support::{PASSWORD, TestApp, browser, call};

const TOKEN: &str = "metrics-scrape-token-0123456789";

/// One scrape, parsed: every sample by name and labels, every family's type.
#[derive(Debug)]
struct Scrape {
    samples: HashMap<(String, BTreeMap<String, String>), f64>,
    types: HashMap<String, String>,
}

impl Scrape {
    /// The sample `name{labels}`, which must be present.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.find(name, labels).unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
    }

    fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.samples.get(&(name.to_owned(), labels)).copied()
    }

    /// Absent counts as 0 (a series appears with its first event).
    fn count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.find(name, labels).unwrap_or(0.0)
    }

    /// Every value the label `key` takes in the samples of `name`.
    fn label_values(&self, name: &str, key: &str) -> Vec<String> {
        let mut values: Vec<String> =
            self.samples.keys().filter(|(n, _)| n == name).filter_map(|(_, l)| l.get(key).cloned()).collect();
        values.sort();
        values.dedup();
        values
    }
}

/// A strict reader of the text exposition format (version 0.0.4): `# HELP`
/// and `# TYPE` lines, then samples `name{label="value",…} value`, each of
/// a family whose type came before it, none twice; histogram buckets
/// cumulative and ending at `+Inf` = `_count`.
fn parse(text: &str) -> Result<Scrape, String> {
    let mut samples = HashMap::new();
    let mut types: HashMap<String, String> = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let at = |e: &str| format!("line {}: {e}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kind, name, tail) = (parts.next(), parts.next(), parts.next());
            let name = name.filter(|n| valid_name(n)).ok_or_else(|| at("bad metric name"))?;
            match (kind, tail) {
                (Some("HELP"), _) => {}
                (Some("TYPE"), Some(t @ ("counter" | "gauge" | "histogram" | "summary" | "untyped"))) => {
                    if types.insert(name.to_owned(), t.to_owned()).is_some() {
                        return Err(at("second TYPE line"));
                    }
                }
                _ => return Err(at("unknown comment")),
            }
            continue;
        }
        if line.starts_with('#') {
            return Err(at("a comment must be `# HELP` or `# TYPE`"));
        }
        let (name, labels, rest) = sample(line).map_err(|e| at(&e))?;
        let mut fields = rest.split(' ');
        let value = fields.next().ok_or_else(|| at("no value"))?;
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse::<f64>().map_err(|_| at("value is not a number"))?,
        };
        if let Some(ts) = fields.next()
            && ts.parse::<i64>().is_err()
        {
            return Err(at("timestamp is not an integer"));
        }
        if fields.next().is_some() {
            return Err(at("trailing fields"));
        }
        let family = family_of(&name, &types).ok_or_else(|| at("sample before its TYPE line"))?;
        if types[&family] == "counter" && (value < 0.0 || value.is_nan()) {
            return Err(at("a counter below zero"));
        }
        if samples.insert((name, labels), value).is_some() {
            return Err(at("the same series twice"));
        }
    }
    let scrape = Scrape { samples, types };
    check_histograms(&scrape)?;
    Ok(scrape)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

type Labels = BTreeMap<String, String>;

/// `name`, its labels (escapes undone), and what follows them.
fn sample(line: &str) -> Result<(String, Labels, &str), String> {
    let end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..end];
    if !valid_name(name) {
        return Err("bad metric name".into());
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[end..];
    if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = inner.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = inner.find("=\"").ok_or("label without =\"")?;
            let key = &inner[..eq];
            if !valid_label_name(key) {
                return Err(format!("bad label name {key:?}"));
            }
            let mut value = String::new();
            let mut chars = inner[eq + 2..].char_indices();
            let close = loop {
                match chars.next().ok_or("unterminated label value")? {
                    (i, '"') => break eq + 2 + i,
                    (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                        'n' => value.push('\n'),
                        c @ ('\\' | '"') => value.push(c),
                        c => return Err(format!("unknown escape \\{c}")),
                    },
                    (_, c) => value.push(c),
                }
            };
            if labels.insert(key.to_owned(), value).is_some() {
                return Err(format!("label {key} twice"));
            }
            inner = &inner[close + 1..];
            inner = inner.strip_prefix(',').unwrap_or(inner);
        }
    }
    let rest = rest.strip_prefix(' ').ok_or("no space before the value")?;
    Ok((name.to_owned(), labels, rest))
}

/// The family a sample belongs to: its own name, or a histogram's or
/// summary's with `_bucket`, `_sum` or `_count` taken off.
fn family_of(name: &str, types: &HashMap<String, String>) -> Option<String> {
    if types.contains_key(name) {
        return Some(name.to_owned());
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = name.strip_suffix(suffix)?;
        matches!(types.get(base)?.as_str(), "histogram" | "summary").then(|| base.to_owned())
    })
}

fn check_histograms(scrape: &Scrape) -> Result<(), String> {
    for (family, kind) in &scrape.types {
        if kind != "histogram" {
            continue;
        }
        // Buckets by series (labels without `le`).
        let mut series: HashMap<Labels, Vec<(f64, f64)>> = HashMap::new();
        for ((name, labels), value) in &scrape.samples {
            if name != &format!("{family}_bucket") {
                continue;
            }
            let mut labels = labels.clone();
            let le = labels.remove("le").ok_or(format!("{family}: a bucket without le"))?;
            let le =
                if le == "+Inf" { f64::INFINITY } else { le.parse().map_err(|_| format!("{family}: le {le:?}"))? };
            series.entry(labels).or_default().push((le, *value));
        }
        for (labels, mut buckets) in series {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            if buckets.windows(2).any(|w| w[1].1 < w[0].1) {
                return Err(format!("{family}{labels:?}: buckets not cumulative"));
            }
            let count_key = (format!("{family}_count"), labels.clone());
            let count = scrape.samples.get(&count_key).ok_or(format!("{family}{labels:?}: no _count"))?;
            match buckets.last() {
                Some((le, n)) if le.is_infinite() && n == count => {}
                _ => return Err(format!("{family}{labels:?}: the +Inf bucket is not _count")),
            }
            if !scrape.samples.contains_key(&(format!("{family}_sum"), labels.clone())) {
                return Err(format!("{family}{labels:?}: no _sum"));
            }
        }
    }
    Ok(())
}

#[test]
fn the_parser_refuses_what_is_not_the_exposition_format() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"q\\\"\\\\\"} 2\n\n# TYPE h histogram\n\
                h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n";
    let scrape = parse(good).unwrap();
    assert_eq!(scrape.get("a_total", &[("x", "q\"\\")]), 2.0);
    for bad in [
        "a_total 1\n",                                                                             // no TYPE
        "# TYPE a counter\na{x=\"1\"} one\n",                                                      // not a number
        "# TYPE a counter\na{x=\"1} 1\n",                                                          // unterminated
        "# TYPE a counter\na 1\na 2\n",                                                            // twice
        "# TYPE a counter\na -1\n",                                                                // negative counter
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", // not cumulative
        "# TYPE a counter\n# TYPE a gauge\n",                                                      // two types
        "# TYPE 1a counter\n",                                                                     // bad name
        "# TYPE a counter\na{1x=\"1\"} 1\n",                                                       // bad label name
    ] {
        assert!(parse(bad).is_err(), "accepted: {bad:?}");
    }
}

/// GET /metrics from `base`, with the token; parsed.
async fn scrape_at(base: &str, token: Option<&str>) -> Scrape {
    let mut req = reqwest::Client::new().get(format!("{base}/metrics"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 200, "GET {base}/metrics");
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let text = res.text().await.unwrap();
    parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

async fn scrape(app: &TestApp) -> Scrape {
    scrape_at(&app.base, Some(TOKEN)).await
}

/// How much each of `series` moved between two scrapes.
fn moved(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    after.count(name, labels) - before.count(name, labels)
}

#[actix_web::test]
async fn requests_move_exactly_their_counters_under_route_patterns() {
    let app = TestApp::spawn_with(|c| c.metrics.bearer_token = Some(TOKEN.into())).await;
    let registered = app.oauth_client().await.create().await;
    let (user, org) = app.user().create().await;
    let (key_id, key) = app.secret_key(&org.id, &user.id, &["read"]).await;
    let unknown_key = format::generate(app.state.api_keys.words(), KeyKind::Secret, Environment::Live);
    let invitation = "inv_secret_token_that_must_never_be_a_label";

    let before = scrape(&app).await;

    let cc = [("grant_type", "client_credentials")];
    let (status, _, body) = post_form(&app, "/oauth/token", &registered, &cc).await;
    assert_eq!(status, 200, "{body}");
    let wrong_secret = crate::oauth_support::Registered { secret: Some("wrong".into()), ..registered };
    assert_eq!(post_form(&app, "/oauth/token", &wrong_secret, &cc).await.0, 401);
    assert_eq!(call(&app, "GET", "/v1/auth/validate", &key, None).await.0, 200);
    assert_eq!(call(&app, "GET", "/v1/auth/validate", &key, None).await.0, 200);
    assert_eq!(call(&app, "GET", "/v1/auth/validate", &unknown_key, None).await.0, 401);
    assert_eq!(app.login(&browser(), &user.email, PASSWORD).await.status(), 303);
    assert_eq!(app.login(&browser(), &user.email, "not the password").await.status(), 400);
    assert_eq!(app.client.get(app.url("/no/such/page/12345")).send().await.unwrap().status(), 404);
    let invite = app.client.get(app.url(&format!("/invitations/{invitation}"))).send().await.unwrap();
    let invite_status = invite.status().as_u16().to_string();
    app.clock.advance(Duration::seconds(100));

    let after = scrape(&app).await;
    let m = |name: &str, labels: &[(&str, &str)]| moved(&before, &after, name, labels);

    let confidential_cc = [("grant_type", "client_credentials"), ("client_type", "confidential")];
    assert_eq!(m("portcullis_tokens_issued_total", &confidential_cc), 1.0);
    assert_eq!(
        m("portcullis_tokens_issued_total", &[("grant_type", "refresh_token"), ("client_type", "confidential")]),
        0.0
    );
    assert_eq!(m("portcullis_token_errors_total", &[("error", "invalid_client")]), 1.0);
    assert_eq!(m("portcullis_token_errors_total", &[("error", "invalid_grant")]), 0.0);
    assert_eq!(m("portcullis_api_key_verifications_total", &[("outcome", "valid")]), 2.0);
    assert_eq!(m("portcullis_api_key_verifications_total", &[("outcome", "invalid")]), 1.0);
    assert_eq!(m("portcullis_api_key_verifications_total", &[("outcome", "revoked")]), 0.0);
    assert_eq!(m("portcullis_sign_ins_total", &[("outcome", "success")]), 1.0);
    assert_eq!(m("portcullis_sign_ins_total", &[("outcome", "invalid_credentials")]), 1.0);
    assert_eq!(m("portcullis_sign_ins_total", &[("outcome", "throttled")]), 0.0);

    let requests = "portcullis_http_requests_total";
    let http = |route, method, status| m(requests, &[("route", route), ("method", method), ("status", status)]);
    assert_eq!(http("/oauth/token", "POST", "200"), 1.0);
    assert_eq!(http("/oauth/token", "POST", "401"), 1.0);
    assert_eq!(http("/v1/auth/validate", "GET", "200"), 2.0);
    assert_eq!(http("/v1/auth/validate", "GET", "401"), 1.0);
    assert_eq!(http("/login", "GET", "200"), 2.0, "each sign-in fetched the form first");
    assert_eq!(http("/login", "POST", "303"), 1.0);
    assert_eq!(http("/login", "POST", "400"), 1.0);
    assert_eq!(http("unmatched", "GET", "404"), 1.0);
    assert_eq!(http("/invitations/{token}", "GET", &invite_status), 1.0);
    assert_eq!(http("/metrics", "GET", "200"), 1.0, "the scrape before this one");
    let duration_count = "portcullis_http_request_duration_seconds_count";
    assert_eq!(m(duration_count, &[("route", "/oauth/token"), ("method", "POST")]), 2.0);
    assert_eq!(after.types["portcullis_http_request_duration_seconds"], "histogram");

    // Routes are patterns or `unmatched`: no path, no secret in a label.
    for route in after.label_values(requests, "route") {
        assert!(route == "unmatched" || route.starts_with('/'), "{route}");
        assert!(!route.contains(invitation) && !route.contains("12345"), "a raw path as a label: {route}");
    }

    // Read when scraped: the keys' age by the server's clock, the pool, the caches.
    assert_eq!(m("portcullis_signing_key_age_seconds", &[("algorithm", "ES256")]), 100.0);
    assert_eq!(after.get("portcullis_db_pool_max_connections", &[]), 4.0);
    let in_use = after.get("portcullis_db_pool_connections", &[("state", "in_use")]);
    let idle = after.get("portcullis_db_pool_connections", &[("state", "idle")]);
    assert!(in_use + idle <= 4.0 && idle >= 0.0, "{in_use} in use, {idle} idle");
    let cache = [("cache", "api_keys")];
    let lookups = m("portcullis_cache_hits_total", &cache) + m("portcullis_cache_misses_total", &cache);
    assert_eq!(lookups, 3.0, "one cache lookup per verification");
    assert!(m("portcullis_cache_misses_total", &cache) >= 2.0, "the first of the key, the unknown key");
    assert_eq!(
        after.get("portcullis_build_info", &[("version", env!("CARGO_PKG_VERSION"))]),
        1.0,
        "build info is always 1"
    );

    // A revocation drops the cached key; its next verification is counted
    // as revoked. (A change read in the background may have dropped the
    // key already: verified again until it is held.)
    for _ in 0..50 {
        if app.state.api_keys.is_cached(&key) {
            break;
        }
        assert_eq!(call(&app, "GET", "/v1/auth/validate", &key, None).await.0, 200);
    }
    assert!(app.state.api_keys.is_cached(&key));
    let held = scrape(&app).await;
    app.state.api_keys.revoke(&org.id, &key_id).await.unwrap();
    assert_eq!(call(&app, "GET", "/v1/auth/validate", &key, None).await.0, 401);
    let last = scrape(&app).await;
    assert_eq!(moved(&held, &last, "portcullis_api_key_verifications_total", &[("outcome", "revoked")]), 1.0);
    assert!(moved(&held, &last, "portcullis_cache_invalidations_total", &cache) >= 1.0);
}

#[actix_web::test]
async fn throttled_sign_ins_are_counted_as_such() {
    let app = TestApp::spawn_with(|c| {
        c.metrics.bearer_token = Some(TOKEN.into());
        c.login_throttle.per_account = 1;
    })
    .await;
    let (user, _) = app.user().create().await;
    let sign_in = |password: &'static str| {
        let body = serde_json::json!({ "email": user.email, "password": password });
        reqwest::Client::new().post(app.url("/v1/auth/login")).json(&body).send()
    };
    let before = scrape(&app).await;
    assert_eq!(sign_in("wrong password").await.unwrap().status(), 401);
    assert_eq!(sign_in(PASSWORD).await.unwrap().status(), 429);
    let after = scrape(&app).await;
    assert_eq!(moved(&before, &after, "portcullis_sign_ins_total", &[("outcome", "invalid_credentials")]), 1.0);
    assert_eq!(moved(&before, &after, "portcullis_sign_ins_total", &[("outcome", "throttled")]), 1.0);
    assert_eq!(moved(&before, &after, "portcullis_sign_ins_total", &[("outcome", "success")]), 0.0);
    let login = [("route", "/v1/auth/login"), ("method", "POST"), ("status", "429")];
    assert_eq!(moved(&before, &after, "portcullis_http_requests_total", &login), 1.0);
}

#[actix_web::test]
async fn the_main_listener_serves_metrics_only_with_the_right_bearer_token() {
    let off = TestApp::spawn().await;
    let res = off.client.get(off.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 404, "neither a token nor a listener: no metrics anywhere");

    let app = TestApp::spawn_with(|c| c.metrics.bearer_token = Some(TOKEN.into())).await;
    let get = |auth: Option<String>| {
        let mut req = reqwest::Client::new().get(app.url("/metrics"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req.send()
    };
    for auth in [
        None,
        Some(format!("Bearer {TOKEN}x")),
        Some(format!("Bearer {}", &TOKEN[1..])),
        Some("Bearer ".into()),
        Some(format!("Basic {TOKEN}")),
    ] {
        let res = get(auth.clone()).await.unwrap();
        assert_eq!(res.status(), 401, "{auth:?}");
        assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"metrics\"");
        assert!(res.text().await.unwrap().is_empty(), "nothing shown without the token");
    }
    let res = get(Some(format!("bearer {TOKEN}"))).await.unwrap();
    assert_eq!(res.status(), 200, "the scheme is case-insensitive");
    let scrape = scrape(&app).await;
    assert!(
        scrape.count("portcullis_http_requests_total", &[("route", "/metrics"), ("method", "GET"), ("status", "401")])
            >= 5.0
    );
}

#[actix_web::test]
async fn a_metrics_listener_serves_metrics_and_the_main_one_then_does_not() {
    let app = TestApp::spawn_with(|c| c.metrics.bind = Some("127.0.0.1:0".into())).await;
    let addr = app.state.metrics.listening_on().expect("the metrics listener is bound");
    let metrics_base = format!("http://{addr}");
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200);

    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 404, "not on the main listener");
    let scrape = scrape_at(&metrics_base, None).await;
    assert_eq!(
        scrape.get("portcullis_http_requests_total", &[("route", "/healthz"), ("method", "GET"), ("status", "200")]),
        1.0
    );
    let main_metrics = [("route", "unmatched"), ("method", "GET"), ("status", "404")];
    assert_eq!(scrape.count("portcullis_http_requests_total", &main_metrics), 1.0);
    for path in ["/healthz", "/oauth/token", "/"] {
        let res = reqwest::Client::new().get(format!("{metrics_base}{path}")).send().await.unwrap();
        assert_eq!(res.status(), 404, "the metrics listener serves /metrics only, not {path}");
    }

    // With a token as well, the listener asks for it.
    let guarded = TestApp::spawn_with(|c| {
        c.metrics.bind = Some("127.0.0.1:0".into());
        c.metrics.bearer_token = Some(TOKEN.into());
    })
    .await;
    let base = format!("http://{}", guarded.state.metrics.listening_on().unwrap());
    let res = reqwest::Client::new().get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    scrape_at(&base, Some(TOKEN)).await;
    let res = guarded.client.get(guarded.url("/metrics")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(res.status(), 404, "the token does not bring metrics back to the main listener");
}

/// Attacker round 11, finding 15: HEAD /metrics is answered as GET without
/// the body, on either listener, and asks for the token as GET does.
#[actix_web::test]
async fn head_metrics_is_get_without_the_body_on_either_listener() {
    let app = TestApp::spawn_with(|c| {
        c.metrics.bind = Some("127.0.0.1:0".into());
        c.metrics.bearer_token = Some(TOKEN.into());
    })
    .await;
    let listener = format!("http://{}", app.state.metrics.listening_on().unwrap());
    let main = TestApp::spawn_with(|c| c.metrics.bearer_token = Some(TOKEN.into())).await;
    for base in [listener.as_str(), main.base.as_str()] {
        let head = |token: Option<&str>| {
            let req = reqwest::Client::new().head(format!("{base}/metrics"));
            match token {
                Some(t) => req.bearer_auth(t),
                None => req,
            }
            .send()
        };
        let res = head(Some(TOKEN)).await.unwrap();
        assert_eq!(res.status(), 200, "HEAD {base}/metrics");
        assert_eq!(res.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
        assert_eq!(res.headers()["cache-control"], "no-store");
        assert!(res.bytes().await.unwrap().is_empty(), "no body");
        let res = head(None).await.unwrap();
        assert_eq!(res.status(), 401, "HEAD {base}/metrics without the token");
        assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"metrics\"");
        // GET still has the body.
        scrape_at(base, Some(TOKEN)).await;
    }
}
