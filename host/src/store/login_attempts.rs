//! `login_attempts`: sign-in throttling per (account, source address).
//!
//! An attempt is counted *before* its password is checked, in the same
//! statement that decides whether it may go ahead: a row's `failures` grows
//! only while its `blocked_until` has passed, so a hundred parallel guesses
//! cannot all slip through between a check and a later record. A successful
//! sign-in takes its own attempt back; every other outcome (a wrong
//! password, a directory that did not answer or was misconfigured, an
//! unknown name) keeps it.
//!
//! After [`LoginPolicy::free_failures`] attempts, each further one blocks
//! the pair for twice as long as the one before, up to a cap. The key is
//! the pair, so guesses from one address never lock an account for the
//! others; a second row per source (account `''`) bounds how many accounts
//! one address may try. Decision 0028 says why.

use std::sync::LazyLock;

use sqlx::Row;

use super::{Store, now_millis};

/// How sign-in attempts are throttled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginPolicy {
    /// Attempts at one account from one source before backoff starts.
    pub free_failures: i64,
    /// Attempts at any account from one source before backoff starts.
    pub free_failures_per_source: i64,
    /// The first block; each further attempt doubles it.
    pub first_backoff_ms: i64,
    /// The longest block.
    pub max_backoff_ms: i64,
    /// A row unused this long starts from zero again.
    pub forget_after_ms: i64,
}

impl Default for LoginPolicy {
    fn default() -> Self {
        Self {
            free_failures: 5,
            free_failures_per_source: 20,
            first_backoff_ms: 30_000,
            max_backoff_ms: 60 * 60 * 1000,
            forget_after_ms: 24 * 60 * 60 * 1000,
        }
    }
}

impl LoginPolicy {
    /// How long the `failures`-th attempt blocks the next ones, when `free`
    /// attempts are free.
    pub fn backoff_ms(&self, failures: i64, free: i64) -> i64 {
        if failures < free {
            return 0;
        }
        let doublings = (failures - free).min(40) as u32;
        self.first_backoff_ms
            .saturating_mul(1_i64 << doublings)
            .min(self.max_backoff_ms)
    }
}

/// Whether an attempt may check its password.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// Counted; go ahead.
    Admitted,
    /// Not counted: blocked for this long still.
    Throttled { retry_after_ms: i64 },
}

/// The row that counts a source's attempts at every account.
const ANY_ACCOUNT: &str = "";

/// The most doublings written out in [`ADMIT`]: past them the cap holds
/// for any sensible policy (30 s doubled 20 times is a year).
const DOUBLINGS: i64 = 20;

/// Counts an attempt unless the row is blocked; returns the new count, or
/// no row when blocked. `$1` account, `$2` source, `$3` now, `$4` forget
/// before, `$5` free attempts, `$6` first backoff, `$7` cap.
static ADMIT: LazyLock<String> = LazyLock::new(|| {
    let n = "(CASE WHEN login_attempts.last_at < $4 THEN 1 ELSE login_attempts.failures + 1 END)";
    // `now + backoff(n)`, written out: no `POWER` on SQLite.
    let mut blocked = format!("CASE WHEN {n} < $5 THEN 0");
    let mut first_blocked = "CASE WHEN 1 < $5 THEN 0".to_owned();
    for doublings in 0..DOUBLINGS {
        let factor = 1_i64 << doublings;
        let term = format!(
            " WHEN {{n}} = $5 + {doublings} THEN $3 + (CASE WHEN $6 * {factor} > $7 THEN $7 ELSE $6 * {factor} END)"
        );
        blocked.push_str(&term.replace("{n}", n));
        first_blocked.push_str(&term.replace("{n}", "1"));
    }
    blocked.push_str(" ELSE $3 + $7 END");
    first_blocked.push_str(" ELSE $3 + $7 END");
    format!(
        "INSERT INTO login_attempts (account, source, failures, blocked_until, last_at) \
         VALUES ($1, $2, 1, {first_blocked}, $3) \
         ON CONFLICT (account, source) DO UPDATE SET \
         failures = {n}, blocked_until = {blocked}, last_at = $3 \
         WHERE login_attempts.blocked_until <= $3 \
         RETURNING failures"
    )
});

impl Store {
    /// Counts a sign-in attempt at `account` (lower-cased) from `source`,
    /// unless that pair or that source is blocked now.
    pub async fn admit_login(
        &self,
        account: &str,
        source: &str,
        policy: &LoginPolicy,
    ) -> Result<Admission, sqlx::Error> {
        let now = now_millis();
        // Most attempts of a flood are blocked: refuse those with a read,
        // without taking the write lock the webhook intake needs.
        if let Some(retry_after_ms) = self.blocked(account, source, now).await? {
            return Ok(Admission::Throttled { retry_after_ms });
        }
        let mut tx = self.begin_write().await?;
        for (row, free) in [
            (account, policy.free_failures),
            (ANY_ACCOUNT, policy.free_failures_per_source),
        ] {
            let counted = sqlx::query(&ADMIT)
                .bind(row)
                .bind(source)
                .bind(now)
                .bind(now - policy.forget_after_ms)
                .bind(free)
                .bind(policy.first_backoff_ms)
                .bind(policy.max_backoff_ms)
                .fetch_optional(&mut *tx)
                .await?;
            if counted.is_none() {
                // Blocked between the read and now: nothing is counted.
                tx.rollback().await?;
                let retry_after_ms = self.blocked(account, source, now).await?.unwrap_or(1_000);
                return Ok(Admission::Throttled { retry_after_ms });
            }
        }
        tx.commit().await?;
        Ok(Admission::Admitted)
    }

    /// How long the pair or the source is blocked still, if it is.
    async fn blocked(
        &self,
        account: &str,
        source: &str,
        now: i64,
    ) -> Result<Option<i64>, sqlx::Error> {
        let until: Option<i64> = sqlx::query(
            "SELECT CAST(MAX(blocked_until) AS BIGINT) FROM login_attempts \
             WHERE source = $1 AND (account = $2 OR account = $3) AND blocked_until > $4",
        )
        .bind(source)
        .bind(account)
        .bind(ANY_ACCOUNT)
        .bind(now)
        .fetch_one(self.pool())
        .await?
        .get(0);
        Ok(until.map(|until| until - now))
    }

    /// A sign-in at `account` from `source` succeeded: the pair starts from
    /// zero, and the source's own count takes this attempt back.
    pub async fn login_succeeded(
        &self,
        account: &str,
        source: &str,
        policy: &LoginPolicy,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM login_attempts WHERE account = $1 AND source = $2")
            .bind(account)
            .bind(source)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE login_attempts SET failures = failures - 1, \
             blocked_until = CASE WHEN failures - 1 < $3 THEN 0 ELSE blocked_until END \
             WHERE account = $1 AND source = $2 AND failures > 0",
        )
        .bind(ANY_ACCOUNT)
        .bind(source)
        .bind(policy.free_failures_per_source)
        .execute(&mut *tx)
        .await?;
        // Rows nobody used for long are forgotten anyway; drop them.
        sqlx::query("DELETE FROM login_attempts WHERE last_at < $1")
            .bind(now_millis() - policy.forget_after_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    /// The attempts counted against a pair, and until when it is blocked
    /// (for tests and the admin's view).
    pub async fn login_attempts(
        &self,
        account: &str,
        source: &str,
    ) -> Result<Option<(i64, i64)>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT failures, blocked_until FROM login_attempts WHERE account = $1 AND source = $2",
        )
        .bind(account)
        .bind(source)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = LoginPolicy::default();
        assert_eq!(policy.backoff_ms(4, 5), 0);
        assert_eq!(policy.backoff_ms(5, 5), 30_000);
        assert_eq!(policy.backoff_ms(6, 5), 60_000);
        assert_eq!(policy.backoff_ms(7, 5), 120_000);
        assert_eq!(policy.backoff_ms(50, 5), policy.max_backoff_ms);
        assert_eq!(policy.backoff_ms(i64::MAX, 5), policy.max_backoff_ms);
    }
}
