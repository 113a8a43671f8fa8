//! Sign-up, dashboard, sign-out, sign-in, password change, through the forms.

use portcullis::accounts::Role;

use crate::support::{PASSWORD, TestApp, audit_events_eventually, csrf_token, form_token, location};

pub(crate) async fn sign_up(app: &TestApp, client: &reqwest::Client, email: &str, org: &str) -> reqwest::Response {
    let token = form_token(client, &app.url("/signup")).await;
    client
        .post(app.url("/signup"))
        .form(&[("csrf_token", token.as_str()), ("email", email), ("password", PASSWORD), ("organization", org)])
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn signup_dashboard_logout_login() {
    let app = TestApp::spawn().await;
    let browser = app.new_browser();

    let res = sign_up(&app, &browser, "Ada@Example.com", "Analytical Engines").await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login?notice=signed-up");
    let html = browser.get(app.url("/login?notice=signed-up")).send().await.unwrap().text().await.unwrap();
    assert!(
        html.contains(
            r#"<p class="ok" role="status" id="notice">If this email was new, your account is ready: sign in.</p>"#
        ),
        "{html}"
    );
    let res = app.login(&browser, "Ada@Example.com", PASSWORD).await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/dashboard".to_owned()));

    let html = app.dashboard(&browser).await;
    assert!(html.contains(r#"<dd id="who">Ada@Example.com</dd>"#), "{html}");
    assert!(html.contains(r#"<span id="organization">Analytical Engines</span>"#));
    assert!(html.contains(r#"id="role">OWNER</span>"#));

    // Sign out with the form's token: the dashboard is gone.
    let token = csrf_token(&html);
    let res = browser.post(app.url("/logout")).form(&[("csrf_token", token)]).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login");
    let res = browser.get(app.url("/dashboard")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login?return_to=%2Fdashboard");

    // Sign in again, with the email in another case.
    let res = app.login(&browser, "ada@example.COM", PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/dashboard");
    assert!(app.dashboard(&browser).await.contains("Analytical Engines"));
}

#[actix_web::test]
async fn root_sends_to_login_or_dashboard() {
    let app = TestApp::spawn().await;
    let res = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/login".into()));
    let (user, _) = app.user().create().await;
    app.login(&app.client, &user.email, PASSWORD).await;
    let res = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/dashboard".into()));
}

/// What a sign-up answer shows from outside: status, headers (but the
/// per-response ones) and body.
async fn visible(res: reqwest::Response) -> (u16, Vec<(String, String)>, String) {
    let status = res.status().as_u16();
    let mut headers: Vec<(String, String)> = res
        .headers()
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "x-request-id" | "date"))
        .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap().to_owned()))
        .collect();
    headers.sort();
    (status, headers, res.text().await.unwrap())
}

/// Finding 12: an email already in use gets the very answer a new one gets
/// (no "already exists"), and the account's owner hears of it in the audit log.
#[actix_web::test]
async fn signup_with_an_email_in_use_answers_like_a_new_one_and_tells_the_owner() {
    let app = TestApp::spawn().await;
    let (grace, org) = app.user().email("grace@example.com").create().await;
    let browser = app.new_browser();
    let new_one = visible(sign_up(&app, &browser, "hopper@example.com", "Other").await).await;
    let in_use = visible(sign_up(&app, &browser, "GRACE@example.com", "Other").await).await;
    assert_eq!(new_one, in_use);
    assert_eq!((in_use.0, in_use.2.as_str()), (303, ""));
    assert!(in_use.1.contains(&("location".into(), "/login?notice=signed-up".into())), "{:?}", in_use.1);
    assert!(!in_use.1.iter().any(|(name, _)| name == "set-cookie"), "{:?}", in_use.1);

    // Nothing changed for Grace: one membership, her password still works.
    let memberships = app.state.accounts.memberships(&grace.id).await.unwrap();
    assert_eq!(memberships.len(), 1);
    assert_eq!(app.login(&app.new_browser(), "grace@example.com", PASSWORD).await.status(), 303);
    // The new account is real.
    assert_eq!(app.login(&app.new_browser(), "hopper@example.com", PASSWORD).await.status(), 303);

    // The owner is told (in the background: wait for it).
    let told = crate::support::audit_events_eventually(&app, &org.id, "user.signup_email_in_use").await;
    assert_eq!(told.len(), 1);
    assert_eq!((told[0].actor.as_str(), told[0].target.as_deref()), ("anonymous", Some(grace.id.as_str())));
    assert_eq!(told[0].ip.as_deref(), Some("127.0.0.1"));
}

/// Sign-up is throttled per client IP, every attempt counted before the
/// password is hashed: parallel attempts get no more than the limit.
#[actix_web::test]
async fn signup_is_throttled_per_ip_even_in_parallel() {
    let app = TestApp::spawn_with(|c| c.login_throttle.signup_per_ip = 3).await;
    app.user().email("taken@example.com").create().await;
    let app = &app;
    let attempts = (0..10).map(|i| async move {
        let email = if i % 2 == 0 { format!("new{i}@example.com") } else { "taken@example.com".to_owned() };
        let res = sign_up(app, &app.new_browser(), &email, "Acme").await;
        let retry = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
        (res.status().as_u16(), retry, res.text().await.unwrap())
    });
    let answers = futures_util::future::join_all(attempts).await;
    let accepted = answers.iter().filter(|a| a.0 == 303).count();
    let throttled: Vec<_> = answers.iter().filter(|a| a.0 == 429).collect();
    assert_eq!((accepted, throttled.len()), (3, 7), "{answers:?}");
    for (_, retry, html) in throttled {
        assert_eq!(retry.as_deref(), Some("900"));
        assert!(html.contains("Too many sign-ups from this network. Try again in 15 minute(s)."), "{html}");
    }
    // Sign-ups count apart from sign-ins: signing in still works.
    assert_eq!(app.login(&app.new_browser(), "taken@example.com", PASSWORD).await.status(), 303);
}

#[actix_web::test]
async fn signup_missing_or_malformed_fields_say_what_is_wrong() {
    let app = TestApp::spawn().await;
    let browser = app.new_browser();
    let token = form_token(&browser, &app.url("/signup")).await;
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[("email", "x@example.com"), ("password", PASSWORD)], "Organization name is required."),
        (&[("password", PASSWORD), ("organization", "Acme")], "Email is required."),
        (&[("email", "not-an-email"), ("password", PASSWORD), ("organization", "Acme")], "Email must look like"),
        (&[("email", "x@example.com"), ("password", "short"), ("organization", "Acme")], "at least 10 characters"),
        (&[("email", "x@example.com"), ("organization", "Acme")], "at least 10 characters"),
    ];
    for (fields, message) in cases {
        let mut form = vec![("csrf_token", token.as_str())];
        form.extend_from_slice(fields);
        let res = browser.post(app.url("/signup")).form(&form).send().await.unwrap();
        assert_eq!(res.status(), 400, "{fields:?}");
        let html = res.text().await.unwrap();
        assert!(html.contains(message), "{fields:?}: {html}");
    }
    // Nothing was created by the refused attempts.
    let res = app.login(&browser, "x@example.com", PASSWORD).await;
    assert_eq!(res.status(), 400);
}

#[actix_web::test]
async fn hostile_text_is_stored_verbatim_and_shown_escaped() {
    let app = TestApp::spawn().await;
    let browser = app.new_browser();
    let org = "<script>alert('x')</script> ' OR 1=1 --";
    let res = sign_up(&app, &browser, "mallory@example.com", org).await;
    assert_eq!(res.status(), 303);
    assert_eq!(app.login(&browser, "mallory@example.com", PASSWORD).await.status(), 303);
    let html = app.dashboard(&browser).await;
    assert!(!html.contains("<script>alert"), "unescaped: {html}");
    assert!(html.contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &#x27; OR 1=1 --"), "{html}");
    let user = app.state.accounts.authenticate("mallory@example.com", PASSWORD, "t").await.unwrap();
    let memberships = app.state.accounts.memberships(&user.id).await.unwrap();
    assert_eq!(memberships[0].organization.name, org);
    assert_eq!(memberships[0].role, Role::Owner);
}

#[actix_web::test]
async fn login_returns_to_local_pages_only() {
    let app = TestApp::spawn().await;
    let (user, _) = app.user().create().await;
    let page = app.client.get(app.url("/account/password")).send().await.unwrap();
    assert_eq!(location(&page), "/login?return_to=%2Faccount%2Fpassword");

    for (return_to, expected) in [
        ("/account/password", "/account/password"),
        ("https://evil.example/", "/dashboard"),
        ("//evil.example/", "/dashboard"),
        ("/\\evil.example", "/dashboard"),
    ] {
        let browser = app.new_browser();
        let token = form_token(&browser, &app.url("/login")).await;
        let res = browser
            .post(app.url("/login"))
            .form(&[
                ("csrf_token", token.as_str()),
                ("email", user.email.as_str()),
                ("password", PASSWORD),
                ("return_to", return_to),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(location(&res), expected, "return_to={return_to}");
    }
    // The login page carries a safe return_to into its form, and drops an unsafe one.
    let html = app
        .new_browser()
        .get(app.url("/login?return_to=%2Faccount%2Fpassword"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"name="return_to" value="/account/password""#));
    let html = app
        .new_browser()
        .get(app.url("/login?return_to=https%3A%2F%2Fevil.example"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("return_to"));
}

#[actix_web::test]
async fn password_change_ends_other_sessions_and_keeps_this_one() {
    let app = TestApp::spawn().await;
    let (user, _) = app.user().create().await;
    let laptop = app.new_browser();
    let phone = app.new_browser();
    assert_eq!(app.login(&laptop, &user.email, PASSWORD).await.status(), 303);
    assert_eq!(app.login(&phone, &user.email, PASSWORD).await.status(), 303);

    let token = form_token(&laptop, &app.url("/account/password")).await;
    let wrong = laptop
        .post(app.url("/account/password"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("current_password", "wrong password"),
            ("new_password", "a brand new passphrase"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 400);
    assert!(wrong.text().await.unwrap().contains("The current password is not correct."));

    let res = laptop
        .post(app.url("/account/password"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("current_password", PASSWORD),
            ("new_password", "a brand new passphrase"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/account/password?done=1");

    app.dashboard(&laptop).await;
    let res = phone.get(app.url("/dashboard")).send().await.unwrap();
    assert_eq!(res.status(), 303, "the other session must have ended");
    assert_eq!(app.login(&phone, &user.email, PASSWORD).await.status(), 400);
    assert_eq!(app.login(&phone, &user.email, "a brand new passphrase").await.status(), 303);
}

#[actix_web::test]
async fn get_logout_asks_and_does_not_sign_out() {
    let app = TestApp::spawn().await;
    let (user, _) = app.user().create().await;
    app.login(&app.client, &user.email, PASSWORD).await;
    let res = app.client.get(app.url("/logout")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Sign out"));
    app.dashboard(&app.client).await;
}

#[actix_web::test]
async fn dashboard_lists_every_organization_and_role() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().org("Globex").create().await;
    let (viewer, _) = app.user().org("Initech").role(Role::Viewer).create().await;
    // The viewer also joins Globex as a developer, through the CLI's path.
    let (_, joined, created) =
        app.state.accounts.create_user("second@example.com", PASSWORD, &org.name, Role::Developer).await.unwrap();
    assert_eq!((joined.id.as_str(), created), (org.id.as_str(), false));
    let _ = owner;

    app.login(&app.client, &viewer.email, PASSWORD).await;
    let html = app.dashboard(&app.client).await;
    assert!(html.contains(r#"<span id="organization">Initech</span>"#), "{html}");
    assert!(html.contains(r#"id="role">VIEWER</span>"#), "{html}");

    let dev = app.new_browser();
    app.login(&dev, "second@example.com", PASSWORD).await;
    let html = app.dashboard(&dev).await;
    assert!(
        html.contains(r#"<span id="organization">Globex</span>"#) && html.contains(r#"id="role">DEVELOPER</span>"#),
        "{html}"
    );
}

#[actix_web::test]
async fn each_organization_has_its_pages_and_the_switcher_leads_between_them() {
    let app = TestApp::spawn().await;
    let (user, globex) = app.user().org("Globex").create().await;
    let (_, initech) = app.user().org("Initech").create().await;
    let (_, umbrella) = app.user().org("Umbrella").create().await;
    app.state.accounts.add_member(&initech.id, &user.id, Role::Viewer).await.unwrap();
    app.login(&app.client, &user.email, PASSWORD).await;

    // The overview of each organization acts for it, with the role there.
    let res = app.client.get(app.url(&format!("/dashboard/orgs/{}", initech.id))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"<span id="organization">Initech</span>"#), "{html}");
    assert!(html.contains(r#"id="role">VIEWER</span>"#), "{html}");
    // The switcher leads to the other one; a VIEWER sees no audit log tab.
    assert!(html.contains(&format!(r#"href="/dashboard/orgs/{}""#, globex.id)), "{html}");
    assert!(!html.contains("/audit\""), "{html}");
    let html = app.client.get(app.url(&format!("/dashboard/orgs/{}", globex.id))).send().await.unwrap();
    let html = html.text().await.unwrap();
    assert!(html.contains(r#"<span id="organization">Globex</span>"#), "{html}");
    assert!(
        html.contains(&format!(r#"href="/dashboard/orgs/{}/audit""#, globex.id)),
        "an OWNER sees the audit log: {html}"
    );

    // An organization one is not a member of, or none at all: 404, the same page.
    for org in [umbrella.id.as_str(), "org_doesnotexist"] {
        let res = app.client.get(app.url(&format!("/dashboard/orgs/{org}"))).send().await.unwrap();
        assert_eq!(res.status(), 404, "{org}");
    }
    // Signed out: to the sign-in page, which comes back here.
    let res = app.new_browser().get(app.url(&format!("/dashboard/orgs/{}", globex.id))).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/login?return_to=%2Fdashboard%2Forgs%2F"), "{}", location(&res));
}

#[actix_web::test]
async fn sign_up_and_a_password_change_are_in_the_audit_log() {
    let app = TestApp::spawn().await;
    let browser = app.new_browser();
    assert_eq!(sign_up(&app, &browser, "grace@example.com", "Hopper & Co").await.status(), 303);
    let user = app.state.accounts.authenticate("grace@example.com", PASSWORD, "127.0.0.1").await.unwrap();
    let org = app.state.accounts.memberships(&user.id).await.unwrap()[0].organization.id.clone();
    let signed_up = audit_events_eventually(&app, &org, "user.signed_up").await;
    assert_eq!(signed_up.len(), 1, "{signed_up:?}");
    assert_eq!(signed_up[0].actor, format!("user:{}", user.id));

    app.login(&browser, "grace@example.com", PASSWORD).await;
    let token = csrf_token(&app.dashboard(&browser).await);
    let res = browser
        .post(app.url("/account/password"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("current_password", PASSWORD),
            ("new_password", "another long passphrase"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let changed = audit_events_eventually(&app, &org, "user.password_changed").await;
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0].actor, format!("user:{}", user.id));
}
