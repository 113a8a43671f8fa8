//! `portcullis backup` and `portcullis restore`: an online copy of the
//! SQLite database, and putting one back in place of a stopped server's.
//! PostgreSQL has its own tools (pg_dump, pg_restore): see the README's
//! "Backup and restore".
//!
//! The copy holds every digest and every sealed signing key, so it is
//! written with mode 0600, beside its target, and renamed into place only
//! once it is complete, checked and on disk. The master key is not in it.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use diesel::connection::SimpleConnection;
use diesel::sql_types::Text;
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use portcullis::config::Config;
use portcullis::store::DatabaseUrl;
use portcullis::store::conn::{migrate_sqlite, reference_sqlite_schema, sqlite_migration_versions, sqlite_schema};
use portcullis::store::sqlite_files::{self, InUse};
use portcullis::tokens::master_key::MasterKey;
use portcullis::tokens::signing::opens_with;

/// What `portcullis backup` takes.
#[derive(clap::Args)]
pub struct BackupArgs {
    /// The file to write (mode 0600). Keep it as safe as the database.
    #[arg(long, value_name = "FILE")]
    to: PathBuf,
    /// Replace FILE if it exists.
    #[arg(long)]
    force: bool,
}

/// What `portcullis restore` takes.
#[derive(clap::Args)]
pub struct RestoreArgs {
    /// A file written by `portcullis backup`.
    #[arg(long, value_name = "FILE")]
    from: PathBuf,
    /// Replace the configured database if it exists.
    #[arg(long)]
    force: bool,
}

/// The SQLite file the configuration names, or why `what` does not apply.
fn sqlite_database(config: &Config, refusal: &str) -> anyhow::Result<PathBuf> {
    match DatabaseUrl::parse(&config.database_url)? {
        DatabaseUrl::Sqlite(path) => Ok(path),
        DatabaseUrl::Postgres(_) => bail!("{refusal}"),
    }
}

/// Whether `target` is the database file or one of SQLite's files beside it
/// (-wal, -shm, -journal, and the lock file), however it is spelt: a backup
/// renamed over any of them would replace what the running server writes
/// into (attacker round 11, finding 12).
fn names_the_database(target: &Path, db: &Path) -> bool {
    let canonical = |p: &Path| -> Option<PathBuf> {
        // The file may not exist yet: its directory then decides.
        match std::fs::canonicalize(p) {
            Ok(c) => Some(c),
            Err(_) => Some(
                std::fs::canonicalize(p.parent()?.to_str().filter(|s| !s.is_empty()).unwrap_or("."))
                    .ok()?
                    .join(p.file_name()?),
            ),
        }
    };
    let (Some(target), Some(db)) = (canonical(target), canonical(db)) else { return false };
    ["", "-wal", "-shm", "-journal", "-lock"]
        .iter()
        .any(|suffix| target.as_os_str() == PathBuf::from(format!("{}{suffix}", db.display())).as_os_str())
}

pub fn backup(config: &Config, args: BackupArgs) -> anyhow::Result<()> {
    let db = sqlite_database(
        config,
        "the database is PostgreSQL: back it up with pg_dump, e.g. \
         `pg_dump --format=custom --file=portcullis.dump \"$DATABASE_URL\"` (see the README's \"Backup and restore\")",
    )?;
    if !db.is_file() {
        bail!("no database at {}: nothing to back up", db.display());
    }
    let to = &args.to;
    if names_the_database(to, &db) {
        bail!("{} is the database itself (or one of its files): back it up to another file", to.display());
    }
    if !args.force && to.symlink_metadata().is_ok() {
        bail!("{} exists: pass --force to replace it", to.display());
    }
    let copy = temp_beside(to)?;

    // VACUUM INTO rather than the online backup API: both read the database
    // in one read transaction, which in WAL mode sees one consistent
    // snapshot and blocks no writer (they append to the WAL meanwhile; only
    // the checkpoint waits for the copy to end). The backup API copies in
    // steps and starts over whenever another process writes between two of
    // them, so under a steady load it finishes only when done in one step,
    // i.e. as this does; VACUUM INTO also leaves out free pages, runs
    // through diesel with no unsafe FFI, and writes into the empty file we
    // made, keeping its mode.
    let mut source = open(&db, config.sqlite_busy_timeout_ms)?;
    diesel::sql_query("VACUUM INTO ?")
        .bind::<Text, _>(copy.path().to_string_lossy().into_owned())
        .execute(&mut source)
        .with_context(|| format!("copying {}", db.display()))?;
    drop(source);

    // Checked before it takes the place of anything.
    let mut written = open(copy.path(), config.sqlite_busy_timeout_ms)?;
    if let Err(e) = integrity(&mut written) {
        bail!(
            "the copy of {} fails SQLite's integrity check ({e}); nothing was written to {}",
            db.display(),
            to.display()
        );
    }
    let applied =
        applied_migrations(&mut written).map_err(|e| anyhow::anyhow!("the copy has no migrations table: {e}"))?;
    drop(written);
    copy.as_file().sync_all()?;
    let size = copy.as_file().metadata()?.len();
    if args.force {
        copy.persist(to).map_err(|e| e.error)
    } else {
        // Refuses, atomically, a file made since the check above.
        copy.persist_noclobber(to).map_err(|e| e.error)
    }
    .with_context(|| format!("writing {}", to.display()))?;
    sync_directory(to)?;
    println!(
        "backed up {} to {} ({size} bytes, {} migrations, integrity check ok)",
        db.display(),
        to.display(),
        applied.len()
    );
    eprintln!(
        "the master key is not in the backup: keep it apart, without it the backup's signing keys (and every token \
         they signed) are lost"
    );
    Ok(())
}

pub fn restore(config: &Config, args: RestoreArgs) -> anyhow::Result<()> {
    let db = sqlite_database(
        config,
        "the database is PostgreSQL: restore a pg_dump with pg_restore, e.g. \
         `pg_restore --clean --if-exists --no-owner --dbname=\"$DATABASE_URL\" portcullis.dump` \
         (see the README's \"Backup and restore\")",
    )?;
    let from = &args.from;
    if !from.is_file() {
        bail!("{}: no such file", from.display());
    }
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Held until the new file is in place: a server starting meanwhile waits.
    let _exclusive = match sqlite_files::take_exclusive(&db)
        .with_context(|| format!("locking {}", sqlite_files::lock_path(&db).display()))?
    {
        Ok(lock) => lock,
        Err(InUse::ByPortcullis) => bail!(
            "the database {} is in use by a running portcullis (a server or a command): stop it before restoring",
            db.display()
        ),
        Err(InUse::BySqlite(pid)) => {
            bail!("the database {} is open in process {pid}: stop it before restoring", db.display())
        }
    };
    if !args.force && db.symlink_metadata().is_ok() {
        bail!("the database {} exists: pass --force to replace it with the backup", db.display());
    }

    let copy = temp_beside(&db)?;
    std::io::copy(&mut File::open(from)?, &mut copy.as_file())
        .with_context(|| format!("copying {}", from.display()))?;
    copy.as_file().sync_all()?;
    let pending = check_backup(config, copy.path(), from)?;
    put_in_place(copy, &db)?;
    println!("restored {} into {}", from.display(), db.display());
    if pending > 0 {
        println!("the backup was {pending} migration(s) behind this version: they were applied to it");
    }
    Ok(())
}

/// What a file must be to be restored: an SQLite database that passes the
/// integrity check, made by this version of portcullis or an older one,
/// whose signing keys the configured master key opens. The migrations
/// this version has and the backup lacks (run at the next start).
fn check_backup(config: &Config, copy: &Path, from: &Path) -> anyhow::Result<usize> {
    let not_ours = |why: &str| anyhow::anyhow!("{} is not a portcullis backup: {why}", from.display());
    let mut header = [0u8; 16];
    let is_sqlite = File::open(copy)?.read_exact(&mut header).is_ok() && &header == b"SQLite format 3\0";
    if !is_sqlite {
        return Err(not_ours("not an SQLite database"));
    }
    let mut conn = open(copy, config.sqlite_busy_timeout_ms)?;
    integrity(&mut conn).map_err(|e| not_ours(&format!("it fails SQLite's integrity check ({e})")))?;
    let applied = applied_migrations(&mut conn).map_err(|_| not_ours("it has no portcullis migrations"))?;
    let known = sqlite_migration_versions()?;
    if !known.first().is_some_and(|first| applied.contains(first)) {
        return Err(not_ours("it has no portcullis migrations"));
    }
    let unknown: Vec<&str> = applied.iter().filter(|v| !known.contains(v)).map(String::as_str).collect();
    if !unknown.is_empty() {
        bail!(
            "{} comes from a newer portcullis: its database has migrations this version does not know ({}); restore \
             it with that version or a later one",
            from.display(),
            unknown.join(", ")
        );
    }
    check_master_key(config, &mut conn, from)?;
    // Brought to this version, it must have exactly the schema this
    // version makes: an extra trigger, view or index, or a table replaced,
    // would run inside the server (attacker round 11, finding 10).
    let pending = migrate_sqlite(&mut conn).map_err(|e| not_ours(&format!("it cannot be migrated ({e})")))?;
    let (found, wanted) = (sqlite_schema(&mut conn)?, reference_sqlite_schema()?);
    if let Some(odd) = found.iter().find(|o| !wanted.contains(o)) {
        return Err(not_ours(&format!("its {} {:?} is not one this version makes", odd.kind, odd.name)));
    }
    if let Some(missing) = wanted.iter().find(|o| !found.contains(o)) {
        return Err(not_ours(&format!("it lacks the {} {:?}", missing.kind, missing.name)));
    }
    Ok(pending)
}

#[derive(QueryableByName)]
struct SealedKey {
    #[diesel(sql_type = Text)]
    kid: String,
    #[diesel(sql_type = Text)]
    private_key_encrypted: String,
}

/// Every signing key in the backup must open with the master key the
/// restored server will use: a wrong one would stop it at start-up, and
/// every token the keys signed would be lost.
fn check_master_key(config: &Config, conn: &mut SqliteConnection, from: &Path) -> anyhow::Result<()> {
    let sealed: Vec<SealedKey> = diesel::sql_query("SELECT kid, private_key_encrypted FROM signing_keys").load(conn)?;
    if sealed.is_empty() {
        return Ok(());
    }
    let Some((master, _)) = MasterKey::find(config.master_key.as_deref(), config.is_https(), &config.data_dir)? else {
        bail!(
            "{} holds signing keys sealed with a master key, and none is configured: set master_key \
             (PORTCULLIS_MASTER_KEY), or put the backed-up server's master.key into {}",
            from.display(),
            config.data_dir.display()
        );
    };
    if !sealed.iter().all(|k| opens_with(&master, &k.kid, &k.private_key_encrypted)) {
        bail!(
            "{} holds signing keys that the configured master key cannot open: configure the master key of the \
             server the backup was made from (without it, every token it issued is lost)",
            from.display()
        );
    }
    Ok(())
}

/// Renames the checked copy over `db`. The old database's WAL is first
/// checkpointed into it and its side files removed, so that neither a
/// stale WAL is replayed onto the new file nor, should this stop halfway,
/// the old one loses what only its WAL held.
fn put_in_place(copy: tempfile::NamedTempFile, db: &Path) -> anyhow::Result<()> {
    if db.is_file() {
        // Nobody else has it open (the exclusive lock); closing the last
        // connection checkpoints and deletes the WAL. A damaged database
        // (perhaps why it is being replaced) cannot be, and is replaced whole.
        match open(db, 0).and_then(|mut c| Ok(c.batch_execute("PRAGMA wal_checkpoint(TRUNCATE)")?)) {
            Ok(()) => {}
            Err(e) => {
                eprintln!("warning: the old database's WAL could not be checkpointed ({e:#}); replacing it whole")
            }
        }
    }
    for side in ["-wal", "-shm", "-journal"] {
        let path = sqlite_files::beside(db, side);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
        }
    }
    copy.persist(db).map_err(|e| e.error).with_context(|| format!("writing {}", db.display()))?;
    sync_directory(db)
}

/// An empty file (mode 0600) in `target`'s directory, removed if dropped
/// before it is renamed into place.
fn temp_beside(target: &Path) -> anyhow::Result<tempfile::NamedTempFile> {
    let dir = directory_of(target);
    tempfile::Builder::new()
        .prefix(".portcullis-")
        .suffix(".partial")
        .tempfile_in(&dir)
        .with_context(|| format!("creating a file in {}", dir.display()))
}

/// The rename is durable once the directory is on disk.
fn sync_directory(file: &Path) -> anyhow::Result<()> {
    let dir = directory_of(file);
    File::open(&dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing {}", dir.display()))
}

/// The directory a file is in (`.` for a bare name).
fn directory_of(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn open(path: &Path, busy_timeout_ms: u32) -> anyhow::Result<SqliteConnection> {
    let mut conn =
        SqliteConnection::establish(&path.to_string_lossy()).with_context(|| format!("opening {}", path.display()))?;
    conn.batch_execute(&format!("PRAGMA busy_timeout = {busy_timeout_ms};"))?;
    Ok(conn)
}

#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = Text)]
    value: String,
}

/// The one text column, named `value`, of every row `sql` selects.
fn texts(conn: &mut SqliteConnection, sql: &str) -> Result<Vec<String>, diesel::result::Error> {
    Ok(diesel::sql_query(sql).load::<Value>(conn)?.into_iter().map(|r| r.value).collect())
}

/// `PRAGMA integrity_check`: Ok, or its first complaint.
fn integrity(conn: &mut SqliteConnection) -> Result<(), String> {
    let rows = texts(conn, "SELECT integrity_check AS value FROM pragma_integrity_check").map_err(|e| e.to_string())?;
    match rows.as_slice() {
        [ok] if ok == "ok" => Ok(()),
        [first, ..] => Err(first.clone()),
        [] => Err("no answer".into()),
    }
}

fn applied_migrations(conn: &mut SqliteConnection) -> Result<Vec<String>, diesel::result::Error> {
    texts(conn, "SELECT version AS value FROM __diesel_schema_migrations")
}
