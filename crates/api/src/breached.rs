//! The breached-password filter this replica checks passwords against:
//! loaded from PostgreSQL at start-up and again whenever an `idstore
//! breached import` has replaced it there, so that an import reaches
//! running replicas without a restart.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use idstore_auth::password::breached::{BreachFilter, FilterShape};
use idstore_store::{PgPool, StoreError};

/// How often a replica asks whether a new filter was imported: one
/// single-row read; the filter itself is read only when it changed.
pub const REFRESH: std::time::Duration = std::time::Duration::from_secs(10);

struct Loaded {
    filter: BreachFilter,
    imported_at: DateTime<Utc>,
}

/// The current filter, if one was imported.
#[derive(Default)]
pub struct BreachedPasswords {
    current: RwLock<Option<Arc<Loaded>>>,
    /// The import that last failed to load: not read again every round.
    refused: std::sync::Mutex<Option<DateTime<Utc>>>,
}

impl BreachedPasswords {
    fn current(&self) -> Option<Arc<Loaded>> {
        self.current
            .read()
            .expect("breached filter poisoned")
            .clone()
    }

    /// Whether `password` is in the imported list (or, at the filter's
    /// false-positive rate, taken for one); false when none is imported.
    pub fn contains(&self, password: &str) -> bool {
        self.current()
            .is_some_and(|l| l.filter.contains_password(password))
    }

    /// Entries of the imported list; 0 when none is imported.
    pub fn entries(&self) -> u64 {
        self.current().map_or(0, |l| l.filter.entries())
    }

    /// The rate the imported filter was sized for, if one is.
    pub fn false_positive_rate(&self) -> Option<f64> {
        self.current().map(|l| l.filter.false_positive_rate())
    }

    /// Reads the stored filter when it differs from the one held (or is
    /// gone); returns whether anything changed.
    pub async fn refresh(&self, pool: &PgPool) -> Result<bool, StoreError> {
        let stored = idstore_store::breached::imported_at(pool).await?;
        let held = self.current().map(|l| l.imported_at);
        let refused = *self.refused.lock().expect("breached filter poisoned");
        if stored == held || (stored.is_some() && stored == refused) {
            return Ok(false);
        }
        let loaded = self.load(pool).await;
        // A damaged filter stays damaged; a lost connection is tried again.
        *self.refused.lock().expect("breached filter poisoned") = match &loaded {
            Err(StoreError::Invalid(_)) => stored,
            _ => None,
        };
        *self.current.write().expect("breached filter poisoned") = loaded?;
        Ok(true)
    }

    async fn load(&self, pool: &PgPool) -> Result<Option<Arc<Loaded>>, StoreError> {
        Ok(match idstore_store::breached::load(pool).await? {
            None => None,
            Some((row, bits)) => {
                let shape = FilterShape {
                    bits: row.bits,
                    hashes: row.hashes,
                    entries: row.entries,
                    false_positive_rate: row.false_positive_rate,
                };
                let filter = BreachFilter::from_parts(shape, bits)
                    .map_err(|e| StoreError::Invalid(e.to_string()))?;
                Some(Arc::new(Loaded {
                    filter,
                    imported_at: row.imported_at,
                }))
            }
        })
    }

    /// Holds `filter` as if imported now: for tests that need no database.
    pub fn with_filter(filter: BreachFilter) -> Self {
        let loaded = Loaded {
            filter,
            imported_at: Utc::now(),
        };
        Self {
            current: RwLock::new(Some(Arc::new(loaded))),
            refused: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_an_import_nothing_is_breached() {
        let none = BreachedPasswords::default();
        assert!(!none.contains("password"));
        assert_eq!((none.entries(), none.false_positive_rate()), (0, None));
    }

    #[test]
    fn an_imported_filter_answers() {
        let mut filter = BreachFilter::with_capacity(10, 0.001).unwrap();
        filter.insert_password("hunter2");
        let held = BreachedPasswords::with_filter(filter);
        assert!(held.contains("hunter2"));
        assert!(!held.contains("a different password"));
        assert_eq!(held.entries(), 1);
        assert_eq!(held.false_positive_rate(), Some(0.001));
    }
}
