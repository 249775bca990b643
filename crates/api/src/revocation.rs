//! The revocation list each replica keeps in memory: tokens are verified
//! offline, so a deleted client's or a rotated secret's earlier tokens are
//! refused by looking the subject up here. The server refreshes it from
//! PostgreSQL every second; the replica that revokes refreshes at once.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

use chrono::{DateTime, Utc};
use idstore_auth::{Principal, TokenKind};
use idstore_store::revocations::{self, Revocation};
use idstore_store::{PgPool, StoreError};

#[derive(Default)]
pub struct Revocations {
    /// `not_before` (Unix seconds) by client id and by user id.
    clients: RwLock<HashMap<String, i64>>,
    users: RwLock<HashMap<String, i64>>,
    /// The newest `recorded_at` read so far.
    cursor: Mutex<Option<DateTime<Utc>>>,
}

impl Revocations {
    /// Whether `principal`'s token was issued before its subject's
    /// revocation.
    pub fn refuses(&self, principal: &Principal) -> bool {
        let (map, subject) = match principal.kind {
            TokenKind::Admin | TokenKind::Client => (&self.clients, &principal.client_id),
            TokenKind::User | TokenKind::OrgAdmin => (&self.users, &principal.subject),
        };
        let map = map.read().expect("revocations poisoned");
        map.get(subject.as_str())
            .is_some_and(|not_before| principal.issued_at < *not_before)
    }

    /// Reads what changed in PostgreSQL since the last refresh. `horizon`
    /// (seconds) is how long a token can live: older revocations refuse
    /// nothing any more and are dropped.
    pub async fn refresh(&self, pool: &PgPool, horizon: i64) -> Result<(), StoreError> {
        let since = *self.cursor.lock().expect("revocations poisoned");
        let rows = revocations::changed_since(pool, since, horizon).await?;
        if let Some(newest) = rows.iter().map(|r| r.recorded_at).max() {
            let mut cursor = self.cursor.lock().expect("revocations poisoned");
            *cursor = (*cursor).max(Some(newest));
        }
        rows.iter().for_each(|r| self.apply(r));
        let oldest_useful = Utc::now().timestamp() - horizon;
        for map in [&self.clients, &self.users] {
            map.write()
                .expect("revocations poisoned")
                .retain(|_, not_before| *not_before > oldest_useful);
        }
        Ok(())
    }

    fn apply(&self, r: &Revocation) {
        let map = match r.subject_kind.as_str() {
            "client" => &self.clients,
            _ => &self.users,
        };
        let not_before = r.not_before.timestamp();
        let mut map = map.write().expect("revocations poisoned");
        let entry = map.entry(r.subject_id.clone()).or_insert(not_before);
        *entry = (*entry).max(not_before);
    }
}
