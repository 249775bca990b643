//! The `idstore` command line.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::config::{self, CommonFlags, Config, ConfigFlags, ServeFlags};
use crate::startup::{Application, shutdown_signals};
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
    Serve(ServeFlags),
    /// Apply pending database migrations and exit.
    Migrate(CommonFlags),
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
    /// Manage the breached-password list that passwords are checked against.
    Breached {
        #[command(subcommand)]
        command: BreachedCommand,
    },
    /// Manage the key-encryption key that seals the signing keys.
    Kek {
        #[command(subcommand)]
        command: KekCommand,
    },
    /// Print the version and the database schema version this binary expects.
    Version,
    /// Print idstore's OpenAPI 3.1 document (what `GET /openapi.json` serves) and exit.
    Openapi,
    /// Print README.md's configuration table, generated from the key definitions.
    #[command(hide = true)]
    ConfigTable,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Give each tenant (or one) a new signing key. It is published at once and signs
    /// five minutes later, once every replica and key cache has read it; the key it
    /// replaces signs until then, and stays in the JWKS until every token it signed
    /// has expired.
    Rotate {
        #[command(flatten)]
        common: CommonFlags,
        /// Only this tenant
        #[arg(long, value_name = "TENANT_ID")]
        tenant: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum BreachedCommand {
    /// Load a list of breached passwords' SHA-1 digests in the "Pwned Passwords" text
    /// format (`HASH:COUNT` lines; lowercase hex and lines without `:COUNT` too) into a
    /// Bloom filter in the database, replacing the one there. Running replicas pick it
    /// up within seconds. The file is read twice, in a fixed buffer: memory is the
    /// filter (about 1.8 MB per million entries at 0.001) plus 1 MiB. A malformed line
    /// stops the import with its number, and nothing changes. Progress goes to stderr.
    Import {
        #[command(flatten)]
        common: CommonFlags,
        /// The file to load
        #[arg(value_name = "FILE")]
        file: std::path::PathBuf,
        /// Probability that a password not in the list is taken for one; the
        /// filter's size follows from it (0.001: 14.4 bits an entry)
        #[arg(long, value_name = "RATE", default_value_t = 0.001)]
        false_positive_rate: f64,
    },
}

#[derive(Debug, Subcommand)]
pub enum KekCommand {
    /// Print a new random key-encryption key (32 bytes, base64) on stdout, and on
    /// stderr how to set it. Every replica sharing a database needs the same key.
    Generate,
}

#[derive(Debug, Args)]
pub struct BootstrapArgs {
    #[command(flatten)]
    pub common: CommonFlags,
    /// `text` for people, `json` for scripts:
    /// {"tenant_id","app_id","client_id","client_secret"}
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub common: CommonFlags,
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

/// Entry point of the `idstore` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = run(cli);
    // After the runtime is gone: the exporter's thread needs none, and the
    // last request spans of a drained `serve` are in its queue.
    telemetry::shutdown();
    match result {
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
        Command::Kek {
            command: KekCommand::Generate,
        } => crate::kek::generate(),
        Command::Openapi => {
            print!("{}", idstore_api::openapi::document_text());
            Ok(())
        }
        Command::ConfigTable => {
            print!("{}", config::markdown_table());
            Ok(())
        }
        Command::Serve(flags) => {
            let config = load(&flags)?;
            runtime()?.block_on(serve(config))
        }
        Command::Migrate(flags) => {
            let config = load(&flags)?;
            runtime()?.block_on(migrate(config))
        }
        Command::Bootstrap(args) => {
            let config = load(&args.common)?;
            runtime()?.block_on(bootstrap(config, args.output))
        }
        Command::Seed(args) => {
            let config = load(&args.common)?;
            runtime()?.block_on(seed(config, args))
        }
        Command::Breached {
            command:
                BreachedCommand::Import {
                    common,
                    file,
                    false_positive_rate,
                },
        } => {
            let config = load(&common)?;
            runtime()?.block_on(import_breached(config, &file, false_positive_rate))
        }
        Command::Keys {
            command: KeysCommand::Rotate { common, tenant },
        } => {
            let config = load(&common)?;
            runtime()?.block_on(rotate_keys(config, tenant))
        }
    }
}

fn load<const SERVE: bool>(flags: &ConfigFlags<SERVE>) -> anyhow::Result<Config> {
    let config = config::load(flags.file.as_deref(), flags.overrides.clone())?;
    telemetry::init(config.log_format, &config.log_level);
    Ok(config)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let (shutdown, hurry) = shutdown_signals()?;
    let app = Application::build(&config).await?;
    app.run_until(shutdown, hurry).await
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let database = postgres::resolve(&config).await?;
    database.require_owner("`idstore migrate`")?;
    let role = database.serving.as_ref().map(postgres::Serving::role);
    let report = idstore_store::migrate_serving(&database.options, role).await;
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
    if let Some(serving) = &database.serving {
        let created = if report.serving_role_created {
            "created; "
        } else {
            ""
        };
        println!(
            "serving role {}: {created}granted DML on every table",
            serving.role
        );
    }
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
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
    database.require_owner("this command")?;
    let result = async {
        // As `serve` and `migrate` do, so that no migration leaves a table
        // the serving role has no grant on.
        let role = database.serving.as_ref().map(postgres::Serving::role);
        idstore_store::migrate_serving(&database.options, role).await?;
        let pool = idstore_store::connect_pool(
            &database.options,
            &idstore_store::PoolSettings::for_commands(2),
        );
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
        // The command's own output shows a generated secret, after the commit.
        crate::bootstrap::run(pool, &kek, admin, |_| Ok(())).await
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
        crate::bootstrap::rotate_keys(pool, &kek, tenant.as_deref(), idstore_auth::KEY_REFRESH)
            .await
    })
    .await?;
    for r in rotated {
        println!(
            "tenant {}: new signing key {}, published now, signing from {}",
            r.tenant_id,
            r.kid,
            r.signs_from
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
    }
    Ok(())
}

async fn import_breached(
    config: Config,
    file: &std::path::Path,
    false_positive_rate: f64,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    // The file first: a malformed one never reaches the database.
    let path = file.to_path_buf();
    let filter =
        tokio::task::spawn_blocking(move || crate::breached::build(&path, false_positive_rate))
            .await??;
    let shape = filter.shape();
    let stored = idstore_store::breached::NewFilter {
        entries: shape.entries,
        false_positive_rate: shape.false_positive_rate,
        bits: shape.bits,
        hashes: shape.hashes,
    };
    let total = filter.bits().len();
    let mut progress = crate::breached::Progress::new(0);
    with_database(&config, async |pool| {
        idstore_store::breached::replace(pool, stored, filter.bits(), |written| {
            progress.stored(written, total)
        })
        .await
        .context("storing the breached-password filter")
    })
    .await?;
    println!(
        "imported {} breached-password digests from {} into a {:.1} MiB filter \
         (false-positive rate {}, {} hashes) in {:.1} s",
        shape.entries,
        file.display(),
        total as f64 / f64::from(1u32 << 20),
        shape.false_positive_rate,
        shape.hashes,
        started.elapsed().as_secs_f64()
    );
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
        let give = |c: &crate::bootstrap::Credentials| crate::startup::hand_over(c, &config.data_dir);
        let tenant_id = match crate::bootstrap::run(pool, &kek, admin, give).await? {
            crate::bootstrap::Outcome::Existing { tenant_id } => tenant_id,
            crate::bootstrap::Outcome::Created {
                credentials,
                generated,
            } => {
                tracing::info!(tenant_id = %credentials.tenant_id, generated, "bootstrapped an empty database");
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
