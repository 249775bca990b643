//! The configuration keys, each defined once: everything else about a key
//! (flag, environment variables, error text, README row) is derived from
//! its entry here.

use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::Flag::{Every, NoFlag, Serve, ServeOff};
use super::Initial::{Unset, Value};
use super::Sources::{Secret, SecretAlso};

config_keys! {
    listen: SocketAddr {
        help: "HTTP address to listen on; port `0` picks a free port and logs it",
        accepts: "HOST:PORT, e.g. 127.0.0.1:8080 or 0.0.0.0:8080 (port 0 picks a free port)",
        default: Value("127.0.0.1:8080"),
        flag: Serve("HOST:PORT"),
    }
    database_url: Option<SecretString> {
        help: "PostgreSQL URL of the database's owner: migrations, bootstrap and the commands \
               run as it, and `serve` too unless `runtime_database_url` is set",
        accepts: "a PostgreSQL URL, e.g. postgres://user:password@host:5432/idstore",
        default: Unset("the local PostgreSQL, see `postgres`"),
        flag: Every("URL"),
        env: SecretAlso("DATABASE_URL"),
    }
    runtime_database_url: Option<SecretString> {
        help: "PostgreSQL URL `serve` connects with: a role that is no superuser and lacks \
               BYPASSRLS, so row-level security confines it. Migrating (as `database_url`'s \
               role, the owner) creates it if missing, with this URL's password, and grants it \
               DML only. Unset: on idstore's own or the local PostgreSQL the role \
               `idstore_runtime`, else `database_url`'s role (warned about when it bypasses \
               row-level security)",
        accepts: "a PostgreSQL URL, e.g. postgres://idstore_runtime:password@host:5432/idstore",
        default: Unset("`idstore_runtime` on a local or private PostgreSQL; else `database_url`"),
        flag: Every("URL"),
        env: Secret,
    }
    postgres: PostgresMode {
        help: "Where to find PostgreSQL without a URL: `auto` (local server, else a private \
               cluster), `system` (local server only) or `managed` (private cluster only)",
        accepts: "auto, system or managed",
        default: Value("auto"),
        flag: Every("MODE"),
    }
    database_name: String {
        help: "Database created and used on a local or private PostgreSQL",
        accepts: "a PostgreSQL database name",
        default: Value("idstore"),
        flag: Every("NAME"),
        check: |name| ensure(
            (1..=63).contains(&name.len()),
            "must be 1 to 63 characters",
        ),
    }
    data_dir: PathBuf {
        help: "Directory for idstore's own files; a private PostgreSQL cluster lives in \
               `<data_dir>/postgres`",
        accepts: "a directory path",
        default: Value("./.idstore"),
        flag: Every("PATH"),
    }
    migrate: bool {
        help: "Whether `serve` applies pending migrations at start-up; a database migrated by \
               a newer idstore is refused either way",
        accepts: "true or false",
        default: Value("true"),
        flag: ServeOff,
    }
    log_format: LogFormat {
        help: "Log line format: `text`, or `json` with one object per line",
        accepts: "text or json",
        default: Value("text"),
        flag: Every("FORMAT"),
    }
    log_level: String {
        help: "Log filter, e.g. `info` or `idstore_api=debug,sqlx=warn`; `RUST_LOG` overrides it",
        accepts: "a tracing filter, e.g. info or idstore=debug,sqlx=warn",
        default: Value("info"),
        flag: Every("FILTER"),
        check: |filter| ensure(
            tracing_subscriber::EnvFilter::try_new(filter).is_ok(),
            format!("{filter:?} is not a filter"),
        ),
    }
    workers: usize {
        help: "HTTP worker threads; `0` means one per CPU core",
        accepts: "a whole number; 0 means one per CPU core",
        default: Value("0"),
        flag: Serve("N"),
    }
    max_connections: u32 {
        help: "Most pooled PostgreSQL connections per process",
        accepts: "a whole number from 1 upwards",
        default: Value("10"),
        flag: Every("N"),
        check: |n| ensure(*n != 0, "must not be 0"),
    }
    pool_timeout_ms: u64 {
        help: "Milliseconds a request waits for a free pooled connection before it is answered \
               503 with `Retry-After`",
        accepts: "a number of milliseconds from 1 upwards",
        default: Value("2000"),
        flag: Serve("MS"),
        check: |ms| ensure(*ms != 0, "must not be 0"),
    }
    statement_timeout_ms: u64 {
        help: "Longest a database statement of a request may run (PostgreSQL \
               `statement_timeout`); beyond it the request is answered 503. `0`: the database's own setting",
        accepts: "a number of milliseconds up to 2147483647; 0 keeps the database's own setting",
        default: Value("20000"),
        flag: Serve("MS"),
        check: |ms| ensure(*ms <= i32::MAX as u64, "is more than PostgreSQL accepts"),
    }
    lock_timeout_ms: u64 {
        help: "Longest a request's statement waits for a row or table lock held elsewhere \
               (PostgreSQL `lock_timeout`); beyond it the request is answered 503. `0`: the database's own setting",
        accepts: "a number of milliseconds up to 2147483647; 0 keeps the database's own setting",
        default: Value("2000"),
        flag: Serve("MS"),
        check: |ms| ensure(*ms <= i32::MAX as u64, "is more than PostgreSQL accepts"),
    }
    idle_in_transaction_timeout_ms: u64 {
        help: "Longest a transaction may sit idle before PostgreSQL ends it \
               (`idle_in_transaction_session_timeout`), so a stuck request cannot hold locks. \
               `0`: the database's own setting",
        accepts: "a number of milliseconds up to 2147483647; 0 keeps the database's own setting",
        default: Value("30000"),
        flag: Serve("MS"),
        check: |ms| ensure(*ms <= i32::MAX as u64, "is more than PostgreSQL accepts"),
    }
    search_concurrency: usize {
        help: "Searches (user lists and counts) one client may have running at once in this \
               process, a list until its answer is sent; more wait up to `search_queue_ms` for \
               a slot, then are answered 429 with `Retry-After`",
        accepts: "a whole number from 1 upwards",
        default: Value("4"),
        flag: Serve("N"),
        check: |n| ensure(*n != 0, "must not be 0"),
    }
    search_queue_ms: u64 {
        help: "Milliseconds a search over its client's `search_concurrency` waits, in arrival \
               order and holding no database connection, for one of them to finish; `0` \
               answers 429 at once",
        accepts: "a number of milliseconds up to 60000; 0 answers 429 at once",
        default: Value("1000"),
        flag: Serve("MS"),
        check: |ms| ensure(*ms <= 60_000, "is more than a minute"),
    }
    token_rate_per_source: u32 {
        help: "Token requests per second one source address (an IPv6 /64) may send to this \
               process, with bursts of twice that; more are answered 429 with `Retry-After` \
               before any secret is checked",
        accepts: "a whole number from 1 upwards",
        default: Value("20"),
        flag: Serve("N"),
        check: |n| ensure(*n != 0, "must not be 0"),
    }
    token_rate_global: u32 {
        help: "Token requests per second this process accepts from all sources together, \
               with bursts of twice that",
        accepts: "a whole number from 1 upwards",
        default: Value("200"),
        flag: Serve("N"),
        check: |n| ensure(*n != 0, "must not be 0"),
    }
    idempotency_key_lifetime: u32 {
        help: "Seconds an `Idempotency-Key` of a create is remembered: a retry with the same \
               key and body within it gets the first answer back",
        accepts: "a number of seconds from 1 to 604800 (a week)",
        default: Value("86400"),
        flag: Serve("SECONDS"),
        check: |s| ensure((1..=604_800).contains(s), format!("{s} is out of range")),
    }
    trusted_proxies: String {
        help: "Comma-separated addresses or networks of the proxies in front of idstore: a \
               request from one of them is counted against the address its \
               `X-Forwarded-For` names. Empty trusts no header",
        accepts: "IP addresses or CIDR networks, e.g. 10.0.0.0/8, ::1",
        default: Value(""),
        flag: Serve("LIST"),
        check: |list| list
            .parse::<idstore_api::source::TrustedProxies>()
            .map(|_| ()),
    }
    hash_workers: usize {
        help: "Password and client-secret hashes run at once, each on a core of its own; `0` \
               means one per core",
        accepts: "a whole number; 0 means one per core",
        default: Value("0"),
        flag: Serve("N"),
    }
    hash_queue: usize {
        help: "Password and client-secret hashes that may wait for a free core; more are \
               answered 503 with `Retry-After` (on `/oidc/token`: `temporarily_unavailable`)",
        accepts: "a whole number",
        default: Value("32"),
        flag: Serve("N"),
    }
    password_hash_memory_kib: u32 {
        help: "Memory of each argon2id password hash, in KiB; with `password_hash_iterations` \
               and `password_hash_parallelism` the costs of new hashes. A stored hash with \
               other costs is rehashed at the user's next successful login. Each running hash \
               holds this much memory (times `hash_workers`)",
        accepts: "a number of KiB from 8 upwards, at least 8 per lane of `password_hash_parallelism`",
        default: Value("19456"),
        flag: Serve("KIB"),
        check: |kib| ensure(*kib >= 8, "must be at least 8"),
    }
    password_hash_iterations: u32 {
        help: "Passes of each argon2id password hash (its time cost)",
        accepts: "a whole number from 1 upwards",
        default: Value("2"),
        flag: Serve("N"),
        check: |n| ensure(*n != 0, "must not be 0"),
    }
    password_hash_parallelism: u32 {
        help: "Lanes of each argon2id password hash. idstore runs each hash on one thread, so \
               more lanes add memory, not speed",
        accepts: "a whole number from 1 to 16777215",
        default: Value("1"),
        flag: Serve("N"),
        check: |n| ensure((1..=0xFF_FFFF).contains(n), format!("{n} is out of range")),
    }
    body_limit: usize {
        help: "Largest request body in bytes; a larger one gets 413",
        accepts: "a number of bytes from 1024 upwards",
        default: Value("262144"),
        flag: Serve("BYTES"),
        check: |bytes| ensure(*bytes >= 1024, format!("{bytes} is too small")),
    }
    list_body_limit: usize {
        help: "Largest user list answer (`GET /v1/users`) in bytes of JSON; a page that would be \
               larger is answered 400, asking for a lower `page_limit`",
        accepts: "a number of bytes from 1048576 (1 MiB) upwards",
        default: Value("16777216"),
        flag: Serve("BYTES"),
        check: |bytes| ensure(
            *bytes >= 1 << 20,
            format!("{bytes} is too small: the largest single user must fit"),
        ),
    }
    drain_delay: u64 {
        help: "Seconds between SIGTERM (or SIGINT) and closing the listener, during which \
               `/readyz` answers 503 while every other request is served as usual: a load \
               balancer needs this long (its health-check interval times its unhealthy \
               threshold) to see readiness go false and stop sending new requests. A second \
               signal ends the delay early. Before `shutdown_timeout`",
        accepts: "a number of seconds from 0 to 300",
        default: Value("5"),
        flag: Serve("SECONDS"),
        check: |seconds| ensure(*seconds <= 300, format!("{seconds} is out of range")),
    }
    shutdown_timeout: u64 {
        help: "Seconds in-flight requests get to finish once the listener closes, after \
               `drain_delay`",
        accepts: "a number of seconds",
        default: Value("30"),
        flag: Serve("SECONDS"),
    }
    public_url: Option<String> {
        help: "The URL clients reach idstore at: token issuer and audience. Replicas behind one \
               load balancer must share it",
        accepts: "an absolute http(s) URL without a trailing slash, e.g. https://id.example.com",
        default: Unset("`http://<listen>`"),
        flag: Serve("URL"),
        check: |url| url.as_deref().map_or(Ok(()), |url| ensure(
            (url.starts_with("http://") || url.starts_with("https://")) && !url.ends_with('/'),
            format!("{url:?} is not accepted"),
        )),
    }
    token_lifetime: u64 {
        help: "Access token lifetime in seconds",
        accepts: "a number of seconds from 60 to 86400",
        default: Value("3600"),
        flag: Serve("SECONDS"),
        check: |seconds| ensure(
            (60..=86400).contains(seconds),
            format!("{seconds} is out of range"),
        ),
    }
    user_token_lifetime: u64 {
        help: "Lifetime in seconds of a UserAccessToken issued after a password login; never \
               longer than `token_lifetime`",
        accepts: "a number of seconds from 60 to 86400",
        default: Value("900"),
        flag: Serve("SECONDS"),
        check: |seconds| ensure(
            (60..=86400).contains(seconds),
            format!("{seconds} is out of range"),
        ),
    }
    refresh_token_lifetime: u64 {
        help: "Lifetime in seconds of a refresh token; each use rotates it and issues a new one \
               valid this long",
        accepts: "a number of seconds from 300 to 31536000 (a year)",
        default: Value("1209600"),
        flag: Serve("SECONDS"),
        check: |seconds| ensure(
            (300..=31_536_000).contains(seconds),
            format!("{seconds} is out of range"),
        ),
    }
    token_leeway: u64 {
        help: "Seconds of clock skew tolerated when checking a token's `exp` and `nbf`; a \
               token is refused this long after it expired",
        accepts: "a number of seconds from 0 to 300",
        default: Value("30"),
        flag: Serve("SECONDS"),
        check: |seconds| ensure(
            *seconds <= 300,
            format!("{seconds} is out of range"),
        ),
    }
    key_encryption_key: Option<SecretString> {
        help: "Base64 of 32 bytes (`idstore kek generate`) sealing the private signing keys in \
               the database; every replica sharing the database needs the same one. Required \
               with `database_url`: without it idstore refuses to start. On its own local or \
               private PostgreSQL it generates a development key instead, and warns",
        accepts: "32 random bytes in base64, e.g. the output of `idstore kek generate`",
        default: Unset("required with `database_url`; else a development key in `<data_dir>/kek`"),
        flag: Every("BASE64"),
        env: Secret,
    }
    bootstrap: bool {
        help: "Whether `serve` bootstraps an empty database: the first tenant, its management \
               application, an admin client and a signing key",
        accepts: "true or false",
        default: Value("true"),
        flag: ServeOff,
    }
    bootstrap_client_id: Option<String> {
        help: "Fixes the initial admin client's id (Helm, compose, test suites); set together \
               with `bootstrap_client_secret`",
        accepts: "1 to 128 characters of A-Z a-z 0-9 . _ | : @ -",
        default: Unset("generated"),
        flag: NoFlag,
        check: |id| id.as_deref().map_or(Ok(()), |id| ensure(
            idstore_domain::id::is_valid_id(id),
            format!("{id:?} is not accepted"),
        )),
    }
    bootstrap_client_secret: Option<SecretString> {
        help: "Fixes the initial admin client's secret; set together with `bootstrap_client_id`",
        accepts: "at least 16 characters",
        default: Unset("generated"),
        flag: NoFlag,
        env: Secret,
        check: |secret| ensure(
            secret.as_ref().is_none_or(|s| s.expose_secret().len() >= 16),
            "is too short",
        ),
    }
    mail_transport: MailTransport {
        help: "How idstore's mail (createMember's `send_invite` invitations) leaves: `smtp`, \
               `log` (written to the log, accept links included: development only) or `none` \
               (`send_invite` is refused)",
        accepts: "none, log or smtp",
        default: Value("none"),
        flag: Serve("TRANSPORT"),
    }
    mail_from: Option<String> {
        help: "The From of idstore's mail, e.g. `Example <no-reply@example.com>`; required \
               unless `mail_transport` is none",
        accepts: "a mailbox, e.g. no-reply@example.com or Example <no-reply@example.com>",
        default: Unset("required unless `mail_transport` is none"),
        flag: NoFlag,
    }
    smtp_host: Option<String> {
        help: "The SMTP server mail is handed to; required with `mail_transport` smtp",
        accepts: "a host name or address",
        default: Unset("required with `mail_transport` smtp"),
        flag: NoFlag,
    }
    smtp_port: Option<u16> {
        help: "The SMTP server's port",
        accepts: "a port number",
        default: Unset("587 with `smtp_tls` starttls, 465 with tls, 25 with none"),
        flag: NoFlag,
    }
    smtp_tls: SmtpTls {
        help: "How the SMTP connection is secured: `starttls` (required, refused without), \
               `tls` (implicit TLS from the first byte) or `none` (plain text: a relay on \
               localhost or a test sink only)",
        accepts: "starttls, tls or none",
        default: Value("starttls"),
        flag: NoFlag,
    }
    smtp_username: Option<String> {
        help: "User name for SMTP authentication; none when unset",
        accepts: "a user name",
        default: Unset("no SMTP authentication"),
        flag: NoFlag,
    }
    smtp_password: Option<SecretString> {
        help: "Password for SMTP authentication, with `smtp_username`",
        accepts: "a password",
        default: Unset("no SMTP authentication"),
        flag: NoFlag,
        env: Secret,
    }
    mail_template_file: Option<PathBuf> {
        help: "A file replacing the invitation mail's text: its first line is the subject, the \
               rest the body; `{link}`, `{organization}`, `{application}` and `{expires_at}` \
               are filled in, and `{link}` must appear",
        accepts: "a path to a UTF-8 text file",
        default: Unset("the built-in invitation text"),
        flag: NoFlag,
    }
    mail_retry_ms: u64 {
        help: "Milliseconds before a failed mail is tried again; the delay doubles with each \
               failure up to `mail_retry_max_ms`, and retries go on until the invitation ends",
        accepts: "a number of milliseconds from 10 to 3600000",
        default: Value("1000"),
        flag: NoFlag,
        check: |ms| ensure((10..=3_600_000).contains(ms), format!("{ms} is out of range")),
    }
    mail_retry_max_ms: u64 {
        help: "Longest delay between two tries of a failed mail, in milliseconds",
        accepts: "a number of milliseconds from 10 to 86400000",
        default: Value("300000"),
        flag: NoFlag,
        check: |ms| ensure((10..=86_400_000).contains(ms), format!("{ms} is out of range")),
    }
    mail_poll_ms: u64 {
        help: "Milliseconds between two looks of the mail worker for due mail written by \
               another replica (this replica's own wake it at once)",
        accepts: "a number of milliseconds from 10 to 600000",
        default: Value("1000"),
        flag: NoFlag,
        check: |ms| ensure((10..=600_000).contains(ms), format!("{ms} is out of range")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PostgresMode {
    /// The local PostgreSQL if one answers, else a private cluster.
    Auto,
    /// Only the PostgreSQL already running on this machine.
    System,
    /// Only a private cluster in `data_dir`, started and stopped by idstore.
    Managed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// No mail: `send_invite` is refused.
    None,
    /// Mail written to the log (development).
    Log,
    /// Mail handed to an SMTP server.
    Smtp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    Starttls,
    Tls,
    None,
}

fn ensure(accepted: bool, refusal: impl Into<String>) -> Result<(), String> {
    if accepted {
        Ok(())
    } else {
        Err(refusal.into())
    }
}
