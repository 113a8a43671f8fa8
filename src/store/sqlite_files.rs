//! The files of an SQLite database beside the database itself, and how to
//! tell that a process has it open.
//!
//! Every process that opens the database through `Store::open` (the server,
//! and each CLI command while it runs) holds a shared lock on `<db>-lock`
//! for as long as its store lives. `portcullis restore` takes the exclusive
//! lock, so it cannot replace the file under a running server, and a server
//! started during a restore waits for it to end. A lock file, rather than
//! SQLite's own locks alone: a server whose pool has closed its idle
//! connections holds none of SQLite's locks, yet keeps the old database's
//! signing keys and clients in memory. SQLite's WAL-index lock is checked
//! too (`wal_index_holder`), for any other program that has the file open.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::StoreError;

/// `<db><suffix>`: SQLite's `-wal` and `-shm`, our `-lock`.
pub fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The lock file of the database `db`.
pub fn lock_path(db: &Path) -> PathBuf {
    beside(db, "-lock")
}

fn open_lock_file(db: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(lock_path(db))
}

/// The shared lock a process using the database holds until it drops the
/// file. Waits up to `wait` for a restore in progress to end. Creates the
/// database's directory if need be.
pub fn hold_shared(db: &Path, wait: Duration) -> Result<File, StoreError> {
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Config(format!("cannot create directory {}: {e}", dir.display())))?;
    }
    let path = lock_path(db);
    let io = |e: std::io::Error| StoreError::Config(format!("cannot open the lock file {}: {e}", path.display()));
    let file = open_lock_file(db).map_err(io)?;
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock_shared() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Unavailable(format!(
                    "the database {} is being restored ({} is locked): start again when the restore is done",
                    db.display(),
                    path.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
    }
}

/// Why the database cannot be taken for a restore.
#[derive(Debug, PartialEq, Eq)]
pub enum InUse {
    /// A portcullis process holds the lock file.
    ByPortcullis,
    /// Another process has the file open through SQLite (its pid).
    BySqlite(i32),
}

/// The exclusive lock, when no other process uses the database: the
/// lock file is free and no SQLite connection holds the WAL index.
/// Hold the returned file for as long as the database must stay unused.
pub fn take_exclusive(db: &Path) -> Result<Result<File, InUse>, std::io::Error> {
    let file = open_lock_file(db)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(Err(InUse::ByPortcullis)),
        Err(std::fs::TryLockError::Error(e)) => return Err(e),
    }
    if let Some(pid) = wal_index_holder(db)? {
        return Ok(Err(InUse::BySqlite(pid)));
    }
    Ok(Ok(file))
}

/// The pid of a process that has `db` open in WAL mode, if one does. Each
/// SQLite connection holds a read lock on the WAL index's "DMS" byte
/// (offset 128 of `-shm`: SQLite's unix VFS, `UNIX_SHM_DMS`) from when it
/// opens the index to when it closes, and the last one to close takes it
/// exclusively to checkpoint. POSIX locks do not see the asking process's
/// own, so call this before opening the database here.
pub fn wal_index_holder(db: &Path) -> std::io::Result<Option<i32>> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let shm = match File::open(beside(db, "-shm")) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        // SAFETY: a plain C struct, all zeroes is a valid value.
        let mut lock: libc::flock = unsafe { std::mem::zeroed() };
        lock.l_type = libc::F_WRLCK as _;
        lock.l_whence = libc::SEEK_SET as _;
        lock.l_start = 128;
        lock.l_len = 1;
        // SAFETY: F_GETLK reads and writes the struct we own; the fd is open
        // for the call. Our fd is closed when `shm` drops, and this process
        // holds no lock on the file it could release.
        let rc = unsafe { libc::fcntl(shm.as_raw_fd(), libc::F_GETLK, &mut lock) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok((i32::from(lock.l_type) != libc::F_UNLCK).then_some(lock.l_pid))
    }
    #[cfg(not(unix))]
    {
        let _ = db;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_holder_keeps_the_exclusive_lock_out_until_it_drops() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("p.db");
        let held = hold_shared(&db, Duration::ZERO).unwrap();
        assert_eq!(take_exclusive(&db).unwrap().unwrap_err(), InUse::ByPortcullis);
        drop(held);
        let exclusive = take_exclusive(&db).unwrap().expect("free once the holder is gone");
        let refused = hold_shared(&db, Duration::from_millis(120)).unwrap_err().to_string();
        assert!(refused.contains("is being restored"), "{refused}");
        drop(exclusive);
        hold_shared(&db, Duration::ZERO).unwrap();
        assert_eq!(beside(&db, "-wal"), dir.path().join("p.db-wal"));
    }
}
