//! The Helm chart (deploy/helm/idstore), rendered by Helm 4's own engine and
//! validated against the Kubernetes schemas, offline: deploy/helm/render.py
//! does both (helm-python-sdk and kubernetes-validate, installed by
//! `bash scripts/chart-tools`, as .ci/run does); these tests check what the
//! manifests say.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{Value, json};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

const INSTALL_HINT: &str = "install the chart tools with `bash scripts/chart-tools` (a venv in \
     /var/tmp/idstore-ci-tools, as .ci/run does; CHART_TOOLS_DIR moves it), or point \
     CHART_PYTHON at a python3 with the packages of deploy/helm/requirements.txt";

/// The python that has the chart tools: CHART_PYTHON, else the
/// venv scripts/chart-tools makes, else python3.
fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("CHART_PYTHON") {
        return python.into();
    }
    let dir = std::env::var_os("CHART_TOOLS_DIR")
        .map_or_else(|| PathBuf::from("/var/tmp/idstore-ci-tools"), PathBuf::from);
    let venv = dir.join("venv/bin/python");
    if venv.is_file() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

fn run_render(values: &Value) -> Output {
    let python = python();
    Command::new(&python)
        .arg(repo().join("deploy/helm/render.py"))
        .arg(repo().join("deploy/helm/idstore"))
        .arg(values.to_string())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {INSTALL_HINT}", python.display()))
}

/// What render.py prints: every rendered object, and which were validated
/// against the Kubernetes schemas.
struct Rendered {
    documents: Vec<Value>,
    validated: Vec<String>,
    skipped: Vec<String>,
    versions: Vec<String>,
}

impl Rendered {
    fn of(kind: &str) -> impl Fn(&&Value) -> bool + '_ {
        move |doc| doc["kind"] == kind
    }

    fn all(&self, kind: &str) -> Vec<&Value> {
        self.documents.iter().filter(Self::of(kind)).collect()
    }

    fn one(&self, kind: &str) -> &Value {
        match self.all(kind).as_slice() {
            [doc] => doc,
            docs => panic!("expected one {kind}, rendered {}", docs.len()),
        }
    }

    fn kinds(&self) -> BTreeSet<String> {
        self.documents
            .iter()
            .map(|d| d["kind"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn render(values: Value) -> Rendered {
    let out = run_render(&values);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {}
        Some(3) => panic!("the chart tools are missing: {stderr}"),
        _ => panic!("deploy/helm/render.py failed with {values}:\n{stderr}"),
    }
    let printed: Value = serde_json::from_slice(&out.stdout).expect("render.py prints JSON");
    let strings = |field: &str| -> Vec<String> {
        printed[field]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    Rendered {
        documents: printed["documents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["object"].clone())
            .collect(),
        validated: strings("validated"),
        skipped: strings("skipped"),
        versions: strings("kubernetes_versions"),
    }
}

/// The variant: autoscaling, a ServiceMonitor, and a Secret the chart creates.
fn variant_values() -> Value {
    json!({
        "autoscaling": {"enabled": true, "minReplicas": 3, "maxReplicas": 6},
        "serviceMonitor": {"enabled": true},
        "secrets": {
            "create": true,
            "databaseUrl": {"value": "postgres://idstore:pw@db:5432/idstore"},
            "runtimeDatabaseUrl": {"value": "postgres://idstore_runtime:pw2@db:5432/idstore"},
            "keyEncryptionKey": {"value": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="},
            "bootstrapClientSecret": {"value": "0123456789abcdef-secret"},
        },
        "bootstrap": {"clientId": "ops-admin"},
        "config": {"public_url": "https://id.example.com"},
    })
}

fn pod_spec(workload: &Value) -> &Value {
    &workload["spec"]["template"]["spec"]
}

fn containers(pod: &Value) -> Vec<&Value> {
    ["initContainers", "containers"]
        .iter()
        .filter_map(|field| pod[*field].as_array())
        .flatten()
        .collect()
}

fn env<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
}

/// The (Secret name, key) an environment variable is read from.
fn secret_ref(container: &Value, name: &str) -> (String, String) {
    let var = env(container, name).unwrap_or_else(|| panic!("{name} is not set: {container}"));
    assert!(
        var.get("value").is_none(),
        "{name} must come from a Secret, not a literal: {var}"
    );
    let reference = &var["valueFrom"]["secretKeyRef"];
    (
        reference["name"]
            .as_str()
            .expect("secretKeyRef.name")
            .into(),
        reference["key"].as_str().expect("secretKeyRef.key").into(),
    )
}

/// What the replicas read from Secrets. The owner's `DATABASE_URL` is
/// the migration Job's alone.
const SECRET_VARS: [&str; 3] = [
    "IDSTORE_RUNTIME_DATABASE_URL",
    "IDSTORE_KEY_ENCRYPTION_KEY",
    "IDSTORE_BOOTSTRAP_CLIENT_SECRET",
];

fn assert_hardened(pod: &Value, what: &str) {
    assert_eq!(
        pod["automountServiceAccountToken"], false,
        "{what}: no service account token"
    );
    let ctx = &pod["securityContext"];
    assert_eq!(ctx["runAsNonRoot"], true, "{what}: {ctx}");
    assert!(ctx["runAsUser"].as_i64().unwrap() > 0, "{what}: {ctx}");
    assert_eq!(ctx["seccompProfile"]["type"], "RuntimeDefault", "{what}");
    for container in containers(pod) {
        let ctx = &container["securityContext"];
        assert_eq!(ctx["readOnlyRootFilesystem"], true, "{what}: {ctx}");
        assert_eq!(ctx["allowPrivilegeEscalation"], false, "{what}: {ctx}");
        assert_eq!(ctx["capabilities"]["drop"], json!(["ALL"]), "{what}: {ctx}");
        assert!(ctx["capabilities"].get("add").is_none(), "{what}: {ctx}");
        // A read-only root: idstore's data directory is a volume.
        let mounts = container["volumeMounts"].to_string();
        assert!(mounts.contains("/var/lib/idstore"), "{what}: {mounts}");
    }
}

fn assert_selects(selector: &Value, labels: &Value, what: &str) {
    let selector = selector.as_object().expect("matchLabels");
    assert!(!selector.is_empty(), "{what}: empty selector");
    for (key, value) in selector {
        assert_eq!(&labels[key], value, "{what}: {key} in {labels}");
    }
}

#[test]
fn the_chart_with_default_values_renders_valid_hardened_manifests() {
    let r = render(json!({}));
    assert_eq!(
        r.kinds(),
        [
            "ConfigMap",
            "Deployment",
            "Job",
            "PodDisruptionBudget",
            "Service"
        ]
        .map(String::from)
        .into(),
        "by default: no Secret (existing ones are referenced), no HPA, no ServiceMonitor"
    );
    assert_eq!(
        r.validated.len(),
        r.documents.len(),
        "every object validated"
    );
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    assert_eq!(r.versions.first().map(String::as_str), Some("1.30"));
    assert!(r.versions.len() == 2, "oldest and newest: {:?}", r.versions);

    let deployment = r.one("Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = pod_spec(deployment);
    assert_hardened(pod, "Deployment");
    let [server] = containers(pod)[..] else {
        panic!("one container: {pod}")
    };
    assert_eq!(server["args"], json!(["serve"]));
    let port = &server["ports"][0];
    assert_eq!(
        (&port["name"], &port["containerPort"]),
        (&json!("http"), &json!(8080))
    );
    let probe = |which: &str| {
        let p = &server[which]["httpGet"];
        (p["path"].as_str().unwrap().to_owned(), p["port"].clone())
    };
    assert_eq!(probe("readinessProbe"), ("/readyz".into(), json!("http")));
    assert_eq!(probe("livenessProbe"), ("/healthz".into(), json!("http")));
    assert!(
        server["resources"]["requests"].is_object() && server["resources"]["limits"].is_object(),
        "resources set: {}",
        server["resources"]
    );

    // Secrets by reference, configuration by ConfigMap.
    for var in SECRET_VARS {
        let (name, _) = secret_ref(server, var);
        assert_eq!(
            name, "idstore",
            "{var} from the existing Secret named for the release"
        );
    }
    assert!(
        env(server, "DATABASE_URL").is_none(),
        "the replicas serve as the runtime role and never hold the owner's URL"
    );
    let config = r.one("ConfigMap");
    assert_eq!(
        server["envFrom"][0]["configMapRef"]["name"],
        config["metadata"]["name"]
    );
    let data = &config["data"];
    assert_eq!(data["IDSTORE_LISTEN"], "0.0.0.0:8080");
    assert_eq!(data["IDSTORE_LOG_FORMAT"], "json");
    assert_eq!(
        data["IDSTORE_MIGRATE"], "false",
        "the replicas never migrate: the Job does"
    );
    for (key, _) in data.as_object().unwrap() {
        assert!(key.starts_with("IDSTORE_"), "{key}");
        assert!(
            !key.contains("DATABASE_URL")
                && !key.contains("KEY_ENCRYPTION")
                && !key.contains("SECRET"),
            "a secret in the ConfigMap: {key}"
        );
    }

    // SIGTERM: the pod outlives the preStop pause, the drain and
    // shutdown_timeout.
    let seconds = |key: &str| -> i64 { data[key].as_str().unwrap().parse().unwrap() };
    let (drain, shutdown) = (
        seconds("IDSTORE_DRAIN_DELAY"),
        seconds("IDSTORE_SHUTDOWN_TIMEOUT"),
    );
    let pause = server["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_i64()
        .unwrap_or(0);
    let grace = pod["terminationGracePeriodSeconds"].as_i64().unwrap();
    assert!(
        grace > pause + drain + shutdown,
        "terminationGracePeriodSeconds {grace} <= {pause} + drain_delay {drain} + \
         shutdown_timeout {shutdown}"
    );

    // The migration Job: a hook before install and upgrade, same secrets.
    let job = r.one("Job");
    let hooks = &job["metadata"]["annotations"];
    assert_eq!(hooks["helm.sh/hook"], "pre-install,pre-upgrade");
    assert!(hooks["helm.sh/hook-weight"].is_string(), "{hooks}");
    assert!(
        hooks["helm.sh/hook-delete-policy"]
            .as_str()
            .unwrap()
            .contains("before-hook-creation"),
        "{hooks}"
    );
    let job_pod = pod_spec(job);
    assert_hardened(job_pod, "Job");
    assert_eq!(job_pod["restartPolicy"], "Never");
    let steps = containers(job_pod);
    assert_eq!(
        steps.iter().map(|c| c["args"].clone()).collect::<Vec<_>>(),
        [json!(["migrate"]), json!(["bootstrap", "--output", "json"])],
        "migrate, then bootstrap (with the configured client, so no secret is printed)"
    );
    for step in &steps {
        for var in SECRET_VARS {
            assert_eq!(secret_ref(step, var), secret_ref(server, var), "{var}");
        }
        assert_eq!(
            secret_ref(step, "DATABASE_URL"),
            ("idstore".to_owned(), "database-url".to_owned()),
            "the Job migrates and bootstraps as the owner"
        );
        assert_eq!(
            env(step, "IDSTORE_BOOTSTRAP_CLIENT_ID").unwrap()["value"],
            env(server, "IDSTORE_BOOTSTRAP_CLIENT_ID").unwrap()["value"]
        );
        // The Job runs before the ConfigMap exists: its configuration is inline.
        assert!(step.get("envFrom").is_none(), "{step}");
        assert_eq!(env(step, "IDSTORE_LOG_FORMAT").unwrap()["value"], "json");
    }

    // The Service and the PDB select the serving pods, never the Job's.
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let selector = &deployment["spec"]["selector"]["matchLabels"];
    assert_selects(selector, pod_labels, "Deployment");
    let service = r.one("Service");
    assert_selects(&service["spec"]["selector"], pod_labels, "Service");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");
    let pdb = r.one("PodDisruptionBudget");
    assert_selects(&pdb["spec"]["selector"]["matchLabels"], pod_labels, "PDB");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    let job_labels = &job["spec"]["template"]["metadata"]["labels"];
    for (what, selector) in [
        ("Service", &service["spec"]["selector"]),
        ("PDB", &pdb["spec"]["selector"]["matchLabels"]),
    ] {
        assert!(
            selector
                .as_object()
                .unwrap()
                .iter()
                .any(|(k, v)| &job_labels[k] != v),
            "the {what} selects the migration Job's pod: {job_labels}"
        );
    }
}

#[test]
fn the_chart_variant_autoscales_creates_its_secret_and_has_a_service_monitor() {
    let r = render(variant_values());
    let deployment = r.one("Deployment");
    assert!(
        deployment["spec"].get("replicas").is_none(),
        "the HPA owns the replica count"
    );
    let hpa = r.one("HorizontalPodAutoscaler");
    assert_eq!(hpa["apiVersion"], "autoscaling/v2");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment");
    assert_eq!(
        hpa["spec"]["scaleTargetRef"]["name"],
        deployment["metadata"]["name"]
    );
    assert_eq!(
        (&hpa["spec"]["minReplicas"], &hpa["spec"]["maxReplicas"]),
        (&json!(3), &json!(6))
    );

    // The created Secret holds every key the pods read, and exists before
    // the migration Job does.
    let secret = r.one("Secret");
    let name = secret["metadata"]["name"].as_str().unwrap();
    let server = containers(pod_spec(deployment))[0];
    for var in SECRET_VARS {
        let (from, key) = secret_ref(server, var);
        assert_eq!(from, name, "{var}");
        assert!(
            secret["data"][&key].is_string(),
            "{key} missing from the Secret"
        );
    }
    assert_eq!(
        env(server, "IDSTORE_BOOTSTRAP_CLIENT_ID").unwrap()["value"],
        "ops-admin"
    );
    let weight = |doc: &Value| -> i64 {
        doc["metadata"]["annotations"]["helm.sh/hook-weight"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let job = r.one("Job");
    assert_eq!(
        secret["metadata"]["annotations"]["helm.sh/hook"],
        job["metadata"]["annotations"]["helm.sh/hook"]
    );
    assert!(weight(secret) < weight(job), "the Secret comes first");
    assert_eq!(
        r.one("ConfigMap")["data"]["IDSTORE_PUBLIC_URL"],
        "https://id.example.com"
    );

    // The ServiceMonitor is a custom resource: no bundled schema, so its
    // shape is checked here.
    assert_eq!(r.skipped, ["ServiceMonitor/idstore"]);
    assert_eq!(r.validated.len(), r.documents.len() - 1);
    let monitor = r.one("ServiceMonitor");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    let service = r.one("Service");
    assert_selects(
        &monitor["spec"]["selector"]["matchLabels"],
        &service["metadata"]["labels"],
        "ServiceMonitor",
    );
    assert_eq!(
        monitor["spec"]["namespaceSelector"]["matchNames"],
        json!(["idstore"])
    );
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], service["spec"]["ports"][0]["name"]);
    assert!(endpoint["path"].as_str().unwrap().starts_with('/'));
}

#[test]
fn the_chart_refuses_values_that_would_break_idstore() {
    let refusals = [
        (
            json!({"config": {"database_url": "postgres://u:p@db/x"}}),
            "database_url",
        ),
        (json!({"config": {"listen": "127.0.0.1:1"}}), "listen"),
        (json!({"bootstrap": {"clientId": ""}}), "clientId"),
        (
            json!({"terminationGracePeriodSeconds": 30}),
            "terminationGracePeriodSeconds",
        ),
        // Enough for the pause and shutdown_timeout, not for the drain too.
        (
            json!({"terminationGracePeriodSeconds": 40}),
            "config.drain_delay",
        ),
        (
            json!({"secrets": {"create": true, "keyEncryptionKey": {"value": "short"}}}),
            "keyEncryptionKey",
        ),
        (json!({"replicaCount": 0}), "replicaCount"),
    ];
    // One process each, at once: each costs a second of Helm start-up.
    let runs: Vec<_> = refusals
        .iter()
        .map(|(values, _)| {
            let values = values.clone();
            std::thread::spawn(move || run_render(&values))
        })
        .collect();
    for ((values, named), run) in refusals.iter().zip(runs) {
        let out = run.join().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(
            out.status.code(),
            Some(3),
            "the chart tools are missing: {stderr}"
        );
        assert_eq!(
            out.status.code(),
            Some(1),
            "{values} must be refused: {stderr}"
        );
        assert!(
            stderr.contains(named),
            "{values}: the refusal names {named}: {stderr}"
        );
    }
}

/// Every configuration key is either the chart's own business or accepted
/// under `config` by values.schema.json, so a new key is a decision here.
#[test]
fn every_configuration_key_is_set_by_the_chart_or_accepted_in_its_config() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("deploy/helm/idstore/values.schema.json")).unwrap(),
    )
    .expect("values.schema.json is JSON");
    let accepted: BTreeSet<&str> = schema["properties"]["config"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        schema["properties"]["config"]["additionalProperties"], false,
        "unknown config keys are refused"
    );
    // Set by the chart (listen, migrate, bootstrap, data_dir), from
    // Secrets, or meaningless with a URL (postgres, database_name).
    let managed = [
        "listen",
        "migrate",
        "bootstrap",
        "data_dir",
        "database_url",
        "runtime_database_url",
        "key_encryption_key",
        "bootstrap_client_id",
        "bootstrap_client_secret",
        "smtp_password",
        "postgres",
        "database_name",
    ];
    for key in idstore_server::config::KEYS {
        let name = key.name;
        assert!(
            accepted.contains(name) != managed.contains(&name),
            "`{name}` must be either accepted under config in values.schema.json or set by the chart"
        );
        if key.is_secret() {
            assert!(!accepted.contains(name), "secret `{name}` in the ConfigMap");
        }
    }
    let known: BTreeSet<&str> = idstore_server::config::KEYS
        .iter()
        .map(|k| k.name)
        .collect();
    for name in accepted {
        assert!(
            known.contains(name),
            "values.schema.json accepts unknown key `{name}`"
        );
    }
}

/// Kubernetes objects that values.yaml passes through whole: the README
/// documents them as one value, not field by field.
const WHOLE: [&str; 6] = [
    "readinessProbe",
    "livenessProbe",
    "startupProbe",
    "resources",
    "podSecurityContext",
    "securityContext",
];

fn value_paths(prefix: &str, value: &serde_yaml::Value, paths: &mut Vec<String>) {
    match value {
        serde_yaml::Value::Mapping(map) if !map.is_empty() && !WHOLE.contains(&prefix) => {
            for (key, value) in map {
                let key = key.as_str().unwrap();
                let path = if prefix.is_empty() {
                    key.to_owned()
                } else {
                    format!("{prefix}.{key}")
                };
                value_paths(&path, value, paths);
            }
        }
        _ => paths.push(prefix.to_owned()),
    }
}

#[test]
fn the_chart_readme_documents_every_value() {
    let chart = repo().join("deploy/helm/idstore");
    let values: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(chart.join("values.yaml")).unwrap())
            .expect("values.yaml is YAML");
    let readme = std::fs::read_to_string(chart.join("README.md")).expect("the chart's README.md");
    let mut paths = Vec::new();
    value_paths("", &values, &mut paths);
    assert!(paths.len() > 40, "{paths:?}");
    let missing: Vec<_> = paths
        .iter()
        .filter(|p| !readme.contains(&format!("`{p}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "deploy/helm/idstore/README.md does not document {missing:?}"
    );
}
