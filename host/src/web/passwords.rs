//! The password pool: where sign-ins check passwords.
//!
//! argon2id takes tens of milliseconds of CPU and ~19 MiB per check. Run on
//! the async workers, a few hundred sign-ins at once would stall every
//! other request, webhook intake included, and claim gigabytes. Here at
//! most `threads` checks run at a time, on blocking threads, and at most
//! `queue` more wait; a sign-in past that is answered 503 without touching
//! the database, after the access settings' refusal delay (a timer, no
//! work: `Access::refusal_delay`). Decision 0028 says why.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::store::users::{DUMMY_HASH, verify_password};

/// Checks passwords on a bounded pool with a bounded queue.
#[derive(Clone, Debug)]
pub struct PasswordPool {
    /// Checks running or waiting.
    admitted: Arc<Semaphore>,
    /// Checks running.
    running: Arc<Semaphore>,
}

/// The pool is full: answer 503.
#[derive(Debug, PartialEq, Eq)]
pub struct Busy;

/// A place in the pool's queue, held from admission to the check's end.
pub struct Place {
    pool: PasswordPool,
    _admitted: OwnedSemaphorePermit,
}

impl Default for PasswordPool {
    /// Half the cores (at least one), and a queue of 32 per thread.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = (cores / 2).max(1);
        Self::new(threads, threads * 32)
    }
}

impl PasswordPool {
    /// A pool running `threads` checks at a time with `queue` more waiting.
    pub fn new(threads: usize, queue: usize) -> Self {
        let threads = threads.max(1);
        Self {
            admitted: Arc::new(Semaphore::new(threads + queue)),
            running: Arc::new(Semaphore::new(threads)),
        }
    }

    /// A place for one check, or [`Busy`] at once when none is left.
    pub fn admit(&self) -> Result<Place, Busy> {
        let admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| Busy)?;
        Ok(Place {
            pool: self.clone(),
            _admitted: admitted,
        })
    }
}

impl Place {
    /// Whether `password` matches `hash`; with no hash (no such user),
    /// checks against a dummy one, so both take as long.
    pub async fn verify(self, password: &str, hash: Option<String>) -> bool {
        let running = self
            .pool
            .running
            .clone()
            .acquire_owned()
            .await
            .expect("the pool's semaphore is never closed");
        let password = zeroize::Zeroizing::new(password.to_owned());
        // The places go with the check: a client that hangs up does not
        // free them while the check still runs.
        tokio::task::spawn_blocking(move || {
            let _places = (self, running);
            match hash {
                Some(hash) => verify_password(&password, &hash),
                None => {
                    verify_password(&password, &DUMMY_HASH);
                    false
                }
            }
        })
        .await
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_run_out_and_come_back() {
        let pool = PasswordPool::new(1, 1);
        let first = pool.admit().unwrap();
        let second = pool.admit().unwrap();
        assert!(pool.admit().is_err(), "one running and one waiting");
        drop(first);
        assert!(pool.admit().is_ok());
        drop(second);
    }

    #[tokio::test]
    async fn checks_verify_the_password() {
        let pool = PasswordPool::new(1, 0);
        let hash = crate::store::users::hash_password("correct horse battery staple");
        let place = pool.admit().unwrap();
        assert!(
            place
                .verify("correct horse battery staple", Some(hash.clone()))
                .await
        );
        assert!(!pool.admit().unwrap().verify("wrong", Some(hash)).await);
        assert!(!pool.admit().unwrap().verify("anything", None).await);
    }
}
