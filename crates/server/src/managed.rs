//! A private PostgreSQL cluster in idstore's data directory, for machines
//! with PostgreSQL installed but not running (laptops, CI images, test
//! suites). It listens only on a Unix socket inside its own directory
//! (mode 0700), so nothing else on the machine can reach it, and it is
//! stopped when idstore stops.
//!
//! We drive `initdb`/`pg_ctl` directly rather than through
//! postgresql_embedded: that crate drags an HTTP client and retry stack into
//! the server for a download we never want, and it refuses to run as root,
//! while here root simply hands the cluster to an unprivileged account.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use idstore_store::PgConnectOptions;

use crate::os_user::{self, Account};

/// The cluster's superuser, created by `initdb`.
const SUPERUSER: &str = "idstore";
const PORT: u16 = 5432;
/// `sun_path` is 108 bytes on Linux, including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

#[derive(Debug, thiserror::Error)]
pub enum ManagedError {
    #[error(
        "no PostgreSQL binaries (initdb, pg_ctl) found in `pg_config --bindir` or the usual \
         directories: install PostgreSQL or set DATABASE_URL"
    )]
    NoBinaries,
    #[error("cannot prepare the private PostgreSQL directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the private PostgreSQL runs as user {user}, who cannot reach {path}: choose a data \
         directory every user can traverse (IDSTORE_DATA_DIR / --data-dir), or set DATABASE_URL"
    )]
    Unreachable { user: String, path: PathBuf },
    #[error(
        "the data directory path is too long for a Unix socket ({len} bytes at {path}): \
         choose a shorter IDSTORE_DATA_DIR"
    )]
    PathTooLong { path: PathBuf, len: usize },
    #[error(
        "running as root, and neither a `postgres` nor a `nobody` account exists to run PostgreSQL"
    )]
    NoAccount,
    #[error("`{command}` failed ({status}): {output}; see {log}")]
    Command {
        command: String,
        status: String,
        output: String,
        log: PathBuf,
    },
}

#[derive(Debug)]
pub struct ManagedCluster {
    bin_dir: PathBuf,
    pgdata: PathBuf,
    run_as: Option<Account>,
    /// Started by us (and so ours to stop), rather than found running.
    owned: bool,
}

impl ManagedCluster {
    /// The directory holding `initdb` and `pg_ctl`, if PostgreSQL is installed.
    pub fn binaries() -> Option<PathBuf> {
        let from_pg_config = Command::new("pg_config")
            .arg("--bindir")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
        let mut candidates: Vec<PathBuf> = from_pg_config.into_iter().collect();
        // Debian/Ubuntu and RPM layouts keep one directory per major version: newest first.
        for pattern_dir in ["/usr/lib/postgresql", "/usr/pgsql"] {
            let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(pattern_dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| {
                    let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                    Some((v, e.path().join("bin")))
                })
                .collect();
            versions.sort_by_key(|v| std::cmp::Reverse(v.0));
            candidates.extend(versions.into_iter().map(|(_, p)| p));
        }
        candidates
            .extend(["/usr/local/pgsql/bin", "/usr/local/bin", "/usr/bin"].map(PathBuf::from));
        candidates
            .into_iter()
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    }

    /// Initialises the cluster on first use, then starts it (or adopts one
    /// already running from the same directory).
    pub async fn start(data_dir: &Path) -> Result<Self, ManagedError> {
        let data_dir = data_dir.to_path_buf();
        tokio::task::spawn_blocking(move || Self::start_blocking(&data_dir))
            .await
            .expect("managed PostgreSQL start-up panicked")
    }

    fn start_blocking(data_dir: &Path) -> Result<Self, ManagedError> {
        let bin_dir = Self::binaries().ok_or(ManagedError::NoBinaries)?;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ManagedError::Io { path, source }
        };
        std::fs::create_dir_all(data_dir).map_err(io(data_dir))?;
        let data_dir = data_dir.canonicalize().map_err(io(data_dir))?;
        let pgdata = data_dir.join("postgres");
        let socket = pgdata.join(format!(".s.PGSQL.{PORT}"));
        let len = socket.as_os_str().len();
        if len > MAX_SOCKET_PATH {
            return Err(ManagedError::PathTooLong { path: socket, len });
        }
        let run_as = if os_user::is_root() {
            let account = os_user::by_name("postgres")
                .or_else(|| os_user::by_name("nobody"))
                .ok_or(ManagedError::NoAccount)?;
            check_reachable(&data_dir, &account)?;
            Some(account)
        } else {
            None
        };
        let mut cluster = Self {
            bin_dir,
            pgdata,
            run_as,
            owned: false,
        };
        if !cluster.pgdata.join("PG_VERSION").is_file() {
            cluster.init()?;
        }
        if cluster.is_running() {
            tracing::info!(pgdata = %cluster.pgdata.display(), "adopting the private PostgreSQL already running");
        } else {
            cluster.run_pg_ctl(&[
                "start",
                "-w",
                "-t",
                "60",
                "-l",
                &cluster.log_file().to_string_lossy(),
            ])?;
            cluster.owned = true;
            tracing::info!(pgdata = %cluster.pgdata.display(), "started private PostgreSQL");
        }
        Ok(cluster)
    }

    fn init(&self) -> Result<(), ManagedError> {
        let pgdata = &self.pgdata;
        std::fs::create_dir_all(pgdata)
            .and_then(|()| std::fs::set_permissions(pgdata, std::fs::Permissions::from_mode(0o700)))
            .map_err(|source| ManagedError::Io {
                path: pgdata.clone(),
                source,
            })?;
        if let Some(account) = &self.run_as {
            std::os::unix::fs::chown(pgdata, Some(account.uid), Some(account.gid)).map_err(
                |source| ManagedError::Io {
                    path: pgdata.clone(),
                    source,
                },
            )?;
        }
        tracing::info!(pgdata = %pgdata.display(), "initialising private PostgreSQL cluster");
        let pgdata_arg = pgdata.to_string_lossy().into_owned();
        self.run(
            "initdb",
            &[
                "-D",
                &pgdata_arg,
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-instructions",
            ],
        )?;
        // Only a socket in the cluster's own 0700 directory: trust
        // authentication then admits nobody but this account and root.
        let settings = "\n# idstore private cluster\nlisten_addresses = ''\n\
                        unix_socket_directories = '.'\nunix_socket_permissions = 0700\n\
                        port = 5432\n";
        let conf = pgdata.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).map_err(|source| ManagedError::Io {
            path: conf.clone(),
            source,
        })?;
        text.push_str(settings);
        std::fs::write(&conf, text).map_err(|source| ManagedError::Io { path: conf, source })
    }

    /// Where idstore connects: the socket, as the cluster's superuser.
    pub fn connect_options(&self) -> PgConnectOptions {
        PgConnectOptions::new_without_pgpass()
            .socket(&self.pgdata)
            .port(PORT)
            .username(SUPERUSER)
            .database("postgres")
    }

    pub fn pgdata(&self) -> &Path {
        &self.pgdata
    }

    pub fn is_running(&self) -> bool {
        self.run_pg_ctl(&["status"]).is_ok()
    }

    /// Stops the cluster if idstore started it, letting open sessions end.
    pub async fn stop(mut self) -> Result<(), ManagedError> {
        tokio::task::spawn_blocking(move || {
            // Cleared first so that Drop does not stop it a second time.
            if std::mem::take(&mut self.owned) {
                self.stop_blocking()
            } else {
                Ok(())
            }
        })
        .await
        .expect("managed PostgreSQL shutdown panicked")
    }

    fn stop_blocking(&self) -> Result<(), ManagedError> {
        self.run_pg_ctl(&["stop", "-w", "-t", "60", "-m", "fast"])?;
        tracing::info!(pgdata = %self.pgdata.display(), "stopped private PostgreSQL");
        Ok(())
    }

    /// The server's log (`pg_ctl start -l`).
    pub fn log_file(&self) -> PathBuf {
        self.pgdata.join("server.log")
    }

    /// Runs `pg_ctl -D <pgdata> args...` as the account the cluster runs
    /// as: what an operator (or a test stopping and restarting the cluster
    /// under load) uses to act on it. A `start` must name the log with
    /// `-l`, or the server inherits this process's output.
    pub fn run_pg_ctl(&self, args: &[&str]) -> Result<Output, ManagedError> {
        let pgdata = self.pgdata.to_string_lossy().into_owned();
        let mut all = vec!["-D", &pgdata];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all)
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<Output, ManagedError> {
        let mut command = Command::new(self.bin_dir.join(program));
        command
            .args(args)
            .env("LC_ALL", "C")
            .current_dir(&self.pgdata);
        if let Some(account) = &self.run_as {
            // std drops root's supplementary groups when it sets the uid.
            command.uid(account.uid).gid(account.gid);
        }
        let failed = |status: String, output: String| ManagedError::Command {
            command: format!("{program} {}", args.join(" ")),
            status,
            output,
            log: self.log_file(),
        };
        let output = command
            .output()
            .map_err(|e| failed("not started".into(), e.to_string()))?;
        if output.status.success() {
            return Ok(output);
        }
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Err(failed(output.status.to_string(), text.trim().to_owned()))
    }
}

impl Drop for ManagedCluster {
    /// A cluster idstore started never outlives it, even on an error path.
    fn drop(&mut self) {
        if self.owned
            && let Err(e) = self.stop_blocking()
        {
            tracing::error!(error = %e, "could not stop private PostgreSQL");
        }
    }
}

/// Every ancestor of `dir` must let `account` through, or initdb fails with
/// a bare "permission denied".
fn check_reachable(dir: &Path, account: &Account) -> Result<(), ManagedError> {
    for ancestor in dir.ancestors() {
        let Ok(meta) = std::fs::metadata(ancestor) else {
            continue;
        };
        let mode = meta.mode();
        let passes = if meta.uid() == account.uid {
            mode & 0o100 != 0
        } else if meta.gid() == account.gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !passes {
            return Err(ManagedError::Unreachable {
                user: account.name.clone(),
                path: ancestor.to_path_buf(),
            });
        }
    }
    Ok(())
}
