//! The role `idstore serve` runs as: it may read and write the rows of the
//! tables, and nothing else (no DDL, no migration history writes, no
//! bypass of row-level security). The owner prepares it after migrating,
//! under the migration lock, so replicas starting together don't race.

use sqlx::PgConnection;

/// The serving role idstore creates on a PostgreSQL it runs itself (or
/// the local one), and the default name elsewhere.
pub const DEFAULT_NAME: &str = "idstore_runtime";

/// A serving role to prepare: its name and, for creating it, a password.
#[derive(Clone, Copy)]
pub struct ServingRole<'a> {
    pub name: &'a str,
    pub password: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    #[error(
        "the serving role {0:?} {1}, so row-level security would not confine it: serve as a \
         role of its own that may log in and nothing more (e.g. `CREATE ROLE idstore_runtime \
         LOGIN PASSWORD '...'`), named by runtime_database_url"
    )]
    Unconfined(String, String),
    #[error(
        "the serving role {role:?} does not exist and {owner:?} may not create it ({source}): \
         create it (`CREATE ROLE {role} LOGIN PASSWORD '...'`) or migrate as a role with CREATEROLE"
    )]
    CannotCreate {
        role: String,
        owner: String,
        source: sqlx::Error,
    },
    #[error("cannot grant the serving role {role:?} its access: {source}")]
    Grant { role: String, source: sqlx::Error },
}

impl RoleError {
    /// [`RoleError::Grant`] for `role`, for `map_err`.
    fn granting(role: &str) -> impl FnOnce(sqlx::Error) -> Self + '_ {
        move |source| Self::Grant {
            role: role.to_owned(),
            source,
        }
    }
}

/// Functions the search compiler's indexable predicates call (`LIKE`,
/// `lower`, `->>`, `@>`, `?`, `<>` on jsonb). PostgreSQL evaluates a
/// predicate under row-level security before the policy only if every
/// function in it is LEAKPROOF; otherwise the predicate cannot be an
/// index condition and each search reads the tenant's every row. The
/// guarded leak is a user-defined function observing rows the policy
/// hides; here every statement is idstore's own and the serving role can
/// define no function. These raise no error that depends on a row's value.
/// Only a superuser may mark them, and the mark is per database.
const INDEXED_FUNCTIONS: &[&str] = &[
    "pg_catalog.textlike(text, text)",
    "pg_catalog.lower(text)",
    "pg_catalog.jsonb_object_field_text(jsonb, text)",
    "pg_catalog.jsonb_contains(jsonb, jsonb)",
    "pg_catalog.jsonb_exists(jsonb, text)",
    "pg_catalog.jsonb_ne(jsonb, jsonb)",
];

/// What preparing found that the operator should know.
#[derive(Debug, Default)]
pub struct Prepared {
    pub created: bool,
    pub warnings: Vec<String>,
}

/// Creates the role if it is missing (the owner needs CREATEROLE for
/// that), grants it DML on every table and read-only access to the
/// migration history and the breached-password filter (which only the
/// owner's `idstore breached import` writes), and marks [`INDEXED_FUNCTIONS`] when the owner is a
/// superuser.
pub async fn prepare(
    conn: &mut PgConnection,
    role: ServingRole<'_>,
) -> Result<Prepared, RoleError> {
    let mut prepared = Prepared {
        created: ensure_exists(conn, role).await?,
        ..Prepared::default()
    };
    grant(conn, role.name)
        .await
        .map_err(RoleError::granting(role.name))?;
    if let Some(warning) = mark_leakproof(conn)
        .await
        .map_err(RoleError::granting(role.name))?
    {
        prepared.warnings.push(warning);
    }
    Ok(prepared)
}

async fn ensure_exists(conn: &mut PgConnection, role: ServingRole<'_>) -> Result<bool, RoleError> {
    match unconfinable(conn, role.name).await? {
        Some(Some(why)) => return Err(RoleError::Unconfined(role.name.to_owned(), why)),
        Some(None) => return Ok(false),
        None => {}
    }
    // Identifiers and the password cannot be bound in DDL: format's %I and
    // %L quote them on the server.
    let created = async {
        let ddl: String = sqlx::query_scalar(
            "SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE \
                            NOREPLICATION NOBYPASSRLS', $1)
                    || CASE WHEN $2::text IS NULL THEN '' ELSE format(' PASSWORD %L', $2) END",
        )
        .bind(role.name)
        .bind(role.password)
        .fetch_one(&mut *conn)
        .await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
            .execute(&mut *conn)
            .await
    }
    .await;
    match created {
        Ok(_) => Ok(true),
        // Another database's migration created it meanwhile (roles are
        // per server): duplicate_object, or the catalog's unique index.
        Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("42710" | "23505")) => {
            match unconfinable(conn, role.name).await? {
                Some(Some(why)) => Err(RoleError::Unconfined(role.name.to_owned(), why)),
                _ => Ok(false),
            }
        }
        Err(source) => {
            let owner: String = sqlx::query_scalar("SELECT current_user::text")
                .fetch_one(&mut *conn)
                .await
                .unwrap_or_default();
            Err(RoleError::CannotCreate {
                role: role.name.to_owned(),
                owner,
                source,
            })
        }
    }
}

/// `None` when the role does not exist; else why row-level security
/// could not confine it, if it could not: it bypasses it, is the owner
/// (FORCE aside, the owner may disable it), inherits the owner's rights,
/// or may make itself a member of any role (CREATEROLE).
async fn unconfinable(
    conn: &mut PgConnection,
    role: &str,
) -> Result<Option<Option<String>>, RoleError> {
    let found: Option<Option<String>> = sqlx::query_scalar(
        "SELECT CASE
                  WHEN rolsuper OR rolbypassrls THEN 'is a superuser or has BYPASSRLS'
                  WHEN rolname = current_user THEN 'is the owner that migrates'
                  WHEN pg_has_role(rolname, current_user, 'USAGE') THEN 'inherits the owner''s rights'
                  WHEN rolcreaterole THEN 'has CREATEROLE, so may grant itself the owner''s rights'
                  WHEN NOT rolcanlogin THEN 'may not log in'
                END
           FROM pg_roles WHERE rolname = $1",
    )
    .bind(role)
    .fetch_optional(&mut *conn)
    .await
    .map_err(RoleError::granting(role))?;
    Ok(found)
}

async fn grant(conn: &mut PgConnection, role: &str) -> Result<(), sqlx::Error> {
    let statements: Vec<String> = sqlx::query_scalar(
        "SELECT unnest(ARRAY[
             format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), $1),
             format('GRANT USAGE ON SCHEMA %I TO %I', current_schema(), $1),
             format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I',
                    current_schema(), $1),
             format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON refinery_schema_history FROM %I', $1),
             format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON breached_password_filter FROM %I', $1),
             format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON breached_password_chunks FROM %I', $1),
             format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I', current_schema(), $1)
         ])",
    )
    .bind(role)
    .fetch_all(&mut *conn)
    .await?;
    for statement in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Marks [`INDEXED_FUNCTIONS`] LEAKPROOF, or says why searches will be
/// slow when the owner may not.
async fn mark_leakproof(conn: &mut PgConnection) -> Result<Option<String>, sqlx::Error> {
    let unmarked: Vec<String> = sqlx::query_scalar(
        "SELECT f FROM unnest($1::text[]) AS f WHERE NOT (SELECT proleakproof FROM pg_proc
                                                            WHERE oid = f::regprocedure)",
    )
    .bind(INDEXED_FUNCTIONS)
    .fetch_all(&mut *conn)
    .await?;
    if unmarked.is_empty() {
        return Ok(None);
    }
    let superuser: bool =
        sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut *conn)
            .await?;
    if !superuser {
        return Ok(Some(format!(
            "the migrating role is not a superuser, so {} are not marked LEAKPROOF in this \
             database: under row-level security, searches with sw/co/ew, on names, custom_data \
             or secondary contacts cannot use their indexes and read every user of the tenant. \
             Run `idstore migrate` once as a superuser to mark them",
            unmarked.join(", ")
        )));
    }
    for function in unmarked {
        // `function` is one of our constants, checked by ::regprocedure above.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER FUNCTION {function} LEAKPROOF"
        )))
        .execute(&mut *conn)
        .await?;
    }
    Ok(None)
}
