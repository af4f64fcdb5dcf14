//! The document against what the components serve and the domain's forms.

use std::collections::BTreeSet;

use carehub_domain::DocumentKind;
use carehub_domain::content::{required_fields, validate_content};
use carehub_guest::routing::Route;
use carehub_openapi::ingest::conditionally_required;
use carehub_openapi::schemas::example_person;
use serde_json::json;

/// One component's routes under its prefix.
fn under<E>(prefix: &'static str, routes: &'static [Route<E>]) -> Vec<(String, String)> {
    routes
        .iter()
        .map(|r| {
            (
                format!("{prefix}{}", r.pattern),
                r.method.to_ascii_lowercase(),
            )
        })
        .collect()
}

/// Every component's routes as `(path, method)`, under its prefix in
/// spin.toml (written here rather than taken from the document's code).
fn served() -> Vec<(String, String)> {
    [
        under("/api/ingest", carehub_ingest::handler::ROUTES),
        under("/api/read", carehub_read::handler::ROUTES),
        under("/api/consent", carehub_consent::handler::ROUTES),
        under(
            "/api/office-register",
            carehub_office_register::handler::ROUTES,
        ),
        under("/api/progress", carehub_progress::handler::ROUTES),
        under("/api/relay", carehub_relay::handler::ROUTES),
        under("/api/webhooks", carehub_webhooks::handler::ROUTES),
    ]
    .concat()
}

#[test]
fn every_route_is_documented() {
    let doc = carehub_openapi::document();
    let mut served_ops = BTreeSet::new();
    for (path, method) in served() {
        assert!(
            doc["paths"][&path][&method].is_object(),
            "{method} {path} is not in the OpenAPI document"
        );
        served_ops.insert((path, method));
    }
    // And nothing is documented that no component serves.
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "put", "post", "delete", "patch"].contains(&k.as_str()))
                .map(move |method| (path.clone(), method.clone()))
        })
        .collect();
    assert_eq!(documented, served_ops);
    assert_eq!(served_ops.len(), 39);
}

#[test]
fn every_kind_lists_its_required_fields() {
    let doc = carehub_openapi::document();
    for kind in DocumentKind::ALL {
        let schema = &doc["components"]["schemas"][format!("Content_{}", kind.as_str())];
        for (name, description) in required_fields(kind) {
            assert!(schema["properties"][name].is_object(), "{kind}: {name}");
            let listed = schema["required"]
                .as_array()
                .unwrap()
                .contains(&json!(name));
            assert_eq!(
                listed,
                !conditionally_required(description),
                "{kind}: {name}"
            );
        }
        // The example validates, so the document shows real content.
        let example = &schema["examples"][0];
        validate_content(kind, &example_person(), example)
            .unwrap_or_else(|v| panic!("{kind}: {v:?}"));
    }
}

/// Every operation ends with the policy's "Who may call" paragraph.
#[test]
fn every_operation_says_who_may_call() {
    let doc = carehub_openapi::document();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let description = op["description"].as_str().unwrap();
            let last = description.rsplit("\n\n").next().unwrap();
            assert!(
                last.starts_with("Who may call"),
                "{method} {path}: {description}"
            );
        }
    }
}
