//! The one start-up path, shared by `idstore serve` and the test suite:
//! pick the database, migrate, open the pool, bind, serve, and shut down in
//! order.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::HttpServer;
use actix_web::dev::Server;
use anyhow::Context;
use std::time::Duration;

use idstore_api::auth::{AuthContext, Throttle};
use idstore_api::limits::{SearchLimit, TokenRate};
use idstore_api::{ApiSettings, AppState};
use idstore_auth::TokenSettings;
use idstore_auth::keys::Kek;
use idstore_auth::secret::HashPool;
use idstore_store::{PgPool, PoolSettings, SchemaState};
use secrecy::ExposeSecret;

use crate::config::Config;
use crate::postgres::{self, Database, Serving};
use crate::{bootstrap, kek};

pub struct Application {
    server: Server,
    address: SocketAddr,
    pool: PgPool,
    readiness: PgPool,
    database: Database,
    revocations: tokio::task::JoinHandle<()>,
    breached: tokio::task::JoinHandle<()>,
    gauges: tokio::task::JoinHandle<()>,
    /// The mail worker, when a transport is configured.
    mail_worker: Option<tokio::task::JoinHandle<()>>,
    mail_stop: crate::mail::Stop,
    draining: Arc<AtomicBool>,
    drain_delay: Duration,
}

impl Application {
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        // Before the database is touched: a refused key changes nothing.
        let kek = kek::load(config)?;
        let mut database = postgres::resolve(config).await?;
        if config.migrate {
            database.require_owner("migrating at start-up")?;
            let report = migrate_and_prepare(&mut database).await?;
            log_migration(&report);
        }
        let serving = serving_options(&database).await;
        let pool = idstore_store::connect_pool(&serving, &pool_settings(config));
        let readiness = idstore_store::connect_pool(&serving, &READINESS_POOL);
        if !config.migrate {
            refuse_newer_schema(&pool).await?;
        }
        let listener = TcpListener::bind(config.listen).with_context(|| {
            format!(
                "cannot listen on {}: choose a free address with --listen or IDSTORE_LISTEN",
                config.listen
            )
        })?;
        let address = listener.local_addr()?;
        if config.bootstrap && config.migrate {
            // As the owner, like `idstore bootstrap`.
            let owner =
                idstore_store::connect_pool(&database.options, &PoolSettings::for_commands(1));
            let done = bootstrap_on_first_start(&owner, &kek, config).await;
            owner.close().await;
            done?;
        }
        warn_if_unconfined(&pool).await;
        let settings = token_settings(config, address);
        // The timing dummy is hashed now, off the async workers, rather
        // than by the first unknown client's request.
        tokio::task::spawn_blocking(idstore_auth::secret::dummy_hash).await?;
        let hashes = HashPool::sized(config.hash_workers, config.hash_queue)
            .with_params(config.password_hash_params());
        // As for client secrets: the first unknown user must cost no more.
        tokio::task::spawn_blocking({
            let hashes = hashes.clone();
            move || hashes.prepare_dummy()
        })
        .await?;
        if let Some(warning) = lifetime_warning(config) {
            tracing::warn!("{warning}");
        }
        let auth = AuthContext::new(pool.clone(), settings, kek, Throttle::default(), hashes);
        let revocations = tokio::spawn(watch_revocations(auth.clone()));
        let breached = Arc::new(idstore_api::breached::BreachedPasswords::default());
        load_breached(&breached, &pool).await;
        let breached_watch = tokio::spawn(watch_breached(breached.clone(), pool.clone()));
        // A schema not yet migrated has no keys to try; readiness says why.
        if let Err(e) = auth.check_signing_keys().await {
            tracing::warn!(error = %e, "could not try the key-encryption key on the signing keys");
        }
        let workers = match config.workers {
            0 => std::thread::available_parallelism().map_or(2, usize::from),
            n => n,
        };
        let draining = Arc::new(AtomicBool::new(false));
        let mailer = crate::mail::Mailer::from_config(config)?.map(Arc::new);
        let invitation_mail = idstore_api::invitations::InvitationMail {
            enabled: mailer.is_some(),
            due: Default::default(),
        };
        let mail_stop = crate::mail::Stop::default();
        let mail_worker = mailer.map(|mailer| {
            tokio::spawn(crate::mail::drain(
                pool.clone(),
                mailer,
                invitation_mail.due.clone(),
                mail_stop.clone(),
            ))
        });
        let state = AppState {
            pool: pool.clone(),
            readiness: readiness.clone(),
            draining: draining.clone(),
            auth,
            breached,
            searches: SearchLimit::new(config.search_concurrency)
                .queue_for(Duration::from_millis(config.search_queue_ms)),
            token_rate: std::sync::Arc::new(TokenRate::new(
                config.token_rate_per_source,
                config.token_rate_global,
            )),
            proxies: std::sync::Arc::new(
                config
                    .trusted_proxies
                    .parse()
                    .map_err(|e: String| anyhow::anyhow!("trusted_proxies: {e}"))?,
            ),
            idempotency_lifetime_secs: i64::from(config.idempotency_key_lifetime),
            list_body_limit: config.list_body_limit,
            login: idstore_api::login::LoginSettings {
                user_token_lifetime: config.user_token_lifetime,
                refresh_token_lifetime: config.refresh_token_lifetime as i64,
            },
            invitation_mail,
        };
        let gauges = tokio::spawn(keep_metrics(
            state.clone(),
            crate::telemetry::exporting_metrics(),
        ));
        let settings = ApiSettings {
            body_limit: config.body_limit,
        };
        let server = HttpServer::new(move || idstore_api::app(state.clone(), settings))
            .workers(workers)
            // Signals are ours: SIGINT and SIGTERM both stop gracefully.
            .disable_signals()
            .shutdown_timeout(config.shutdown_timeout)
            // A streamed answer (a user list) is written in pieces; with
            // Nagle's algorithm its last piece waited for the client's
            // delayed ACK: 40 ms more on every keep-alive list request.
            .on_connect(|conn, _| {
                if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
                    let _ = tcp.set_nodelay(true);
                }
            })
            .listen(listener)?
            .run();
        tracing::info!("idstore listening on http://{address}");
        Ok(Self {
            server,
            address,
            pool,
            readiness,
            database,
            revocations,
            breached: breached_watch,
            gauges,
            mail_worker,
            mail_stop,
            draining,
            drain_delay: Duration::from_secs(config.drain_delay),
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Serves until `shutdown` completes, then drains: `/readyz` says not
    /// ready for `drain_delay` (or until `hurry` completes) while requests
    /// are still served; then stops accepting, lets in-flight requests
    /// finish, closes the pool and stops a private PostgreSQL.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()>,
        hurry: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let Self {
            server,
            pool,
            readiness,
            database,
            revocations,
            breached,
            gauges,
            mail_worker,
            mail_stop,
            draining,
            drain_delay,
            ..
        } = self;
        let handle = server.handle();
        let mut serving = tokio::spawn(server);
        tokio::select! {
            result = &mut serving => result??,
            () = shutdown => {
                draining.store(true, Ordering::Relaxed);
                tracing::info!(
                    drain_delay = drain_delay.as_secs(),
                    "draining: /readyz answers 503, requests are still served until the \
                     listener closes"
                );
                tokio::select! {
                    result = &mut serving => {
                        result??;
                        anyhow::bail!("the server stopped by itself while draining");
                    }
                    () = tokio::time::sleep(drain_delay) => {}
                    () = hurry => tracing::info!("a second signal: the drain ends early"),
                }
                tracing::info!("shutting down: no new connections, finishing in-flight requests");
                handle.stop(true).await;
                serving.await??;
            }
        }
        revocations.abort();
        breached.abort();
        gauges.abort();
        if let Some(worker) = mail_worker {
            // The mail under way goes first: cut off, it would be sent again.
            mail_stop.ask();
            let abort = worker.abort_handle();
            if tokio::time::timeout(crate::mail::STOP_WITHIN, worker)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        pool.close().await;
        readiness.close().await;
        if let Some(cluster) = database.managed {
            cluster.stop().await?;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Migrates and prepares the serving role. On a local PostgreSQL where
/// idstore chose the role itself and the owner may not create it, `serve`
/// goes on as the owner (as it would when the role may not log in) and
/// says why, rather than refusing to start.
async fn migrate_and_prepare(
    database: &mut Database,
) -> anyhow::Result<idstore_store::MigrationReport> {
    let role = database.serving.as_ref().map(Serving::role);
    let may_fall_back = database.serving.as_ref().is_some_and(|s| s.may_fall_back);
    match idstore_store::migrate_serving(&database.options, role).await {
        Err(idstore_store::MigrateError::ServingRole(e)) if may_fall_back => {
            tracing::warn!(
                error = %e,
                "serving as the owner of the local database, which row-level security does not \
                 confine if it is a superuser: set runtime_database_url"
            );
            database.serving = None;
            Ok(idstore_store::migrate(&database.options).await?)
        }
        other => Ok(other?),
    }
}

/// What a migration did, in the log.
pub fn log_migration(report: &idstore_store::MigrationReport) {
    for (version, name) in &report.applied {
        tracing::info!(version, name = %name, "applied migration");
    }
    if report.serving_role_created {
        tracing::info!("created the serving role");
    }
    for warning in &report.warnings {
        tracing::warn!("{warning}");
    }
    tracing::info!(
        schema_version = report.version,
        "database schema is current"
    );
}

/// The connection `serve` makes: the serving role's, or the owner's when
/// there is none, or when the local PostgreSQL idstore chose the role on
/// refuses it a login.
async fn serving_options(database: &Database) -> idstore_store::PgConnectOptions {
    let Some(serving) = &database.serving else {
        return database.options.clone();
    };
    if serving.may_fall_back
        && let Err(e) = idstore_store::ping(&serving.options, Duration::from_secs(2)).await
    {
        tracing::warn!(
            error = %e,
            role = %serving.role,
            "the local PostgreSQL refused the serving role a login; serving as the owner, which \
             row-level security does not confine if it is a superuser: allow the role a local \
             login (pg_hba.conf) or set runtime_database_url"
        );
        return database.options.clone();
    }
    serving.options.clone()
}

/// Row-level security confines no superuser and no BYPASSRLS role: say so
/// when `serve` runs as one. Quiet when the database is not up yet.
async fn warn_if_unconfined(pool: &PgPool) {
    let unconfined: Result<(String, bool), _> = sqlx::query_as(
        "SELECT rolname::text, rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(pool)
    .await;
    if let Ok((role, true)) = unconfined {
        tracing::warn!(
            %role,
            "serving as a role that bypasses row-level security: tenants are kept apart by the \
             queries' predicates alone; set runtime_database_url to a role without SUPERUSER \
             and BYPASSRLS (migrating creates it)"
        );
    }
}

/// Every second: the histograms' samples folded into their buckets (which
/// a scrape does too, so that an unscraped process holds no samples), and,
/// while metrics are pushed over OTLP (nothing scrapes then), the pools'
/// and the hash queue's gauges read. Cheap: counters in memory.
async fn keep_metrics(state: AppState, pushed: bool) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        every.tick().await;
        if pushed {
            idstore_api::prometheus::read_gauges(&state);
        }
        idstore_api::prometheus::upkeep();
    }
}

/// Keeps this replica's token revocation list current: every second it
/// reads what other replicas revoked (so they take effect here within a
/// second or two), every minute it purges what can refuse nothing more.
async fn watch_revocations(auth: std::sync::Arc<AuthContext>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for round in 0u64.. {
        tick.tick().await;
        auth.refresh_revocations().await;
        if round % 60 == 59 {
            auth.purge_expired().await;
        }
    }
}

/// Loads the imported breached-password filter, if any. Serving goes on
/// without it when it cannot be read (a schema not yet migrated, a damaged
/// filter): the watcher tries again, and the log says why.
async fn load_breached(breached: &idstore_api::breached::BreachedPasswords, pool: &PgPool) {
    match breached.refresh(pool).await {
        Ok(true) => tracing::info!(
            entries = breached.entries(),
            false_positive_rate = breached.false_positive_rate(),
            "loaded the breached-password filter"
        ),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "could not load the breached-password filter"),
    }
}

/// Picks up a filter another process imported, within
/// [`idstore_api::breached::REFRESH`].
async fn watch_breached(breached: Arc<idstore_api::breached::BreachedPasswords>, pool: PgPool) {
    let mut tick = tokio::time::interval(idstore_api::breached::REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        load_breached(&breached, &pool).await;
    }
}

/// Tokens longer-lived than an hour outlive what revocation and a secret's
/// rotation are meant to end, as far as a verifier that doesn't ask this
/// server is concerned.
pub fn lifetime_warning(config: &Config) -> Option<String> {
    (config.token_lifetime > 3600).then(|| {
        format!(
            "token_lifetime is {} s: tokens verified offline by other services stay valid \
             that long after a revocation; keep it at 3600 or less unless you mean it",
            config.token_lifetime
        )
    })
}

/// Issuer and audience: the public URL, by default the address we listen on.
pub fn token_settings(config: &Config, address: SocketAddr) -> TokenSettings {
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{address}"));
    TokenSettings {
        issuer: public_url.clone(),
        audience: public_url,
        lifetime: Duration::from_secs(config.token_lifetime),
        leeway: config.token_leeway,
    }
}

/// Credentials of the initial admin client from configuration, if fixed there.
pub fn configured_admin(config: &Config) -> bootstrap::AdminClient {
    bootstrap::AdminClient {
        client_id: config.bootstrap_client_id.clone(),
        client_secret: config
            .bootstrap_client_secret
            .as_ref()
            .map(|s| s.expose_secret().to_owned()),
    }
}

/// The serving pool's limits, from configuration.
fn pool_settings(config: &Config) -> PoolSettings {
    PoolSettings {
        max_connections: config.max_connections,
        acquire_timeout: Duration::from_millis(config.pool_timeout_ms),
        statement_timeout: Duration::from_millis(config.statement_timeout_ms),
        lock_timeout: Duration::from_millis(config.lock_timeout_ms),
        idle_in_transaction_timeout: Duration::from_millis(config.idle_in_transaction_timeout_ms),
    }
}

/// Readiness answers within its own 2 s budget on one connection of its own.
const READINESS_POOL: PoolSettings = PoolSettings {
    max_connections: 1,
    acquire_timeout: Duration::from_secs(1),
    statement_timeout: Duration::from_secs(1),
    lock_timeout: Duration::from_secs(1),
    idle_in_transaction_timeout: Duration::from_secs(5),
};

async fn bootstrap_on_first_start(pool: &PgPool, kek: &Kek, config: &Config) -> anyhow::Result<()> {
    let give = |c: &bootstrap::Credentials| hand_over(c, &config.data_dir);
    match bootstrap::run(pool, kek, configured_admin(config), give).await? {
        bootstrap::Outcome::Existing { .. } => {}
        bootstrap::Outcome::Created {
            credentials,
            generated,
        } => {
            tracing::info!(tenant_id = %credentials.tenant_id, client_id = %credentials.client_id, generated, "bootstrapped an empty database");
        }
    }
    Ok(())
}

/// Gives a generated admin secret to the operator once, never to the log
/// stream: on the terminal when stdout is one, else in a new file only the
/// owner can read, whose path alone is logged. (A container started with a
/// TTY has its terminal recorded by `docker logs`: deployments set the
/// bootstrap client instead.) Runs before the bootstrap commits.
pub(crate) fn hand_over(
    credentials: &bootstrap::Credentials,
    data_dir: &Path,
) -> anyhow::Result<()> {
    use std::io::{IsTerminal, Write};
    if std::io::stdout().is_terminal() {
        println!(
            "\n  idstore bootstrapped tenant {}\n  admin client_id:     {}\n  admin client_secret: {}\n  \
             Store the secret now: it is not shown again.\n",
            credentials.tenant_id, credentials.client_id, credentials.client_secret
        );
        return Ok(());
    }
    // Named for the tenant: a data directory that outlived its database
    // must not make the next bootstrap's secret unwritable.
    let path = data_dir.join(format!("bootstrap-admin-{}.json", credentials.tenant_id));
    let refused = || {
        format!(
            "cannot write the generated admin credentials to {}; nothing was bootstrapped: make \
             the data directory writable, or set IDSTORE_BOOTSTRAP_CLIENT_ID and \
             IDSTORE_BOOTSTRAP_CLIENT_SECRET",
            path.display()
        )
    };
    std::fs::create_dir_all(data_dir).with_context(refused)?;
    let mut file = owner_only(&path).with_context(refused)?;
    writeln!(file, "{}", serde_json::to_string_pretty(credentials)?)?;
    file.sync_all()?;
    tracing::warn!(
        path = %path.display(),
        "the generated admin client's id and secret are in this file (readable by its owner \
         only); store them elsewhere and delete it"
    );
    Ok(())
}

/// A new file readable and writable by its owner alone; never an existing
/// one, which could be a link planted elsewhere.
fn owner_only(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// A database migrated by a newer idstore may hold data this binary would
/// misread: refuse to serve it.
async fn refuse_newer_schema(pool: &PgPool) -> anyhow::Result<()> {
    if let Ok(SchemaState::Ahead { database, binary }) = idstore_store::schema_state(pool).await {
        anyhow::bail!(idstore_store::MigrateError::DatabaseNewer { database, binary });
    }
    Ok(())
}

/// Registers SIGTERM and SIGINT handlers now (so a signal that arrives
/// during start-up is not fatal), and returns two futures: the first
/// completes on the first of either, the second on the second.
pub fn shutdown_signals() -> std::io::Result<(impl Future<Output = ()>, impl Future<Output = ()>)> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let (tx, rx) = tokio::sync::watch::channel(0u32);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => tracing::info!("received SIGTERM"),
                _ = int.recv() => tracing::info!("received SIGINT"),
            }
            tx.send_modify(|n| *n += 1);
        }
    });
    let nth = |n: u32| {
        let mut rx = rx.clone();
        async move {
            // The sender lives as long as the runtime: an error is its end.
            let _ = rx.wait_for(|seen| *seen >= n).await;
        }
    };
    Ok((nth(1), nth(2)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_lifetime_over_an_hour_is_warned_about_and_an_hour_is_not() {
        let mut config = Config::default();
        assert_eq!(lifetime_warning(&config), None);
        config.token_lifetime = 3600;
        assert_eq!(lifetime_warning(&config), None);
        config.token_lifetime = 7200;
        let warning = lifetime_warning(&config).expect("no warning for 2 h");
        assert!(
            warning.contains("7200") && warning.contains("3600"),
            "{warning}"
        );
    }
}
