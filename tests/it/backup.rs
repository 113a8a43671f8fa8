//! `portcullis backup` and `portcullis restore`, the binary itself: a copy
//! taken while a server writes restores every credential issued before it,
//! into a new directory or over a crashed server's database; and each
//! refusal (in use, existing target, not a portcullis database, a newer
//! version, the wrong master key, PostgreSQL) with its message.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use diesel::connection::SimpleConnection;
use diesel::{Connection, RunQueryDsl, SqliteConnection};
use serde_json::{Value, json};

use crate::cli::Workspace;
use crate::oauth_support::REDIRECT;
use crate::processes::Instance;
use crate::support::on_postgres;
use crate::two_processes::{
    active, code_flow, new_key, oauth, refresh, register, session, signed_in_browser, tokens, v1,
};

const PG_BACKUP_REFUSAL: &str = "error: the database is PostgreSQL: back it up with pg_dump, e.g. `pg_dump \
     --format=custom --file=portcullis.dump \"$DATABASE_URL\"` (see the README's \"Backup and restore\")\n";
const PG_RESTORE_REFUSAL: &str = "error: the database is PostgreSQL: restore a pg_dump with pg_restore, e.g. \
     `pg_restore --clean --if-exists --no-owner --dbname=\"$DATABASE_URL\" portcullis.dump` (see the README's \
     \"Backup and restore\")\n";

/// A workspace on SQLite, whatever backend the suite runs on.
fn sqlite_workspace() -> Workspace {
    let mut workspace = Workspace::new();
    workspace.database_url = format!("sqlite://{}", database(&workspace).display());
    workspace
}

fn database(workspace: &Workspace) -> PathBuf {
    workspace.path().join("data/p.db")
}

fn master_key() -> String {
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn restore(workspace: &Workspace, from: &Path, master: Option<&str>, force: bool) -> Output {
    let mut cmd = workspace.portcullis();
    cmd.args(["restore", "--from"]).arg(from);
    if force {
        cmd.arg("--force");
    }
    if let Some(key) = master {
        cmd.env("PORTCULLIS_MASTER_KEY", key);
    }
    cmd.output().unwrap()
}

fn backup(workspace: &Workspace, to: &Path) -> Output {
    workspace.portcullis().args(["backup", "--to"]).arg(to).output().unwrap()
}

/// Asserts the command failed with exit code 1 and exactly `message` on stderr.
fn refused(out: &Output, message: &str) {
    assert_eq!((out.status.code(), stderr(out).as_str()), (Some(1), message), "stdout: {}", stdout(out));
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The one text column, named `value`, of every row `sql` selects in `db`.
fn texts(db: &Path, sql: &str) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    let mut conn = SqliteConnection::establish(&db.to_string_lossy()).unwrap();
    diesel::sql_query(sql).load::<Row>(&mut conn).unwrap().into_iter().map(|r| r.value).collect()
}

fn integrity_check(db: &Path) -> String {
    texts(db, "SELECT integrity_check AS value FROM pragma_integrity_check").join("\n")
}

/// A key made by the load: when its request was sent and its answer came.
struct Made {
    key: String,
    sent: Instant,
    answered: Instant,
}

/// Makes API keys until `stop`; every request must succeed.
async fn make_keys(base: String, owner: String, task: usize, stop: Arc<AtomicBool>) -> Vec<Made> {
    let client = reqwest::Client::new();
    let mut made = Vec::new();
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let body = json!({"name": format!("load {task}-{n}"), "scopes": ["read"]});
        let sent = Instant::now();
        let res = client.post(format!("{base}/v1/api-keys")).bearer_auth(&owner).json(&body).send().await.unwrap();
        let status = res.status().as_u16();
        let b: Value = res.json().await.unwrap();
        assert_eq!(status, 201, "a write during the backup failed: {b}");
        made.push(Made { key: b["data"]["key"].as_str().unwrap().to_owned(), sent, answered: Instant::now() });
    }
    made
}

#[actix_web::test]
async fn a_backup_taken_under_load_restores_every_credential_issued_before_it() {
    if on_postgres() {
        let workspace = Workspace::new();
        refused(&backup(&workspace, &workspace.path().join("b.db")), PG_BACKUP_REFUSAL);
        assert!(!workspace.path().join("b.db").exists());
        refused(&restore(&workspace, &workspace.path().join("b.db"), None, true), PG_RESTORE_REFUSAL);
        return;
    }
    let workspace = sqlite_workspace();
    let key = master_key();
    let env = [
        ("PORTCULLIS_MASTER_KEY", key.clone()),
        ("PORTCULLIS_API__RATE_LIMIT_PER_MINUTE", "60000".to_owned()),
        ("PORTCULLIS_API__RATE_LIMIT_BURST", "60000".to_owned()),
        // Keys made after the backup are unknown to the restored server.
        ("PORTCULLIS_API__UNAUTHENTICATED_PER_MINUTE", "60000".to_owned()),
    ];
    let mut server = Instance::start(&workspace, &env).await;
    workspace.create_user(crate::two_processes::EMAIL, "Acme");
    let owner = session(&server).await;

    // Issued before the backup: API keys, refresh and access tokens.
    let mut api_keys = Vec::new();
    for i in 0..5 {
        api_keys.push(new_key(&server, &owner, json!({"name": format!("before {i}"), "scopes": ["read"]})).await.1);
    }
    let app = register(
        &server,
        &owner,
        json!({
            "name": "Backed-up App", "redirect_uris": [REDIRECT], "scopes": ["read", "offline_access"],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"]
        }),
    )
    .await;
    let browser = signed_in_browser(&server).await;
    let (mut refresh_tokens, mut access_tokens) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let (refresh_token, access_token) = tokens(&code_flow(&server, &server, &browser, &app).await);
        refresh_tokens.push(refresh_token);
        access_tokens.push(access_token);
    }
    let (s, b) = oauth(&server, "/oauth/token", &app, &[("grant_type", "client_credentials"), ("scope", "read")]).await;
    assert_eq!(s, 200, "{b}");
    access_tokens.push(b["access_token"].as_str().unwrap().to_owned());

    // The backup, while two clients make keys as fast as the server answers.
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> =
        (0..2).map(|t| tokio::spawn(make_keys(server.base.clone(), owner.clone(), t, stop.clone()))).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let file = workspace.path().join("backups/portcullis.db");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let started = Instant::now();
    let out = {
        let (workspace_cmd, file) = (workspace.portcullis(), file.clone());
        tokio::task::spawn_blocking(move || {
            let mut cmd = workspace_cmd;
            cmd.args(["backup", "--to"]).arg(&file).output().unwrap()
        })
        .await
        .unwrap()
    };
    let ended = Instant::now();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let mut made = Vec::new();
    for task in load {
        made.extend(task.await.unwrap());
    }
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("integrity check ok"), "{}", stdout(&out));
    assert!(stderr(&out).contains("the master key is not in the backup"), "{}", stderr(&out));
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600, "the backup holds every digest and sealed key");
    let during: Vec<&Made> = made.iter().filter(|m| m.answered > started && m.sent < ended).collect();
    assert!(!during.is_empty(), "no write was answered while the backup ran ({:?})", ended - started);
    let slowest = during.iter().map(|m| m.answered - m.sent).max().unwrap();

    // A restore over the database the server runs on is refused, and harms nothing.
    let live = restore(&workspace, &file, Some(&key), true);
    refused(
        &live,
        &format!(
            "error: the database {} is in use by a running portcullis (a server or a command): stop it before \
             restoring\n",
            database(&workspace).display()
        ),
    );
    assert_eq!(v1(&server, "GET", "/v1/auth/validate", &api_keys[0], None).await.0, 200);

    // Restored into a new directory, a server there with the same master key.
    let fresh = sqlite_workspace();
    let out = restore(&fresh, &file, Some(&key), false);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(stdout(&out), format!("restored {} into {}\n", file.display(), database(&fresh).display()));
    #[cfg(unix)]
    assert_eq!(mode(&database(&fresh)), 0o600);
    assert_eq!(integrity_check(&database(&fresh)), "ok");
    let restored = Instance::start(&fresh, &env).await;
    let (before, after): (Vec<&Made>, Vec<&Made>) =
        (made.iter().filter(|m| m.answered < started).collect(), made.iter().filter(|m| m.sent > ended).collect());
    for (i, key) in api_keys.iter().chain(before.iter().map(|m| &m.key)).enumerate() {
        let (s, b) = v1(&restored, "GET", "/v1/auth/validate", key, None).await;
        assert_eq!(s, 200, "key {i}, made before the backup, is not in it: {b}");
    }
    for m in &after {
        assert_eq!(v1(&restored, "GET", "/v1/auth/validate", &m.key, None).await.0, 401, "made after the backup");
    }
    for (i, token) in refresh_tokens.iter().enumerate() {
        let (s, b) = refresh(&restored, &app, token).await;
        assert_eq!(s, 200, "refresh token {i}: {b}");
    }
    for (i, token) in access_tokens.iter().enumerate() {
        assert!(active(&restored, &app, token).await, "access token {i} is not active after the restore");
    }
    assert_eq!(v1(&restored, "GET", "/v1/auth/me", &owner, None).await.0, 200, "the owner's session survives");
    drop(restored);

    // Over a crashed server's database: its WAL (writes after the backup)
    // must neither survive nor be replayed onto the restored file.
    server.kill_9();
    let wal = portcullis::store::sqlite_files::beside(&database(&workspace), "-wal");
    assert!(wal.exists(), "a crashed server leaves its WAL");
    let out = restore(&workspace, &file, Some(&key), false);
    refused(
        &out,
        &format!(
            "error: the database {} exists: pass --force to replace it with the backup\n",
            database(&workspace).display()
        ),
    );
    let out = restore(&workspace, &file, Some(&key), true);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0);
    let server = Instance::start(&workspace, &env).await;
    assert_eq!(v1(&server, "GET", "/v1/auth/validate", &api_keys[4], None).await.0, 200);
    let last = made.iter().max_by_key(|m| m.sent).unwrap();
    assert_eq!(v1(&server, "GET", "/v1/auth/validate", &last.key, None).await.0, 401);
    assert_eq!(integrity_check(&database(&workspace)), "ok");
    eprintln!(
        "backup under load: {} keys made by the load, {} answered while the backup ran ({:?}), slowest of those \
         {slowest:?}; checked after restore: {} API keys, {} refresh tokens, {} access tokens",
        made.len(),
        during.len(),
        ended - started,
        api_keys.len() + before.len(),
        refresh_tokens.len(),
        access_tokens.len()
    );
}

/// A backup of a database with signing keys sealed under `master`, made by
/// the binary: the workspace and the file.
fn backed_up(master: &str) -> (Workspace, PathBuf) {
    let workspace = sqlite_workspace();
    let out = workspace.portcullis().args(["keys", "rotate"]).env("PORTCULLIS_MASTER_KEY", master).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let file = workspace.path().join("b.db");
    let out = backup(&workspace, &file);
    assert!(out.status.success(), "{}", stderr(&out));
    (workspace, file)
}

#[test]
fn backup_on_postgresql_says_to_use_pg_dump() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = crate::cli::portcullis(dir.path());
    cmd.env("PORTCULLIS_DATABASE_URL", "postgres://app:s3cret@127.0.0.1:1/portcullis");
    let out = cmd.args(["backup", "--to", "b.db"]).output().unwrap();
    refused(&out, PG_BACKUP_REFUSAL);
    let mut cmd = crate::cli::portcullis(dir.path());
    cmd.env("PORTCULLIS_DATABASE_URL", "postgres://app:s3cret@127.0.0.1:1/portcullis");
    let out = cmd.args(["restore", "--from", "b.db"]).output().unwrap();
    refused(&out, PG_RESTORE_REFUSAL);
}

#[test]
fn an_existing_file_is_replaced_only_with_force() {
    let (workspace, file) = backed_up(&master_key());
    let before = std::fs::read(&file).unwrap();
    std::fs::write(&file, b"keep me").unwrap();
    refused(&backup(&workspace, &file), &format!("error: {} exists: pass --force to replace it\n", file.display()));
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
    let out = workspace.portcullis().args(["backup", "--force", "--to"]).arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&file).unwrap().len(), before.len());
    let leftovers: Vec<_> = std::fs::read_dir(workspace.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A backup renamed over the live database (or its WAL) would replace what
/// the running server writes into (attacker round 11, finding 12).
#[test]
fn a_backup_onto_the_database_itself_is_refused_even_with_force() {
    let (workspace, _) = backed_up(&master_key());
    let db = database(&workspace);
    let before = std::fs::read(&db).unwrap();
    let spelt_otherwise = db.parent().unwrap().join(".").join(db.file_name().unwrap());
    for target in [db.clone(), spelt_otherwise, PathBuf::from(format!("{}-wal", db.display()))] {
        let out = workspace.portcullis().args(["backup", "--force", "--to"]).arg(&target).output().unwrap();
        refused(
            &out,
            &format!(
                "error: {} is the database itself (or one of its files): back it up to another file\n",
                target.display()
            ),
        );
    }
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

/// Any process with the database open through SQLite (here, this test)
/// keeps a restore out, not only a portcullis holding its lock file.
#[test]
fn a_database_open_in_another_process_is_not_replaced() {
    let master = master_key();
    let (workspace, file) = backed_up(&master);
    let mut conn = SqliteConnection::establish(&database(&workspace).to_string_lossy()).unwrap();
    conn.batch_execute("PRAGMA journal_mode = WAL; SELECT COUNT(*) FROM signing_keys;").unwrap();
    let out = restore(&workspace, &file, Some(&master), true);
    refused(
        &out,
        &format!(
            "error: the database {} is open in process {}: stop it before restoring\n",
            database(&workspace).display(),
            std::process::id()
        ),
    );
    drop(conn);
    let out = restore(&workspace, &file, Some(&master), true);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn what_is_not_a_portcullis_database_is_refused() {
    let master = master_key();
    let (_source, file) = backed_up(&master);
    let target = sqlite_workspace();
    let not_ours = |path: &Path, why: &str| format!("error: {} is not a portcullis backup: {why}\n", path.display());

    let text = target.path().join("notes.txt");
    std::fs::write(&text, "SQLite format 2, honestly").unwrap();
    refused(&restore(&target, &text, Some(&master), false), &not_ours(&text, "not an SQLite database"));
    let empty = target.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    refused(&restore(&target, &empty, Some(&master), false), &not_ours(&empty, "not an SQLite database"));

    let other = target.path().join("other.db");
    SqliteConnection::establish(&other.to_string_lossy())
        .unwrap()
        .batch_execute("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hello');")
        .unwrap();
    refused(&restore(&target, &other, Some(&master), false), &not_ours(&other, "it has no portcullis migrations"));

    // A backup damaged after it was written: a page in its middle overwritten.
    let damaged = target.path().join("damaged.db");
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 4096 / 2 * 4096;
    bytes[middle..middle + 4096].fill(0xA5);
    std::fs::write(&damaged, bytes).unwrap();
    let out = restore(&target, &damaged, Some(&master), false);
    assert_eq!(out.status.code(), Some(1));
    let prefix =
        format!("error: {} is not a portcullis backup: it fails SQLite's integrity check (", damaged.display());
    assert!(stderr(&out).starts_with(&prefix), "{}", stderr(&out));

    assert!(!database(&target).exists(), "nothing was put in place");
    let leftovers = std::fs::read_dir(target.path().join("data")).unwrap().count();
    assert_eq!(leftovers, 1, "only the lock file is left");
}

/// The SQLite migrations, oldest first.
fn migration_names() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn applied_versions(db: &Path) -> usize {
    texts(db, "SELECT version AS value FROM __diesel_schema_migrations").len()
}

#[test]
fn a_backup_from_a_newer_version_is_refused_and_an_older_one_migrated_at_the_next_start() {
    let master = master_key();
    let (_source, file) = backed_up(&master);
    let target = sqlite_workspace();

    let newer = target.path().join("newer.db");
    std::fs::copy(&file, &newer).unwrap();
    SqliteConnection::establish(&newer.to_string_lossy())
        .unwrap()
        .batch_execute("INSERT INTO __diesel_schema_migrations (version) VALUES ('99991231000000')")
        .unwrap();
    let out = restore(&target, &newer, Some(&master), false);
    refused(
        &out,
        &format!(
            "error: {} comes from a newer portcullis: its database has migrations this version does not know \
             (99991231000000); restore it with that version or a later one\n",
            newer.display()
        ),
    );

    // An older version's: the last migration undone.
    let names = migration_names();
    let last = names.last().unwrap();
    let older = target.path().join("older.db");
    std::fs::copy(&file, &older).unwrap();
    let down = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite").join(last).join("down.sql"),
    )
    .unwrap();
    let version: String = last.split('_').next().unwrap().replace('-', "");
    SqliteConnection::establish(&older.to_string_lossy())
        .unwrap()
        .batch_execute(&format!("{down}\nDELETE FROM __diesel_schema_migrations WHERE version = '{version}';"))
        .unwrap();
    let out = restore(&target, &older, Some(&master), false);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "restored {} into {}\nthe backup was 1 migration(s) behind this version: they were applied to it\n",
            older.display(),
            database(&target).display()
        )
    );
    assert_eq!(applied_versions(&database(&target)), names.len());
    let out = target.portcullis().arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(applied_versions(&database(&target)), names.len());
}

/// A crafted file with portcullis's migrations but more in its schema would
/// run inside the server once restored (attacker round 11, finding 10: a
/// trigger made a DEVELOPER an OWNER).
#[test]
fn a_backup_whose_schema_differs_from_this_versions_is_refused() {
    let master = master_key();
    let (_source, file) = backed_up(&master);
    let target = sqlite_workspace();
    let crafted = [
        (
            "trigger",
            "promote",
            "CREATE TRIGGER promote AFTER INSERT ON api_keys BEGIN UPDATE memberships SET role = 'OWNER'; END;",
        ),
        ("view", "peek", "CREATE VIEW peek AS SELECT secret_digest FROM client_secrets;"),
        ("index", "odd", "CREATE INDEX odd ON users (email);"),
    ];
    for (kind, name, sql) in crafted {
        let copy = target.path().join(format!("{name}.db"));
        std::fs::copy(&file, &copy).unwrap();
        SqliteConnection::establish(&copy.to_string_lossy()).unwrap().batch_execute(sql).unwrap();
        refused(
            &restore(&target, &copy, Some(&master), false),
            &format!(
                "error: {} is not a portcullis backup: its {kind} \"{name}\" is not one this version makes\n",
                copy.display()
            ),
        );
        assert!(!database(&target).exists(), "nothing was restored");
    }
}

#[test]
fn a_backup_the_master_key_cannot_open_is_refused() {
    let (_source, file) = backed_up(&master_key());
    let target = sqlite_workspace();
    let out = restore(&target, &file, Some(&master_key()), false);
    refused(
        &out,
        &format!(
            "error: {} holds signing keys that the configured master key cannot open: configure the master key of \
             the server the backup was made from (without it, every token it issued is lost)\n",
            file.display()
        ),
    );
    let out = restore(&target, &file, None, false);
    refused(
        &out,
        &format!(
            "error: {} holds signing keys sealed with a master key, and none is configured: set master_key \
             (PORTCULLIS_MASTER_KEY), or put the backed-up server's master.key into {}\n",
            file.display(),
            target.path().join("data").display()
        ),
    );
    assert!(!database(&target).exists());
}
