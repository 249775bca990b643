//! A small TCP load balancer on 127.0.0.1, as a rolling restart sees one:
//! it polls each backend's `/readyz` every 200 ms and hands each new
//! connection to the next backend whose last answer was 200. A connection
//! stays with its backend: clients that want every request balanced send
//! one request per connection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub const HEALTH_INTERVAL: Duration = Duration::from_millis(200);

struct Backend {
    address: SocketAddr,
    ready: bool,
    /// Connections handed to it.
    sent: usize,
}

pub struct Balancer {
    pub address: SocketAddr,
    backends: Arc<Mutex<Vec<Backend>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Balancer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let backends: Arc<Mutex<Vec<Backend>>> = Arc::default();
        let next = Arc::new(AtomicUsize::new(0));
        let pick = {
            let backends = backends.clone();
            move || {
                let mut all = backends.lock().unwrap();
                let ready: Vec<usize> = (0..all.len()).filter(|&i| all[i].ready).collect();
                let chosen =
                    *ready.get(next.fetch_add(1, Ordering::Relaxed) % ready.len().max(1))?;
                all[chosen].sent += 1;
                Some(all[chosen].address)
            }
        };
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                // No ready backend: the client sees the connection close,
                // which the test counts as a failed request.
                let Some(backend) = pick() else { continue };
                tokio::spawn(async move {
                    if let Ok(mut upstream) = TcpStream::connect(backend).await {
                        let _ = copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
            }
        });
        // awc's client is not Send: the poll runs on this thread.
        let health = actix_web::rt::spawn(poll_readiness(backends.clone()));
        Self {
            address,
            backends,
            tasks: vec![accept, health],
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Adds a backend, not ready until its `/readyz` says so.
    pub fn add(&self, address: SocketAddr) {
        self.backends.lock().unwrap().push(Backend {
            address,
            ready: false,
            sent: 0,
        });
    }

    pub fn remove(&self, address: SocketAddr) {
        self.backends
            .lock()
            .unwrap()
            .retain(|b| b.address != address);
    }

    /// Whether the last poll of `address` answered 200.
    pub fn is_ready(&self, address: SocketAddr) -> bool {
        self.backends
            .lock()
            .unwrap()
            .iter()
            .any(|b| b.address == address && b.ready)
    }

    /// Connections handed to `address` so far.
    pub fn sent_to(&self, address: SocketAddr) -> usize {
        self.backends
            .lock()
            .unwrap()
            .iter()
            .find(|b| b.address == address)
            .map_or(0, |b| b.sent)
    }

    /// Waits until the balancer sees `address` ready.
    pub async fn until_ready(&self, address: SocketAddr, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while !self.is_ready(address) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the balancer did not see {address} ready within {within:?}"
            );
            tokio::time::sleep(HEALTH_INTERVAL / 4).await;
        }
    }

    /// Waits until the balancer sees `address` not ready.
    pub async fn until_not_ready(&self, address: SocketAddr, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while self.is_ready(address) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the balancer still sees {address} ready after {within:?}"
            );
            tokio::time::sleep(HEALTH_INTERVAL / 4).await;
        }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn poll_readiness(backends: Arc<Mutex<Vec<Backend>>>) {
    let client = awc::Client::builder().timeout(HEALTH_INTERVAL * 5).finish();
    let mut tick = tokio::time::interval(HEALTH_INTERVAL);
    loop {
        tick.tick().await;
        let addresses: Vec<SocketAddr> =
            backends.lock().unwrap().iter().map(|b| b.address).collect();
        for address in addresses {
            let answer = client
                .get(format!("http://{address}/readyz"))
                .insert_header(("connection", "close"))
                .send()
                .await;
            let ready = matches!(answer, Ok(ref res) if res.status() == 200);
            if let Some(b) = backends
                .lock()
                .unwrap()
                .iter_mut()
                .find(|b| b.address == address)
            {
                b.ready = ready;
            }
        }
    }
}
