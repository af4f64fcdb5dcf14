//! The native half of migration `0007_sealed_webhook_secrets.sql`: SQL
//! cannot seal, so right after that file runs (in its transaction) the
//! migration runner calls [`seal_sqlite`] or [`seal_postgres`], which seal
//! every webhook signing secret stored in plain form before sealing existed
//! — the subscriptions' `secret` and `previous_secret`, and the stored
//! answers of subscription creates and rotations — under the
//! `webhook_secret_key` variable, as the webhooks component would have
//! (`carehub_domain::sealed`).

use crate::error::{Doing, Error, Result};
use carehub_domain::sealed::{IDEMPOTENT_ANSWER, NONCE_LEN, SealingKey, WEBHOOK_SECRET, is_sealed};

/// The migration file after which the runner seals.
pub const MIGRATION: &str = "0007_sealed_webhook_secrets.sql";

/// The stored answers that may carry a secret (subscription creates and
/// rotations answer `"secret":"whsec_…"`), not yet sealed.
const ANSWERS_WITH_SECRETS: &str = "SELECT principal, idempotency_key, body FROM idempotency_records \
     WHERE body LIKE '%\"secret\":\"whsec%' AND body NOT LIKE 'sealed:v1:%'";

/// The `webhook_secret_key` variable as a key.
pub fn key_of(app_vars: &crate::variables::Values) -> Result<SealingKey> {
    app_vars
        .get("webhook_secret_key")
        .and_then(|k| SealingKey::from_hex(k))
        .ok_or(Error::WebhookSecretKey)
}

fn seal(key: &SealingKey, purpose: &str, plain: &str) -> Result<String> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(Error::Randomness)?;
    Ok(key.seal(nonce, purpose, plain))
}

fn seal_opt(key: &SealingKey, value: Option<String>) -> Result<Option<String>> {
    match value {
        Some(v) if !is_sealed(&v) => Ok(Some(seal(key, WEBHOOK_SECRET, &v)?)),
        other => Ok(other),
    }
}

/// Seals the plain secrets of a SQLite database inside the migration's
/// transaction; how many values it sealed.
pub fn seal_sqlite(tx: &rusqlite::Transaction<'_>, key: &SealingKey) -> Result<usize> {
    let doing = || "sealing webhook secrets".to_owned();
    let mut sealed = 0;
    let subscriptions: Vec<(i64, String, Option<String>)> = {
        let mut stmt = tx
            .prepare("SELECT seq, secret, previous_secret FROM webhook_subscriptions")
            .doing(doing)?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .doing(doing)?
            .collect::<rusqlite::Result<_>>()
            .doing(doing)?
    };
    for (seq, secret, previous) in subscriptions {
        if is_sealed(&secret) && previous.as_deref().is_none_or(is_sealed) {
            continue;
        }
        sealed += usize::from(!is_sealed(&secret))
            + usize::from(previous.as_deref().is_some_and(|p| !is_sealed(p)));
        let secret = seal_opt(key, Some(secret))?;
        let previous = seal_opt(key, previous)?;
        tx.execute(
            "UPDATE webhook_subscriptions SET secret = ?1, previous_secret = ?2 WHERE seq = ?3",
            rusqlite::params![secret, previous, seq],
        )
        .doing(doing)?;
    }
    let answers: Vec<(String, String, String)> = {
        let mut stmt = tx.prepare(ANSWERS_WITH_SECRETS).doing(doing)?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .doing(doing)?
            .collect::<rusqlite::Result<_>>()
            .doing(doing)?
    };
    for (principal, idempotency_key, body) in answers {
        tx.execute(
            "UPDATE idempotency_records SET body = ?1 WHERE principal = ?2 AND idempotency_key = ?3",
            rusqlite::params![seal(key, IDEMPOTENT_ANSWER, &body)?, principal, idempotency_key],
        )
        .doing(doing)?;
        sealed += 1;
    }
    Ok(sealed)
}

/// Seals the plain secrets of a PostgreSQL database inside the migration's
/// transaction; how many values it sealed.
pub async fn seal_postgres(tx: &mut sqlx::PgConnection, key: &SealingKey) -> Result<usize> {
    let doing = || "sealing webhook secrets".to_owned();
    let mut sealed = 0;
    let subscriptions: Vec<(i64, String, Option<String>)> =
        sqlx::query_as("SELECT seq, secret, previous_secret FROM webhook_subscriptions")
            .fetch_all(&mut *tx)
            .await
            .doing(doing)?;
    for (seq, secret, previous) in subscriptions {
        if is_sealed(&secret) && previous.as_deref().is_none_or(is_sealed) {
            continue;
        }
        sealed += usize::from(!is_sealed(&secret))
            + usize::from(previous.as_deref().is_some_and(|p| !is_sealed(p)));
        let secret = seal_opt(key, Some(secret))?;
        let previous = seal_opt(key, previous)?;
        sqlx::query(
            "UPDATE webhook_subscriptions SET secret = $1, previous_secret = $2 WHERE seq = $3",
        )
        .bind(secret)
        .bind(previous)
        .bind(seq)
        .execute(&mut *tx)
        .await
        .doing(doing)?;
    }
    let answers: Vec<(String, String, String)> = sqlx::query_as(ANSWERS_WITH_SECRETS)
        .fetch_all(&mut *tx)
        .await
        .doing(doing)?;
    for (principal, idempotency_key, body) in answers {
        sqlx::query(
            "UPDATE idempotency_records SET body = $1 WHERE principal = $2 AND idempotency_key = $3",
        )
        .bind(seal(key, IDEMPOTENT_ANSWER, &body)?)
        .bind(principal)
        .bind(idempotency_key)
        .execute(&mut *tx)
        .await
        .doing(doing)?;
        sealed += 1;
    }
    Ok(sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_secrets_and_answers_are_sealed_once_and_open_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("default.db");
        let before: Vec<(&str, &str)> = crate::migrations::SQLITE
            .iter()
            .copied()
            .filter(|(name, _)| *name < MIGRATION)
            .collect();
        let key = SealingKey::from_hex(&"42".repeat(32)).unwrap();
        crate::host::sqlite::migrate(&path, &before, Some(&key)).unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "INSERT INTO webhook_subscriptions (subscription_id, owner, url, event_types, secret, \
               previous_secret, previous_expires_ms, fanout_seq, created_at) VALUES \
               ('ep_1', 'urn:carehub:portal:p', 'http://h/', 'consent.changed', 'whsec_new', \
                'whsec_old', 5, 0, 't'), \
               ('ep_2', 'urn:carehub:portal:p', 'http://h/', 'consent.changed', 'whsec_two', \
                NULL, NULL, 0, 't'); \
             INSERT INTO idempotency_records VALUES \
               ('urn:carehub:portal:p', 'k1', 'f', 201, NULL, '{\"secret\":\"whsec_new\"}', 't'), \
               ('urn:carehub:portal:p', 'k2', 'f', 201, NULL, '{\"document_id\":\"d\"}', 't');",
        )
        .unwrap();
        drop(conn);
        let applied =
            crate::host::sqlite::migrate(&path, crate::migrations::SQLITE, Some(&key)).unwrap();
        assert!(applied.iter().any(|n| n == MIGRATION), "{applied:?}");
        let conn = rusqlite::Connection::open(&path).unwrap();
        let rows: Vec<(String, Option<String>)> = conn
            .prepare("SELECT secret, previous_secret FROM webhook_subscriptions ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let open = |v: &str| key.open(WEBHOOK_SECRET, v).unwrap();
        assert_eq!(open(&rows[0].0), "whsec_new");
        assert_eq!(open(rows[0].1.as_deref().unwrap()), "whsec_old");
        assert_eq!(open(&rows[1].0), "whsec_two");
        assert_eq!(rows[1].1, None);
        let body = |k: &str| -> String {
            conn.query_row(
                "SELECT body FROM idempotency_records WHERE idempotency_key = ?1",
                [k],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(
            key.open(IDEMPOTENT_ANSWER, &body("k1")).unwrap(),
            "{\"secret\":\"whsec_new\"}"
        );
        // An answer without a secret stays as it was.
        assert_eq!(body("k2"), "{\"document_id\":\"d\"}");
        // From now on a plain secret is refused.
        let err = conn
            .execute(
                "UPDATE webhook_subscriptions SET secret = 'whsec_x' WHERE seq = 1",
                [],
            )
            .unwrap_err();
        assert!(err.to_string().contains("sealed"), "{err}");
    }
}
