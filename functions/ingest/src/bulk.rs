//! `POST /documents:bulk`, processed as the body streams in.
//!
//! Lines are checked in pure code as they arrive; the good ones are written
//! with a few multi-row statements per 256 documents, all in ONE transaction
//! (`BEGIN IMMEDIATE` before the first write, `COMMIT` after the last line),
//! so the bulk is stored whole or not at all and no line is committed on its
//! own. Bodies up to 24 MiB are checked whole before the write lock
//! is taken; a larger body (up to 64 MiB) is written in batches, because it
//! cannot be held whole, checked and answered inside a component's memory
//! cap.
//!
//! Every non-empty input line gets one result line, in order:
//! `{"line": n, "status": 201|200, …answer fields…}` or
//! `{"line": n, "status": 4xx, "problem": {…}}`. A bad line refuses only
//! itself.
//!
//! An office writes only about persons it is registered for: each distinct
//! person's registration is looked up once, inside the transaction, before
//! the first line about them is written (`handler::registration_permission`);
//! a line about a person the office is not registered for is refused with
//! 403 `office-not-registered`. The verdicts are kept for the rest of the
//! bulk: the transaction holds the write lock from the first batch to the
//! commit, so no registration can change in between.
//!
//! Idempotency is per line (`"idempotency_key"`), with the line's bytes as
//! the fingerprint: a key stored by an earlier request replays its answer; a
//! key reused with other bytes is 409; a key repeated inside the body
//! answers like its first (successful) line.

use std::collections::HashMap;

use carehub_domain::policy::ingest::write_needs_registration;
use carehub_domain::{PersonRef, Principal, Problem, ProblemType, fingerprint};
use carehub_guest::body::parse_json_value;
use carehub_guest::http::{NDJSON, Reply};
use carehub_guest::problem::{INTERNAL_DETAIL, internal};
use carehub_store::{IdempotencyRecord, LockKey, NewVersion, RegistrationStore, StoreError};

use crate::envelope::{self, Format};
use crate::handler::{
    Answer, BULK_MAX_LINES, answer, key_reused, prepare, registration_permission,
};

/// Input bytes checked before they are written. A body up to this size is
/// checked whole before the write lock is taken, so concurrent bulks check
/// in parallel and serialize only on their writes; a larger body is written
/// in batches of this size (holding the lock from the first batch on), which
/// bounds the memory a bulk needs well inside a component's cap.
const BATCH_BYTES: usize = 24 << 20;
/// The path that goes into a line's fingerprint.
const FINGERPRINT_PATH: &[u8] = b"/documents:bulk";

/// What became of one line.
enum Outcome {
    /// Refused with this problem.
    Refused(Problem),
    /// Checked; to be written with the batch.
    Write(NewVersion),
    /// Answered (written, or replayed from a stored record).
    Done(Answer),
    /// A repeat of the line that first used this key in the body.
    SameAs(String),
}

struct Line {
    number: usize,
    key: Option<String>,
    fingerprint: String,
    outcome: Outcome,
}

/// The first successful line of the body that used a key.
struct Claim {
    fingerprint: String,
    answer: Option<Answer>,
}

/// Checks one line in pure code.
fn check_line(principal: &Principal, number: usize, raw: &[u8]) -> Line {
    let mut line = Line {
        number,
        key: None,
        fingerprint: String::new(),
        outcome: Outcome::Refused(Problem::new(ProblemType::Internal, INTERNAL_DETAIL)),
    };
    line.outcome = match parse_json_value(raw) {
        Err(detail) => Outcome::Refused(Problem::new(ProblemType::MalformedJson, detail)),
        Ok(value) => match envelope::bulk_idempotency_key(&value) {
            Err(problem) => Outcome::Refused(problem),
            Ok(key) => {
                if let Some(key) = key {
                    line.fingerprint = fingerprint(&[b"POST", FINGERPRINT_PATH, raw]);
                    line.key = Some(key.into_string());
                }
                match envelope::parse(value, Format::BulkLine).and_then(|e| prepare(principal, e)) {
                    Ok(item) => Outcome::Write(item),
                    Err(problem) => Outcome::Refused(problem),
                }
            }
        },
    };
    line
}

/// A bulk ingest in progress. Feed it lines with [`Bulk::push`], then call
/// [`Bulk::finish`]. Dropped unfinished, it rolls its transaction back.
pub struct Bulk<'a, S: RegistrationStore + ?Sized> {
    store: &'a S,
    principal: &'a Principal,
    now: &'a str,
    lines: usize,
    pending: Vec<Line>,
    pending_bytes: usize,
    in_transaction: bool,
    claims: HashMap<String, Claim>,
    /// The registration verdict for each person looked up in this bulk.
    registrations: HashMap<PersonRef, Result<(), Problem>>,
    out: Vec<Vec<u8>>,
    batch_bytes: usize,
}

impl<'a, S: RegistrationStore + ?Sized> Bulk<'a, S> {
    /// Starts a bulk ingest by `principal` at `now` (RFC 3339 UTC).
    pub fn new(store: &'a S, principal: &'a Principal, now: &'a str) -> Self {
        Bulk {
            store,
            principal,
            now,
            lines: 0,
            pending: Vec::new(),
            pending_bytes: 0,
            in_transaction: false,
            claims: HashMap::new(),
            registrations: HashMap::new(),
            out: Vec::new(),
            batch_bytes: BATCH_BYTES,
        }
    }

    /// Uses smaller batches (tests of the batched path).
    #[cfg(test)]
    pub(crate) fn with_batch_bytes(mut self, bytes: usize) -> Self {
        self.batch_bytes = bytes;
        self
    }

    /// Adds input line `number` (1-based, counting empty lines). `Err` is
    /// the answer to the whole request (413 for too many lines, 500 for a
    /// store failure); the transaction is then rolled back.
    pub fn push(&mut self, number: usize, raw: &[u8]) -> Result<(), Reply> {
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        if self.lines == BULK_MAX_LINES {
            self.abort();
            return Err(Reply::problem_of(
                ProblemType::PayloadTooLarge,
                format!("A bulk body may hold at most {BULK_MAX_LINES} documents."),
            ));
        }
        self.lines += 1;
        self.pending_bytes += raw.len();
        self.pending.push(check_line(self.principal, number, raw));
        if self.pending_bytes >= self.batch_bytes {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes what is pending, commits, and returns the NDJSON answer.
    pub fn finish(mut self) -> Reply {
        if let Err(reply) = self.flush() {
            return reply;
        }
        if self.in_transaction {
            self.in_transaction = false;
            if let Err(e) = self.store.commit() {
                if let Err(r) = self.store.rollback() {
                    eprintln!("carehub: bulk rollback after failed commit failed: {r}");
                }
                return internal("bulk ingest commit", &e);
            }
        }
        let mut reply = Reply::bytes(200, NDJSON, Vec::new());
        reply.body_parts = std::mem::take(&mut self.out);
        reply
    }

    /// Rolls back whatever was written.
    pub fn abort(&mut self) {
        if self.in_transaction {
            self.in_transaction = false;
            if let Err(e) = self.store.rollback() {
                eprintln!("carehub: bulk rollback failed: {e}");
            }
        }
    }

    fn flush(&mut self) -> Result<(), Reply> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut lines = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        if let Err(e) = self.write(&mut lines) {
            self.abort();
            return Err(internal("bulk ingest write", &e));
        }
        let mut part = String::with_capacity(lines.len() * 400);
        for line in &lines {
            let outcome = match &line.outcome {
                Outcome::SameAs(key) => self
                    .claims
                    .get(key)
                    .and_then(|c| c.answer.clone())
                    .map(Outcome::Done),
                _ => None,
            };
            write_result_line(
                &mut part,
                line.number,
                outcome.as_ref().unwrap_or(&line.outcome),
            );
        }
        self.out.push(part.into_bytes());
        Ok(())
    }

    /// Resolves keys and writes the batch's good lines; store errors only.
    fn write(&mut self, lines: &mut [Line]) -> Result<(), StoreError> {
        let needs_store = lines
            .iter()
            .any(|l| l.key.is_some() || matches!(l.outcome, Outcome::Write(_)));
        if !needs_store {
            return Ok(());
        }
        if !self.in_transaction {
            self.store.begin_write()?;
            self.in_transaction = true;
        }
        // Lock what this batch touches: its persons and its keys. A lock
        // taken by an earlier batch is held already; a concurrent bulk of
        // the same persons in another order may deadlock, which PostgreSQL
        // breaks by failing one of the two (a 500 the caller retries).
        let mut locks = Vec::new();
        for line in lines.iter() {
            if let Outcome::Write(item) = &line.outcome {
                locks.push(LockKey::Person(item.person.clone()));
            }
            if let Some(key) = &line.key {
                locks.push(LockKey::Idempotency(self.principal.clone(), key.clone()));
            }
        }
        self.store.lock(&locks)?;
        // Before the keys: a refused line claims no key, and a line whose
        // key has a stored answer still replays it.
        self.check_registrations(lines)?;
        self.resolve_keys(lines)?;

        let mut items = Vec::new();
        let mut owners = Vec::new();
        for (i, line) in lines.iter_mut().enumerate() {
            if matches!(line.outcome, Outcome::Write(_)) {
                let Outcome::Write(item) =
                    std::mem::replace(&mut line.outcome, Outcome::SameAs(String::new()))
                else {
                    unreachable!("matched Write above");
                };
                items.push(item);
                owners.push(i);
            }
        }
        let written = self.store.write_versions(&items, self.now)?;
        let mut records = Vec::new();
        for ((item, w), &i) in items.iter().zip(&written).zip(&owners) {
            let a = answer(item, w);
            let line = &mut lines[i];
            if let Some(key) = &line.key {
                records.push(IdempotencyRecord {
                    key: key.clone(),
                    fingerprint: line.fingerprint.clone(),
                    status: a.status,
                    location: a.location.clone(),
                    body: a.body.clone(),
                });
                if let Some(claim) = self.claims.get_mut(key) {
                    claim.answer = Some(a.clone());
                }
            }
            line.outcome = Outcome::Done(a);
        }
        self.store
            .put_idempotency(self.principal, &records, self.now)
    }

    /// Refuses the batch's lines about persons the office is not registered
    /// for, looking each distinct person up once per bulk (in the
    /// transaction). Roles that do not register skip this.
    fn check_registrations(&mut self, lines: &mut [Line]) -> Result<(), StoreError> {
        if !write_needs_registration(self.principal) {
            return Ok(());
        }
        for line in lines.iter_mut() {
            let Outcome::Write(item) = &line.outcome else {
                continue;
            };
            let verdict = match self.registrations.get(&item.person) {
                Some(verdict) => verdict.clone(),
                None => {
                    let verdict = registration_permission(
                        self.store,
                        self.principal,
                        &item.person,
                        self.now,
                    )?;
                    self.registrations
                        .insert(item.person.clone(), verdict.clone());
                    verdict
                }
            };
            if let Err(problem) = verdict {
                line.outcome = Outcome::Refused(problem);
            }
        }
        Ok(())
    }

    /// Applies stored records and earlier lines' keys to this batch's keyed
    /// lines, in order.
    fn resolve_keys(&mut self, lines: &mut [Line]) -> Result<(), StoreError> {
        let mut unknown: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.key.as_deref())
            .filter(|k| !self.claims.contains_key(*k))
            .collect();
        unknown.sort_unstable();
        unknown.dedup();
        if unknown.is_empty() && !lines.iter().any(|l| l.key.is_some()) {
            return Ok(());
        }
        let stored: HashMap<String, IdempotencyRecord> = if unknown.is_empty() {
            HashMap::new()
        } else {
            self.store
                .find_idempotency(self.principal, &unknown)?
                .into_iter()
                .map(|r| (r.key.clone(), r))
                .collect()
        };
        for line in lines.iter_mut() {
            let Some(key) = &line.key else { continue };
            if let Some(claim) = self.claims.get(key) {
                line.outcome = if claim.fingerprint == line.fingerprint {
                    Outcome::SameAs(key.clone())
                } else {
                    Outcome::Refused(key_reused())
                };
            } else if let Some(rec) = stored.get(key) {
                line.outcome = if rec.fingerprint == line.fingerprint {
                    Outcome::Done(Answer {
                        status: rec.status,
                        location: rec.location.clone(),
                        body: rec.body.clone(),
                    })
                } else {
                    Outcome::Refused(key_reused())
                };
            } else if matches!(line.outcome, Outcome::Write(_)) {
                // Only a line that will be stored claims its key; a refused
                // line records nothing and leaves the key free.
                self.claims.insert(
                    key.clone(),
                    Claim {
                        fingerprint: line.fingerprint.clone(),
                        answer: None,
                    },
                );
            }
        }
        Ok(())
    }
}

impl<S: RegistrationStore + ?Sized> Drop for Bulk<'_, S> {
    fn drop(&mut self) {
        self.abort();
    }
}

fn write_result_line(out: &mut String, number: usize, outcome: &Outcome) {
    use std::fmt::Write as _;
    match outcome {
        Outcome::Done(a) => {
            let _ = write!(out, "{{\"line\":{number},\"status\":{}", a.status);
            // The answer body is a non-empty JSON object: splice its members.
            match a.body.strip_prefix('{') {
                Some(rest) if rest.len() > 1 => {
                    out.push(',');
                    out.push_str(rest);
                }
                _ => out.push('}'),
            }
        }
        Outcome::Refused(problem) => {
            let line = serde_json::json!({
                "line": number,
                "status": problem.status(),
                "problem": problem.to_json(),
            });
            out.push_str(&line.to_string());
        }
        Outcome::Write(_) | Outcome::SameAs(_) => {
            // Not reachable after a flush; answer generically, never panic.
            let p = Problem::new(ProblemType::Internal, INTERNAL_DETAIL);
            let line = serde_json::json!({"line": number, "status": 500, "problem": p.to_json()});
            out.push_str(&line.to_string());
        }
    }
    out.push('\n');
}

/// Splits a streamed body into lines, keeping their 1-based numbers; a line
/// may span chunks. A trailing `\r` is dropped.
#[derive(Debug, Default)]
pub struct LineSplitter {
    carry: Vec<u8>,
    number: usize,
}

impl LineSplitter {
    /// A splitter at the start of a body.
    pub fn new() -> Self {
        LineSplitter::default()
    }

    /// Feeds a chunk, calling `f` for each line it completes.
    pub fn feed<E>(
        &mut self,
        mut chunk: &[u8],
        mut f: impl FnMut(usize, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        while let Some(pos) = chunk.iter().position(|&b| b == b'\n') {
            self.number += 1;
            if self.carry.is_empty() {
                f(self.number, strip_cr(&chunk[..pos]))?;
            } else {
                self.carry.extend_from_slice(&chunk[..pos]);
                let line = std::mem::take(&mut self.carry);
                f(self.number, strip_cr(&line))?;
            }
            chunk = &chunk[pos + 1..];
        }
        self.carry.extend_from_slice(chunk);
        Ok(())
    }

    /// Ends the body: the last line, if it had no newline.
    pub fn finish<E>(mut self, mut f: impl FnMut(usize, &[u8]) -> Result<(), E>) -> Result<(), E> {
        if self.carry.is_empty() {
            return Ok(());
        }
        self.number += 1;
        let line = std::mem::take(&mut self.carry);
        f(self.number, strip_cr(&line))
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The whole bulk operation over a body already in memory (tests, and any
/// caller that has the body whole).
pub fn bulk<S: RegistrationStore + ?Sized>(
    store: &S,
    principal: &Principal,
    body: &[u8],
    now: &str,
) -> Reply {
    let mut run = Bulk::new(store, principal, now);
    let mut splitter = LineSplitter::new();
    let fed = splitter
        .feed(body, |n, line| run.push(n, line))
        .and_then(|()| splitter.finish(|n, line| run.push(n, line)));
    match fed {
        Ok(()) => run.finish(),
        Err(reply) => reply,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_in_chunks(body: &[u8], size: usize) -> Vec<(usize, Vec<u8>)> {
        let mut got = Vec::new();
        let mut s = LineSplitter::new();
        for chunk in body.chunks(size) {
            s.feed::<()>(chunk, |n, l| {
                got.push((n, l.to_vec()));
                Ok(())
            })
            .unwrap();
        }
        s.finish::<()>(|n, l| {
            got.push((n, l.to_vec()));
            Ok(())
        })
        .unwrap();
        got
    }

    #[test]
    fn lines_survive_any_chunking() {
        let body = b"{\"a\":1}\r\n\n{\"b\":22}\n  \n{\"c\":333}";
        let whole = split_in_chunks(body, body.len());
        assert_eq!(
            whole,
            [
                (1, b"{\"a\":1}".to_vec()),
                (2, b"".to_vec()),
                (3, b"{\"b\":22}".to_vec()),
                (4, b"  ".to_vec()),
                (5, b"{\"c\":333}".to_vec())
            ]
        );
        for size in 1..body.len() {
            assert_eq!(split_in_chunks(body, size), whole, "chunk size {size}");
        }
        assert!(split_in_chunks(b"", 4).is_empty());
        assert_eq!(split_in_chunks(b"x\n", 1), [(1, b"x".to_vec())]);
    }
}
