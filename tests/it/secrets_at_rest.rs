//! Invariant 1, by its whole outcome: every flow that hands out a secret
//! runs, then every column of every table is read back as text, and no
//! plaintext handed out appears in any of them.

use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use portcullis::store::{DbConnection, StoreError};
use serde_json::{Value, json};

use crate::api_apps::{owner_key, register};
use crate::oauth_code::{code_as, signed_in};
use crate::oauth_support::{REDIRECT, redeem};
use crate::refresh_race::{refresh, tokens};
use crate::security::session_cookie_value;
use crate::support::{PASSWORD, TestApp, call};

#[derive(QueryableByName)]
struct Cell {
    #[diesel(sql_type = Nullable<Text>)]
    v: Option<String>,
}

/// Runs `sql` and returns its one text column `v`.
macro_rules! texts {
    ($conn:expr, $sql:expr) => {
        diesel::sql_query($sql).load::<Cell>($conn)?.into_iter().filter_map(|c| c.v).collect::<Vec<String>>()
    };
}

/// Every value of every column of every table, as text: (table.column, value).
macro_rules! every_cell {
    ($conn:expr, $tables:expr, $columns:expr) => {{
        let mut cells = Vec::new();
        for table in texts!($conn, $tables) {
            for column in texts!($conn, $columns(&table)) {
                for value in texts!($conn, format!(r#"SELECT CAST("{column}" AS TEXT) AS v FROM "{table}""#)) {
                    cells.push((format!("{table}.{column}"), value));
                }
            }
        }
        cells
    }};
}

fn stored_cells(conn: &mut DbConnection) -> Result<Vec<(String, String)>, StoreError> {
    Ok(match conn {
        DbConnection::Sqlite(c) => every_cell!(c, "SELECT name AS v FROM sqlite_master WHERE type = 'table'", |t| {
            format!("SELECT name AS v FROM pragma_table_info('{t}')")
        }),
        DbConnection::Postgresql(c) => every_cell!(
            c,
            "SELECT table_name::text AS v FROM information_schema.tables WHERE table_schema = 'public'",
            |t| format!(
                "SELECT column_name::text AS v FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name = '{t}'"
            )
        ),
    })
}

fn field(b: &Value, pointer: &str) -> String {
    b.pointer(pointer).and_then(Value::as_str).unwrap_or_else(|| panic!("no {pointer} in {b}")).to_owned()
}

#[actix_web::test]
async fn no_plaintext_secret_handed_out_is_stored_anywhere() {
    let app = TestApp::spawn().await;
    let mut handed_out: Vec<(&str, String)> = Vec::new();

    // API keys: created, made through /v1, rolled.
    let (_, key) = owner_key(&app).await;
    let (s, b) = call(&app, "POST", "/v1/api-keys", &key, Some(json!({"name": "k", "scopes": ["read"]}))).await;
    assert_eq!(s, 201, "{b}");
    let (s, rolled) = call(&app, "POST", &format!("/v1/api-keys/{}/roll", field(&b, "/data/id")), &key, None).await;
    assert_eq!(s, 201, "{rolled}");
    handed_out.extend([
        ("api key", key.clone()),
        ("api key", field(&b, "/data/key")),
        ("rolled api key", field(&rolled, "/data/new_key/key")),
    ]);

    // Client secrets: registered, rotated.
    let bot = register(&app, &key, json!({"name": "Bot", "grant_types": ["client_credentials"]})).await;
    let (s, rotated) =
        call(&app, "POST", &format!("/v1/apps/{}/rotate-secret", bot.client.client_id), &key, None).await;
    assert_eq!(s, 200, "{rotated}");
    handed_out.extend([
        ("client secret", bot.secret.clone().unwrap()),
        ("rotated client secret", field(&rotated, "/data/client_secret")),
    ]);

    // The code flow: code, verifier, tokens, then a refresh.
    let reg = app.oauth_client().await.create().await;
    let (code, verifier) = code_as(&app, &signed_in(&app).await, &reg, "read offline_access").await;
    let (s, issued) = redeem(&app, &reg, &code, verifier.secret(), Some(REDIRECT)).await;
    assert_eq!(s, 200, "{issued}");
    let (first_refresh, first_access) = tokens(&issued);
    let (s, b) = refresh(&app, &reg, &first_refresh).await;
    assert_eq!(s, 200, "{b}");
    let (next_refresh, next_access) = tokens(&b);
    handed_out.extend([
        ("client secret", reg.secret.clone().unwrap()),
        ("authorization code", code),
        ("pkce verifier", verifier.secret().clone()),
        ("refresh token", first_refresh),
        ("access token", first_access),
        ("rotated refresh token", next_refresh),
        ("refreshed access token", next_access),
    ]);

    // An invitation link, a dashboard session, a signed-in browser.
    let (owner, _) = app.user().create().await;
    let admin = crate::api_members::key_for(&app, &owner, &["admin"]).await;
    let (s, b) =
        call(&app, "POST", "/v1/invitations", &admin, Some(json!({"email": "new@example.com", "role": "VIEWER"})))
            .await;
    assert_eq!(s, 201, "{b}");
    let link = field(&b, "/data/url");
    handed_out.push(("invitation token", link.rsplit('/').next().unwrap().to_owned()));
    let (access, refresh_token) = crate::sessions_end::dashboard_login(&app, &owner.email, PASSWORD).await;
    handed_out.extend([
        ("dashboard access token", access),
        ("dashboard refresh token", refresh_token),
        ("password", PASSWORD.to_owned()),
    ]);
    let res = app.login(&app.new_browser(), &owner.email, PASSWORD).await;
    handed_out.push(("session cookie", session_cookie_value(&res, "portcullis_session")));

    let cells = app.state.store.run(stored_cells).await.unwrap();
    let tables: std::collections::BTreeSet<&str> = cells.iter().map(|(c, _)| c.split('.').next().unwrap()).collect();
    for table in ["api_keys", "client_secrets", "authorization_codes", "refresh_tokens", "invitations", "sessions"] {
        assert!(tables.contains(table), "{table} was not read: {tables:?}");
    }
    // The scan reads what is stored: the digests are there…
    for (what, secret) in &handed_out[..2] {
        let digest = portcullis::tokens::opaque::digest(secret);
        assert!(cells.iter().any(|(_, v)| *v == digest), "the {what}'s digest was not found");
    }
    // …and no plaintext is.
    for (what, secret) in &handed_out {
        assert!(secret.len() >= 16, "{what}: {secret}");
        for (column, value) in &cells {
            assert!(!value.contains(secret.as_str()), "a {what} is stored in plaintext in {column}");
        }
    }
}
