//! The container files, checked without a container engine, and the
//! image's health probe (deploy/healthcheck.rs) against a served idstore.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

use idstore_tests::TestApp;
use serde_yaml::Value;

// The image's HEALTHCHECK binary, compiled here as a module so that its
// probe is tested against the real server (its `main` is the image's).
#[allow(dead_code)]
#[path = "../../../deploy/healthcheck.rs"]
mod healthcheck;

fn repo_file(path: &str) -> String {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

fn compose() -> Value {
    serde_yaml::from_str(&repo_file("docker-compose.yml")).expect("docker-compose.yml is YAML")
}

fn env_of(service: &Value) -> Vec<(String, String)> {
    match &service["environment"] {
        Value::Mapping(map) => map
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().unwrap().to_owned(),
                    serde_yaml::to_string(v).unwrap().trim().to_owned(),
                )
            })
            .collect(),
        Value::Sequence(items) => items
            .iter()
            .filter_map(|i| i.as_str()?.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        _ => Vec::new(),
    }
}

fn yaml(value: &Value) -> String {
    serde_yaml::to_string(value).unwrap()
}

fn env_value<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[test]
fn compose_runs_idstore_against_a_healthy_postgresql_15() {
    let doc = compose();
    let services = &doc["services"];
    let postgres = &services["postgres"];
    let idstore = &services["idstore"];
    assert!(
        postgres["image"]
            .as_str()
            .unwrap()
            .starts_with("postgres:15"),
        "{postgres:?}"
    );
    let check = yaml(&postgres["healthcheck"]["test"]);
    assert!(
        check.contains("pg_isready"),
        "postgres healthcheck: {check}"
    );
    let volumes = yaml(&postgres["volumes"]);
    assert!(
        volumes.contains("pgdata:/var/lib/postgresql/data"),
        "PostgreSQL's data in the named volume: {volumes}"
    );
    assert!(
        doc["volumes"].get("pgdata").is_some(),
        "the pgdata volume is declared"
    );

    assert_eq!(
        idstore["depends_on"]["postgres"]["condition"].as_str(),
        Some("service_healthy"),
        "idstore must wait for a healthy database"
    );
    let env = env_of(idstore);
    let listen = env_value(&env, "IDSTORE_LISTEN").expect("IDSTORE_LISTEN set");
    assert!(
        listen.starts_with("0.0.0.0:8080"),
        "inside a container idstore must listen on all interfaces"
    );
    assert_eq!(env_value(&env, "IDSTORE_LOG_FORMAT"), Some("json"));
    let ports = yaml(&idstore["ports"]);
    assert!(ports.contains(":8080"), "port 8080 published: {ports}");
    let health = yaml(&idstore["healthcheck"]["test"]);
    assert!(
        health.contains("idstore-healthcheck") && health.contains("/readyz"),
        "idstore healthcheck: the image's probe on readiness: {health}"
    );
    let grace = idstore["stop_grace_period"]
        .as_str()
        .expect("stop_grace_period");
    let grace: u64 = grace.trim_end_matches('s').parse().unwrap();
    let shutdown: u64 = env_value(&env, "IDSTORE_SHUTDOWN_TIMEOUT")
        .map_or(30, |s| s.trim_matches(['"', '\'']).parse().unwrap());
    let drain: u64 = env_value(&env, "IDSTORE_DRAIN_DELAY")
        .map_or(5, |s| s.trim_matches(['"', '\'']).parse().unwrap());
    assert!(
        grace > drain + shutdown,
        "stop_grace_period {grace}s must exceed drain_delay {drain}s + shutdown_timeout \
         {shutdown}s"
    );
}

#[test]
fn compose_passes_every_secret_as_a_docker_secret_file() {
    let doc = compose();
    let services = &doc["services"];
    let declared = &doc["secrets"];
    let mounted = |service: &Value| -> Vec<String> {
        service["secrets"]
            .as_sequence()
            .expect("the service's secrets")
            .iter()
            .map(|s| s.as_str().or(s["source"].as_str()).unwrap().to_owned())
            .collect()
    };
    // Each variable names the file of a secret the service mounts, and each
    // secret is a file under ./secrets (which .gitignore keeps out).
    let wiring = [
        ("postgres", "POSTGRES_PASSWORD_FILE", "postgres_password"),
        ("idstore", "IDSTORE_DATABASE_URL_FILE", "database_url"),
        (
            "idstore",
            "IDSTORE_RUNTIME_DATABASE_URL_FILE",
            "runtime_database_url",
        ),
        (
            "idstore",
            "IDSTORE_KEY_ENCRYPTION_KEY_FILE",
            "key_encryption_key",
        ),
        (
            "idstore",
            "IDSTORE_BOOTSTRAP_CLIENT_SECRET_FILE",
            "bootstrap_client_secret",
        ),
    ];
    for (service, var, secret) in wiring {
        let env = env_of(&services[service]);
        assert_eq!(
            env_value(&env, var),
            Some(format!("/run/secrets/{secret}").as_str()),
            "{service}: {var}"
        );
        assert!(
            mounted(&services[service]).contains(&secret.to_owned()),
            "{service} mounts {secret}"
        );
        assert_eq!(
            declared[secret]["file"].as_str(),
            Some(format!("./secrets/{secret}").as_str()),
            "secret {secret}"
        );
    }
    let idstore_env = env_of(&services["idstore"]);
    for (name, value) in idstore_env.iter().chain(&env_of(&services["postgres"])) {
        assert!(
            !value.contains("postgres://") && name != "POSTGRES_PASSWORD",
            "a secret in plain environment: {name}={value}"
        );
    }
    assert!(
        env_value(&idstore_env, "IDSTORE_BOOTSTRAP_CLIENT_ID").is_some(),
        "a fixed admin client, so no generated secret is needed"
    );
    // The variables really are the ones idstore reads.
    let files = |key: &str| {
        idstore_server::config::KEYS
            .iter()
            .find(|k| k.name == key)
            .unwrap()
            .file_vars()
    };
    for (var, key) in [
        ("IDSTORE_DATABASE_URL_FILE", "database_url"),
        ("IDSTORE_RUNTIME_DATABASE_URL_FILE", "runtime_database_url"),
        ("IDSTORE_KEY_ENCRYPTION_KEY_FILE", "key_encryption_key"),
        (
            "IDSTORE_BOOTSTRAP_CLIENT_SECRET_FILE",
            "bootstrap_client_secret",
        ),
    ] {
        assert!(
            files(key).contains(&var.to_owned()),
            "{var} is not read for {key}"
        );
    }
    let ignored = repo_file(".gitignore");
    assert!(
        ignored.lines().any(|l| l.trim() == "secrets/"),
        ".gitignore keeps ./secrets out"
    );
    let ignored = repo_file(".dockerignore");
    assert!(
        ignored.lines().any(|l| l.trim() == "secrets"),
        ".dockerignore keeps ./secrets out of the build context"
    );
}

#[test]
fn compose_hardens_the_idstore_container() {
    let doc = compose();
    let idstore = &doc["services"]["idstore"];
    assert_eq!(idstore["read_only"].as_bool(), Some(true));
    assert_eq!(yaml(&idstore["cap_drop"]).trim(), "- ALL");
    assert!(yaml(&idstore["security_opt"]).contains("no-new-privileges:true"));
}

fn dockerfile() -> String {
    repo_file("deploy/Dockerfile")
}

/// The instructions of the last stage, continuation lines joined.
fn runtime_stage(text: &str) -> Vec<String> {
    let joined = text.replace("\\\n", " ");
    let stage = joined
        .rsplit_once("\nFROM ")
        .map(|(_, s)| format!("FROM {s}"))
        .unwrap();
    stage
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

fn env_has_data_dir(runtime: &[String]) -> bool {
    runtime
        .iter()
        .any(|l| l.starts_with("ENV ") && l.contains("IDSTORE_DATA_DIR=/var/lib/idstore"))
}

#[test]
fn the_dockerfile_builds_in_stages_and_runs_unprivileged_with_a_healthcheck() {
    let text = dockerfile();
    let froms = text
        .lines()
        .filter(|l| l.trim_start().starts_with("FROM "))
        .count();
    assert!(froms >= 2, "multi-stage build expected");
    assert!(
        text.contains("cargo build --release --locked"),
        "release build expected"
    );
    let runtime = runtime_stage(&text);
    let find = |instruction: &str| -> Vec<&str> {
        runtime
            .iter()
            .filter(|l| l.starts_with(instruction))
            .map(String::as_str)
            .collect()
    };
    assert!(
        runtime[0].starts_with("FROM scratch"),
        "a small runtime: {}",
        runtime[0]
    );
    let user = find("USER ").pop().expect("USER set");
    let uid = user["USER ".len()..].split(':').next().unwrap();
    assert!(
        uid.parse::<u32>().is_ok_and(|uid| uid != 0),
        "runs as a numeric non-root uid (runAsNonRoot needs one): {user}"
    );
    let data_dir = find("COPY --from=build --chown=")
        .pop()
        .expect("a COPY --chown");
    assert!(
        data_dir.contains(&format!("--chown={uid}:")) && data_dir.ends_with(" /var/lib/"),
        "the data directory /var/lib/idstore belongs to the user idstore runs as: {data_dir}"
    );
    assert!(
        env_has_data_dir(&runtime),
        "IDSTORE_DATA_DIR=/var/lib/idstore"
    );
    assert_eq!(find("EXPOSE "), ["EXPOSE 8080"]);
    assert_eq!(
        find("ENTRYPOINT "),
        [r#"ENTRYPOINT ["/usr/local/bin/idstore"]"#]
    );
    assert_eq!(find("STOPSIGNAL "), ["STOPSIGNAL SIGTERM"]);
    let health = find("HEALTHCHECK ").pop().expect("HEALTHCHECK");
    assert!(
        health.contains(r#"CMD ["/usr/local/bin/idstore-healthcheck", "/healthz"]"#),
        "exec form (no shell in the image), on liveness: {health}"
    );
    assert!(
        text.contains("deploy/healthcheck.rs"),
        "the probe is built from the repository"
    );
    let env = find("ENV ").join(" ");
    assert!(env.contains("IDSTORE_LISTEN=0.0.0.0:8080"), "{env}");
    assert!(env.contains("IDSTORE_LOG_FORMAT=json"), "{env}");
    let labels = find("LABEL ").join(" ");
    for label in [
        "title",
        "description",
        "version",
        "revision",
        "licenses",
        "created",
    ] {
        assert!(
            labels.contains(&format!("org.opencontainers.image.{label}=")),
            "OCI label {label}: {labels}"
        );
    }
}

/// Cargo loads every workspace member's manifest, so the build stage must
/// copy each of them (and the migrations the binary embeds).
#[test]
fn the_dockerfile_copies_every_workspace_member() {
    let text = dockerfile();
    let copied: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("COPY "))
        .filter(|l| !l.starts_with("--from"))
        .flat_map(|l| {
            let mut parts: Vec<&str> = l.split_whitespace().collect();
            parts.pop();
            parts
        })
        .collect();
    let members = workspace_members(&repo_file("Cargo.toml"));
    for member in members.iter().map(String::as_str).chain(["migrations"]) {
        assert!(
            copied
                .iter()
                .any(|c| member == *c || member.starts_with(&format!("{c}/"))),
            "deploy/Dockerfile does not copy {member}: {copied:?}"
        );
    }
}

/// The workspace's members, read from the root manifest's one-line list.
fn workspace_members(manifest: &str) -> Vec<String> {
    let line = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .expect("members = [...] in Cargo.toml");
    let list = line.split_once('[').unwrap().1.split_once(']').unwrap().0;
    list.split(',')
        .map(|m| m.trim().trim_matches('"').to_owned())
        .filter(|m| !m.is_empty())
        .collect()
}

#[test]
fn the_health_probe_asks_loopback_when_idstore_listens_everywhere() {
    assert_eq!(
        healthcheck::target("0.0.0.0:8080").unwrap(),
        "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        healthcheck::target("[::]:9000").unwrap(),
        "[::1]:9000".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        healthcheck::target("10.1.2.3:8080").unwrap(),
        "10.1.2.3:8080".parse::<SocketAddr>().unwrap()
    );
    let refused = healthcheck::target("localhost:8080").unwrap_err();
    assert!(refused.contains("IDSTORE_LISTEN"), "{refused}");
}

#[actix_web::test]
async fn the_health_probe_passes_on_a_serving_idstore_and_fails_otherwise() {
    let app = TestApp::spawn().await;
    let probe = |address: SocketAddr, path: &'static str| {
        tokio::task::spawn_blocking(move || {
            healthcheck::probe(address, path, Duration::from_secs(2))
        })
    };
    for path in ["/healthz", "/readyz"] {
        probe(app.address, path)
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    let missing = probe(app.address, "/nowhere").await.unwrap().unwrap_err();
    assert!(missing.contains("404"), "{missing}");

    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let refused = probe(closed, "/healthz").await.unwrap().unwrap_err();
    assert!(refused.contains("cannot connect"), "{refused}");
    app.stop().await.unwrap();
}

/// The README's compose walkthrough creates every secret file compose
/// mounts, logs in as compose's bootstrap client and shows what /readyz
/// answers.
#[test]
fn the_readme_compose_walkthrough_matches_the_compose_file() {
    let readme = repo_file("README.md");
    let section = readme
        .split("\n### docker compose\n")
        .nth(1)
        .expect("README has a \"docker compose\" section")
        .split("\n### ")
        .next()
        .unwrap();
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("the compose section has a ```sh block");
    let doc = compose();
    for (name, secret) in doc["secrets"].as_mapping().unwrap() {
        let file = secret["file"].as_str().unwrap().trim_start_matches("./");
        assert!(
            block.contains(&format!("> {file}")),
            "the walkthrough does not create {file} (secret {name:?})"
        );
    }
    let env = env_of(&doc["services"]["idstore"]);
    let client = env_value(&env, "IDSTORE_BOOTSTRAP_CLIENT_ID").unwrap();
    let default = client
        .split_once(":-")
        .map_or(client, |(_, d)| d.trim_end_matches('}'));
    assert!(
        block.contains(&format!("client_id={default}")),
        "the walkthrough's token request uses client {default}"
    );
    assert!(block.contains("docker compose up"));
    // What /readyz tells an anonymous caller (crates/api/src/health.rs).
    let ready = r#"{"status":"ready","breached_passwords":{"entries":0}}"#;
    let readyz = block
        .lines()
        .find(|l| l.starts_with("curl") && l.contains("/readyz"))
        .expect("the walkthrough asks /readyz");
    assert!(
        readyz.contains(ready),
        "the README shows {readyz:?}; this binary answers {ready}"
    );
}

#[test]
fn compose_gives_idstore_a_key_encryption_key_it_must_be_told_and_ships_none() {
    let doc = compose();
    let env = &doc["services"]["idstore"]["environment"];
    // idstore has a database URL, so it needs the key; compose reads it from
    // a secret file the operator makes, kept out of git (`secrets/`).
    assert!(
        env.get("IDSTORE_KEY_ENCRYPTION_KEY").is_none(),
        "a key written into compose"
    );
    assert_eq!(
        env["IDSTORE_KEY_ENCRYPTION_KEY_FILE"].as_str(),
        Some("/run/secrets/key_encryption_key")
    );
    let file = doc["secrets"]["key_encryption_key"]["file"]
        .as_str()
        .unwrap();
    assert!(file.starts_with("./secrets/"), "{file}");
    assert!(
        repo_file(".gitignore")
            .lines()
            .any(|l| l.trim() == "secrets/")
    );
    assert!(
        !std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(file)
            .exists()
    );
}

/// The optional collector: off unless asked for (a profile, an empty
/// endpoint), and when asked for, receiving both of idstore's signals on
/// the port idstore is told.
#[test]
fn compose_has_an_optional_opentelemetry_collector_for_traces_and_metrics() {
    let doc = compose();
    let collector = &doc["services"]["otel-collector"];
    assert_eq!(
        yaml(&collector["profiles"]).trim(),
        "- otel",
        "the collector starts only with --profile otel"
    );
    let env = env_of(&doc["services"]["idstore"]);
    assert_eq!(
        env_value(&env, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        Some("${OTEL_EXPORTER_OTLP_ENDPOINT:-}"),
        "without the profile nothing is exported"
    );
    let mount = yaml(&collector["volumes"]);
    let (host, rest) = mount
        .trim()
        .trim_start_matches("- ")
        .split_once(':')
        .expect("a bind mount");
    assert!(
        rest.starts_with("/etc/otelcol/config.yaml"),
        "mounted where the image reads its config: {mount}"
    );
    let config: Value = serde_yaml::from_str(&repo_file(host.trim_start_matches("./")))
        .expect("the collector's config is YAML");
    let endpoint = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
        .as_str()
        .expect("an OTLP/HTTP receiver");
    let port = endpoint.rsplit(':').next().unwrap();
    assert_eq!(port, "4318");
    assert!(yaml(&collector["ports"]).contains("4318:4318"));
    for signal in ["traces", "metrics"] {
        let pipeline = &config["service"]["pipelines"][signal];
        assert!(
            yaml(&pipeline["receivers"]).contains("otlp"),
            "no {signal} pipeline from the OTLP receiver: {config:?}"
        );
        for exporter in pipeline["exporters"].as_sequence().unwrap() {
            let name = exporter.as_str().unwrap();
            assert!(
                config["exporters"].get(name).is_some(),
                "{signal} go to {name}, which is not configured"
            );
        }
    }
    // The header's command names the collector by its service name.
    let header = repo_file("docker-compose.yml");
    assert!(header.contains(&format!("http://otel-collector:{port}")));
    assert!(header.contains("--profile otel"));
}
