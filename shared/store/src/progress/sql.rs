//! The SQLite statements of [`super::ProgressStore`].

use carehub_domain::webhook::{Event, EventFacts};
use carehub_domain::{ApplicationId, InsuredNumber, InsurerNumber, PersonRef, Principal, Stage};

use super::{ApplicationRecord, NewApplication, ProgressStore, StepRecord};
use crate::outbox::OutboxStore;
use crate::sql::SqlStore;
use crate::{Db, RowReader, StoreError, Value};

const COLUMNS: &str = "seq, application_id, insurer_number, insured_number, application_type, \
     details, stage, step_count, created_by, created_at, updated_at";

fn record(row: &[Value]) -> Result<ApplicationRecord, StoreError> {
    let r = RowReader::new(row, "certification_applications");
    Ok(ApplicationRecord {
        seq: r.int(0)?,
        application: NewApplication {
            application_id: r.parse(1, ApplicationId::parse)?,
            person: PersonRef::new(
                r.parse(2, InsurerNumber::parse)?,
                r.parse(3, InsuredNumber::parse)?,
            ),
            application_type: r.parse(4, str::parse)?,
            details: r.text(5)?.to_owned(),
            created_by: r.parse(8, Principal::parse_urn)?,
        },
        stage: r.parse(6, str::parse::<Stage>)?,
        step_count: r.int(7)?,
        created_at: r.text(9)?.to_owned(),
        updated_at: r.text(10)?.to_owned(),
    })
}

impl<D: Db> SqlStore<D> {
    fn applications(
        &self,
        condition: &str,
        params: Vec<Value>,
        tail: &str,
    ) -> Result<Vec<ApplicationRecord>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM certification_applications WHERE {condition} {tail}");
        let rows = self.db().execute(&sql, params)?;
        rows.rows.iter().map(|row| record(row)).collect()
    }
}

/// The application's event, in the transaction that moved it (store::outbox).
fn emit_progress<D: Db>(
    store: &SqlStore<D>,
    a: &NewApplication,
    stage: Stage,
    at: &str,
) -> Result<(), StoreError> {
    store.emit(
        &[Event {
            person: a.person.clone(),
            facts: EventFacts::ProgressChanged {
                application_id: a.application_id.clone(),
                stage,
            },
        }],
        at,
    )
}

impl<D: Db> ProgressStore for SqlStore<D> {
    fn add_application(
        &self,
        a: &NewApplication,
        at: &str,
    ) -> Result<ApplicationRecord, StoreError> {
        let rows = self.db().execute(
            "INSERT INTO certification_applications (application_id, insurer_number, \
             insured_number, application_type, details, stage, open, step_count, created_by, \
             created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 'received', 1, 0, ?6, ?7, ?7) \
             RETURNING seq",
            vec![
                a.application_id.as_str().into(),
                a.person.insurer_number.as_str().into(),
                a.person.insured_number.as_str().into(),
                a.application_type.as_str().into(),
                a.details.as_str().into(),
                a.created_by.to_urn().into(),
                at.into(),
            ],
        )?;
        let row = rows
            .rows
            .first()
            .ok_or_else(|| StoreError::Corrupt("application insert returned no seq".into()))?;
        emit_progress(self, a, Stage::Received, at)?;
        Ok(ApplicationRecord {
            seq: RowReader::new(row, "certification_applications insert").int(0)?,
            application: a.clone(),
            stage: Stage::Received,
            step_count: 0,
            created_at: at.to_owned(),
            updated_at: at.to_owned(),
        })
    }

    fn application(&self, id: &ApplicationId) -> Result<Option<ApplicationRecord>, StoreError> {
        Ok(self
            .applications("application_id = ?1", vec![id.as_str().into()], "")?
            .pop())
    }

    fn application_steps(&self, seq: i64) -> Result<Vec<StepRecord>, StoreError> {
        let rows = self.db().execute(
            "SELECT step_no, step, details, recorded_by, recorded_at FROM certification_steps \
             WHERE application_seq = ?1 ORDER BY step_no",
            vec![seq.into()],
        )?;
        rows.rows
            .iter()
            .map(|row| {
                let r = RowReader::new(row, "certification_steps");
                Ok(StepRecord {
                    step_no: r.int(0)?,
                    step: r.parse(1, str::parse::<Stage>)?,
                    details: r.text(2)?.to_owned(),
                    recorded_by: r.parse(3, Principal::parse_urn)?,
                    recorded_at: r.text(4)?.to_owned(),
                })
            })
            .collect()
    }

    fn append_step(
        &self,
        a: &ApplicationRecord,
        step: Stage,
        details: &str,
        recorded_by: &Principal,
        at: &str,
    ) -> Result<(), StoreError> {
        let step_no = a.step_count + 1;
        let updated = self.db().execute(
            "UPDATE certification_applications SET stage = ?1, open = ?2, step_count = ?3, \
             updated_at = ?4 WHERE seq = ?5 AND step_count = ?6 RETURNING seq",
            vec![
                step.as_str().into(),
                i64::from(step.is_open()).into(),
                step_no.into(),
                at.into(),
                a.seq.into(),
                a.step_count.into(),
            ],
        )?;
        if updated.rows.is_empty() {
            return Err(StoreError::Corrupt(format!(
                "application {} moved since it was read",
                a.seq
            )));
        }
        self.db().execute(
            "INSERT INTO certification_steps (application_seq, step_no, step, details, \
             recorded_by, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            vec![
                a.seq.into(),
                step_no.into(),
                step.as_str().into(),
                details.into(),
                recorded_by.to_urn().into(),
                at.into(),
            ],
        )?;
        emit_progress(self, &a.application, step, at)
    }

    fn person_applications(
        &self,
        person: &PersonRef,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ApplicationRecord>, StoreError> {
        self.applications(
            "insurer_number = ?1 AND insured_number = ?2 AND seq < ?3",
            vec![
                person.insurer_number.as_str().into(),
                person.insured_number.as_str().into(),
                before_seq.unwrap_or(i64::MAX).into(),
                i64::from(limit).into(),
            ],
            "ORDER BY seq DESC LIMIT ?4",
        )
    }

    fn open_applications(
        &self,
        insurer_number: &str,
        stage: Option<Stage>,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ApplicationRecord>, StoreError> {
        let mut params: Vec<Value> = vec![
            insurer_number.into(),
            before_seq.unwrap_or(i64::MAX).into(),
            i64::from(limit).into(),
        ];
        let condition = match stage {
            Some(s) => {
                params.push(s.as_str().into());
                "insurer_number = ?1 AND open = 1 AND seq < ?2 AND stage = ?4"
            }
            None => "insurer_number = ?1 AND open = 1 AND seq < ?2",
        };
        self.applications(condition, params, "ORDER BY seq DESC LIMIT ?3")
    }
}
