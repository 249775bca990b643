//! What repositories report, independent of HTTP. The store decides what a
//! database error means (which identifier collided, whether the database
//! is unavailable), so no caller ever looks at SQL state or index names.

/// What a repository looked for and did not find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    User,
    /// A user associated with the caller's application.
    AppUser,
    Application,
    Client,
    Role,
    Group,
    /// A user's membership in a group.
    GroupMember,
    Organization,
    /// A user's membership of an organization.
    Member,
    RoleGroup,
    SigningKey,
    Invitation,
}

impl Entity {
    /// What API users read in the 404.
    pub fn not_found(self) -> &'static str {
        match self {
            Self::User => "User not found",
            Self::AppUser => "User not found in this application",
            Self::Application => "Application not found",
            Self::Client => "Client not found",
            Self::Role => "Role not found",
            Self::Group => "Group not found",
            Self::GroupMember => "User is not a member of this group",
            Self::Organization => "Organization not found",
            Self::Member => "User is not a member of this organization",
            Self::RoleGroup => "Role group not found",
            Self::SigningKey => "Signing key not found",
            Self::Invitation => "Invitation not found",
        }
    }
}

/// An identifier that must be unique, and was already taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identifier {
    Email,
    PhoneNumber,
    Username,
    ExternalUserId,
    ClientId,
    RoleName,
    GroupName,
    OrganizationName,
    /// The user is a member of the organization already.
    Member,
    RoleGroupName,
    /// A key no request chooses (a generated id): a collision is a bug.
    Internal,
}

impl Identifier {
    /// The unique index that guards each identifier: the one place that
    /// knows constraint names.
    fn of_constraint(name: &str) -> Self {
        match name {
            "users_email_key" => Self::Email,
            "users_phone_number_key" => Self::PhoneNumber,
            "users_username_key" => Self::Username,
            "users_external_user_id_key" => Self::ExternalUserId,
            "clients_client_id_key" => Self::ClientId,
            "roles_name_key" => Self::RoleName,
            "groups_name_key" => Self::GroupName,
            "organizations_name_key" => Self::OrganizationName,
            "role_groups_name_key" => Self::RoleGroupName,
            _ => Self::Internal,
        }
    }

    /// What API users read in the 409.
    pub fn message(self) -> &'static str {
        match self {
            Self::Email => "A user with this email already exists",
            Self::PhoneNumber => "A user with this phone_number already exists",
            Self::Username => "A user with this username already exists",
            Self::ExternalUserId => "A user with this external_user_id already exists",
            Self::ClientId => "A client with this client_id already exists",
            Self::RoleName => "Role with this name already exists",
            Self::GroupName => "Group with this name already exists",
            Self::OrganizationName => "Organization with this name already exists",
            Self::Member => "The user is already a member of this organization",
            Self::RoleGroupName => "Role group with this name already exists",
            Self::Internal => "An identifier collided; retry the request",
        }
    }
}

/// What a write referred to that did not exist (a foreign key refused it).
/// Every foreign key cascades on delete, so only a write that names a row
/// can break one: a row deleted meanwhile, or an application deleted while
/// its clients' tokens still run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reference {
    Tenant,
    Application,
    User,
    Group,
    Client,
    Organization,
    Role,
    Invitation,
    Other,
}

impl Reference {
    /// PostgreSQL names a foreign key `<table>_<columns>_fkey`, and every key
    /// ends in the referenced table's own id column, so new tables are
    /// recognised without a list to keep.
    fn of_constraint(name: &str) -> Self {
        let ends = |columns: &str| name.ends_with(&format!("{columns}_fkey"));
        if ends("_app_id") {
            Self::Application
        } else if ends("_user_id") {
            Self::User
        } else if ends("_group_id") {
            Self::Group
        } else if ends("_client_id") {
            Self::Client
        } else if ends("_organization_id") {
            Self::Organization
        } else if ends("_role_id") {
            Self::Role
        } else if ends("_invitation_id") {
            Self::Invitation
        } else if ends("_tenant_id") {
            Self::Tenant
        } else {
            Self::Other
        }
    }

    /// What API users read in the 400.
    fn message(self) -> &'static str {
        match self {
            Self::Tenant => "The tenant of this request no longer exists",
            Self::Application => {
                "The application this request writes for no longer exists (deleted while its \
                 clients' tokens are still valid?)"
            }
            Self::User => "A user this request refers to no longer exists",
            Self::Group => "A group this request refers to no longer exists",
            Self::Client => "The client this request names no longer exists",
            Self::Organization => "An organization this request refers to no longer exists",
            Self::Role => "A role this request refers to no longer exists",
            Self::Invitation => "The invitation this request refers to no longer exists",
            Self::Other => "Something this request refers to no longer exists",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}", .0.not_found())]
    NotFound(Entity),
    /// A unique constraint refused the write.
    #[error("conflict: {}", .0.message())]
    Conflict(Identifier),
    /// The request can't be carried out as asked (a search the filter
    /// compiler refuses, a size limit); the message is for the API user.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The database can't answer now (pool exhausted, connection lost,
    /// statement or lock timeout): worth retrying later.
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    #[error("database error: {0}")]
    Database(sqlx::Error),
}

/// SQLSTATE classes and codes that mean "not now" rather than "wrong".
fn is_transient(code: &str) -> bool {
    (code.starts_with("08") && code != "08P01") // connection exception, not a protocol violation
        || code.starts_with("53") // insufficient resources (too many connections)
        || matches!(
            code,
            "57014" // query_canceled: statement_timeout
            | "55P03" // lock_not_available: lock_timeout
            | "57P01" | "57P02" | "57P03" // admin/crash shutdown, cannot connect now
            | "40001" | "40P01" // serialization failure, deadlock
        )
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
                Self::Conflict(Identifier::of_constraint(db.constraint().unwrap_or("")))
            }
            sqlx::Error::Database(db) if db.code().as_deref() == Some("23503") => Self::Invalid(
                Reference::of_constraint(db.constraint().unwrap_or(""))
                    .message()
                    .into(),
            ),
            sqlx::Error::Database(db) if db.code().as_deref().is_some_and(is_transient) => {
                Self::Unavailable(e)
            }
            // A connection refused, lost, or not free in time: the database
            // is not usable now.
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::WorkerCrashed => Self::Unavailable(e),
            // A server (or a proxy in front of it) closing the connection as
            // it opens: sqlx reports it as a protocol error at the first
            // read. Other protocol errors are bugs, not outages.
            sqlx::Error::Protocol(m) if m.contains("SSLRequest") => Self::Unavailable(e),
            _ => Self::Database(e),
        }
    }
}

impl StoreError {
    /// A write that may have taken effect though its answer was lost (the
    /// connection dropped mid-statement) is not [`StoreError::Unavailable`]
    /// either: for a create nothing unique guards (a client), a retry would
    /// make a second one. Timeouts, deadlocks and an exhausted pool stay
    /// retryable: those statements certainly did not apply.
    pub fn unsure(e: sqlx::Error) -> Self {
        match Self::from(e) {
            Self::Unavailable(
                e @ (sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed),
            ) => Self::Database(e),
            Self::Unavailable(sqlx::Error::Database(db))
                if db.code().is_some_and(|c| c.starts_with("08")) =>
            {
                Self::Database(sqlx::Error::Database(db))
            }
            other => other,
        }
    }

    /// A failed COMMIT: whether it took effect is unknown, so it is never
    /// [`StoreError::Unavailable`], which would invite a blind retry (and a
    /// second application or client where names need not be unique).
    pub fn commit(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

/// `Ok` when a write touched a row, [`StoreError::NotFound`] when it matched none.
pub fn one_row(done: sqlx::postgres::PgQueryResult, missing: Entity) -> Result<(), StoreError> {
    if done.rows_affected() == 0 {
        Err(StoreError::NotFound(missing))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unique_index_of_the_schema_names_its_identifier() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations");
        let mut migrations = String::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            migrations += &std::fs::read_to_string(entry.unwrap().path()).unwrap();
        }
        for line in migrations.lines() {
            let Some(rest) = line.trim().strip_prefix("CREATE UNIQUE INDEX ") else {
                continue;
            };
            let name = rest.split_whitespace().next().unwrap();
            // Partial indexes on flags (one management app per tenant) and
            // generated secrets' digests are not identifiers a request
            // chooses.
            if name == "applications_management_key"
                || name == "signing_keys_kid_key"
                || name == "invitations_token_idx"
            {
                continue;
            }
            assert_ne!(
                Identifier::of_constraint(name),
                Identifier::Internal,
                "{name} has no Identifier"
            );
        }
    }

    #[test]
    fn every_foreign_key_of_the_schema_names_what_it_refers_to() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations");
        let mut keys = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let sql = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let mut table = "";
            for line in sql.lines().map(str::trim) {
                if let Some(rest) = line.strip_prefix("CREATE TABLE ") {
                    table = rest.split_whitespace().next().unwrap();
                }
                // `FOREIGN KEY (tenant_id, app_id) REFERENCES ...` or a
                // column's own `REFERENCES`: PostgreSQL's default names.
                let columns = match line.split_once("FOREIGN KEY (") {
                    Some((_, rest)) => rest.split(')').next().unwrap().replace(", ", "_"),
                    None if line.contains(" REFERENCES ") => {
                        line.split_whitespace().next().unwrap().to_owned()
                    }
                    None => continue,
                };
                let name = format!("{table}_{columns}_fkey");
                assert_ne!(Reference::of_constraint(&name), Reference::Other, "{name}");
                keys += 1;
            }
        }
        assert!(keys >= 10, "found only {keys} foreign keys");
    }

    #[test]
    fn a_lost_connection_during_a_write_is_not_retryable_but_a_busy_pool_is() {
        let lost = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(matches!(StoreError::unsure(lost), StoreError::Database(_)));
        let busy = StoreError::unsure(sqlx::Error::PoolTimedOut);
        assert!(matches!(busy, StoreError::Unavailable(_)));
        let lost_read = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(matches!(
            StoreError::from(lost_read),
            StoreError::Unavailable(_)
        ));
    }

    #[test]
    fn transient_states_are_told_from_errors() {
        for code in ["57014", "55P03", "08006", "53300", "57P01", "40001"] {
            assert!(is_transient(code), "{code}");
        }
        for code in ["23505", "23503", "42601", "22P02", "08P01"] {
            assert!(!is_transient(code), "{code}");
        }
    }
}
