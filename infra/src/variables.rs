//! Spin variables: application variables with defaults, overridable from the
//! environment as `SPIN_VARIABLE_<NAME>`, and component variables that are
//! templates over them (`"{{ name }}"`). Resolved once at start, so a missing
//! required variable stops the gateway before it listens.
//!
//! Layering: this module is below [`crate::manifest`]. It knows the
//! variable language — names, templates, declarations ([`AppVariable`]) and
//! how values are resolved — and nothing of `spin.toml`'s layout; the
//! manifest parses its `[variables]` table into [`AppVariable`]s and checks
//! component templates with [`check_name`] and [`references`]. Nothing here
//! imports the manifest.

use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// An application variable declaration.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AppVariable {
    /// Default value, if any.
    pub default: Option<String>,
    /// Whether a value must be provided.
    #[serde(default)]
    pub required: bool,
    /// Whether the value is secret (never printed).
    #[serde(default)]
    pub secret: bool,
    /// Free text.
    pub description: Option<String>,
}

/// Spin's rule for variable names: lowercase ASCII letters, digits and `_`,
/// starting with a letter.
pub fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'));
    if !ok {
        return Err(Error::VariableName(name.to_owned()));
    }
    Ok(())
}

enum Piece<'t> {
    Text(&'t str),
    Var(&'t str),
}

fn pieces(template: &str) -> Result<Vec<Piece<'_>>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push(Piece::Text(&rest[..start]));
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(Error::UnclosedTemplate(template.to_owned()));
        };
        let name = after[..end].trim();
        check_name(name)?;
        out.push(Piece::Var(name));
        rest = &after[end + 2..];
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

/// The application variables a template refers to.
pub fn references(template: &str) -> Result<Vec<String>> {
    Ok(pieces(template)?
        .into_iter()
        .filter_map(|p| match p {
            Piece::Var(v) => Some(v.to_owned()),
            Piece::Text(_) => None,
        })
        .collect())
}

/// Values for application variables, by name.
pub type Values = HashMap<String, String>;

/// Resolves every declared application variable (a manifest's
/// `variables`): environment (`SPIN_VARIABLE_<NAME>`) first, then values the
/// gateway provides itself (`provided`, e.g. the edge's assertion key), then
/// the declaration's default. Unset optional variables stay absent.
pub fn resolve_application(
    declared: &BTreeMap<String, AppVariable>,
    env: &dyn Fn(&str) -> Option<String>,
    provided: &BTreeMap<String, String>,
) -> Result<Values> {
    let mut values = Values::new();
    let mut missing = Vec::new();
    for (name, decl) in declared {
        let from_env = env(&format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()));
        let value = from_env
            .or_else(|| provided.get(name).cloned())
            .or_else(|| decl.default.clone());
        match value {
            Some(v) => {
                values.insert(name.clone(), v);
            }
            None if decl.required => missing.push(name.clone()),
            None => {}
        }
    }
    if !missing.is_empty() {
        return Err(Error::MissingVariables(missing));
    }
    Ok(values)
}

/// Expands a component's variable templates against the application values.
/// A template that refers to an unset optional variable leaves the component
/// variable undefined (the guest sees `undefined`), as in Spin.
pub fn resolve_component(
    templates: &BTreeMap<String, String>,
    app: &Values,
) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for (name, template) in templates {
        if let Some(value) = expand(template, app)? {
            out.insert(name.clone(), value);
        }
    }
    Ok(out)
}

/// Expands one template; `None` when it refers to an unset variable.
pub fn expand(template: &str, app: &Values) -> Result<Option<String>> {
    let mut value = String::new();
    for piece in pieces(template)? {
        match piece {
            Piece::Text(t) => value.push_str(t),
            Piece::Var(v) => match app.get(v) {
                Some(x) => value.push_str(x),
                None => return Ok(None),
            },
        }
    }
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A manifest's `[variables]` table.
    fn declared() -> BTreeMap<String, AppVariable> {
        toml::from_str(
            r#"
key = { required = true, secret = true }
region = { default = "tokyo" }
optional = {}
"#,
        )
        .unwrap()
    }

    /// One component's `variables` table.
    fn templates() -> BTreeMap<String, String> {
        [
            ("key", "{{ key }}"),
            ("url", "https://{{region}}.example/{{ key }}"),
            ("opt", "{{ optional }}"),
        ]
        .into_iter()
        .map(|(name, template)| (name.to_owned(), template.to_owned()))
        .collect()
    }

    #[test]
    fn environment_beats_provided_beats_default() {
        let declared = declared();
        let provided = BTreeMap::from([("key".to_owned(), "gw".to_owned())]);
        let none = |_: &str| None;
        let app = resolve_application(&declared, &none, &provided).unwrap();
        assert_eq!(app["key"], "gw");
        assert_eq!(app["region"], "tokyo");
        let env = |n: &str| (n == "SPIN_VARIABLE_REGION").then(|| "osaka".to_owned());
        let app = resolve_application(&declared, &env, &provided).unwrap();
        assert_eq!(app["region"], "osaka");
        let c = resolve_component(&templates(), &app).unwrap();
        assert_eq!(c["url"], "https://osaka.example/gw");
        assert!(!c.contains_key("opt"));
    }

    #[test]
    fn a_missing_required_variable_is_an_error_naming_it() {
        let none = |_: &str| None;
        let err = resolve_application(&declared(), &none, &BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("key"), "{err}");
    }

    #[test]
    fn names_follow_spin() {
        assert!(check_name("assertion_key").is_ok());
        assert!(check_name("Key").is_err());
        assert!(check_name("1key").is_err());
        assert!(check_name("").is_err());
        assert!(references("{{ bad-name }}").is_err());
        assert!(references("{{ open").is_err());
    }
}
