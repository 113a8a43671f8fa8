//! Password hashing: argon2id at a configured cost (OWASP's m = 19 MiB,
//! t = 2, p = 1 by default). Every argon2 computation of the server and the
//! CLI goes through `PasswordHashing`, which bounds how many run at once
//! (`limiter`) and reuses their memory (`argon`), so memory and CPU stay
//! bounded however many sign-ins arrive.

mod argon;
mod limiter;

use std::sync::Arc;
use std::time::Duration;

pub use argon::{Cost, Memory};
pub use limiter::LimitError;
use limiter::Limiter;

use crate::config::PasswordHashConfig;

pub const MIN_LENGTH: usize = 10;
/// Long inputs cost argon2 nothing extra but are surely not passwords.
pub const MAX_LENGTH: usize = 1024;

/// Why a password could not be checked or hashed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Too many at once: try again after `retry_after_secs`.
    #[error("too many passwords are being checked at once")]
    Busy { retry_after_secs: u64 },
    #[error("{0}")]
    Failed(String),
}

/// The outcome of checking a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    Wrong,
    /// Right; `upgraded` is the same password hashed at the configured cost
    /// when the stored hash was made at another.
    Right {
        upgraded: Option<String>,
    },
}

/// The one door to argon2. Cheap to clone; clones share the bound.
#[derive(Clone)]
pub struct PasswordHashing {
    limiter: Arc<Limiter>,
    cost: Cost,
    /// A hash at the configured cost that nothing matches: unknown emails
    /// are checked against it, so they cost what a real account costs.
    unmatchable: Arc<str>,
    retry_after_secs: u64,
}

impl PasswordHashing {
    /// From a validated configuration (`Config::validate` checks the cost).
    pub fn new(config: &PasswordHashConfig) -> Result<Self, PasswordError> {
        let cost =
            Cost { memory_kib: config.memory_kib, iterations: config.iterations, parallelism: config.parallelism };
        let unmatchable =
            argon::unmatchable(&cost).map_err(|e| PasswordError::Failed(format!("password_hash: {e}")))?;
        let queue_timeout = Duration::from_millis(config.queue_timeout_ms);
        Ok(Self {
            limiter: Limiter::new(cost, config.max_concurrent(), config.max_queued, queue_timeout),
            cost,
            unmatchable: unmatchable.into(),
            // Whole seconds (RFC 9110 §10.2.3), at least one.
            retry_after_secs: config.queue_timeout_ms.div_ceil(1000).max(1),
        })
    }

    pub fn cost(&self) -> Cost {
        self.cost
    }

    /// A new hash of `password` at the configured cost.
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let (password, cost) = (password.to_owned(), self.cost);
        self.run(move |memory| argon::hash(memory, &cost, &password)).await?.map_err(hashing_failed)
    }

    /// Checks `password` against a stored hash, at that hash's own cost;
    /// `None` (no such account) costs one verification at the configured
    /// cost and is always wrong. A right password whose hash was made at
    /// another cost comes back hashed again at the configured one.
    pub async fn verify(&self, stored: Option<&str>, password: &str) -> Result<Verified, PasswordError> {
        let stored = stored.map(str::to_owned);
        let (password, cost, unmatchable) = (password.to_owned(), self.cost, self.unmatchable.clone());
        self.run(move |memory| {
            let Some(stored) = stored else {
                argon::verify(memory, &unmatchable, &password);
                return Ok(Verified::Wrong);
            };
            if !argon::verify(memory, &stored, &password) {
                return Ok(Verified::Wrong);
            }
            let upgraded = match argon::needs_rehash(&stored, &cost) {
                true => Some(argon::hash(memory, &cost, &password)?),
                false => None,
            };
            Ok(Verified::Right { upgraded })
        })
        .await?
        .map_err(hashing_failed)
    }

    /// A new hash of `new` if `current` matches `stored`, else `None`: one
    /// wait for a slot for both computations.
    pub async fn replace(&self, stored: &str, current: &str, new: &str) -> Result<Option<String>, PasswordError> {
        let (stored, current, new, cost) = (stored.to_owned(), current.to_owned(), new.to_owned(), self.cost);
        self.run(move |memory| match argon::verify(memory, &stored, &current) {
            true => argon::hash(memory, &cost, &new).map(Some),
            false => Ok(None),
        })
        .await?
        .map_err(hashing_failed)
    }

    /// Runs `job` within the bound. Public so tests can occupy the slots.
    pub async fn run<T, F>(&self, job: F) -> Result<T, PasswordError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Memory) -> T + Send + 'static,
    {
        self.limiter.run(job).await.map_err(|e| match e {
            LimitError::Busy => PasswordError::Busy { retry_after_secs: self.retry_after_secs },
            LimitError::Failed(m) => PasswordError::Failed(m),
        })
    }

    /// Computations running now.
    pub fn running(&self) -> usize {
        self.limiter.running()
    }
}

fn hashing_failed(e: argon2::password_hash::Error) -> PasswordError {
    PasswordError::Failed(format!("password hashing failed: {e}"))
}

/// Checks a new password's length; the message is shown to the user.
pub fn check_new_password(password: &str) -> Result<(), String> {
    let len = password.chars().count();
    if len < MIN_LENGTH {
        return Err(format!("Password must be at least {MIN_LENGTH} characters."));
    }
    if len > MAX_LENGTH {
        return Err(format!("Password must be at most {MAX_LENGTH} characters."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> PasswordHashConfig {
        PasswordHashConfig { memory_kib: 64, iterations: 1, max_concurrent: Some(1), ..PasswordHashConfig::default() }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hash_verify_replace_and_upgrade() {
        let hashing = PasswordHashing::new(&small()).unwrap();
        let stored = hashing.hash("correct horse battery").await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{stored}");
        let right = hashing.verify(Some(&stored), "correct horse battery").await.unwrap();
        assert_eq!(right, Verified::Right { upgraded: None });
        assert_eq!(hashing.verify(Some(&stored), "correct horse batterY").await.unwrap(), Verified::Wrong);
        assert_eq!(hashing.verify(None, "correct horse battery").await.unwrap(), Verified::Wrong);
        assert_eq!(hashing.replace(&stored, "wrong", "new password!").await.unwrap(), None);
        let new = hashing.replace(&stored, "correct horse battery", "new password!").await.unwrap().unwrap();
        assert_eq!(hashing.verify(Some(&new), "new password!").await.unwrap(), Verified::Right { upgraded: None });

        // The cost changes: the old hash still verifies, and comes back upgraded.
        let costlier = PasswordHashing::new(&PasswordHashConfig { iterations: 2, ..small() }).unwrap();
        let Verified::Right { upgraded: Some(upgraded) } = costlier.verify(Some(&new), "new password!").await.unwrap()
        else {
            panic!("a hash at the old cost is upgraded");
        };
        assert!(upgraded.starts_with("$argon2id$v=19$m=64,t=2,p=1$"), "{upgraded}");
        assert_eq!(
            costlier.verify(Some(&upgraded), "new password!").await.unwrap(),
            Verified::Right { upgraded: None }
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn busy_carries_a_retry_after_of_the_queue_deadline_in_whole_seconds() {
        let config = PasswordHashConfig { max_queued: 0, queue_timeout_ms: 1500, ..small() };
        let hashing = PasswordHashing::new(&config).unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let holder = {
            let h = hashing.clone();
            tokio::spawn(async move { h.run(move |_| rx.recv()).await })
        };
        while hashing.running() == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(hashing.hash("pw").await, Err(PasswordError::Busy { retry_after_secs: 2 }));
        assert_eq!(hashing.verify(None, "pw").await, Err(PasswordError::Busy { retry_after_secs: 2 }));
        tx.send(()).unwrap();
        assert!(holder.await.unwrap().is_ok());
    }

    #[test]
    fn length_bounds() {
        assert!(check_new_password("short").is_err());
        assert!(check_new_password("long enough pw").is_ok());
        assert!(check_new_password(&"x".repeat(MAX_LENGTH + 1)).is_err());
    }
}
