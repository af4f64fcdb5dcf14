//! `Idempotency-Key` on writes: the same principal sending the same key with
//! the same method, path and body gets the stored answer again; the same key
//! with another request is refused with 409 `idempotency-key-reused`. Only
//! successful writes are recorded, in the transaction of the write itself.
//!
//! Records expire after the `idempotency_retention_secs` variable (default
//! [`DEFAULT_RETENTION_SECS`], 7 days; Stripe keeps keys 24 hours): an
//! expired key answers as new. The store applies it
//! (`SqlStore::with_idempotency_valid_from`, set by `wasm::open_store`) and
//! the purge job deletes expired records (`carehub_store::retention`).

use carehub_domain::{IdempotencyKey, Principal, Problem, ProblemType, fingerprint};
use serde::Serialize;

use crate::http::{JSON, Reply, RequestHead};
use crate::problem::internal;
use carehub_store::{DocumentStore, IdempotencyRecord, LockKey, StoreError, in_transaction};

/// How long an idempotency record answers, by default: 7 days.
pub const DEFAULT_RETENTION_SECS: u64 = 7 * 24 * 60 * 60;

/// The variable that overrides [`DEFAULT_RETENTION_SECS`] (whole seconds).
pub const RETENTION_VARIABLE: &str = "idempotency_retention_secs";

/// The oldest `created_at` (RFC 3339) of a record that still answers at
/// `now`, given the retention in seconds.
pub fn valid_from(now: std::time::SystemTime, retention_secs: u64) -> String {
    let from = now
        .checked_sub(std::time::Duration::from_secs(retention_secs))
        .unwrap_or(std::time::UNIX_EPOCH);
    crate::clock::rfc3339(from)
}

/// A retention variable's value in whole seconds: `default` when unset or
/// empty, `Err` naming the variable when it is not a number.
pub fn retention_secs(name: &str, value: Option<&str>, default: u64) -> Result<u64, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| format!("{name} is not a whole number of seconds")),
    }
}

/// The `Idempotency-Key` header, parsed; 400 `invalid-idempotency-key` when
/// malformed or repeated. `None` when absent (the key is optional).
pub fn key(head: &RequestHead) -> Result<Option<IdempotencyKey>, Reply> {
    let bad = |detail: String| Reply::problem_of(ProblemType::InvalidIdempotencyKey, detail);
    match head.single_header("idempotency-key") {
        Ok(None) => Ok(None),
        Ok(Some(v)) => IdempotencyKey::parse(v)
            .map(Some)
            .map_err(|e| bad(format!("Idempotency-Key: {}", e.reason()))),
        Err(()) => Err(bad("Idempotency-Key must be sent once, as ASCII.".into())),
    }
}

/// The 409 for a key used before with another request.
pub fn key_reused() -> Problem {
    Problem::new(
        ProblemType::IdempotencyKeyReused,
        "This Idempotency-Key was used before with a different request.",
    )
}

/// A successful write's answer, as sent and as stored for replays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status (2xx).
    pub status: u16,
    /// `Location`, if any.
    pub location: Option<String>,
    /// The JSON body.
    pub body: String,
}

impl Answer {
    /// An answer with a JSON body.
    pub fn json(status: u16, location: Option<String>, body: &impl Serialize) -> Answer {
        Answer {
            status,
            location,
            body: serde_json::to_string(body).expect("answers are plain JSON data"),
        }
    }

    /// The reply.
    pub fn reply(&self) -> Reply {
        let mut r = Reply::bytes(self.status, JSON, self.body.clone().into_bytes());
        if let Some(l) = &self.location {
            r = r.with_header("location", l.clone());
        }
        r
    }
}

/// The reply to a repeated request: the stored answer, marked as a replay.
pub fn replay(record: &IdempotencyRecord) -> Reply {
    Answer {
        status: record.status,
        location: record.location.clone(),
        body: record.body.clone(),
    }
    .reply()
    .with_header("idempotent-replayed", "true")
}

enum Failure {
    Store(StoreError),
    Reply(Reply),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

/// One write request as [`write_once`] needs it: who writes, the request
/// (method and path-info make its fingerprint with the body), the
/// `Idempotency-Key` if one was sent, the body as received and the time.
#[derive(Debug, Clone, Copy)]
pub struct WriteRequest<'a> {
    /// The writer; keys are per principal.
    pub principal: &'a Principal,
    /// The request head.
    pub head: &'a RequestHead,
    /// The parsed `Idempotency-Key`, if any ([`key`]).
    pub key: Option<&'a IdempotencyKey>,
    /// The body as received.
    pub body: &'a [u8],
    /// Now, RFC 3339 UTC: when the record is stored.
    pub now: &'a str,
}

impl<'a> WriteRequest<'a> {
    /// The request of `principal`, as [`WriteRequest`]'s fields say.
    pub fn new(
        principal: &'a Principal,
        head: &'a RequestHead,
        key: Option<&'a IdempotencyKey>,
        body: &'a [u8],
        now: &'a str,
    ) -> Self {
        WriteRequest {
            principal,
            head,
            key,
            body,
            now,
        }
    }
}

/// How the stored answers of a write are kept at rest when they carry a
/// secret (a webhook subscription's signing secret): `seal` turns an
/// answer's body into what the record stores, `open` turns a stored body
/// back. A stored body that `open` refuses is an internal error (500).
pub struct AnswerSeal<'a> {
    /// The body to store for an answer.
    pub seal: &'a dyn Fn(&str) -> Result<String, String>,
    /// The answer's body from a stored one.
    pub open: &'a dyn Fn(&str) -> Result<String, String>,
}

/// Runs one idempotent write.
///
/// 1. A key seen before is answered from its record (or refused when the
///    request differs) before anything else.
/// 2. `prepare` parses and checks the request (its `Err` is the answer).
/// 3. In one write transaction that locks the key (only the key: `write`
///    locks what it touches with `DocumentStore::lock` first thing, so
///    requests about different persons never wait for each other): the
///    key is looked up again (a concurrent twin may have won, and holding
///    the key's lock it has committed), `write` runs — its `Ok(Err(reply))` refuses
///    (409 on a state conflict, 403 on a registration it finds ended, …) and
///    rolls back — and the answer is stored under the key.
///
/// The request's body, with its method and path-info, makes its
/// fingerprint. `context` names the write in the log of an internal error.
pub fn write_once<S, P>(
    store: &S,
    req: &WriteRequest<'_>,
    context: &str,
    prepare: impl FnOnce() -> Result<P, Reply>,
    write: impl FnOnce(&S, P) -> Result<Result<Answer, Reply>, StoreError>,
) -> Reply
where
    S: DocumentStore + ?Sized,
{
    write_once_sealed(store, req, context, None, prepare, write)
}

/// [`write_once`], the stored answer kept at rest as `seal` says (when
/// given): sealed when stored, opened when replayed.
pub fn write_once_sealed<S, P>(
    store: &S,
    req: &WriteRequest<'_>,
    context: &str,
    seal: Option<&AnswerSeal<'_>>,
    prepare: impl FnOnce() -> Result<P, Reply>,
    write: impl FnOnce(&S, P) -> Result<Result<Answer, Reply>, StoreError>,
) -> Reply
where
    S: DocumentStore + ?Sized,
{
    let WriteRequest {
        principal,
        head,
        key,
        body,
        now,
    } = *req;
    let fp = key.map(|_| fingerprint(&[head.method.as_bytes(), head.path_info.as_bytes(), body]));
    let lookup = |s: &S| -> Result<Option<Reply>, StoreError> {
        let (Some(key), Some(fp)) = (key, &fp) else {
            return Ok(None);
        };
        Ok(s.find_idempotency(principal, &[key.as_str()])?
            .pop()
            .map(|mut rec| {
                if rec.fingerprint != *fp {
                    return Reply::problem(&key_reused());
                }
                if let Some(seal) = seal {
                    match (seal.open)(&rec.body) {
                        Ok(body) => rec.body = body,
                        Err(e) => return internal(context, &e),
                    }
                }
                replay(&rec)
            }))
    };

    match lookup(store) {
        Ok(Some(reply)) => return reply,
        Ok(None) => {}
        Err(e) => return internal(context, &e),
    }
    let prepared = match prepare() {
        Ok(p) => p,
        Err(reply) => return reply,
    };
    let locks: Vec<LockKey> = key
        .map(|k| LockKey::Idempotency(principal.clone(), k.as_str().to_owned()))
        .into_iter()
        .collect();
    let result = in_transaction(store, &locks, |s| -> Result<Answer, Failure> {
        if let Some(reply) = lookup(s)? {
            return Err(Failure::Reply(reply));
        }
        let answer = write(s, prepared)?.map_err(Failure::Reply)?;
        if let (Some(key), Some(fp)) = (key, &fp) {
            let body = match seal {
                Some(seal) => {
                    (seal.seal)(&answer.body).map_err(|e| Failure::Reply(internal(context, &e)))?
                }
                None => answer.body.clone(),
            };
            s.put_idempotency(
                principal,
                &[IdempotencyRecord {
                    key: key.as_str().to_owned(),
                    fingerprint: fp.clone(),
                    status: answer.status,
                    location: answer.location.clone(),
                    body,
                }],
                now,
            )?;
        }
        Ok(answer)
    });
    match result {
        Ok(answer) => answer.reply(),
        Err(Failure::Reply(reply)) => reply,
        Err(Failure::Store(e)) => internal(context, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(key: Option<&[u8]>) -> RequestHead {
        let headers = key
            .map(|k| ("Idempotency-Key".to_owned(), k.to_vec()))
            .into_iter();
        RequestHead::new("POST", "/x", "", headers)
    }

    #[test]
    fn retention() {
        use std::time::{Duration, UNIX_EPOCH};
        let now = UNIX_EPOCH + Duration::from_secs(1_764_000_000);
        assert_eq!(
            valid_from(now, DEFAULT_RETENTION_SECS),
            crate::clock::rfc3339(UNIX_EPOCH + Duration::from_secs(1_764_000_000 - 604_800))
        );
        assert_eq!(valid_from(now, u64::MAX), crate::clock::rfc3339(UNIX_EPOCH));
        let name = RETENTION_VARIABLE;
        assert_eq!(retention_secs(name, None, 7), Ok(7));
        assert_eq!(retention_secs(name, Some(" "), 7), Ok(7));
        assert_eq!(retention_secs(name, Some("60"), 7), Ok(60));
        assert!(
            retention_secs(name, Some("1d"), 7)
                .unwrap_err()
                .contains(name)
        );
    }

    #[test]
    fn keys() {
        assert_eq!(key(&head(None)).unwrap(), None);
        assert_eq!(
            key(&head(Some(b"abc-1"))).unwrap().unwrap().as_str(),
            "abc-1"
        );
        assert_eq!(key(&head(Some(b"a b"))).unwrap_err().status, 400);
        let twice = RequestHead::new(
            "POST",
            "/x",
            "",
            [
                ("idempotency-key".to_owned(), b"a".to_vec()),
                ("idempotency-key".to_owned(), b"b".to_vec()),
            ],
        );
        assert_eq!(key(&twice).unwrap_err().status, 400);
    }

    #[test]
    fn answers_and_replays() {
        let a = Answer::json(
            201,
            Some("/api/x/1".into()),
            &serde_json::json!({"ok": true}),
        );
        let r = a.reply();
        assert_eq!(r.status, 201);
        assert_eq!(r.header("location"), Some("/api/x/1"));
        assert_eq!(r.body, br#"{"ok":true}"#);
        let replayed = replay(&IdempotencyRecord {
            key: "k".into(),
            fingerprint: "f".into(),
            status: a.status,
            location: a.location.clone(),
            body: a.body.clone(),
        });
        assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
        assert_eq!(replayed.body, r.body);
        assert_eq!(key_reused().status(), 409);
    }
}
