//! `functions/read`: a person's documents, one document and its versions,
//! the person's access log and its inclusion proofs, and the log's signed
//! checkpoints.

use carehub_domain::policy::table::Operation;
use carehub_domain::{AccessAction, AccessOutcome, DocumentKind, PersonActor};
use serde_json::{Map, Value, json};

use crate::Part;
use crate::callers;
use crate::common::{
    Op, READ, Response, described, extended, id, object, page, page_params, param, path,
    path_param, person_params, query_param, schema,
};
use crate::schemas::stored_document;

const PREFIX: &str = "/api/read";
const TAG: &str = "read";
const PERSON: &str = "/persons/{insurer_number}/{insured_number}";

/// Read's paths, parameters and schemas.
pub fn part() -> Part {
    Part {
        tag: TAG,
        about: "Each party reads what the sharing matrix, consent and registration allow; every read and refused read is logged, and the person sees the log.",
        paths: vec![
            path(format!("{PREFIX}{PERSON}/documents"), [list()]),
            path(format!("{PREFIX}/documents/{{document_id}}"), [one()]),
            path(
                format!("{PREFIX}/documents/{{document_id}}/standard-csv"),
                [export_csv()],
            ),
            path(format!("{PREFIX}{PERSON}/accesses"), [accesses()]),
            path(
                format!("{PREFIX}{PERSON}/accesses/{{seq}}/proof"),
                [access_proof()],
            ),
            path(format!("{PREFIX}/checkpoints"), [make_checkpoint()]),
            path(
                format!("{PREFIX}/checkpoints/latest"),
                [latest_checkpoint()],
            ),
            path(format!("{PREFIX}/checkpoints/{{number}}"), [checkpoint()]),
            path(
                format!("{PREFIX}/checkpoints/{{number}}/consistency"),
                [consistency()],
            ),
        ],
        schemas: schemas(),
        parameters: parameters(),
    }
}

/// Who may read which kind: the sharing matrix per kind.
fn who() -> String {
    let kinds: Vec<(&str, Operation)> = DocumentKind::ALL
        .into_iter()
        .map(|k| (k.as_str(), Operation::Read(k)))
        .collect();
    callers::per_role("kind", &kinds)
}

fn list() -> Op {
    Op::get("listPersonDocuments", TAG, "List a person's documents")
        .about("What the caller may read follows the sharing matrix (共有範囲), the person's consent (`/api/consent`) and the caller's registration (`/api/office-register`), as listed below, checked at every request, so a withdrawal or a deregistration cuts access on the next one. Kinds the caller may not read are omitted; a caller that may read nothing about the person gets 403 `forbidden`. Every list, allowed or refused, is appended to the person's access log with the documents it returned.")
        .who(who())
        .person_token()
        .params(
            person_params()
                .into_iter()
                .chain([param("Kind")])
                .chain(page_params()),
        )
        .answers(
            200,
            Response::json(
                "The person's documents the caller may read, newest first, current version with content. Kinds the caller may not read are omitted.",
                schema("DocumentList"),
            ),
        )
        .problems(READ)
}

fn one() -> Op {
    Op::get("readDocument", TAG, "Read one document")
        .about("A document that does not exist and one the caller may not read are answered with the same 403 `forbidden` body, byte for byte. An author always reads what it stored. 404 `not-found` only for a `version` the (readable) document does not have. Every read and every refused read is appended to the person's access log.")
        .who(who())
        .person_token()
        .params([param("DocumentIdPath"), param("Version")])
        .answers(
            200,
            Response::json(
                "The current version (or the one asked for) with its content, and the version history.",
                schema("DocumentWithVersions"),
            ),
        )
        .problems(READ)
}

fn export_csv() -> Op {
    Op::get(
        "exportCarePlanCsv",
        TAG,
        "Export a care plan as the standard CSV files (ケアプラン標準仕様)",
    )
    .about("Exporting is reading: the same decision, the same 403 `forbidden` body for a document that does not exist or may not be read, and the same access-log entry as `GET /api/read/documents/{document_id}`. The zip holds one MS932 file per table the plan holds, every item quoted, CRLF after every row (docs/care-plan-csv.md): a plan imported through `POST /api/ingest/care-plans:csv` comes back under the file names it was sent with, byte for byte; a plan stored as JSON gets names `UP1KYO_<office>_<office>_<YYYYMMDDHHMMSS>.CSV` etc. from its author and the version's storage time (Japan time). 404 `not-found` for a readable document of another kind (or a `version` it does not have); 422 `invalid-standard-csv` (with `csv_violations`: file, row, column) when the plan holds a character MS932 lacks or none of the standard tables.")
    .who(who())
    .person_token()
    .params([param("DocumentIdPath"), param("Version")])
    .answers(
        200,
        Response::of(
            "application/zip",
            "The plan's standard files (`UP1KYO_…`, `UP2KYO_…`, `UP3KYO_…`, `UPPLAN_<YYYYMM>_…`, `UPBEPPYO_<YYYYMM>_…`), deflated, each dated by its name's timestamp.",
            json!({"type": "string", "format": "binary"}),
        ),
    )
    .problems(&[400, 422])
}

fn accesses() -> Op {
    Op::get("listPersonAccesses", TAG, "List who read (or tried to read) the person's data")
        .about("Callers not listed below get 403 `forbidden`. The log is append-only and tamper-evident: each entry chains the hash of the previous one (`carehub verify-log` checks the chain).")
        .who(callers::line(Operation::ListAccesses))
        .person_token()
        .params(person_params().into_iter().chain(page_params()))
        .answers(
            200,
            Response::json(
                "Accesses to the person's data, newest first: every read and every refused read of their documents and of their certification progress, by whom and when (for portal reads also which portal user: the person token's `sub` and whether the person or a proxy). A municipality's list of open applications counts as a read of each person on the page. Why a read was refused stays in the log (it is internal).",
                schema("AccessList"),
            ),
        )
        .problems(READ)
}

const LEAF: &str = "An entry's Merkle leaf data is the 32 bytes of its chained `hash`; its leaf hash is SHA-256(0x00 || data), an interior node SHA-256(0x01 || left || right), the tree over all entries split as RFC 9162 §2.1 says.";

fn access_proof() -> Op {
    Op::get("proveAccess", TAG, "Prove that an entry of the person's access log is in a checkpoint")
        .about(format!("The RFC 9162 §2.1.3 inclusion proof (audit path) of entry `seq` (from the access list) in the tree of checkpoint `checkpoint` (default the latest): with it and the signed checkpoint anyone can check that the hub committed to this entry. {LEAF} An entry that does not exist or is about someone else is the same 403 `forbidden`; one no checkpoint covers yet (they are made about once a minute) is 409 `log-entry-not-checkpointed`; an unknown checkpoint 404 `checkpoint-not-found`."))
        .who(callers::line(Operation::ListAccesses))
        .person_token()
        .params(person_params().into_iter().chain([param("SeqPath"), param("CheckpointQuery")]))
        .answers(200, Response::json("The inclusion proof and the checkpoint it leads to.", schema("InclusionProof")))
        .problems(&[400, 409])
}

fn make_checkpoint() -> Op {
    Op::post("makeCheckpoint", TAG, "Make a checkpoint of the access log")
        .about(format!("The checkpoint job: the scheduler principal `{}` only (the gateway runs it in process every `--checkpoint-interval-ms`; on Spin, a cron presents a client certificate naming it); anyone else gets 403 `forbidden`. Entries not yet in the Merkle tree become its next leaves, in `seq` order, and a tree head (size, root, time) over every leaf is signed with the hub's Ed25519 key (`log_signing_key`) and stored. When nothing is new since the last checkpoint, none is made (`checkpoint` null). Concurrent runs serialise. No body.", carehub_domain::policy::webhooks::SCHEDULER))
        .who(callers::line(Operation::MakeCheckpoint))
        .answers(200, Response::json("What the run did.", schema("CheckpointRun")))
}

fn latest_checkpoint() -> Op {
    Op::get("latestCheckpoint", TAG, "The latest signed checkpoint")
        .about("The newest signed tree head of the access log: keep it, and later ask for a consistency proof from it to a newer one. 404 `checkpoint-not-found` before the first checkpoint.")
        .who(callers::line(Operation::FetchCheckpoints))
        .answers(200, Response::json("The checkpoint.", schema("Checkpoint")))
}

fn checkpoint() -> Op {
    Op::get("getCheckpoint", TAG, "A signed checkpoint by number")
        .about("404 `checkpoint-not-found` for a number no checkpoint has.")
        .who(callers::line(Operation::FetchCheckpoints))
        .params([param("CheckpointPath")])
        .answers(200, Response::json("The checkpoint.", schema("Checkpoint")))
        .problems(READ)
}

fn consistency() -> Op {
    Op::get("checkpointConsistency", TAG, "Prove that a checkpoint extends an earlier one")
        .about(format!("The RFC 9162 §2.1.4 consistency proof from checkpoint `from`'s tree to checkpoint `number`'s: it verifies only if every entry the older one covered is still in the newer one, unchanged and in place, so a log that removed or rewrote a covered entry cannot give one. {LEAF} 404 `checkpoint-not-found` for an unknown number; 400 when `from` is missing or greater than `number`."))
        .who(callers::line(Operation::FetchCheckpoints))
        .params([param("CheckpointPath"), param("FromQuery")])
        .answers(200, Response::json("Both checkpoints and the proof.", schema("Consistency")))
        .problems(READ)
}

fn parameters() -> Map<String, Value> {
    let mut p = Map::new();
    let positive = json!({ "type": "integer", "minimum": 1 });
    p.insert(
        "SeqPath".into(),
        path_param(
            "seq",
            Some("An entry's `seq`, from the access list."),
            positive.clone(),
        ),
    );
    p.insert(
        "CheckpointPath".into(),
        path_param("number", Some("A checkpoint's number."), positive.clone()),
    );
    p.insert(
        "CheckpointQuery".into(),
        query_param(
            "checkpoint",
            "The checkpoint to prove against; default the latest.",
            positive.clone(),
        ),
    );
    p.insert(
        "FromQuery".into(),
        query_param(
            "from",
            "The earlier checkpoint's number (required).",
            positive,
        ),
    );
    p.insert(
        "DocumentIdPath".into(),
        path_param("document_id", None, schema("DocumentId")),
    );
    p.insert(
        "Kind".into(),
        query_param(
            "kind",
            "Only documents of this kind.",
            schema("DocumentKind"),
        ),
    );
    p.insert(
        "Version".into(),
        query_param(
            "version",
            "A version number from `versions`; default the current version.",
            json!({ "type": "integer", "minimum": 1 }),
        ),
    );
    p
}

fn schemas() -> Map<String, Value> {
    let mut s = Map::new();
    let document = extended(
        &stored_document(),
        &[(
            "content",
            json!({ "type": "object", "description": "The version's content (see the Content_<kind> schemas)." }),
        )],
    );
    s.insert(
        "VersionInfo".into(),
        object(
            &["version", "stored_at", "content_sha256", "supersedes"],
            json!({
                "version": { "type": "integer", "minimum": 1 },
                "stored_at": schema("Timestamp"),
                "content_sha256": schema("Sha256"),
                "supersedes": { "type": ["integer", "null"] },
            }),
        ),
    );
    s.insert(
        "DocumentWithVersions".into(),
        extended(
            &document,
            &[
                ("current_version", json!({ "type": "integer", "minimum": 1 })),
                (
                    "versions",
                    json!({ "type": "array", "items": schema("VersionInfo"), "description": "Every version, oldest first." }),
                ),
            ],
        ),
    );
    s.insert("Document".into(), document);
    s.insert(
        "DocumentList".into(),
        page(
            &[("person", schema("PersonRef"))],
            "documents",
            schema("Document"),
        ),
    );
    s.insert("Access".into(), access());
    let hash = json!({ "type": "string", "pattern": "^[0-9a-f]{64}$" });
    let hashes = json!({ "type": "array", "items": hash.clone() });
    s.insert(
        "Checkpoint".into(),
        object(
            &["number", "tree_size", "root_hash", "timestamp", "signature", "key_id", "public_key", "signed_text"],
            json!({
                "number": { "type": "integer", "minimum": 1 },
                "tree_size": { "type": "integer", "minimum": 1, "description": "How many entries (leaves) the tree holds." },
                "root_hash": described(hash.clone(), "The RFC 9162 Merkle tree hash of the first `tree_size` leaves, hex."),
                "timestamp": schema("Timestamp"),
                "signature": { "type": "string", "description": "Base64 Ed25519 signature over `signed_text`." },
                "key_id": described(hash.clone(), "SHA-256 of the signing key's 32 raw public-key bytes, hex."),
                "public_key": { "type": "string", "description": "The signing key, SPKI PEM." },
                "signed_text": { "type": "string", "description": "What is signed: `carehub access-log checkpoint v1`, number, tree_size, root_hash, timestamp, one per line, each ending in a newline." },
            }),
        ),
    );
    s.insert(
        "CheckpointRun".into(),
        object(
            &["new_leaves", "checkpoint"],
            json!({
                "new_leaves": { "type": "integer", "minimum": 0, "description": "Entries added to the tree by this run." },
                "checkpoint": { "oneOf": [schema("Checkpoint"), { "type": "null" }], "description": "The checkpoint made; null when nothing was new." },
            }),
        ),
    );
    s.insert(
        "Consistency".into(),
        object(
            &["first", "second", "proof"],
            json!({
                "first": schema("Checkpoint"),
                "second": schema("Checkpoint"),
                "proof": described(hashes.clone(), "RFC 9162 §2.1.4 consistency proof, hex; empty when the sizes are equal."),
            }),
        ),
    );
    s.insert(
        "InclusionProof".into(),
        object(
            &["seq", "entry_hash", "leaf_hash", "leaf_index", "tree_size", "audit_path", "checkpoint"],
            json!({
                "seq": { "type": "integer", "minimum": 1 },
                "entry_hash": described(hash.clone(), "The entry's chained hash: the leaf's data."),
                "leaf_hash": described(hash, "SHA-256(0x00 || entry hash bytes), hex."),
                "leaf_index": { "type": "integer", "minimum": 0 },
                "tree_size": { "type": "integer", "minimum": 1 },
                "audit_path": described(hashes, "RFC 9162 §2.1.3 inclusion proof, hex, from the leaf up."),
                "checkpoint": schema("Checkpoint"),
            }),
        ),
    );
    s.insert(
        "AccessList".into(),
        page(
            &[("person", schema("PersonRef"))],
            "accesses",
            schema("Access"),
        ),
    );
    s
}

/// One entry of the access log.
fn access() -> Value {
    let app_id = id("app");
    object(
        &["seq", "hash", "at", "principal", "action", "outcome"],
        json!({
            "seq": { "type": "integer", "minimum": 1, "description": "The entry's number: ask for its inclusion proof with it." },
            "hash": { "type": "string", "pattern": "^[0-9a-f]{64}$", "description": "The entry's chained hash (the Merkle leaf's data)." },
            "at": schema("Timestamp"),
            "principal": schema("PrincipalUrn"),
            "actor": { "enum": PersonActor::NAMES, "description": "Portal reads: the person or a proxy." },
            "subject": { "type": "string", "description": "Portal reads: the portal user, the person token's `sub`." },
            "action": { "enum": AccessAction::NAMES, "description": "read_document, list_documents, read_history; read_progress (one certification application), list_progress (the person's applications, or a municipality's page of open applications naming this person's)." },
            "kind": schema("DocumentKind"),
            "document_id": schema("DocumentId"),
            "document_ids": { "type": "array", "items": schema("DocumentId"), "description": "An allowed list: the documents it returned." },
            "application_id": described(app_id.clone(), "read_progress: the application."),
            "application_ids": { "type": "array", "items": app_id, "description": "An allowed list_progress: the person's applications it returned." },
            "outcome": { "enum": AccessOutcome::NAMES },
            "request_id": { "type": "string", "pattern": "^[A-Za-z0-9._:@/+=-]{1,128}$", "description": "The request's id (`x-request-id`, returned with every answer): the same id is in the operator's request log. Absent on entries written before the hub recorded it." },
        }),
    )
}
