//! The subset of Spin's application manifest (version 2) that carehub uses.
//!
//! Parsing is strict about what it understands and tolerant of what Spin
//! allows but the gateway does not act on (descriptions, `watch` lists), so
//! the same `spin.toml` runs unchanged under Spin.
//!
//! Layering: this module sits on [`crate::variables`] and
//! [`crate::routes`], never the other way round. They own the languages a
//! manifest is written in (variable names, templates and declarations; the
//! route syntax); this module owns the file's layout and checks what it
//! reads with their rules.

use crate::error::{Doing, Error, Result};
use crate::variables::AppVariable;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A parsed `spin.toml`.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Directory holding the manifest; relative paths resolve against it.
    pub dir: PathBuf,
    /// The application name.
    pub name: String,
    /// Application variables, by name.
    pub variables: BTreeMap<String, AppVariable>,
    /// HTTP triggers, in manifest order.
    pub triggers: Vec<HttpTrigger>,
    /// Components, by id.
    pub components: BTreeMap<String, ComponentSpec>,
}

/// One `[[trigger.http]]` entry.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpTrigger {
    /// The route, `/exact` or `/prefix/...`.
    pub route: String,
    /// The component id it serves.
    pub component: String,
}

/// One `[component.<id>]` table.
#[derive(Debug, Clone, Deserialize)]
pub struct ComponentSpec {
    /// Path to the `.wasm` file, relative to the manifest.
    pub source: String,
    /// SQLite database labels the component may open.
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    /// Outbound HTTP destinations the component may call.
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    /// Component variables: name → template over application variables.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// How to build the component.
    pub build: Option<BuildSpec>,
    /// Free text.
    pub description: Option<String>,
}

/// A component's `build` table.
#[derive(Debug, Clone, Deserialize)]
pub struct BuildSpec {
    /// Shell command that builds the component.
    pub command: String,
    /// Working directory, relative to the manifest.
    pub workdir: Option<String>,
    /// Files whose change calls for a rebuild (used by `spin watch`; ignored here).
    #[serde(default)]
    pub watch: Vec<String>,
}

#[derive(Deserialize)]
struct RawManifest {
    spin_manifest_version: u32,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, AppVariable>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, ComponentSpec>,
}

#[derive(Deserialize)]
struct RawApplication {
    name: String,
}

#[derive(Deserialize, Default)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<HttpTrigger>,
}

impl Manifest {
    /// Every SQLite database label a component names (`sqlite_databases`),
    /// each once: the files the gateway opens.
    pub fn sqlite_labels(&self) -> std::collections::BTreeSet<String> {
        self.components
            .values()
            .flat_map(|c| c.sqlite_databases.iter().cloned())
            .collect()
    }

    /// Reads and checks a manifest file.
    pub fn load(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path)
            .doing(|| format!("reading manifest {}", path.display()))?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        Self::parse(&text, dir).map_err(|source| Error::Manifest {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    /// Parses manifest text; `dir` is where relative paths resolve.
    pub fn parse(text: &str, dir: PathBuf) -> Result<Manifest> {
        let raw: RawManifest = toml::from_str(text)?;
        if raw.spin_manifest_version != 2 {
            return Err(Error::ManifestVersion(raw.spin_manifest_version));
        }
        for t in &raw.trigger.http {
            if !raw.component.contains_key(&t.component) {
                return Err(Error::UndefinedComponent {
                    route: t.route.clone(),
                    component: t.component.clone(),
                });
            }
            crate::routes::Route::parse(&t.route)?;
        }
        for (id, c) in &raw.component {
            for name in c.variables.keys() {
                crate::variables::check_name(name).map_err(Error::in_component(id))?;
            }
            for template in c.variables.values() {
                for reference in crate::variables::references(template)? {
                    if !raw.variables.contains_key(&reference) {
                        return Err(Error::UndeclaredVariable {
                            component: id.clone(),
                            variable: reference,
                        });
                    }
                }
            }
        }
        for (name, v) in &raw.variables {
            crate::variables::check_name(name)?;
            if v.required && v.default.is_some() {
                return Err(Error::RequiredWithDefault(name.clone()));
            }
        }
        Ok(Manifest {
            dir,
            name: raw.application.name,
            variables: raw.variables,
            triggers: raw.trigger.http,
            components: raw.component,
        })
    }

    /// Absolute path of a component's `.wasm`.
    pub fn source_path(&self, component: &ComponentSpec) -> PathBuf {
        self.dir.join(&component.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
spin_manifest_version = 2
[application]
name = "x"
[variables]
k = { required = true, secret = true }
[[trigger.http]]
route = "/a/..."
component = "a"
[component.a]
source = "a.wasm"
sqlite_databases = ["default"]
[component.a.variables]
k = "{{ k }}"
"#;

    #[test]
    fn parses_the_subset_we_use() {
        let m = Manifest::parse(SAMPLE, PathBuf::from("/app")).unwrap();
        assert_eq!(m.triggers.len(), 1);
        assert_eq!(m.components["a"].sqlite_databases, vec!["default"]);
        assert!(m.variables["k"].secret);
    }

    #[test]
    fn refuses_a_trigger_for_an_unknown_component() {
        let text = SAMPLE.replace("component = \"a\"", "component = \"b\"");
        assert!(Manifest::parse(&text, PathBuf::from("/")).is_err());
    }

    #[test]
    fn refuses_an_undeclared_variable_reference() {
        let text = SAMPLE.replace("k = \"{{ k }}\"", "k = \"{{ nope }}\"");
        assert!(Manifest::parse(&text, PathBuf::from("/")).is_err());
    }

    #[test]
    fn refuses_other_manifest_versions() {
        let text = SAMPLE.replace("spin_manifest_version = 2", "spin_manifest_version = 1");
        assert!(Manifest::parse(&text, PathBuf::from("/")).is_err());
    }
}
