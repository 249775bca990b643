//! A PostgreSQL cluster of one test's own, for tests that crash and restart
//! the database: the shared server the rest of the suite uses is never
//! touched. It is idstore's own private cluster ([`ManagedCluster`]):
//! initialised in a temporary directory from the installed binaries,
//! reachable only through a Unix socket there, run by an unprivileged
//! account when the tests run as root, and stopped when dropped.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use idstore_server::managed::ManagedCluster;
use idstore_store::PgConnectOptions;
use idstore_store::database::{ensure_database, ping};
use sqlx::ConnectOptions;

/// The database idstore uses inside the cluster.
const DATABASE: &str = "idstore";

pub struct OwnCluster {
    // Dropped before the directory it lives in.
    cluster: Arc<ManagedCluster>,
    _dir: tempfile::TempDir,
}

impl OwnCluster {
    /// Initialises and starts a cluster with an empty `idstore` database,
    /// or `None` when PostgreSQL is not installed.
    pub async fn start() -> Option<Self> {
        ManagedCluster::binaries()?;
        let dir = tempfile::tempdir().expect("temporary directory");
        // An unprivileged account runs the cluster for root: let it through.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("open the temporary directory");
        let cluster = ManagedCluster::start(dir.path())
            .await
            .expect("start a PostgreSQL cluster of the test's own");
        ensure_database(&cluster.connect_options(), DATABASE)
            .await
            .expect("create the idstore database");
        Some(Self {
            cluster: Arc::new(cluster),
            _dir: dir,
        })
    }

    pub fn options(&self) -> PgConnectOptions {
        self.cluster.connect_options().database(DATABASE)
    }

    /// The database as a URL, the form a user gives idstore.
    pub fn url(&self) -> String {
        self.options().to_url_lossy().to_string()
    }

    /// `pg_ctl stop -m immediate`: every server process is killed at once,
    /// as in a crash, and the next start runs crash recovery.
    pub async fn crash(&self) {
        self.pg_ctl(&["stop", "-w", "-t", "60", "-m", "immediate"])
            .await;
    }

    /// Starts the cluster again and returns once it accepts connections
    /// (crash recovery done).
    pub async fn start_again(&self) -> Instant {
        let log = self.cluster.log_file().to_string_lossy().into_owned();
        self.pg_ctl(&["start", "-w", "-t", "60", "-l", &log]).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        while ping(&self.options(), Duration::from_secs(2)).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "the restarted cluster accepts no connection"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Instant::now()
    }

    /// Runs `pg_ctl` off the async runtime, so that requests in flight keep
    /// being driven while it waits.
    async fn pg_ctl(&self, args: &[&str]) {
        let cluster = self.cluster.clone();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            cluster.run_pg_ctl(&args).unwrap_or_else(|e| panic!("{e}"));
        })
        .await
        .expect("pg_ctl panicked");
    }
}
