//! The statements most repositories run: read, list or delete the rows a
//! few text keys (tenant, application, id) name. Keys bind as `$1`, `$2`...
//! in the order given.

use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgExecutor};

use crate::StoreError;
use crate::audit::Event;
use crate::error::{Entity, one_row};

/// The one row `sql` selects, or [`StoreError::NotFound`] naming `entity`.
pub(crate) async fn get<T>(
    executor: impl PgExecutor<'_>,
    sql: &'static str,
    keys: &[&str],
    entity: Entity,
) -> Result<T, StoreError>
where
    T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    let mut query = sqlx::query_as(sql);
    for key in keys {
        query = query.bind(*key);
    }
    query
        .fetch_optional(executor)
        .await?
        .ok_or(StoreError::NotFound(entity))
}

/// Every row `sql` selects.
pub(crate) async fn list<T>(
    executor: impl PgExecutor<'_>,
    sql: &'static str,
    keys: &[&str],
) -> Result<Vec<T>, StoreError>
where
    T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    let mut query = sqlx::query_as(sql);
    for key in keys {
        query = query.bind(*key);
    }
    Ok(query.fetch_all(executor).await?)
}

/// Runs the DELETE `sql`; [`StoreError::NotFound`] naming `entity` when it
/// matched no row.
pub(crate) async fn delete(
    executor: impl PgExecutor<'_>,
    sql: &'static str,
    keys: &[&str],
    entity: Entity,
) -> Result<(), StoreError> {
    let mut query = sqlx::query(sql);
    for key in keys {
        query = query.bind(*key);
    }
    one_row(query.execute(executor).await?, entity)
}

/// [`delete`] for a statement built with [`crate::audit::audited_delete!`],
/// whose event parameter follows the keys: the event is written exactly
/// when a row was deleted, in the same statement.
pub(crate) async fn delete_audited(
    executor: impl PgExecutor<'_>,
    sql: &'static str,
    keys: &[&str],
    entity: Entity,
    event: &Event<'_>,
) -> Result<(), StoreError> {
    let mut query = sqlx::query_scalar(sql);
    for key in keys {
        query = query.bind(*key);
    }
    let deleted: i64 = query.bind(event.param()).fetch_one(executor).await?;
    if deleted == 0 {
        Err(StoreError::NotFound(entity))
    } else {
        Ok(())
    }
}
