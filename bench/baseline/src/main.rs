//! The yardstick `bench/run` measures idstore against: actix-web and sqlx
//! doing the same database work per request as idstore, and nothing else.
//! No authentication, no validation, no mapping beyond serde's derive, no
//! middleware, no logging. Whatever idstore spends above this is the price
//! of being idstore; the ratio of the two is what the benchmark reports.
//!
//! Reads use idstore's own SELECT (crates/store/src/users.rs, `select_users!`)
//! so that both servers ask PostgreSQL the same question; writes are the
//! plainest single statement that does the job.

use std::net::SocketAddr;

use actix_web::{App, HttpResponse, HttpServer, web};
use chrono::{DateTime, NaiveDate, Utc};
use clap::Parser;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

#[derive(Debug, Parser)]
#[command(
    name = "idstore-baseline",
    about = "Minimal actix-web + sqlx server doing idstore's user lookups, for bench/run"
)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Tenant whose users are served (idstore takes it from the token).
    #[arg(long, env = "BASELINE_TENANT_ID")]
    tenant_id: String,
    /// Application whose view of the user is joined in, as idstore joins the
    /// caller's application; the benchmark passes the admin token's.
    #[arg(long, env = "BASELINE_APP_ID")]
    app_id: String,
    /// HTTP worker threads; 0 means one per core, as idstore's default.
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// Pool size; keep it equal to idstore's `max_connections`.
    #[arg(long, default_value_t = 10)]
    max_connections: u32,
}

/// Copied from idstore's `select_users!`; `$1` tenant, `$2` viewing app.
macro_rules! select_users {
    () => {
        "SELECT u.user_id, u.email, u.email_verified_at, u.phone_number, u.phone_verified_at,
                u.username, u.external_user_id, u.secondary_emails, u.secondary_phone_numbers,
                u.name, u.address, u.birthday, u.picture, u.language, u.custom_data, u.identities,
                u.status,
                u.status_changed_at, u.last_auth, u.created_at, u.updated_at,
                u.password_temporary, u.password_updated_at,
                a.name AS app_name, ua.external_account_id, ua.custom_app_data,
                ARRAY(SELECT gm.group_id FROM group_members gm
                       WHERE gm.tenant_id = u.tenant_id AND gm.user_id = u.user_id
                       ORDER BY gm.group_id) AS group_ids
           FROM users u
           LEFT JOIN user_apps ua
                  ON ua.tenant_id = u.tenant_id AND ua.user_id = u.user_id AND ua.app_id = $2
           LEFT JOIN applications a ON a.tenant_id = ua.tenant_id AND a.app_id = ua.app_id "
    };
}

/// The plain table columns a write hands back (no joins: a write touches one row).
macro_rules! user_columns {
    () => {
        "user_id, email, email_verified_at, phone_number, phone_verified_at,
    username, external_user_id, secondary_emails, secondary_phone_numbers, name, address,
    birthday, picture, language, custom_data, identities, status, status_changed_at, last_auth,
    created_at, updated_at, password_temporary, password_updated_at,
    NULL::text AS app_name, NULL::text AS external_account_id, NULL::jsonb AS custom_app_data,
    ARRAY[]::text[] AS group_ids"
    };
}

#[derive(Serialize, sqlx::FromRow)]
struct User {
    user_id: String,
    email: Option<String>,
    email_verified_at: Option<DateTime<Utc>>,
    phone_number: Option<String>,
    phone_verified_at: Option<DateTime<Utc>>,
    username: Option<String>,
    external_user_id: Option<String>,
    secondary_emails: Value,
    secondary_phone_numbers: Value,
    name: Option<Value>,
    address: Option<Value>,
    birthday: Option<NaiveDate>,
    picture: Option<String>,
    language: Option<String>,
    custom_data: Value,
    identities: Value,
    status: String,
    status_changed_at: Option<DateTime<Utc>>,
    last_auth: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    password_temporary: Option<bool>,
    password_updated_at: Option<DateTime<Utc>>,
    app_name: Option<String>,
    external_account_id: Option<String>,
    custom_app_data: Option<Value>,
    group_ids: Vec<String>,
}

#[derive(Serialize)]
struct One<T> {
    result: T,
}

#[derive(Serialize)]
struct Page {
    total_count: i64,
    result: Vec<User>,
}

#[derive(Deserialize)]
struct NewUser {
    email: String,
}

#[derive(Deserialize)]
struct Update {
    custom_data: Value,
}

struct State {
    pool: PgPool,
    tenant_id: String,
    app_id: String,
}

type Data = web::Data<State>;

fn fail(e: sqlx::Error) -> actix_web::Error {
    actix_web::error::ErrorInternalServerError(e.to_string())
}

fn found(user: Option<User>) -> HttpResponse {
    match user {
        Some(user) => HttpResponse::Ok().json(One { result: user }),
        None => HttpResponse::NotFound().finish(),
    }
}

async fn by_id(s: Data, id: web::Path<String>) -> actix_web::Result<HttpResponse> {
    let user = sqlx::query_as(concat!(
        select_users!(),
        "WHERE u.tenant_id = $1 AND u.user_id = $3"
    ))
    .bind(&s.tenant_id)
    .bind(&s.app_id)
    .bind(id.as_str())
    .fetch_optional(&s.pool)
    .await
    .map_err(fail)?;
    Ok(found(user))
}

async fn by_email(s: Data, email: web::Path<String>) -> actix_web::Result<HttpResponse> {
    let user = sqlx::query_as(concat!(
        select_users!(),
        "WHERE u.tenant_id = $1 AND u.email_normalized = $3"
    ))
    .bind(&s.tenant_id)
    .bind(&s.app_id)
    .bind(email.as_str())
    .fetch_optional(&s.pool)
    .await
    .map_err(fail)?;
    Ok(found(user))
}

async fn create(s: Data, body: web::Json<NewUser>) -> actix_web::Result<HttpResponse> {
    let user: User = sqlx::query_as(concat!(
        "INSERT INTO users (tenant_id, user_id, email, email_normalized)
         VALUES ($1, $2, $3, $3) RETURNING ",
        user_columns!()
    ))
    .bind(&s.tenant_id)
    .bind(uuid::Uuid::now_v7().simple().to_string())
    .bind(&body.email)
    .fetch_one(&s.pool)
    .await
    .map_err(fail)?;
    Ok(HttpResponse::Created().json(One { result: user }))
}

async fn update(
    s: Data,
    id: web::Path<String>,
    body: web::Json<Update>,
) -> actix_web::Result<HttpResponse> {
    let user = sqlx::query_as(concat!(
        "UPDATE users SET custom_data = custom_data || $3, updated_at = now()
          WHERE tenant_id = $1 AND user_id = $2 RETURNING ",
        user_columns!()
    ))
    .bind(&s.tenant_id)
    .bind(id.as_str())
    .bind(&body.custom_data)
    .fetch_optional(&s.pool)
    .await
    .map_err(fail)?;
    Ok(found(user))
}

// idstore's count for an admin token, joins included, so the planner faces
// the same statement.
const COUNT: &str = "SELECT count(*) FROM users u
       LEFT JOIN user_apps ua
              ON ua.tenant_id = u.tenant_id AND ua.user_id = u.user_id AND ua.app_id = $2
      WHERE u.tenant_id = $1";

async fn count(s: Data) -> actix_web::Result<HttpResponse> {
    let n: i64 = sqlx::query_scalar(COUNT)
        .bind(&s.tenant_id)
        .bind(&s.app_id)
        .fetch_one(&s.pool)
        .await
        .map_err(fail)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "result": { "user_count": n } })))
}

/// Page 1 carries `total_count`, so the list costs a count too, as idstore's does.
async fn list(s: Data) -> actix_web::Result<HttpResponse> {
    let total = sqlx::query_scalar(COUNT)
        .bind(&s.tenant_id)
        .bind(&s.app_id)
        .fetch_one(&s.pool);
    let rows = sqlx::query_as(concat!(
        select_users!(),
        "WHERE u.tenant_id = $1 ORDER BY u.created_at ASC, u.user_id ASC LIMIT $3 OFFSET $4"
    ))
    .bind(&s.tenant_id)
    .bind(&s.app_id)
    .bind(100_i64)
    .bind(0_i64)
    .fetch_all(&s.pool);
    let (total_count, result) = futures_util::future::try_join(total, rows)
        .await
        .map_err(fail)?;
    Ok(HttpResponse::Ok().json(Page {
        total_count,
        result,
    }))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let options: PgConnectOptions = args
        .database_url
        .parse()
        .map_err(|e| std::io::Error::other(format!("DATABASE_URL: {e}")))?;
    // idstore's pool settings (crates/store/src/database.rs), so that only
    // the server in front of the pool differs.
    let pool = PgPoolOptions::new()
        .max_connections(args.max_connections)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .idle_timeout(std::time::Duration::from_secs(600))
        .connect_lazy_with(options);
    let workers = match args.workers {
        0 => std::thread::available_parallelism().map_or(2, usize::from),
        n => n,
    };
    let state = web::Data::new(State {
        pool,
        tenant_id: args.tenant_id,
        app_id: args.app_id,
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/v1/users/count", web::get().to(count))
            .route("/v1/users/email/{email}", web::get().to(by_email))
            .route("/v1/users", web::get().to(list))
            .route("/v1/users", web::post().to(create))
            .route("/v1/users/{id}", web::get().to(by_id))
            .route("/v1/users/{id}", web::put().to(update))
    })
    .workers(workers)
    .bind(args.listen)?;
    eprintln!("idstore-baseline listening on http://{}", args.listen);
    server.run().await
}
