//! Bounds on expensive work per caller, so that one client's burst of
//! searches cannot take every pooled connection from everyone else, and
//! one source's token requests cannot take all the hashing.

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

/// Token buckets for the token endpoint, checked before any database or
/// hashing work: per source, so one caller cannot take the service's
/// hashing from the others, and overall, so many callers together cannot
/// either. Per process: each replica limits what reaches it.
pub struct TokenRate {
    per_source: f64,
    global: f64,
    sources: Mutex<HashMap<String, Bucket>>,
    all: Mutex<Bucket>,
}

/// Most sources remembered; past it, the buckets that have refilled (the
/// sources that went quiet) are forgotten.
const MAX_SOURCES: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: std::time::Instant,
}

impl Bucket {
    fn full(rate: f64) -> Self {
        Self {
            tokens: burst(rate),
            at: std::time::Instant::now(),
        }
    }

    /// Whether the bucket would be full by now: its source went quiet.
    fn refilled(&self, rate: f64, now: std::time::Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens + elapsed * rate >= burst(rate)
    }

    /// Takes a token, or says how many seconds until one is there.
    fn take(&mut self, rate: f64, now: std::time::Instant) -> Result<(), u64> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst(rate));
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - self.tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}

/// A bucket holds two seconds' worth.
fn burst(rate: f64) -> f64 {
    (rate * 2.0).max(1.0)
}

impl TokenRate {
    /// Requests per second, per source and overall.
    pub fn new(per_source: u32, global: u32) -> Self {
        let (per_source, global) = (f64::from(per_source.max(1)), f64::from(global.max(1)));
        Self {
            per_source,
            global,
            sources: Mutex::default(),
            all: Mutex::new(Bucket::full(global)),
        }
    }

    /// Admits one request from `source`, or answers the seconds to wait.
    pub fn admit(&self, source: &str) -> Result<(), u64> {
        let now = std::time::Instant::now();
        {
            let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
            if sources.len() >= MAX_SOURCES && !sources.contains_key(source) {
                let rate = self.per_source;
                sources.retain(|_, b| !b.refilled(rate, now));
                if sources.len() >= MAX_SOURCES {
                    // All still busy: memory is bounded before fairness;
                    // the overall bucket still holds.
                    sources.clear();
                }
            }
            sources
                .entry(source.to_owned())
                .or_insert_with(|| Bucket::full(self.per_source))
                .take(self.per_source, now)?;
        }
        self.all
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(self.global, now)
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

    #[test]
    fn a_source_gets_its_burst_then_waits_and_others_are_unaffected() {
        let rate = TokenRate::new(5, 1000);
        for _ in 0..10 {
            rate.admit("198.51.100.1").unwrap();
        }
        let wait = rate.admit("198.51.100.1").unwrap_err();
        assert!((1..=1).contains(&wait), "{wait}");
        rate.admit("198.51.100.2").unwrap();
    }

    #[test]
    fn the_overall_bucket_holds_across_sources() {
        let rate = TokenRate::new(1000, 3);
        let admitted = (0..20)
            .filter(|i| rate.admit(&format!("203.0.113.{i}")).is_ok())
            .count();
        assert_eq!(admitted, 6, "two seconds' worth of 3/s");
    }

    #[test]
    fn quiet_sources_are_forgotten_when_memory_fills() {
        let rate = TokenRate::new(1_000_000, 1_000_000_000);
        for i in 0..MAX_SOURCES {
            rate.admit(&i.to_string()).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
        rate.admit("one more").unwrap();
        let remembered = rate.sources.lock().unwrap().len();
        assert!(remembered < MAX_SOURCES, "{remembered}");
    }
}
