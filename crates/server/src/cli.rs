//! The `idstore` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::config::{self, Config, Overrides};
use crate::startup::{Application, shutdown_signal};
use crate::{postgres, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "idstore",
    version,
    about = "A self-hosted identity store speaking the Transmit Security Users and Members APIs",
    long_about = "A self-hosted identity store speaking the Transmit Security Users and Members APIs.\n\n\
        Configuration is layered: built-in defaults < idstore.toml < environment < flags.\n\
        Each option below names its environment variable and default."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (migrating the database first unless --no-migrate).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(CommonArgs),
    /// Create the first tenant, its management application, an admin client and a
    /// signing key, printing the client credentials once. Does nothing on a database
    /// that already has a tenant.
    Bootstrap(BootstrapArgs),
    /// Load N generated users into the first tenant for benchmarks, fast (COPY).
    ///
    /// Bootstraps an empty database first. Users are numbered: user i has id
    /// `seed{i:09}` (seed000000042), email `user{i}@example.com`, a distinct US phone
    /// number, custom_data {"n": i, "tier": gold|silver|bronze}, and is associated with
    /// application --app-name (created if missing) with external_account_id `acct{i}`.
    /// Numbers continue after the tenant's highest, so running it again adds more.
    /// Progress goes to stderr; the result to stdout.
    Seed(SeedArgs),
    /// Manage token signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Print the version and the database schema version this binary expects.
    Version,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Give each tenant (or one) a new signing key. Old public keys stay in the JWKS
    /// until every token they signed has expired.
    Rotate {
        #[command(flatten)]
        common: CommonArgs,
        /// Only this tenant
        #[arg(long, value_name = "TENANT_ID")]
        tenant: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct BootstrapArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// `text` for people, `json` for scripts:
    /// {"tenant_id","app_id","client_id","client_secret"}
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// How many users to add, 1 to 50000000
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=50_000_000))]
    pub users: u64,
    /// Application the users are associated with, created in the tenant if missing
    #[arg(long, value_name = "NAME", default_value = "bench")]
    pub app_name: String,
    /// `text` for people, `json` for scripts: {"tenant_id","app_id","first","last","users"}
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Configuration file [env: IDSTORE_CONFIG] [default: ./idstore.toml when present]
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// PostgreSQL URL; secret, never logged [env: DATABASE_URL, IDSTORE_DATABASE_URL, or a file
    /// named by IDSTORE_DATABASE_URL_FILE] [default: the local PostgreSQL, see --postgres]
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Where to find PostgreSQL without a URL: `auto` (local server, else a private cluster),
    /// `system` (local server only) or `managed` (private cluster in --data-dir)
    /// [env: IDSTORE_POSTGRES] [default: auto]
    #[arg(long, value_name = "MODE")]
    pub postgres: Option<String>,
    /// Database used on a local or private PostgreSQL, created if missing
    /// [env: IDSTORE_DATABASE_NAME] [default: idstore]
    #[arg(long, value_name = "NAME")]
    pub database_name: Option<String>,
    /// Directory for idstore's own files, including a private PostgreSQL cluster
    /// [env: IDSTORE_DATA_DIR] [default: ./.idstore]
    #[arg(long, value_name = "PATH")]
    pub data_dir: Option<String>,
    /// Log line format: `text` or `json` [env: IDSTORE_LOG_FORMAT] [default: text]
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Log filter, e.g. `info` or `idstore=debug,sqlx=warn`; RUST_LOG overrides it
    /// [env: IDSTORE_LOG_LEVEL] [default: info]
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Most pooled PostgreSQL connections per process [env: IDSTORE_MAX_CONNECTIONS] [default: 10]
    #[arg(long, value_name = "N")]
    pub max_connections: Option<String>,
    /// Key-encryption key sealing private signing keys: base64 of 32 bytes; secret
    /// [env: IDSTORE_KEY_ENCRYPTION_KEY or a file named by IDSTORE_KEY_ENCRYPTION_KEY_FILE]
    /// [default: a development key generated into --data-dir, with a warning]
    #[arg(long, value_name = "BASE64", hide_env_values = true)]
    pub key_encryption_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Address to listen on; port 0 picks a free port and logs it
    /// [env: IDSTORE_LISTEN] [default: 127.0.0.1:8080]
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Do not apply pending migrations at start-up (a newer schema is still refused)
    /// [env: IDSTORE_MIGRATE=false] [default: migrate]
    #[arg(long)]
    pub no_migrate: bool,
    /// HTTP worker threads, 0 for one per core [env: IDSTORE_WORKERS] [default: 0]
    #[arg(long, value_name = "N")]
    pub workers: Option<String>,
    /// Largest request body in bytes [env: IDSTORE_BODY_LIMIT] [default: 262144]
    #[arg(long, value_name = "BYTES")]
    pub body_limit: Option<String>,
    /// Seconds in-flight requests get to finish on SIGTERM/SIGINT
    /// [env: IDSTORE_SHUTDOWN_TIMEOUT] [default: 30]
    #[arg(long, value_name = "SECONDS")]
    pub shutdown_timeout: Option<String>,
    /// URL clients reach idstore at; token issuer and audience, shared by replicas
    /// [env: IDSTORE_PUBLIC_URL] [default: http://<listen address>]
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Access token lifetime in seconds [env: IDSTORE_TOKEN_LIFETIME] [default: 3600]
    #[arg(long, value_name = "SECONDS")]
    pub token_lifetime: Option<String>,
    /// Do not bootstrap an empty database on start (initial admin client: see
    /// IDSTORE_BOOTSTRAP_CLIENT_ID and IDSTORE_BOOTSTRAP_CLIENT_SECRET[_FILE])
    /// [env: IDSTORE_BOOTSTRAP=false] [default: bootstrap]
    #[arg(long)]
    pub no_bootstrap: bool,
}

impl CommonArgs {
    fn overrides(&self) -> Overrides {
        let mut o = Overrides::new();
        let fields = [
            ("database_url", &self.database_url),
            ("postgres", &self.postgres),
            ("database_name", &self.database_name),
            ("data_dir", &self.data_dir),
            ("log_format", &self.log_format),
            ("log_level", &self.log_level),
            ("max_connections", &self.max_connections),
            ("key_encryption_key", &self.key_encryption_key),
        ];
        push_present(&mut o, &fields);
        o
    }
}

impl ServeArgs {
    fn overrides(&self) -> Overrides {
        let mut o = self.common.overrides();
        let fields = [
            ("listen", &self.listen),
            ("workers", &self.workers),
            ("body_limit", &self.body_limit),
            ("shutdown_timeout", &self.shutdown_timeout),
            ("public_url", &self.public_url),
            ("token_lifetime", &self.token_lifetime),
        ];
        push_present(&mut o, &fields);
        if self.no_migrate {
            o.push(("migrate", false.into()));
        }
        if self.no_bootstrap {
            o.push(("bootstrap", false.into()));
        }
        o
    }
}

/// Flags arrive as text and are typed with the other layers; numbers are
/// parsed here so that `--workers 4` is a number, not the string "4".
fn push_present(overrides: &mut Overrides, fields: &[(&'static str, &Option<String>)]) {
    for (key, value) in fields {
        if let Some(v) = value {
            let typed = v
                .parse::<u64>()
                .map_or_else(|_| v.clone().into(), Into::into);
            overrides.push((key, typed));
        }
    }
}

/// Entry point of the `idstore` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Version => {
            println!(
                "idstore {} (database schema version {})",
                env!("CARGO_PKG_VERSION"),
                idstore_store::migrate::binary_version()
            );
            Ok(())
        }
        Command::Serve(args) => {
            let config = load(args.common.config.as_deref(), args.overrides())?;
            runtime()?.block_on(serve(config))
        }
        Command::Migrate(args) => {
            let config = load(args.config.as_deref(), args.overrides())?;
            runtime()?.block_on(migrate(config))
        }
        Command::Bootstrap(args) => {
            let config = load(args.common.config.as_deref(), args.common.overrides())?;
            runtime()?.block_on(bootstrap(config, args.output))
        }
        Command::Seed(args) => {
            let config = load(args.common.config.as_deref(), args.common.overrides())?;
            runtime()?.block_on(seed(config, args))
        }
        Command::Keys {
            command: KeysCommand::Rotate { common, tenant },
        } => {
            let config = load(common.config.as_deref(), common.overrides())?;
            runtime()?.block_on(rotate_keys(config, tenant))
        }
    }
}

fn load(file: Option<&std::path::Path>, overrides: Overrides) -> anyhow::Result<Config> {
    let config = config::load(file, overrides)?;
    telemetry::init(config.log_format, &config.log_level);
    Ok(config)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let shutdown = shutdown_signal()?;
    let app = Application::build(&config).await?;
    app.run_until(shutdown).await
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let database = postgres::resolve(&config).await?;
    let report = idstore_store::migrate(&database.options).await;
    if let Some(cluster) = database.managed {
        cluster.stop().await?;
    }
    let report = report?;
    if report.applied.is_empty() {
        println!(
            "database schema already at version {}; nothing to do",
            report.version
        );
    } else {
        for (version, name) in &report.applied {
            println!("applied V{version}__{name}");
        }
        println!("database schema now at version {}", report.version);
    }
    Ok(())
}

/// Runs `work` against the configured database, migrated, and stops a
/// private cluster afterwards whatever the outcome.
async fn with_database<T>(
    config: &Config,
    work: impl AsyncFnOnce(&idstore_store::PgPool) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let database = postgres::resolve(config).await?;
    let result = async {
        idstore_store::migrate(&database.options).await?;
        let pool = idstore_store::connect_pool(&database.options, 2);
        let out = work(&pool).await;
        pool.close().await;
        out
    }
    .await;
    if let Some(cluster) = database.managed {
        cluster.stop().await?;
    }
    result
}

async fn bootstrap(config: Config, output: OutputFormat) -> anyhow::Result<()> {
    let kek = crate::kek::load(&config)?;
    let admin = crate::startup::configured_admin(&config);
    let outcome = with_database(&config, async |pool| {
        crate::bootstrap::run(pool, &kek, admin).await
    })
    .await?;
    match (outcome, output) {
        // A configured secret is the operator's already and is never printed;
        // only a generated one must be shown, once.
        (
            crate::bootstrap::Outcome::Created {
                credentials,
                generated,
            },
            OutputFormat::Json,
        ) => {
            let mut out = serde_json::to_value(&credentials)?;
            if !generated && let Some(fields) = out.as_object_mut() {
                fields.remove("client_secret");
            }
            println!("{out}");
        }
        (
            crate::bootstrap::Outcome::Created {
                credentials,
                generated,
            },
            OutputFormat::Text,
        ) => {
            println!("bootstrapped tenant {}", credentials.tenant_id);
            println!("management app_id: {}", credentials.app_id);
            println!("admin client_id:     {}", credentials.client_id);
            if generated {
                println!("admin client_secret: {}", credentials.client_secret);
                println!("Store the secret now: it is not shown again.");
            } else {
                println!("admin client_secret: as configured (not shown)");
            }
        }
        (crate::bootstrap::Outcome::Existing { tenant_id }, OutputFormat::Json) => {
            println!(
                "{}",
                serde_json::json!({ "already_bootstrapped": true, "tenant_id": tenant_id })
            );
        }
        (crate::bootstrap::Outcome::Existing { tenant_id }, OutputFormat::Text) => {
            println!("already bootstrapped (tenant {tenant_id} exists); nothing changed");
        }
    }
    Ok(())
}

async fn rotate_keys(config: Config, tenant: Option<String>) -> anyhow::Result<()> {
    let kek = crate::kek::load(&config)?;
    let rotated = with_database(&config, async |pool| {
        crate::bootstrap::rotate_keys(pool, &kek, tenant.as_deref()).await
    })
    .await?;
    for (tenant_id, kid) in rotated {
        println!("tenant {tenant_id}: new signing key {kid}");
    }
    Ok(())
}

/// What a seed run did, as `--output json` prints it.
#[derive(serde::Serialize)]
struct SeedReport {
    tenant_id: String,
    app_id: String,
    first: u64,
    last: u64,
    users: u64,
    #[serde(skip)]
    seconds: f64,
}

async fn seed(config: Config, args: SeedArgs) -> anyhow::Result<()> {
    let kek = crate::kek::load(&config)?;
    let admin = crate::startup::configured_admin(&config);
    let report = with_database(&config, async |pool| {
        let tenant_id = match crate::bootstrap::run(pool, &kek, admin).await? {
            crate::bootstrap::Outcome::Existing { tenant_id } => tenant_id,
            crate::bootstrap::Outcome::Created {
                credentials,
                generated,
            } => {
                announce_bootstrap(&credentials, generated);
                credentials.tenant_id
            }
        };
        seed_tenant(pool, tenant_id, &args).await
    })
    .await?;
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string(&report)?),
        OutputFormat::Text => {
            println!("tenant_id: {}", report.tenant_id);
            println!("app_id:    {} ({})", report.app_id, args.app_name);
            println!(
                "seeded {} users, seed{:09} to seed{:09}, in {:.1} s ({:.0} rows/s)",
                report.users,
                report.first,
                report.last,
                report.seconds,
                rate(report.users, report.seconds)
            );
        }
    }
    Ok(())
}

async fn seed_tenant(
    pool: &idstore_store::PgPool,
    tenant_id: String,
    args: &SeedArgs,
) -> anyhow::Result<SeedReport> {
    use idstore_store::seed;
    let app = seed::ensure_application(pool, &tenant_id, &args.app_name).await?;
    let plan = seed::Plan {
        tenant_id: &tenant_id,
        app_id: &app.app_id,
        users: args.users,
    };
    let started = std::time::Instant::now();
    let mut meter = ProgressMeter::new(started);
    let seeded = seed::seed_users(pool, plan, |p| meter.report(p))
        .await
        .context("loading users")?;
    Ok(SeedReport {
        tenant_id,
        app_id: app.app_id,
        first: seeded.first,
        last: seeded.last,
        users: seeded.last + 1 - seeded.first,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// With no configured admin secret, the generated one must be shown now
/// or the tenant has no usable admin; stdout stays the command's result.
fn announce_bootstrap(credentials: &crate::bootstrap::Credentials, generated: bool) {
    eprintln!("bootstrapped tenant {}", credentials.tenant_id);
    if generated {
        eprintln!("admin client_id:     {}", credentials.client_id);
        eprintln!("admin client_secret: {}", credentials.client_secret);
        eprintln!("Store the secret now: it is not shown again.");
    }
}

/// Prints seeding progress to stderr, at most once a second.
struct ProgressMeter {
    started: std::time::Instant,
    printed: std::time::Instant,
}

impl ProgressMeter {
    fn new(started: std::time::Instant) -> Self {
        Self {
            started,
            printed: started,
        }
    }

    fn report(&mut self, p: idstore_store::seed::Progress) {
        if self.printed.elapsed() < std::time::Duration::from_secs(1) {
            return;
        }
        self.printed = std::time::Instant::now();
        let seconds = self.started.elapsed().as_secs_f64();
        eprintln!(
            "seeded {}/{} users ({}%), {:.0} rows/s",
            p.done,
            p.total,
            p.done * 100 / p.total.max(1),
            rate(p.done, seconds)
        );
    }
}

fn rate(rows: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        rows as f64 / seconds
    } else {
        0.0
    }
}
