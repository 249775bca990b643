//! Bounds on expensive work per caller, so that one client's burst of
//! searches cannot take every pooled connection from everyone else.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use idstore_auth::Principal;

use crate::ApiError;

/// How many searches (lists and counts) each principal may have in flight.
#[derive(Clone)]
pub struct SearchLimit {
    per_principal: usize,
    in_flight: Arc<Mutex<HashMap<String, usize>>>,
}

/// One search in flight; dropping it frees the slot.
pub struct SearchSlot {
    key: String,
    in_flight: Arc<Mutex<HashMap<String, usize>>>,
}

impl SearchLimit {
    pub fn new(per_principal: usize) -> Self {
        Self {
            per_principal: per_principal.max(1),
            in_flight: Arc::default(),
        }
    }

    /// A slot for `principal`, or 429 at once when it has all of its own
    /// searches running in this process: waiting would only hold the
    /// request longer. Not a 503: the service is fine, this caller is over
    /// its share, and load balancers eject backends that answer 5xx.
    pub fn acquire(&self, principal: &Principal) -> Result<SearchSlot, ApiError> {
        self.acquire_for(format!("{}/{}", principal.tenant_id, principal.subject))
    }

    fn acquire_for(&self, key: String) -> Result<SearchSlot, ApiError> {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let n = in_flight.entry(key.clone()).or_insert(0);
        if *n >= self.per_principal {
            return Err(ApiError::TooManyRequests(format!(
                "This client already has {} searches running; retry when one has finished",
                self.per_principal
            )));
        }
        *n += 1;
        Ok(SearchSlot {
            key,
            in_flight: self.in_flight.clone(),
        })
    }
}

impl Drop for SearchSlot {
    fn drop(&mut self) {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = in_flight.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                in_flight.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_principal_gets_its_share_and_a_freed_slot_back() {
        let limit = SearchLimit::new(2);
        let a1 = limit.acquire_for("a".into()).unwrap();
        let _a2 = limit.acquire_for("a".into()).unwrap();
        assert!(limit.acquire_for("a".into()).is_err());
        let _b = limit
            .acquire_for("b".into())
            .expect("another principal is not held up");
        drop(a1);
        assert!(limit.acquire_for("a".into()).is_ok());
    }

    #[test]
    fn idle_principals_leave_no_entry_behind() {
        let limit = SearchLimit::new(1);
        drop(limit.acquire_for("a".into()).unwrap());
        assert!(limit.in_flight.lock().unwrap().is_empty());
    }
}
