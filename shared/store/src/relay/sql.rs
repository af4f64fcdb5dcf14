//! The SQLite statements of [`super::RelayStore`].

use carehub_domain::webhook::{Event, EventFacts};
use carehub_domain::{
    ApplicationId, DocumentId, InsuredNumber, InsurerNumber, PersonRef, Principal,
    SubmissionAnswer, SubmissionId, SubmissionState,
};

use super::{NewSubmission, RelayEvent, RelayStore, SubmissionRecord};
use crate::outbox::OutboxStore;
use crate::sql::SqlStore;
use crate::{Db, RowReader, StoreError, Value};

const COLUMNS: &str = "seq, submission_id, sender, idempotency_key, insurer_number, \
     insured_number, type, application_id, document_id, payload, payload_sha256, state, \
     receipt_number, reason, accepted_at, delivered_at, answered_at";

fn record(row: &[Value]) -> Result<SubmissionRecord, StoreError> {
    let r = RowReader::new(row, "relay_submissions");
    let state = r.parse(11, str::parse::<SubmissionState>)?;
    let answer = match state {
        SubmissionState::Acknowledged => Some(SubmissionAnswer::Acknowledge {
            receipt_number: r.text(12)?.to_owned(),
        }),
        SubmissionState::Rejected => Some(SubmissionAnswer::Reject {
            reason: r.text(13)?.to_owned(),
        }),
        SubmissionState::Accepted | SubmissionState::Delivered => None,
    };
    Ok(SubmissionRecord {
        seq: r.int(0)?,
        submission: NewSubmission {
            submission_id: r.parse(1, SubmissionId::parse)?,
            sender: r.parse(2, Principal::parse_urn)?,
            idempotency_key: r.text(3)?.to_owned(),
            person: PersonRef::new(
                r.parse(4, InsurerNumber::parse)?,
                r.parse(5, InsuredNumber::parse)?,
            ),
            submission_type: r.parse(6, str::parse)?,
            application_id: r
                .opt_text(7)?
                .map(ApplicationId::parse)
                .transpose()
                .map_err(|e| {
                    StoreError::Corrupt(format!("relay_submissions: application_id: {e}"))
                })?,
            document_id: r
                .opt_text(8)?
                .map(DocumentId::parse)
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("relay_submissions: document_id: {e}")))?,
            payload: r.text(9)?.to_owned(),
            payload_sha256: r.text(10)?.to_owned(),
        },
        state,
        answer,
        accepted_at: r.text(14)?.to_owned(),
        delivered_at: r.opt_text(15)?.map(str::to_owned),
        answered_at: r.opt_text(16)?.map(str::to_owned),
    })
}

impl<D: Db> SqlStore<D> {
    fn submissions(
        &self,
        condition: &str,
        params: Vec<Value>,
        tail: &str,
    ) -> Result<Vec<SubmissionRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM relay_submissions WHERE {condition} {tail}");
        let rows = self.db().execute(&sql, params)?;
        rows.rows.iter().map(|row| record(row)).collect()
    }

    fn add_event(
        &self,
        seq: i64,
        state: SubmissionState,
        by: &Principal,
        at: &str,
    ) -> Result<(), StoreError> {
        self.db().execute(
            "INSERT INTO relay_events (submission_seq, event_no, state, by_principal, at) \
             VALUES (?1, (SELECT COALESCE(MAX(event_no), 0) + 1 FROM relay_events \
             WHERE submission_seq = ?1), ?2, ?3, ?4)",
            vec![
                seq.into(),
                state.as_str().into(),
                by.to_urn().into(),
                at.into(),
            ],
        )?;
        // Every state change passes here: its event, in the same
        // transaction (store::outbox).
        let rows = self.db().execute(
            "SELECT submission_id, type, insurer_number, insured_number FROM relay_submissions \
             WHERE seq = ?1",
            vec![seq.into()],
        )?;
        let row = rows
            .rows
            .first()
            .ok_or_else(|| StoreError::Corrupt(format!("relay event of no submission {seq}")))?;
        let r = RowReader::new(row, "relay_submissions");
        self.emit(
            &[Event {
                person: PersonRef::new(
                    r.parse(2, InsurerNumber::parse)?,
                    r.parse(3, InsuredNumber::parse)?,
                ),
                facts: EventFacts::SubmissionStateChanged {
                    submission_id: r.parse(0, SubmissionId::parse)?,
                    submission_type: r.parse(1, str::parse)?,
                    state,
                },
            }],
            at,
        )
    }
}

impl<D: Db> RelayStore for SqlStore<D> {
    fn add_submission(&self, s: &NewSubmission, at: &str) -> Result<SubmissionRecord, StoreError> {
        let rows = self.db().execute(
            "INSERT INTO relay_submissions (submission_id, sender, idempotency_key, recipient, \
             insurer_number, insured_number, type, application_id, document_id, payload, \
             payload_sha256, state, accepted_at) \
             VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'accepted', ?11) RETURNING seq",
            vec![
                s.submission_id.as_str().into(),
                s.sender.to_urn().into(),
                s.idempotency_key.as_str().into(),
                s.person.insurer_number.as_str().into(),
                s.person.insured_number.as_str().into(),
                s.submission_type.as_str().into(),
                s.application_id
                    .as_ref()
                    .map(|a| a.as_str().to_owned())
                    .into(),
                s.document_id.as_ref().map(|d| d.as_str().to_owned()).into(),
                s.payload.as_str().into(),
                s.payload_sha256.as_str().into(),
                at.into(),
            ],
        )?;
        let row = rows
            .rows
            .first()
            .ok_or_else(|| StoreError::Corrupt("submission insert returned no seq".into()))?;
        let seq = RowReader::new(row, "relay_submissions insert").int(0)?;
        self.add_event(seq, SubmissionState::Accepted, &s.sender, at)?;
        Ok(SubmissionRecord {
            seq,
            submission: s.clone(),
            state: SubmissionState::Accepted,
            answer: None,
            accepted_at: at.to_owned(),
            delivered_at: None,
            answered_at: None,
        })
    }

    fn submission(&self, id: &SubmissionId) -> Result<Option<SubmissionRecord>, StoreError> {
        Ok(self
            .submissions("submission_id = ?1", vec![id.as_str().into()], "")?
            .pop())
    }

    fn submission_events(&self, seq: i64) -> Result<Vec<RelayEvent>, StoreError> {
        let rows = self.db().execute(
            "SELECT state, by_principal, at FROM relay_events WHERE submission_seq = ?1 \
             ORDER BY event_no",
            vec![seq.into()],
        )?;
        rows.rows
            .iter()
            .map(|row| {
                let r = RowReader::new(row, "relay_events");
                Ok(RelayEvent {
                    state: r.parse(0, str::parse::<SubmissionState>)?,
                    by: r.parse(1, Principal::parse_urn)?,
                    at: r.text(2)?.to_owned(),
                })
            })
            .collect()
    }

    fn inbox(
        &self,
        recipient: &str,
        after_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SubmissionRecord>, StoreError> {
        self.submissions(
            "recipient = ?1 AND state IN ('accepted', 'delivered') AND seq > ?2",
            vec![
                recipient.into(),
                after_seq.unwrap_or(0).into(),
                i64::from(limit).into(),
            ],
            "ORDER BY seq LIMIT ?3",
        )
    }

    fn sent_submissions(
        &self,
        sender: &Principal,
        person: &PersonRef,
        limit: u32,
    ) -> Result<Vec<SubmissionRecord>, StoreError> {
        // The (sender, idempotency_key) unique index serves the sender prefix.
        self.submissions(
            "sender = ?1 AND insurer_number = ?2 AND insured_number = ?3",
            vec![
                sender.to_urn().into(),
                person.insurer_number.as_str().into(),
                person.insured_number.as_str().into(),
                i64::from(limit).into(),
            ],
            "ORDER BY seq DESC LIMIT ?4",
        )
    }

    fn mark_delivered(&self, seqs: &[i64], by: &Principal, at: &str) -> Result<(), StoreError> {
        for &seq in seqs {
            let updated = self.db().execute(
                "UPDATE relay_submissions SET state = 'delivered', delivered_at = ?2 \
                 WHERE seq = ?1 AND state = 'accepted' RETURNING seq",
                vec![seq.into(), at.into()],
            )?;
            if !updated.rows.is_empty() {
                self.add_event(seq, SubmissionState::Delivered, by, at)?;
            }
        }
        Ok(())
    }

    fn answer_submission(
        &self,
        seq: i64,
        answer: &SubmissionAnswer,
        by: &Principal,
        at: &str,
    ) -> Result<(), StoreError> {
        let (receipt, reason): (Option<String>, Option<String>) = match answer {
            SubmissionAnswer::Acknowledge { receipt_number } => {
                (Some(receipt_number.clone()), None)
            }
            SubmissionAnswer::Reject { reason } => (None, Some(reason.clone())),
        };
        let state = answer.state();
        self.db().execute(
            "UPDATE relay_submissions SET state = ?2, receipt_number = ?3, reason = ?4, \
             answered_at = ?5, answered_by = ?6, delivered_at = COALESCE(delivered_at, ?5) \
             WHERE seq = ?1",
            vec![
                seq.into(),
                state.as_str().into(),
                receipt.into(),
                reason.into(),
                at.into(),
                by.to_urn().into(),
            ],
        )?;
        self.add_event(seq, state, by, at)
    }
}
