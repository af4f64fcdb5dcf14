//! `functions/read`: a person's documents, one document and its versions,
//! and the person's access log.

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

fn parameters() -> Map<String, Value> {
    let mut p = Map::new();
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
        &["at", "principal", "action", "outcome"],
        json!({
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
        }),
    )
}
