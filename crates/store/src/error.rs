//! What repositories report, independent of HTTP.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write; the name says which identifier.
    #[error("conflict on {constraint}")]
    Conflict { constraint: String },
    /// The request can't be expressed as a query (a search the filter
    /// compiler refuses); the message is for the API user.
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// Maps unique violations (23505) to [`StoreError::Conflict`] by name.
    pub fn from_write(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.code().as_deref() == Some("23505")
        {
            let constraint = db.constraint().unwrap_or("unique").to_owned();
            return Self::Conflict { constraint };
        }
        Self::Database(e)
    }
}

/// `Ok` when a write touched a row, [`StoreError::NotFound`] when it matched none.
pub fn one_row(done: sqlx::postgres::PgQueryResult) -> Result<(), StoreError> {
    if done.rows_affected() == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}
