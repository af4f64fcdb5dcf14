//! The deployment manifests (`infra/k8s`) against `spin.toml`: every
//! component has its own SpinApp and nothing else does, every route is
//! reachable through the gateway's proxy file, every variable a component
//! needs is provided from a Secret or ConfigMap that the layout has, the
//! gateway signs with the key the components verify with, and the webhook
//! dispatcher is scheduled when spin.toml has the route.
//!
//! The checks are one function returning every finding, so that the tests
//! below can also show that they fail when spin.toml gains a component
//! without a deployment, or the manifests lose one.

use carehub::manifest::Manifest;
use carehub::proxy::ProxyConfig;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn k8s() -> PathBuf {
    repo().join("infra/k8s")
}

/// One YAML document and the file it came from.
struct Doc {
    file: String,
    value: Value,
}

impl Doc {
    fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or("")
    }
    fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or("")
    }
}

fn parse_yaml(file: &str, text: &str) -> Vec<Doc> {
    use serde::Deserialize;
    serde_norway::Deserializer::from_str(text)
        .map(|d| {
            let yaml = serde_norway::Value::deserialize(d)
                .unwrap_or_else(|e| panic!("{file}: not YAML: {e}"));
            Doc {
                file: file.to_owned(),
                value: serde_json::to_value(yaml)
                    .unwrap_or_else(|e| panic!("{file}: not JSON-shaped: {e}")),
            }
        })
        .filter(|d| !d.value.is_null())
        .collect()
}

/// Every document of every `.yaml` file in infra/k8s.
fn shipped() -> Vec<Doc> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(k8s())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
        .iter()
        .flat_map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            parse_yaml(&name, &std::fs::read_to_string(p).unwrap())
        })
        .collect()
}

fn spin_toml() -> String {
    std::fs::read_to_string(repo().join("spin.toml")).unwrap()
}

fn manifest(text: &str) -> Manifest {
    Manifest::parse(text, repo()).unwrap()
}

/// The keys a Secret or ConfigMap provides (`data` or `stringData`).
fn keys(doc: &Doc) -> BTreeSet<String> {
    ["data", "stringData"]
        .iter()
        .filter_map(|f| doc.value[*f].as_object())
        .flat_map(|m| m.keys().cloned())
        .collect()
}

/// Where a `valueFrom` points, checked against the Secrets and ConfigMaps
/// of the layout: `Err` names what is missing.
fn check_source(
    value_from: &Value,
    objects: &BTreeMap<(String, String), BTreeSet<String>>,
) -> Result<(String, String, String), String> {
    for (field, kind) in [("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")] {
        let r = &value_from[field];
        if r.is_object() {
            let name = r["name"].as_str().unwrap_or("").to_owned();
            let key = r["key"].as_str().unwrap_or("").to_owned();
            return match objects.get(&(kind.to_owned(), name.clone())) {
                None => Err(format!("{kind} {name} is not in the layout")),
                Some(k) if !k.contains(&key) => Err(format!("{kind} {name} has no key {key}")),
                Some(_) => Ok((kind.to_owned(), name, key)),
            };
        }
    }
    Err(format!("unsupported valueFrom {value_from}"))
}

/// A path that `route` matches.
fn sample_path(route: &str) -> String {
    match route.strip_suffix("/...") {
        Some(prefix) => format!("{prefix}/sample"),
        None => route.to_owned(),
    }
}

/// Everything wrong with the manifests for this spin.toml; empty when fine.
fn findings(manifest: &Manifest, docs: &[Doc]) -> Vec<String> {
    let mut found = Vec::new();
    let objects: BTreeMap<(String, String), BTreeSet<String>> = docs
        .iter()
        .filter(|d| matches!(d.kind(), "Secret" | "ConfigMap"))
        .map(|d| ((d.kind().to_owned(), d.name().to_owned()), keys(d)))
        .collect();

    // Kustomize applies every manifest but the example Secrets.
    let listed: BTreeSet<String> = docs
        .iter()
        .filter(|d| d.kind() == "Kustomization")
        .flat_map(|d| d.value["resources"].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let files: BTreeSet<String> = docs
        .iter()
        .filter(|d| {
            // kustomizeconfig.yaml is kustomize's own configuration, no object.
            d.value["apiVersion"].is_string()
                && d.kind() != "Kustomization"
                && d.file != "secrets.example.yaml"
        })
        .map(|d| d.file.clone())
        .collect();
    for f in files.difference(&listed) {
        found.push(format!("{f} is not in kustomization.yaml's resources"));
    }
    for f in listed.difference(&files) {
        found.push(format!(
            "kustomization.yaml lists {f}, which has no manifests"
        ));
    }
    if docs
        .iter()
        .any(|d| d.file == "secrets.example.yaml" && d.kind() != "Secret")
    {
        found.push("secrets.example.yaml holds something other than Secrets".into());
    }

    // One SpinApp per component, and only for components spin.toml has.
    let mut spinapps: BTreeMap<String, Vec<&Doc>> = BTreeMap::new();
    let mut retains: BTreeMap<String, String> = BTreeMap::new();
    for app in docs.iter().filter(|d| d.kind() == "SpinApp") {
        let name = app.name();
        let spec = &app.value["spec"];
        if spec["executor"] != "containerd-shim-spin" {
            found.push(format!(
                "SpinApp {name}: executor is not containerd-shim-spin"
            ));
        }
        if spec["image"].as_str().is_none_or(str::is_empty) {
            found.push(format!("SpinApp {name}: no image"));
        }
        let components: Vec<&str> = spec["components"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let [id] = components.as_slice() else {
            found.push(format!(
                "SpinApp {name}: must keep exactly one component (`components: [id]`), keeps {components:?}"
            ));
            continue;
        };
        let Some(component) = manifest.components.get(*id) else {
            found.push(format!(
                "SpinApp {name} runs component {id}, which spin.toml does not define"
            ));
            continue;
        };
        spinapps.entry((*id).to_owned()).or_default().push(app);
        retains.insert(name.to_owned(), (*id).to_owned());

        // Variables: every one the component needs, from the layout.
        let mut provided = BTreeMap::new();
        for var in spec["variables"].as_array().cloned().unwrap_or_default() {
            let vname = var["name"].as_str().unwrap_or("").to_owned();
            if !manifest.variables.contains_key(&vname) {
                found.push(format!(
                    "SpinApp {name}: variable {vname} is not declared in spin.toml"
                ));
            }
            if let Some(v) = var["value"].as_str() {
                provided.insert(vname, Some(v.to_owned()));
            } else {
                match check_source(&var["valueFrom"], &objects) {
                    Ok(_) => {
                        provided.insert(vname, None);
                    }
                    Err(e) => found.push(format!("SpinApp {name}: variable {vname}: {e}")),
                }
            }
        }
        let refs = |templates: Vec<&String>| -> BTreeSet<String> {
            templates
                .into_iter()
                .flat_map(|t| carehub::variables::references(t).unwrap())
                .collect()
        };
        let used = refs(component.variables.values().collect());
        // A host template's default names no real server: the cluster must set it.
        let hosts = refs(component.allowed_outbound_hosts.iter().collect());
        let mut needed: BTreeSet<String> = used
            .iter()
            .filter(|v| manifest.variables[*v].required)
            .cloned()
            .collect();
        needed.extend(hosts);
        // The cluster runs on the managed PostgreSQL.
        for v in ["store_backend", "database_url"] {
            if used.contains(v) {
                needed.insert(v.to_owned());
            }
        }
        for v in &needed {
            if !provided.contains_key(v) {
                found.push(format!(
                    "SpinApp {name}: component {id} needs variable {v}, which is not provided"
                ));
            }
        }
        if let Some(Some(backend)) = provided.get("store_backend")
            && backend != "postgres"
        {
            found.push(format!(
                "SpinApp {name}: store_backend is {backend}, not postgres"
            ));
        }
    }
    for id in manifest.components.keys() {
        match spinapps.get(id).map(Vec::len) {
            None => found.push(format!("component {id} has no SpinApp")),
            Some(1) => {}
            Some(n) => found.push(format!("component {id} has {n} SpinApps")),
        }
    }

    // The gateway: proxy mode, with a proxy file that reaches every route.
    let gateways: Vec<&Doc> = docs
        .iter()
        .filter(|d| d.kind() == "Deployment" && d.name() == "carehub-gateway")
        .collect();
    let [gateway] = gateways.as_slice() else {
        found.push("no single Deployment carehub-gateway".into());
        return found;
    };
    let pod = &gateway.value["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let arg = |flag: &str| -> Option<&str> {
        args.iter()
            .find_map(|a| a.strip_prefix(&format!("--{flag}=")))
    };
    // Which volume is mounted where, and what it holds.
    let mounts: Vec<(String, String)> = container["volumeMounts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|m| {
            (
                m["mountPath"].as_str().unwrap_or("").to_owned(),
                m["name"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let mounted = |path: &str| -> Option<(String, String, String)> {
        let (dir, volume) = mounts.iter().find(|(dir, _)| {
            path.strip_prefix(dir.as_str())
                .is_some_and(|r| r.starts_with('/'))
        })?;
        let file = path[dir.len() + 1..].to_owned();
        let v = pod["volumes"]
            .as_array()?
            .iter()
            .find(|v| v["name"] == volume.as_str())?;
        if let Some(name) = v["configMap"]["name"].as_str() {
            Some(("ConfigMap".into(), name.to_owned(), file))
        } else {
            v["secret"]["secretName"]
                .as_str()
                .map(|name| ("Secret".to_owned(), name.to_owned(), file))
        }
    };
    if args.first() != Some(&"up") {
        found.push(format!("the gateway does not run `carehub up`: {args:?}"));
    }
    for flag in ["tls-ca", "tls-cert", "tls-key"] {
        match arg(flag).map(|p| (p, mounted(p))) {
            None => found.push(format!("the gateway has no --{flag}")),
            Some((p, None)) => found.push(format!("the gateway's --{flag} {p} is not mounted")),
            Some((p, Some((kind, name, key)))) => {
                if !objects
                    .get(&(kind.clone(), name.clone()))
                    .is_some_and(|k| k.contains(&key))
                {
                    found.push(format!(
                        "the gateway's --{flag} {p}: {kind} {name} has no key {key}"
                    ));
                }
            }
        }
    }
    let proxy_file = match arg("proxy").map(|p| (p, mounted(p))) {
        Some((_, Some((kind, name, key)))) if kind == "ConfigMap" => docs
            .iter()
            .find(|d| d.kind() == "ConfigMap" && d.name() == name)
            .and_then(|d| d.value["data"][&key].as_str()),
        other => {
            found.push(format!(
                "the gateway's --proxy is not a mounted ConfigMap key: {other:?}"
            ));
            None
        }
    };
    let Some(proxy_file) = proxy_file else {
        found.push("the gateway's proxy file is missing".into());
        return found;
    };
    let plan = match ProxyConfig::parse(proxy_file).and_then(|c| c.plan(manifest)) {
        Ok(plan) => plan,
        Err(e) => {
            found.push(format!(
                "the gateway's proxy file does not fit spin.toml: {e:#}"
            ));
            return found;
        }
    };
    for trigger in &manifest.triggers {
        let path = sample_path(&trigger.route);
        let Some(m) = plan.router.route(&path) else {
            found.push(format!("route {} reaches no upstream", trigger.route));
            continue;
        };
        let up = &plan.upstreams[*m.target];
        let host = up.authority.split(':').next().unwrap_or("");
        let service = host.split('.').next().unwrap_or("");
        let port_ok = up.authority == host || up.authority.ends_with(":80");
        if up.id != trigger.component {
            found.push(format!(
                "route {} goes to {}'s upstream, not {}'s",
                trigger.route, up.id, trigger.component
            ));
        } else if retains.get(service) != Some(&trigger.component) || !port_ok {
            found.push(format!(
                "route {} goes to {}://{}, which is not the Service (port 80) of the SpinApp running {}",
                trigger.route, up.scheme, up.authority, trigger.component
            ));
        }
    }

    // The gateway signs with the key the components verify with, and has
    // what it needs to verify person tokens and migrate the database.
    let env: BTreeMap<String, Value> = container["env"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e["name"].as_str().unwrap_or("").to_owned(), e))
        .collect();
    for (var, env_name) in [
        ("assertion_key", "SPIN_VARIABLE_ASSERTION_KEY"),
        (
            "person_token_public_key",
            "SPIN_VARIABLE_PERSON_TOKEN_PUBLIC_KEY",
        ),
        ("person_token_issuer", "SPIN_VARIABLE_PERSON_TOKEN_ISSUER"),
        ("database_host", "SPIN_VARIABLE_DATABASE_HOST"),
    ] {
        if !manifest.variables.contains_key(var) {
            continue;
        }
        let gateway_source = env
            .get(env_name)
            .map(|e| check_source(&e["valueFrom"], &objects));
        let Some(Ok(gateway_source)) = gateway_source else {
            found.push(format!(
                "the gateway's {env_name} does not come from the layout: {gateway_source:?}"
            ));
            continue;
        };
        for app in docs.iter().filter(|d| d.kind() == "SpinApp") {
            let var_def = app.value["spec"]["variables"]
                .as_array()
                .and_then(|vs| vs.iter().find(|v| v["name"] == var).cloned());
            if let Some(var_def) = var_def
                && check_source(&var_def["valueFrom"], &objects).as_ref() != Ok(&gateway_source)
            {
                found.push(format!(
                    "SpinApp {} takes {var} from elsewhere than the gateway's {env_name}",
                    app.name()
                ));
            }
        }
    }
    // The gateway's own connection string is its verify-full twin of the
    // components' database_url (Spin's client knows no verify-full), from
    // the same Secret, with the CA bundle it verifies the server against.
    for env_name in ["SPIN_VARIABLE_DATABASE_URL", "SPIN_VARIABLE_DATABASE_CA"] {
        match env
            .get(env_name)
            .map(|e| check_source(&e["valueFrom"], &objects))
        {
            Some(Ok((_, secret, _))) if secret == "carehub-database" => {}
            other => found.push(format!(
                "the gateway's {env_name} does not come from Secret carehub-database: {other:?}"
            )),
        }
    }
    if env
        .get("SPIN_VARIABLE_STORE_BACKEND")
        .and_then(|e| e["value"].as_str())
        != Some("postgres")
    {
        found.push("the gateway's SPIN_VARIABLE_STORE_BACKEND is not postgres".into());
    }

    // The webhook dispatcher runs on a schedule through the edge.
    if plan.router.route("/api/webhooks/dispatch").is_some() {
        let scheduled = docs
            .iter()
            .filter(|d| d.kind() == "CronJob")
            .any(|d| d.value.to_string().contains("/api/webhooks/dispatch"));
        if !scheduled {
            found.push("spin.toml routes /api/webhooks/dispatch but no CronJob calls it".into());
        }
    }
    // So does the retention job.
    if plan.router.route("/api/webhooks/purge").is_some() {
        let scheduled = docs
            .iter()
            .filter(|d| d.kind() == "CronJob")
            .any(|d| d.value.to_string().contains("/api/webhooks/purge"));
        if !scheduled {
            found.push("spin.toml routes /api/webhooks/purge but no CronJob calls it".into());
        }
    }
    found
}

#[test]
fn the_shipped_manifests_deploy_every_component_of_spin_toml() {
    let docs = shipped();
    let found = findings(&manifest(&spin_toml()), &docs);
    assert!(found.is_empty(), "{found:#?}");
    // And they are what the test thinks they are.
    let apps = docs.iter().filter(|d| d.kind() == "SpinApp").count();
    assert_eq!(apps, manifest(&spin_toml()).components.len());
}

#[test]
fn a_component_added_to_spin_toml_without_a_deployment_is_found() {
    let text = format!(
        "{}\n[[trigger.http]]\nroute = \"/api/newop/...\"\ncomponent = \"newop\"\n\n\
         [component.newop]\nsource = \"newop.wasm\"\n",
        spin_toml()
    );
    let found = findings(&manifest(&text), &shipped());
    assert!(
        found.iter().any(|f| f == "component newop has no SpinApp"),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|f| f.contains("no upstream for routed component(s): newop")),
        "{found:#?}"
    );
}

#[test]
fn manifests_that_lose_or_miswire_a_deployment_are_found() {
    let m = manifest(&spin_toml());
    let id = m.components.keys().next().unwrap().clone();

    // A SpinApp removed.
    let docs: Vec<Doc> = shipped()
        .into_iter()
        .filter(|d| !(d.kind() == "SpinApp" && d.value["spec"]["components"][0] == id.as_str()))
        .collect();
    let found = findings(&m, &docs);
    assert!(
        found.contains(&format!("component {id} has no SpinApp")),
        "{found:#?}"
    );

    // A SpinApp for a component spin.toml does not have, and one missing a
    // variable, and one taking the assertion key from another Secret.
    let mut docs = shipped();
    let first = docs.iter().position(|d| d.kind() == "SpinApp").unwrap();
    let mut ghost = Doc {
        file: docs[first].file.clone(),
        value: docs[first].value.clone(),
    };
    ghost.value["metadata"]["name"] = "carehub-ghost".into();
    ghost.value["spec"]["components"] = serde_json::json!(["ghost"]);
    docs.push(ghost);
    let vars = docs[first].value["spec"]["variables"]
        .as_array_mut()
        .unwrap();
    vars.retain(|v| v["name"] != "database_url");
    for v in vars.iter_mut() {
        if v["name"] == "assertion_key" {
            v["valueFrom"]["secretKeyRef"]["name"] = "carehub-database".into();
            v["valueFrom"]["secretKeyRef"]["key"] = "database_url".into();
        }
    }
    let name = docs[first].name().to_owned();
    let found = findings(&m, &docs);
    for expected in [
        "SpinApp carehub-ghost runs component ghost, which spin.toml does not define".to_owned(),
        "needs variable database_url, which is not provided".to_owned(),
        format!(
            "SpinApp {name} takes assertion_key from elsewhere than the gateway's SPIN_VARIABLE_ASSERTION_KEY"
        ),
    ] {
        assert!(
            found.iter().any(|f| f.contains(&expected)),
            "{expected}: {found:#?}"
        );
    }

    // The proxy file pointing a route at another component's Service.
    let mut docs = shipped();
    let cm = docs
        .iter_mut()
        .find(|d| d.kind() == "ConfigMap" && d.name() == "carehub-proxy")
        .unwrap();
    let text = cm.value["data"]["proxy.toml"].as_str().unwrap().to_owned();
    let other = m.components.keys().nth(1).unwrap();
    cm.value["data"]["proxy.toml"] = text
        .replace(
            &format!("\"http://carehub-{id}\""),
            &format!("\"http://carehub-{other}\""),
        )
        .into();
    let found = findings(&m, &docs);
    assert!(
        found
            .iter()
            .any(|f| f.contains("which is not the Service (port 80) of the SpinApp running")),
        "{found:#?}"
    );
}

// The kustomization as the cluster receives it.

/// `kubectl kustomize infra/k8s` when kubectl is on the PATH, else
/// [`own_render`]; with which renderer.
fn rendered() -> (Vec<Doc>, &'static str) {
    let out = std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(k8s())
        .output();
    match out {
        Ok(out) if out.status.success() => (
            parse_yaml("kubectl kustomize", &String::from_utf8(out.stdout).unwrap()),
            "kubectl",
        ),
        Ok(out) => panic!(
            "kubectl kustomize infra/k8s failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(_) => (own_render(), "own"),
    }
}

/// What kustomize does with this kustomization, for machines without
/// kubectl: the listed resources, each object put in `namespace` (but the
/// Namespace itself), the `images` tags set on containers and SpinApps.
fn own_render() -> Vec<Doc> {
    let text = std::fs::read_to_string(k8s().join("kustomization.yaml")).unwrap();
    let kustomization = &parse_yaml("kustomization.yaml", &text)[0].value;
    let namespace = kustomization["namespace"].as_str();
    let images: Vec<(String, String)> = kustomization["images"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_owned(),
                i["newTag"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let retag = |image: &mut Value| {
        let Some(current) = image.as_str() else {
            return;
        };
        let name = current.rsplit_once(':').map_or(current, |(n, _)| n);
        if let Some((_, tag)) = images.iter().find(|(n, _)| n == name) {
            *image = format!("{name}:{tag}").into();
        }
    };
    let mut docs = Vec::new();
    for file in kustomization["resources"].as_array().unwrap() {
        let file = file.as_str().unwrap();
        let text = std::fs::read_to_string(k8s().join(file)).unwrap();
        for mut doc in parse_yaml(file, &text) {
            if let Some(ns) = namespace
                && doc.kind() != "Namespace"
            {
                doc.value["metadata"]["namespace"] = ns.into();
            }
            if doc.kind() == "SpinApp" {
                retag(&mut doc.value["spec"]["image"]);
            }
            for pod in [
                "/spec/template/spec",
                "/spec/jobTemplate/spec/template/spec",
            ] {
                if let Some(containers) = doc
                    .value
                    .pointer_mut(&format!("{pod}/containers"))
                    .and_then(Value::as_array_mut)
                {
                    for c in containers {
                        retag(&mut c["image"]);
                    }
                }
            }
            docs.push(doc);
        }
    }
    docs
}

fn namespace(doc: &Doc) -> &str {
    doc.value["metadata"]["namespace"].as_str().unwrap_or("")
}

/// Every `secretKeyRef` / `configMapKeyRef` in `v`, as (kind, name, key).
fn key_refs(v: &Value, out: &mut Vec<(String, String, String)>) {
    match v {
        Value::Object(m) => {
            for (field, kind) in [("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")] {
                if let Some(r) = m.get(field) {
                    out.push((
                        kind.to_owned(),
                        r["name"].as_str().unwrap_or("").to_owned(),
                        r["key"].as_str().unwrap_or("").to_owned(),
                    ));
                }
            }
            m.values().for_each(|v| key_refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| key_refs(v, out)),
        _ => {}
    }
}

/// The pod specs of a workload (Deployment, CronJob).
fn pod_specs(doc: &Doc) -> Vec<&Value> {
    [
        "/spec/template/spec",
        "/spec/jobTemplate/spec/template/spec",
    ]
    .iter()
    .filter_map(|p| doc.value.pointer(p))
    .collect()
}

/// Seconds between runs of a cron schedule of the `*/N * * * *` or
/// `* * * * *` form (the only forms shipped).
fn schedule_period(schedule: &str) -> Option<u64> {
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    if fields.len() != 5 || fields[1..].iter().any(|f| *f != "*") {
        return None;
    }
    match fields[0] {
        "*" => Some(60),
        f => f.strip_prefix("*/")?.parse::<u64>().ok().map(|n| n * 60),
    }
}

/// Everything wrong with the rendered objects against the documented
/// Secret layout (`secrets.example.yaml`); empty when fine.
fn cluster_findings(rendered: &[Doc], layout: &[Doc]) -> Vec<String> {
    let mut found = Vec::new();
    // Secrets come from the layout (never applied); ConfigMaps are rendered.
    let mut objects: BTreeMap<(String, String, String), BTreeSet<String>> = BTreeMap::new();
    for d in layout.iter().filter(|d| d.kind() == "Secret") {
        objects.insert(
            ("Secret".into(), namespace(d).into(), d.name().into()),
            keys(d),
        );
    }
    for d in rendered.iter().filter(|d| d.kind() == "ConfigMap") {
        objects.insert(
            ("ConfigMap".into(), namespace(d).into(), d.name().into()),
            keys(d),
        );
    }
    let has =
        |kind: &str, ns: &str, name: &str| objects.get(&(kind.into(), ns.into(), name.into()));

    for d in rendered {
        let ns = namespace(d);
        if d.kind() != "Namespace" && ns.is_empty() {
            found.push(format!("{} {} has no namespace", d.kind(), d.name()));
        }
        // Every key a manifest refers to exists where it points.
        let mut refs = Vec::new();
        key_refs(&d.value, &mut refs);
        for (kind, name, key) in refs {
            match has(&kind, ns, &name) {
                None => found.push(format!(
                    "{} {}: {kind} {ns}/{name} is not in the documented set",
                    d.kind(),
                    d.name()
                )),
                Some(k) if !k.contains(&key) => found.push(format!(
                    "{} {}: {kind} {ns}/{name} has no key {key}",
                    d.kind(),
                    d.name()
                )),
                Some(_) => {}
            }
        }
        // Mounted Secrets and ConfigMaps exist, and every file a container
        // names under a mount is one of their keys.
        for pod in pod_specs(d) {
            let volumes = pod["volumes"].as_array().cloned().unwrap_or_default();
            for c in pod["containers"].as_array().cloned().unwrap_or_default() {
                let text = format!("{} {} {}", c["command"], c["args"], c["env"]);
                for m in c["volumeMounts"].as_array().cloned().unwrap_or_default() {
                    let Some(v) = volumes.iter().find(|v| v["name"] == m["name"]) else {
                        found.push(format!(
                            "{} {}: mount of an undefined volume",
                            d.kind(),
                            d.name()
                        ));
                        continue;
                    };
                    let (kind, name) = if let Some(n) = v["secret"]["secretName"].as_str() {
                        ("Secret", n)
                    } else if let Some(n) = v["configMap"]["name"].as_str() {
                        ("ConfigMap", n)
                    } else {
                        continue;
                    };
                    let Some(k) = has(kind, ns, name) else {
                        found.push(format!(
                            "{} {}: mounts {kind} {ns}/{name}, which is not in the documented set",
                            d.kind(),
                            d.name()
                        ));
                        continue;
                    };
                    let dir = format!("{}/", m["mountPath"].as_str().unwrap_or(""));
                    for (i, _) in text.match_indices(&dir) {
                        let file: String = text[i + dir.len()..]
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
                            .collect();
                        if !file.is_empty() && !k.contains(&file) {
                            found.push(format!(
                                "{} {}: {dir}{file} is no key of {kind} {ns}/{name}",
                                d.kind(),
                                d.name()
                            ));
                        }
                    }
                }
            }
        }
    }

    // Every SpinApp's executor is in its own namespace (the admission
    // webhook looks there), creates the Deployment and mounts an existing
    // CA bundle.
    for app in rendered.iter().filter(|d| d.kind() == "SpinApp") {
        let ns = namespace(app);
        let executor = app.value["spec"]["executor"].as_str().unwrap_or("");
        let Some(ex) = rendered
            .iter()
            .find(|d| d.kind() == "SpinAppExecutor" && d.name() == executor && namespace(d) == ns)
        else {
            found.push(format!(
                "SpinApp {}: executor {executor:?} does not exist in namespace {ns}",
                app.name()
            ));
            continue;
        };
        let spec = &ex.value["spec"];
        if spec["createDeployment"] != true {
            found.push(format!(
                "SpinAppExecutor {executor}: createDeployment is not true"
            ));
        }
        if spec["deploymentConfig"]["runtimeClassName"]
            .as_str()
            .is_none_or(str::is_empty)
        {
            found.push(format!("SpinAppExecutor {executor}: no runtimeClassName"));
        }
        match spec["deploymentConfig"]["caCertSecret"].as_str() {
            None => found.push(format!("SpinAppExecutor {executor}: no caCertSecret")),
            Some(name) => match has("Secret", ns, name) {
                Some(k) if k.contains("ca-certificates.crt") => {}
                _ => found.push(format!(
                    "SpinAppExecutor {executor}: caCertSecret {ns}/{name} with key ca-certificates.crt is not in the documented set"
                )),
            },
        }
    }

    // Every proxy upstream is the Service the operator creates for a
    // SpinApp (its name, port 80) in the gateway's namespace.
    for cm in rendered
        .iter()
        .filter(|d| d.kind() == "ConfigMap" && d.name() == "carehub-proxy")
    {
        let ns = namespace(cm);
        let config: toml::Value =
            toml::from_str(cm.value["data"]["proxy.toml"].as_str().unwrap_or(""))
                .unwrap_or_else(|e| panic!("proxy.toml: {e}"));
        for (id, url) in config["upstreams"].as_table().cloned().unwrap_or_default() {
            let url = url.as_str().unwrap_or("");
            let authority = url
                .strip_prefix("http://")
                .unwrap_or(url)
                .split('/')
                .next()
                .unwrap_or("");
            let (host, port) = authority.split_once(':').unwrap_or((authority, "80"));
            let mut labels = host.split('.');
            let service = labels.next().unwrap_or("");
            let service_ns = labels.next().unwrap_or(ns);
            let matches = rendered.iter().any(|d| {
                d.kind() == "SpinApp" && d.name() == service && namespace(d) == service_ns
            });
            if !matches || port != "80" || !url.starts_with("http://") {
                found.push(format!(
                    "upstream {id} = {url} is no Service the operator creates (a SpinApp's name, port 80, namespace {service_ns})"
                ));
            }
        }
    }

    // The dispatch CronJob: a run ends before its deadline, which ends
    // before the next run is due, and runs never overlap.
    for cj in rendered.iter().filter(|d| d.kind() == "CronJob") {
        let spec = &cj.value["spec"];
        let name = cj.name();
        let period = spec["schedule"].as_str().and_then(schedule_period);
        let deadline = spec["jobTemplate"]["spec"]["activeDeadlineSeconds"].as_u64();
        let container = &spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
        let env = |n: &str| -> Option<u64> {
            container["env"]
                .as_array()?
                .iter()
                .find(|e| e["name"] == n)?["value"]
                .as_str()?
                .parse()
                .ok()
        };
        let script = container["args"].to_string();
        if spec["concurrencyPolicy"] != "Forbid" {
            found.push(format!("CronJob {name}: concurrencyPolicy is not Forbid"));
        }
        match (period, deadline, env("RUN_SECONDS"), env("CALL_SECONDS")) {
            (Some(period), Some(deadline), Some(run), Some(call)) => {
                // The last call starts only if it ends within RUN_SECONDS;
                // a 5 s pause follows each call.
                if !(script.contains("--max-time \\\"$CALL_SECONDS\\\"") && script.contains("sleep 5"))
                {
                    found.push(format!("CronJob {name}: the calls are not bounded by CALL_SECONDS"));
                }
                if call >= deadline || run + 5 >= deadline || deadline >= period {
                    found.push(format!(
                        "CronJob {name}: timing inconsistent: calls {call} s, run {run} s + 5, deadline {deadline} s, schedule every {period} s"
                    ));
                }
            }
            other => found.push(format!(
                "CronJob {name}: schedule, activeDeadlineSeconds, RUN_SECONDS or CALL_SECONDS missing: {other:?}"
            )),
        }
    }
    found
}

fn layout() -> Vec<Doc> {
    let file = "secrets.example.yaml";
    parse_yaml(file, &std::fs::read_to_string(k8s().join(file)).unwrap())
}

#[test]
fn the_rendered_kustomization_is_what_the_cluster_admits() {
    let (docs, renderer) = rendered();
    let found = cluster_findings(&docs, &layout());
    assert!(found.is_empty(), "rendered by {renderer}: {found:#?}");
    assert!(docs.iter().any(|d| d.kind() == "SpinAppExecutor"));
}

#[test]
fn the_own_renderer_agrees_with_kubectl() {
    let (docs, renderer) = rendered();
    if renderer != "kubectl" {
        eprintln!("kubectl is not installed: only the own renderer is checked");
    }
    let summary = |docs: &[Doc]| -> BTreeSet<String> {
        docs.iter()
            .map(|d| {
                format!(
                    "{} {}/{} {}",
                    d.kind(),
                    namespace(d),
                    d.name(),
                    d.value["spec"]["image"]
                )
            })
            .collect()
    };
    let own = own_render();
    assert_eq!(summary(&own), summary(&docs));
    assert!(cluster_findings(&own, &layout()).is_empty());
}

#[test]
fn removing_the_executor_or_miswiring_the_cluster_is_found() {
    let (docs, _) = rendered();
    let without: Vec<Doc> = docs
        .iter()
        .filter(|d| d.kind() != "SpinAppExecutor")
        .map(|d| Doc {
            file: d.file.clone(),
            value: d.value.clone(),
        })
        .collect();
    let found = cluster_findings(&without, &layout());
    let apps = docs.iter().filter(|d| d.kind() == "SpinApp").count();
    assert_eq!(
        found
            .iter()
            .filter(|f| f
                .contains("executor \"containerd-shim-spin\" does not exist in namespace carehub"))
            .count(),
        apps,
        "{found:#?}"
    );

    // The executor in another namespace counts as missing too.
    let mut moved: Vec<Doc> = docs
        .iter()
        .map(|d| Doc {
            file: d.file.clone(),
            value: d.value.clone(),
        })
        .collect();
    for d in moved.iter_mut().filter(|d| d.kind() == "SpinAppExecutor") {
        d.value["metadata"]["namespace"] = "default".into();
    }
    assert!(!cluster_findings(&moved, &layout()).is_empty());

    // A layout that lacks the Spin CA bundle or a key the gateway reads.
    let layout_without: Vec<Doc> = layout()
        .into_iter()
        .filter(|d| d.name() != "carehub-spin-ca")
        .collect();
    let found = cluster_findings(&docs, &layout_without);
    assert!(
        found
            .iter()
            .any(|f| f.contains("caCertSecret carehub/carehub-spin-ca")),
        "{found:#?}"
    );
    let mut layout_less = layout();
    for d in layout_less
        .iter_mut()
        .filter(|d| d.name() == "carehub-database")
    {
        d.value["stringData"]
            .as_object_mut()
            .unwrap()
            .remove("database_ca");
    }
    let found = cluster_findings(&docs, &layout_less);
    assert!(
        found
            .iter()
            .any(|f| f.contains("carehub/carehub-database has no key database_ca")),
        "{found:#?}"
    );

    // An upstream that is no SpinApp's Service, and a CronJob that outlives its schedule.
    let mut wired: Vec<Doc> = docs
        .iter()
        .map(|d| Doc {
            file: d.file.clone(),
            value: d.value.clone(),
        })
        .collect();
    for d in wired.iter_mut() {
        if d.kind() == "ConfigMap" && d.name() == "carehub-proxy" {
            let text = d.value["data"]["proxy.toml"]
                .as_str()
                .unwrap()
                .replace("http://carehub-read\"", "http://carehub-reader\"");
            d.value["data"]["proxy.toml"] = text.into();
        }
        if d.kind() == "CronJob" {
            d.value["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] = 900.into();
        }
    }
    let found = cluster_findings(&wired, &layout());
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("upstream read = http://carehub-reader")),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|f| f.contains("timing inconsistent")),
        "{found:#?}"
    );
}
