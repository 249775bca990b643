//! Bounds on expensive work per caller, so that one client's burst of
//! searches cannot take every pooled connection from everyone else, and
//! one source's token requests cannot take all the hashing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use idstore_auth::Principal;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::ApiError;

/// How many searches (lists and counts) each principal may have in flight,
/// and how long one more waits for a slot before it is refused.
#[derive(Clone)]
pub struct SearchLimit {
    per_principal: usize,
    queue: Duration,
    shares: Shares,
}

type Shares = Arc<Mutex<HashMap<String, Share>>>;

/// One principal's slots, there only while some search holds or awaits one:
/// the map stays as small as the searches in flight.
struct Share {
    slots: Arc<Semaphore>,
    claims: usize,
}

/// One search in flight; dropping it frees the slot.
pub struct SearchSlot {
    // Fields drop in order: the slot goes back before the claim, so a share
    // is only ever removed with all of its slots free.
    _permit: OwnedSemaphorePermit,
    _claim: Claim,
}

/// A search holding or awaiting a slot of its principal's share. Dropped
/// also when a waiting request is abandoned (its client went away), which
/// is what keeps an idle principal's entry from staying behind.
struct Claim {
    key: String,
    shares: Shares,
}

impl SearchLimit {
    /// No wait: a search over its principal's share is refused at once.
    pub fn new(per_principal: usize) -> Self {
        Self {
            per_principal: per_principal.clamp(1, Semaphore::MAX_PERMITS),
            queue: Duration::ZERO,
            shares: Arc::default(),
        }
    }

    /// How long a search waits, in arrival order, for one of its
    /// principal's slots. A waiting search holds no pooled connection, so
    /// the cap still keeps one client's burst from taking the pool; the
    /// wait only rides out a stall that briefly fills the slots.
    pub fn queue_for(self, queue: Duration) -> Self {
        Self { queue, ..self }
    }

    /// A slot for `principal`, or 429 once its slots have stayed full for
    /// the queue time. Not a 503: the service is fine, this caller is over
    /// its share, and load balancers eject backends that answer 5xx.
    pub async fn acquire(&self, principal: &Principal) -> Result<SearchSlot, ApiError> {
        self.acquire_for(format!("{}/{}", principal.tenant_id, principal.subject))
            .await
    }

    async fn acquire_for(&self, key: String) -> Result<SearchSlot, ApiError> {
        let (claim, slots) = self.claim(key);
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) if self.queue.is_zero() => None,
            // The semaphore is never closed: Err is the timeout.
            Err(_) => tokio::time::timeout(self.queue, slots.acquire_owned())
                .await
                .ok()
                .and_then(Result::ok),
        };
        match permit {
            Some(permit) => Ok(SearchSlot {
                _permit: permit,
                _claim: claim,
            }),
            None => Err(ApiError::TooManyRequests(format!(
                "This client already has {} searches running{}; retry when one has finished",
                self.per_principal,
                match self.queue.as_millis() {
                    0 => String::new(),
                    ms => format!(" and none finished within {ms} ms"),
                },
            ))),
        }
    }

    fn claim(&self, key: String) -> (Claim, Arc<Semaphore>) {
        let mut shares = self.shares.lock().unwrap_or_else(|e| e.into_inner());
        let share = shares.entry(key.clone()).or_insert_with(|| Share {
            slots: Arc::new(Semaphore::new(self.per_principal)),
            claims: 0,
        });
        share.claims += 1;
        let slots = share.slots.clone();
        let claim = Claim {
            key,
            shares: self.shares.clone(),
        };
        (claim, slots)
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut shares = self.shares.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(share) = shares.get_mut(&self.key) {
            share.claims -= 1;
            if share.claims == 0 {
                shares.remove(&self.key);
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
    use std::time::Instant;

    use super::*;

    fn shares(limit: &SearchLimit) -> usize {
        limit.shares.lock().unwrap().len()
    }

    #[tokio::test]
    async fn a_principal_gets_its_share_and_a_freed_slot_back() {
        let limit = SearchLimit::new(2);
        let a1 = limit.acquire_for("a".into()).await.unwrap();
        let _a2 = limit.acquire_for("a".into()).await.unwrap();
        let refused = limit.acquire_for("a".into()).await.err().unwrap();
        assert!(matches!(refused, ApiError::TooManyRequests(_)), "{refused}");
        let _b = limit
            .acquire_for("b".into())
            .await
            .expect("another principal is not held up");
        drop(a1);
        assert!(limit.acquire_for("a".into()).await.is_ok());
    }

    #[tokio::test]
    async fn a_search_waits_for_a_slot_freed_within_the_queue_time() {
        let limit = SearchLimit::new(1).queue_for(Duration::from_secs(5));
        let held = limit.acquire_for("a".into()).await.unwrap();
        let started = Instant::now();
        let (waited, ()) = tokio::join!(limit.acquire_for("a".into()), async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            drop(held);
        });
        assert!(waited.is_ok(), "the freed slot went to the waiting search");
        assert!(started.elapsed() >= Duration::from_millis(100));
    }

    #[tokio::test]
    async fn a_search_is_refused_once_the_queue_time_has_passed() {
        let limit = SearchLimit::new(1).queue_for(Duration::from_millis(200));
        let _held = limit.acquire_for("a".into()).await.unwrap();
        let started = Instant::now();
        let (refused, other) =
            tokio::join!(limit.acquire_for("a".into()), limit.acquire_for("b".into()));
        let took = started.elapsed();
        let refused = refused.err().expect("refused");
        assert!(
            matches!(&refused, ApiError::TooManyRequests(m) if m.contains("within 200 ms")),
            "{refused}"
        );
        assert!(
            (Duration::from_millis(200)..Duration::from_secs(3)).contains(&took),
            "{took:?}"
        );
        assert!(other.is_ok(), "another principal does not wait");
    }

    #[tokio::test]
    async fn waiting_searches_get_slots_in_arrival_order() {
        let limit = SearchLimit::new(1).queue_for(Duration::from_secs(5));
        let held = limit.acquire_for("a".into()).await.unwrap();
        let waiter = |limit: &SearchLimit| {
            let limit = limit.clone();
            tokio::spawn(async move { limit.acquire_for("a".into()).await })
        };
        let first = waiter(&limit);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let second = waiter(&limit);
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(held);
        let served = first
            .await
            .unwrap()
            .expect("the first to wait is served first");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!second.is_finished(), "the second waits for the first");
        drop(served);
        assert!(second.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn idle_principals_leave_no_entry_behind() {
        let limit = SearchLimit::new(1).queue_for(Duration::from_millis(50));
        let held = limit.acquire_for("a".into()).await.unwrap();
        assert!(limit.acquire_for("a".into()).await.is_err(), "timed out");
        // A request abandoned while it waits (its client went away).
        let patient = limit.clone().queue_for(Duration::from_secs(5));
        let abandoned =
            tokio::time::timeout(Duration::from_millis(20), patient.acquire_for("a".into())).await;
        assert!(abandoned.is_err(), "still waiting when abandoned");
        assert_eq!(shares(&limit), 1);
        drop(held);
        assert_eq!(shares(&limit), 0);
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
