//! `infra/openapi.json` — which the gateway embeds and serves at
//! `/openapi.json` — is the document this crate builds. This test fails
//! when the file is stale; regenerate it with
//!
//! ```sh
//! cargo run -p carehub-openapi
//! ```

#[test]
fn openapi_json_is_up_to_date() {
    let path = carehub_openapi::default_path();
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == carehub_openapi::render(),
        "{} is stale; regenerate it: cargo run -p carehub-openapi",
        path.display()
    );
}
