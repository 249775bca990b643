//! The README's "Five minutes with curl": `examples/tour.sh` against a real
//! `idstore serve` started on an empty database, as a reader runs it, and the
//! README block checked against the commands the script ran.

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use idstore_tests::app::random_kek;
use idstore_tests::db::empty_database;

use crate::process::{Served, idstore};

const ADMIN_ID: &str = "tour-admin";

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

/// `idstore serve` on a database that has not even been migrated, the state
/// a reader's first start meets, with the admin client fixed as the README
/// fixes it.
async fn serve(dir: &std::path::Path, secret: &str) -> (Served, idstore_tests::TestDb) {
    let db = empty_database().await;
    let mut cmd = idstore(dir);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--workers", "1"])
        .args(["--database-url", &db.url()])
        .env("IDSTORE_KEY_ENCRYPTION_KEY", random_kek())
        .env("IDSTORE_BOOTSTRAP_CLIENT_ID", ADMIN_ID)
        .env("IDSTORE_BOOTSTRAP_CLIENT_SECRET", secret)
        // The README starts the server in the shell that exports the tour's
        // variables; idstore must not take any of them for its own.
        .env("BASE_URL", "http://127.0.0.1:8080")
        .env("CLIENT_ID", ADMIN_ID)
        .env("CLIENT_SECRET", secret);
    (Served::start(cmd, Duration::from_secs(30)).await, db)
}

struct Tour {
    output: Output,
}

impl Tour {
    async fn run(served: &Served, client_id: &str, client_secret: &str) -> Self {
        let mut cmd = tokio::process::Command::new("bash");
        cmd.arg(repo_file("examples/tour.sh"))
            .env("BASE_URL", served.url(""))
            .env("CLIENT_ID", client_id)
            .env("CLIENT_SECRET", client_secret)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let output = tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .expect("tour.sh did not finish within 60 s")
            .expect("run bash");
        Self { output }
    }

    fn passed(&self) -> bool {
        self.output.status.success()
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    fn transcript(&self) -> String {
        format!(
            "exit: {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.output.status,
            self.stdout(),
            String::from_utf8_lossy(&self.output.stderr)
        )
    }

    /// The commands the script says it ran, as it prints them.
    fn commands(&self) -> Vec<String> {
        self.stdout()
            .lines()
            .filter_map(|l| l.strip_prefix("$ "))
            .map(one_spaced)
            .collect()
    }
}

fn one_spaced(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The tour's shell block in the README.
fn readme_tour() -> String {
    let readme = std::fs::read_to_string(repo_file("README.md")).unwrap();
    let section = readme
        .split("\n## Five minutes with curl\n")
        .nth(1)
        .expect("README has a \"Five minutes with curl\" section");
    let section = section.split("\n## ").next().unwrap();
    assert!(
        section.contains("examples/tour.sh"),
        "the tour section does not point at examples/tour.sh"
    );
    section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("the tour section has a ```sh block")
        .to_owned()
}

/// Each curl command in the README's block as a reader types it: continued
/// lines joined, without what it is piped into or the comment after it.
fn readme_commands(block: &str) -> Vec<String> {
    block
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.find("curl ").map(|at| &l[at..]))
        .map(|c| c.split(" # ").next().unwrap())
        .map(|c| c.split(" | ").next().unwrap())
        .map(one_spaced)
        .collect()
}

#[actix_web::test]
async fn tour_sh_runs_against_a_fresh_server_and_is_what_the_readme_shows() {
    let secret = idstore_tests::tokens::new_client_secret();
    let dir = tempfile::tempdir().unwrap();
    let (mut served, _db) = serve(dir.path(), &secret).await;

    let tour = Tour::run(&served, ADMIN_ID, &secret).await;
    assert!(
        tour.passed(),
        "{}\n--- server log\n{}",
        tour.transcript(),
        served.log()
    );

    let block = readme_tour();
    let (shown, ran) = (readme_commands(&block), tour.commands());
    if let Some(i) = (0..shown.len().max(ran.len())).find(|&i| shown.get(i) != ran.get(i)) {
        panic!(
            "command {} of the README's tour is not the one examples/tour.sh runs\n  \
             README:  {:?}\n  tour.sh: {:?}",
            i + 1,
            shown.get(i),
            ran.get(i)
        );
    }
    // An anonymous caller learns ready or not, nothing else.
    let ready = r#"{"status":"ready","breached_passwords":{"entries":0}}"#;
    assert!(
        tour.stdout().lines().any(|l| l == ready),
        "{}",
        tour.transcript()
    );
    let readyz = block
        .lines()
        .find(|l| l.contains("/readyz"))
        .expect("the README's tour asks /readyz");
    assert!(
        readyz.contains(ready),
        "the README shows {readyz:?}; this binary answers {ready}"
    );

    // The block ends with `kill %1` and promises a clean exit.
    served.signal("TERM");
    let exit = served.wait(Duration::from_secs(20)).await;
    assert!(exit.success(), "exit {exit:?}; log:\n{}", served.log());
}

#[actix_web::test]
async fn tour_sh_stops_at_the_first_answer_that_is_not_the_readmes() {
    let secret = idstore_tests::tokens::new_client_secret();
    let dir = tempfile::tempdir().unwrap();
    let (served, _db) = serve(dir.path(), &secret).await;

    let wrong_secret = Tour::run(&served, ADMIN_ID, "not-the-admin-secret").await;
    assert!(!wrong_secret.passed(), "{}", wrong_secret.transcript());
    let said = wrong_secret.transcript();
    assert!(said.contains("expected HTTP 200, got 401"), "{said}");
    assert!(
        !wrong_secret
            .commands()
            .iter()
            .any(|c| c.contains("/v1/applications")),
        "the tour went on without a token:\n{said}"
    );

    let first = Tour::run(&served, ADMIN_ID, &secret).await;
    assert!(first.passed(), "{}", first.transcript());
    // Ann exists now: creating her again is a 409, not the README's 201.
    let again = Tour::run(&served, ADMIN_ID, &secret).await;
    assert!(!again.passed(), "{}", again.transcript());
    let said = again.transcript();
    assert!(said.contains("expected HTTP 201, got 409"), "{said}");
    assert!(
        !said.contains("/v1/users/count"),
        "the tour went on after a failed step:\n{said}"
    );
}
