//! The access log's verification status as the person's page shows it, in
//! plain words. **The one seam for issue 12**: once the sharded log with
//! signed checkpoints lands, point [`status`] at its checkpoint/proof API;
//! nothing else in this component looks at the log's hashes.
//!
//! Today it checks what the person's own shard of the log allows for the
//! entries shown: each listed entry's stored hash is recomputed over its
//! stored text and the hash of the entry before it in the person's shard
//! (`carehub_domain::chain_hash`), so an altered or reordered entry of this
//! person is detected. A cut-off
//! tail is not detectable without signed checkpoints, and the words say so.
//! Read-only: it never writes the log.

use carehub_domain::{GENESIS_HASH, PersonRef, chain_hash};
use carehub_store::sql::SqlStore;
use carehub_store::{Db, StoreError, Value};

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogStatus {
    /// Every checked entry chains to the row before it.
    Intact {
        /// How many entries were checked.
        checked: usize,
    },
    /// The entry with this log sequence number does not chain.
    Broken {
        /// Its sequence number.
        seq: i64,
    },
}

impl LogStatus {
    /// The status in plain Japanese.
    pub fn words(&self) -> String {
        match self {
            LogStatus::Intact { checked: 0 } => "まだ閲覧の記録はありません。".to_owned(),
            LogStatus::Intact { checked } => format!(
                "表示している{checked}件の記録は、改ざんされていないことを確認しました（各記録が直前の記録のハッシュでつながっています）。記録の末尾が削除されていないことの署名付き確認には、まだ対応していません。"
            ),
            LogStatus::Broken { seq } => format!(
                "記録番号{seq}の記録が、直前の記録とつながっていません。記録が改ざんされたおそれがあります。市町村の窓口にお問い合わせください。"
            ),
        }
    }
}

/// Checks the newest `limit` entries about `person`.
pub fn status<D: Db>(
    store: &SqlStore<D>,
    person: &PersonRef,
    limit: u32,
) -> Result<LogStatus, StoreError> {
    let rows = store.log_db().execute(
        "SELECT a.seq, a.entry, a.hash, \
         (SELECT p.hash FROM log_entries p WHERE p.shard = a.shard AND p.shard_seq = a.shard_seq - 1) \
         FROM log_entries a WHERE a.insurer_number = ?1 AND a.insured_number = ?2 \
         ORDER BY a.seq DESC LIMIT ?3",
        vec![
            person.insurer_number.as_str().into(),
            person.insured_number.as_str().into(),
            i64::from(limit).into(),
        ],
    )?;
    let mut checked = 0;
    for row in &rows.rows {
        let (Some(Value::Integer(seq)), Some(Value::Text(entry)), Some(Value::Text(hash))) =
            (row.first(), row.get(1), row.get(2))
        else {
            return Err(StoreError::Corrupt(
                "log_entries: unexpected columns".into(),
            ));
        };
        let prev = match row.get(3) {
            Some(Value::Text(p)) => p.as_str(),
            _ => GENESIS_HASH,
        };
        if chain_hash(prev, entry) != *hash {
            return Ok(LogStatus::Broken { seq: *seq });
        }
        checked += 1;
    }
    Ok(LogStatus::Intact { checked })
}

#[cfg(test)]
mod tests {
    use super::*;
    use carehub_domain::{AccessLogEntry, InsuredNumber, InsurerNumber, Principal};
    use carehub_store::log_access;
    use carehub_store::native::NativeDb;

    fn person(insured: &str) -> PersonRef {
        PersonRef::new(
            InsurerNumber::parse("131016").unwrap(),
            InsuredNumber::parse(insured).unwrap(),
        )
    }

    fn read_of(p: &PersonRef, i: usize) -> AccessLogEntry {
        AccessLogEntry::listing(
            format!("2026-01-05T09:00:{i:02}Z"),
            Principal::parse_urn("urn:carehub:care-manager:1371234567").unwrap(),
            p.clone(),
        )
    }

    #[test]
    fn the_persons_entries_chain_across_other_persons_rows_and_a_change_is_found() {
        let s = SqlStore::new(NativeDb::migrated());
        let (a, b) = (person("0000012345"), person("0000054321"));
        assert_eq!(
            status(&s, &a, 100).unwrap(),
            LogStatus::Intact { checked: 0 }
        );
        // Interleaved: each person's entries chain in the person's own shard.
        for i in 0..3 {
            log_access(&s, &[read_of(&a, i)]).unwrap();
            log_access(&s, &[read_of(&b, i)]).unwrap();
        }
        assert_eq!(
            status(&s, &a, 100).unwrap(),
            LogStatus::Intact { checked: 3 }
        );
        assert_eq!(status(&s, &b, 2).unwrap(), LogStatus::Intact { checked: 2 });
        assert!(status(&s, &a, 100).unwrap().words().contains("3件"));

        // Someone with write access to the database alters a's second entry.
        let conn = &s.db().0;
        conn.execute_batch("DROP TRIGGER log_entries_are_append_only_update")
            .unwrap();
        conn.execute(
            "UPDATE log_entries SET entry = replace(entry, 'allowed', 'denied') WHERE seq = 3",
            [],
        )
        .unwrap();
        assert_eq!(status(&s, &a, 100).unwrap(), LogStatus::Broken { seq: 3 });
        assert!(status(&s, &a, 100).unwrap().words().contains("改ざん"));
        // b's entries are untouched.
        assert_eq!(
            status(&s, &b, 100).unwrap(),
            LogStatus::Intact { checked: 3 }
        );
    }
}
