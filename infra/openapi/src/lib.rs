//! The OpenAPI 3.1 document of carehub: every component's routes (ingest,
//! read, consent, office-register, progress, relay, webhooks) and the
//! webhook deliveries the hub sends. The gateway serves it at
//! `/openapi.json` from `infra/openapi.json`, which the `carehub-openapi`
//! binary writes (`cargo run -p carehub-openapi`; `-- --check` tells
//! whether the file is current, as does this crate's `fresh` test).
//!
//! Nothing here is a second copy of a rule: the kinds, their fields,
//! examples and the problem catalogue come from `carehub-domain`, body
//! limits and other limits from the components' own constants, and each
//! operation's "Who may call" from the access policy
//! ([`carehub_domain::policy::table::who_may_call`], see [`callers`]).
//!
//! One module per component builds that component's paths, parameters and
//! schemas as a [`Part`]; [`common`] holds the builders every operation
//! shares and [`schemas`] what more than one component refers to.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

pub mod callers;
pub mod common;
pub mod consent;
pub mod ingest;
pub mod office_register;
pub mod progress;
pub mod read;
pub mod relay;
pub mod schemas;
pub mod webhooks;

/// What one component contributes to the document.
#[derive(Debug, Clone)]
pub struct Part {
    /// The tag its operations carry.
    pub tag: &'static str,
    /// The tag's description.
    pub about: &'static str,
    /// Its paths, each with its operations.
    pub paths: Vec<(String, Value)>,
    /// Its schemas, under `#/components/schemas`.
    pub schemas: Map<String, Value>,
    /// Its parameters, under `#/components/parameters`.
    pub parameters: Map<String, Value>,
}

/// Every component's part, in the order of the document's tags.
pub fn parts() -> Vec<Part> {
    vec![
        ingest::part(),
        read::part(),
        consent::part(),
        office_register::part(),
        progress::part(),
        relay::part(),
        webhooks::part(),
    ]
}

/// The whole document.
pub fn document() -> Value {
    let mut tags = Vec::new();
    let mut paths = Map::new();
    let mut schemas = schemas::shared();
    let mut parameters = schemas::parameters();
    for part in parts() {
        tags.push(json!({ "name": part.tag, "description": part.about }));
        merge(&mut paths, part.paths, "path");
        merge(&mut schemas, part.schemas, "schema");
        merge(&mut parameters, part.parameters, "parameter");
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "carehub — 介護情報基盤 (long-term care information hub)",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "An open implementation of Japan's long-term care information hub. Every call is made over TLS 1.3 with a client certificate naming the caller (`urn:carehub:<role>:<code>`); the citizen portal also sends a person token. Errors are RFC 9457 problems with a stable `type`.",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" },
        },
        "servers": [{ "url": "https://localhost:3443", "description": "`carehub up` (development)" }],
        "security": [{ "mutualTLS": [] }],
        "tags": tags,
        "paths": paths,
        "webhooks": webhooks::deliveries(),
        "components": {
            "securitySchemes": security_schemes(),
            "parameters": parameters,
            "responses": schemas::problem_responses(),
            "schemas": schemas,
        },
    })
}

/// Adds `more` to `into`; a name two parts both define is a bug here.
fn merge(
    into: &mut Map<String, Value>,
    more: impl IntoIterator<Item = (String, Value)>,
    what: &str,
) {
    for (name, value) in more {
        assert!(
            !into.contains_key(&name),
            "two parts define the {what} {name}"
        );
        into.insert(name, value);
    }
}

fn security_schemes() -> Value {
    json!({
        "mutualTLS": {
            "type": "mutualTLS",
            "description": "TLS 1.3 client certificate whose URI SAN names the principal, `urn:carehub:<role>:<code>`: municipality (保険者番号), care-manager / care-service (介護事業所番号), medical (医療機関コード), portal, operator.",
        },
        "personToken": {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "Portal calls only (401 person-token-missing / person-token-invalid): an ES256 JWT from the portal's identity provider, `aud` \"carehub\", with `insurer_number`, `insured_number` of the person it acts for and `actor` \"person\" or \"proxy\".",
        },
    })
}

/// The document as `infra/openapi.json` holds it: pretty-printed, with a
/// final newline.
pub fn render() -> String {
    let mut text = serde_json::to_string_pretty(&document()).expect("a JSON value serializes");
    text.push('\n');
    text
}

/// Where the gateway embeds the document from, relative to the workspace
/// root.
pub const DOCUMENT_PATH: &str = "infra/openapi.json";

/// [`DOCUMENT_PATH`] in this workspace.
pub fn default_path() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest
        .ancestors()
        .nth(2)
        .expect("this crate lives at infra/openapi in the workspace");
    root.join(DOCUMENT_PATH)
}
