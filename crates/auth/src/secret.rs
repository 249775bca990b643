//! Client secrets: generated with 256 bits of entropy, shown once, stored
//! as argon2id PHC strings, verified off the async runtime on a pool
//! bounded to the CPU count. Plaintext secrets travel as [`SecretString`]
//! from the request to the hash, so no `Debug` or log line can show them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, mpsc};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::keys::{KeyError, random_bytes};
use crate::password::hash::{self, Argon2Params, Verified};

/// A fresh random token of `bytes` bytes, base64url.
pub fn random_token(bytes: usize) -> Result<String, KeyError> {
    let mut buf = vec![0u8; bytes];
    random_bytes(&mut buf)?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

pub fn generate_client_id() -> Result<String, KeyError> {
    random_token(18)
}

pub fn generate_client_secret() -> Result<SecretString, KeyError> {
    random_token(32).map(SecretString::from)
}

/// argon2id with OWASP's minimum costs (19 MiB, 2 passes, 1 lane) whatever
/// the passwords' configuration: client secrets have 256 bits of entropy,
/// no cost makes them stronger.
pub fn hash_secret(secret: &str) -> String {
    hash::hash_password(Argon2Params::default(), secret)
}

/// Constant-time by construction (the digests are compared so). Only
/// argon2id: idstore makes every client secret's hash itself.
pub fn verify_secret(phc: &str, candidate: &str) -> bool {
    phc.starts_with("$argon2id$")
        && hash::verify_password(Argon2Params::default(), phc, candidate).matches
}

/// A hash to verify against when the client does not exist, so that an
/// unknown client id costs the same time as a wrong secret.
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_secret("idstore-dummy-secret-for-timing"))
}

/// Runs argon2 on threads of its own, `permits` of them, so a burst of
/// authentications cannot starve the async workers; at most `max_waiting`
/// more wait their turn, and any beyond are refused at once ([`HashBusy`])
/// rather than queued without bound. Client secrets and users' passwords
/// share it: both compete for the same cores.
#[derive(Clone)]
pub struct HashPool {
    permits: Arc<Semaphore>,
    workers: Arc<Workers>,
    capacity: usize,
    /// Hashes running or waiting.
    queued: Arc<AtomicUsize>,
    /// The costs of new password hashes.
    params: Argon2Params,
    /// A password hash with `params` to verify against when there is no
    /// stored one, made once.
    dummy: Arc<OnceLock<String>>,
}

type Job = Box<dyn FnOnce() + Send>;

/// The threads argon2 runs on, one per permit, started with the pool and
/// ended when its last clone goes (their queue closes). They run at the
/// process's priority: lowered (nice 10), they made the GET tail beside a
/// login burst worse, not better (bench/README.md, "Passwords": a worker
/// preempted while it hands its result over holds up the HTTP worker it
/// wakes).
struct Workers {
    jobs: mpsc::Sender<Job>,
}

impl Workers {
    fn start(count: usize) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..count {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("idstore-hash-{i}"))
                .spawn(move || {
                    loop {
                        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                        let Ok(job) = next else { return };
                        // A panicking job loses its result, not the worker.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                })
                .expect("start a hash worker thread");
        }
        Self { jobs }
    }

    fn run(&self, job: Job) {
        // The workers run until this sender goes: a send cannot fail.
        let _ = self.jobs.send(job);
    }
}

/// The hash pool's queue is full: answer 503 and let the caller retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("password hashing is saturated")]
pub struct HashBusy;

/// A place in the queue; leaving it (done, failed or cancelled) frees it.
struct Place(Arc<AtomicUsize>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl HashPool {
    pub fn new(permits: usize, max_waiting: usize) -> Self {
        let permits = permits.max(1);
        Self {
            permits: Arc::new(Semaphore::new(permits)),
            workers: Arc::new(Workers::start(permits)),
            capacity: permits.saturating_add(max_waiting),
            queued: Arc::default(),
            params: Argon2Params::default(),
            dummy: Arc::default(),
        }
    }

    /// The pool hashing passwords with `params` (validated beforehand:
    /// [`Argon2Params::validate`]).
    pub fn with_params(self, params: Argon2Params) -> Self {
        Self {
            params,
            dummy: Arc::default(),
            ..self
        }
    }

    pub fn params(&self) -> Argon2Params {
        self.params
    }

    /// Makes the dummy password hash now, so that the first unknown user
    /// costs no more than the others. Blocks for one hash: call it off the
    /// async workers.
    pub fn prepare_dummy(&self) {
        dummy_password_hash(&self.dummy, self.params);
    }

    /// `workers` hashes at once (0: one per core), `max_waiting` more queued.
    pub fn sized(workers: usize, max_waiting: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self::new(if workers == 0 { cores } else { workers }, max_waiting)
    }

    fn enter(&self) -> Result<Place, HashBusy> {
        let before = self.queued.fetch_add(1, Ordering::AcqRel);
        let place = Place(self.queued.clone());
        if before >= self.capacity {
            return Err(HashBusy);
        }
        Ok(place)
    }

    /// Runs `work` on a hash worker once a permit is free. The place and
    /// the permit move into the job: a request cancelled mid-hash frees
    /// them only when the hash has really finished.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Option<T>, HashBusy> {
        let place = self.enter()?;
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("hash pool closed");
        let (done, result) = tokio::sync::oneshot::channel();
        self.workers.run(Box::new(move || {
            let held = (place, permit);
            let result = work();
            // Free before answering: the caller sees the queue without it.
            drop(held);
            let _ = done.send(result);
        }));
        // A job that panicked drops `done`: no result.
        Ok(result.await.ok())
    }

    /// Hashes running or waiting now.
    pub fn depth(&self) -> usize {
        self.queued.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub async fn verify(&self, phc: String, candidate: SecretString) -> Result<bool, HashBusy> {
        let checked = self
            .run(move || verify_secret(&phc, candidate.expose_secret()))
            .await?;
        Ok(checked.unwrap_or(false))
    }

    pub async fn hash(&self, secret: SecretString) -> Result<String, HashBusy> {
        let hashed = self
            .run(move || hash_secret(secret.expose_secret()))
            .await?;
        Ok(hashed.expect("argon2 task panicked"))
    }

    /// A new argon2id hash of `password` with the pool's costs.
    pub async fn hash_password(&self, password: SecretString) -> Result<String, HashBusy> {
        let params = self.params;
        let hashed = self
            .run(move || hash::hash_password(params, password.expose_secret()))
            .await?;
        Ok(hashed.expect("argon2 task panicked"))
    }

    /// `phc: None` (unknown user, user without password) or a hash no
    /// verifier runs verifies against a dummy argon2id hash with the pool's
    /// params, so every failure path costs one full verification; always
    /// `matches: false` then.
    pub async fn verify_password(
        &self,
        phc: Option<String>,
        candidate: SecretString,
    ) -> Result<Verified, HashBusy> {
        let (params, dummy) = (self.params, self.dummy.clone());
        let checked = self
            .run(move || match phc {
                Some(phc) if hash::verifiable(&phc) => {
                    hash::verify_password(params, &phc, candidate.expose_secret())
                }
                // Nothing to check, or a hash no verifier runs (malformed,
                // `$2x$`, an unknown algorithm): the dummy's cost all the same.
                _ => {
                    let dummy = dummy_password_hash(&dummy, params);
                    hash::verify_password(params, dummy, candidate.expose_secret());
                    Verified {
                        matches: false,
                        needs_rehash: false,
                    }
                }
            })
            .await?;
        Ok(checked.unwrap_or(Verified {
            matches: false,
            needs_rehash: false,
        }))
    }
}

fn dummy_password_hash(cell: &OnceLock<String>, params: Argon2Params) -> &str {
    cell.get_or_init(|| hash::hash_password(params, "idstore-dummy-password-for-timing"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_verifies_against_its_hash_only() {
        let secret = generate_client_secret().unwrap();
        assert!(!format!("{secret:?}").contains(secret.expose_secret()));
        let secret = secret.expose_secret();
        assert_eq!(secret.len(), 43);
        let phc = hash_secret(secret);
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(!phc.contains(secret));
        assert!(verify_secret(&phc, secret));
        assert!(!verify_secret(&phc, "wrong"));
        assert!(!verify_secret("not a phc string", secret));
    }

    #[test]
    fn generated_identifiers_are_distinct() {
        assert_ne!(generate_client_id().unwrap(), generate_client_id().unwrap());
        assert_ne!(
            generate_client_secret().unwrap().expose_secret(),
            generate_client_secret().unwrap().expose_secret()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_hash_queue_refuses_at_once_and_frees_its_places() {
        // One place in all: the permit, which the test holds from outside
        // the queue, so the first hash takes the place and waits for it.
        let pool = HashPool::new(1, 0);
        let secret = || SecretString::from("s3cret-s3cret");
        let held = pool.permits.clone().try_acquire_owned().unwrap();
        let waiting = tokio::spawn({
            let pool = pool.clone();
            async move { pool.hash(secret()).await }
        });
        while pool.queued.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        for _ in 0..3 {
            assert_eq!(pool.hash(secret()).await, Err(HashBusy));
        }
        drop(held);
        assert!(waiting.await.unwrap().is_ok(), "the waiting hash runs");
        assert_eq!(
            pool.queued.load(Ordering::Acquire),
            0,
            "every place is freed"
        );
        assert!(pool.hash(secret()).await.is_ok(), "the pool serves again");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn passwords_hash_with_the_pools_costs_and_a_missing_hash_never_matches() {
        let params = Argon2Params {
            memory_kib: 4096,
            iterations: 1,
            parallelism: 1,
        };
        let pool = HashPool::sized(1, 4).with_params(params);
        let pw = || SecretString::from("a long enough passphrase");
        let phc = pool.hash_password(pw()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=4096,t=1,p=1$"), "{phc}");
        let ok = pool.verify_password(Some(phc.clone()), pw()).await.unwrap();
        assert_eq!(
            ok,
            Verified {
                matches: true,
                needs_rehash: false
            }
        );
        let wrong = SecretString::from("another passphrase");
        assert!(
            !pool
                .verify_password(Some(phc), wrong)
                .await
                .unwrap()
                .matches
        );
        // The dummy hash is the pool's own, yet matches not even its password.
        pool.prepare_dummy();
        let dummy = pool.dummy.get().unwrap().clone();
        assert!(
            dummy.starts_with("$argon2id$v=19$m=4096,t=1,p=1$"),
            "{dummy}"
        );
        let candidate = SecretString::from("idstore-dummy-password-for-timing");
        let missing = pool.verify_password(None, candidate).await.unwrap();
        assert_eq!(
            missing,
            Verified {
                matches: false,
                needs_rehash: false
            }
        );
        assert_eq!(pool.depth(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hashes_run_on_the_pools_own_threads() {
        let pool = HashPool::new(2, 0);
        let phc = pool
            .hash(SecretString::from("s3cret-s3cret"))
            .await
            .unwrap();
        assert!(verify_secret(&phc, "s3cret-s3cret"));
        let workers = std::fs::read_dir("/proc/self/task")
            .map(|tasks| {
                tasks
                    .flatten()
                    .filter(|t| {
                        std::fs::read_to_string(t.path().join("comm"))
                            .is_ok_and(|c| c.starts_with("idstore-hash-"))
                    })
                    .count()
            })
            .unwrap_or(2);
        assert!(workers >= 2, "no hash worker threads");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn password_work_is_refused_when_the_queue_is_full() {
        let pool = HashPool::new(1, 0);
        let _held = pool.permits.clone().try_acquire_owned().unwrap();
        let waiting = tokio::spawn({
            let pool = pool.clone();
            async move { pool.hash_password(SecretString::from("x")).await }
        });
        while pool.queued.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        let refused = pool.verify_password(None, SecretString::from("x")).await;
        assert_eq!(refused, Err(HashBusy));
        waiting.abort();
    }
}
