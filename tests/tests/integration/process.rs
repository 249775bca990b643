//! Runs the real `idstore` binary as a child process.

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

pub const BIN: &str = env!("CARGO_BIN_EXE_idstore-under-test");

/// The binary with an environment free of the caller's idstore settings,
/// run from an empty directory so no stray `idstore.toml` is read.
pub fn idstore(cwd: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars() {
        // OTEL_*: a developer's collector must not receive the tests' spans.
        if key.starts_with("IDSTORE_")
            || key.starts_with("OTEL_")
            || key == "DATABASE_URL"
            || key == "RUST_LOG"
        {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(cwd).stdin(Stdio::null()).kill_on_drop(true);
    cmd
}

/// `idstore serve` on a free port against `database_url`, in `cwd`.
pub fn serve_on(cwd: &std::path::Path, database_url: &str) -> Command {
    let mut cmd = idstore(cwd);
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        database_url,
        "--runtime-database-url",
        &idstore_tests::app::serving_url(database_url),
    ]);
    // No load balancer watches these: a drain would only slow each stop.
    // Tests of the drain set their own.
    cmd.env("IDSTORE_DRAIN_DELAY", "0");
    cmd
}

/// A running `idstore serve`.
pub struct Served {
    child: Child,
    pub address: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    /// Reads stderr into `log` until the process closes it.
    reader: Option<tokio::task::JoinHandle<()>>,
}

impl Served {
    /// Starts `cmd` (an `idstore serve ... --listen 127.0.0.1:0`) and waits
    /// until it logs the address it listens on.
    pub async fn start(mut cmd: Command, within: Duration) -> Self {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn idstore");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, mut rx) = watch::channel(None::<SocketAddr>);
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        let reader = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_hexdigit() || ".:[]".contains(*c))
                        .collect();
                    if let Ok(addr) = addr.parse() {
                        tx.send_replace(Some(addr));
                    }
                }
                sink.lock().unwrap().push(line);
            }
        });
        let waited = tokio::time::timeout(within, rx.wait_for(Option::is_some)).await;
        let address = match waited {
            Ok(Ok(addr)) => addr.unwrap(),
            _ => {
                let _ = child.start_kill();
                panic!(
                    "idstore did not start within {within:?}; log:\n{}",
                    log.lock().unwrap().join("\n")
                )
            }
        };
        Self {
            child,
            address,
            log,
            reader: Some(reader),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("child still running")
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub fn signal(&self, name: &str) {
        let pid = self.pid().to_string();
        let ok = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -{name} {pid} failed");
    }

    /// Whether the process is still running (it was never restarted).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the process to exit and for its last log lines to be read.
    pub async fn wait(&mut self, within: Duration) -> ExitStatus {
        let status = match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!(
                "idstore did not exit within {within:?}; log:\n{}",
                self.log()
            ),
        };
        if let Some(reader) = self.reader.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
        }
        status
    }
}

/// An access token from the idstore at `base` for client `id`.
pub async fn client_token(base: &str, id: &str, secret: &str) -> String {
    let mut res = awc::Client::default()
        .post(format!("{base}/oidc/token"))
        .send_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .await
        .expect("token request answered");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(res.status(), 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}
