//! The container files, checked without a container engine.

use std::path::PathBuf;

use serde_yaml::Value;

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
    let check = serde_yaml::to_string(&postgres["healthcheck"]["test"]).unwrap();
    assert!(
        check.contains("pg_isready"),
        "postgres healthcheck: {check}"
    );

    assert_eq!(
        idstore["depends_on"]["postgres"]["condition"].as_str(),
        Some("service_healthy"),
        "idstore must wait for a healthy database"
    );
    let env = env_of(idstore);
    let url = &env
        .iter()
        .find(|(k, _)| k == "DATABASE_URL")
        .expect("DATABASE_URL set")
        .1;
    assert!(
        url.contains("@postgres:5432/"),
        "DATABASE_URL must name the postgres service: {url}"
    );
    let listen = &env
        .iter()
        .find(|(k, _)| k == "IDSTORE_LISTEN")
        .expect("IDSTORE_LISTEN set")
        .1;
    assert!(
        listen.starts_with("0.0.0.0:8080"),
        "inside a container idstore must listen on all interfaces"
    );
    let ports = serde_yaml::to_string(&idstore["ports"]).unwrap();
    assert!(ports.contains(":8080"), "port 8080 published: {ports}");
    let health = serde_yaml::to_string(&idstore["healthcheck"]["test"]).unwrap();
    assert!(health.contains("/healthz"), "idstore healthcheck: {health}");
}

#[test]
fn the_dockerfile_builds_in_stages_and_runs_unprivileged_with_a_healthcheck() {
    let text = repo_file("deploy/Dockerfile");
    let froms = text
        .lines()
        .filter(|l| l.trim_start().starts_with("FROM "))
        .count();
    assert!(froms >= 2, "multi-stage build expected");
    assert!(
        text.contains("cargo build --release"),
        "release build expected"
    );
    let user = text
        .lines()
        .rfind(|l| l.starts_with("USER "))
        .expect("USER set");
    assert!(
        !user.contains("root") && user.trim() != "USER 0",
        "runs as {user}"
    );
    assert!(text.contains("HEALTHCHECK") && text.contains("/healthz"));
    assert!(text.contains("IDSTORE_LISTEN=0.0.0.0:8080"));
}

#[test]
fn compose_gives_idstore_a_key_encryption_key_it_must_be_told_and_ships_none() {
    let doc = compose();
    let env = &doc["services"]["idstore"]["environment"];
    let kek = env["IDSTORE_KEY_ENCRYPTION_KEY"]
        .as_str()
        .expect("idstore has DATABASE_URL, so it needs IDSTORE_KEY_ENCRYPTION_KEY");
    // `${VAR:?message}`: compose refuses to start while VAR is unset, so
    // no replica runs without the key or with one written into this file.
    assert!(
        kek.starts_with("${IDSTORE_KEY_ENCRYPTION_KEY:?") && kek.contains("kek generate"),
        "{kek}"
    );
}
