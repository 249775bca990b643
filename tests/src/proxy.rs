//! A TCP proxy in front of PostgreSQL that a test can cut, pause and
//! restore, to show how idstore behaves when its database goes away or
//! turns slow.

use std::net::SocketAddr;
use std::path::PathBuf;

use idstore_store::PgConnectOptions;
use sqlx::ConnectOptions;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward traffic.
    Up,
    /// Refuse new connections and cut the open ones.
    Down,
    /// Hold traffic (nothing lost) until the mode changes.
    Paused,
}

#[derive(Clone)]
enum Upstream {
    Tcp(String),
    Unix(PathBuf),
}

pub struct DbProxy {
    pub address: SocketAddr,
    mode: watch::Sender<Mode>,
}

impl DbProxy {
    /// Proxies to the server `target` points at.
    pub async fn start(target: &PgConnectOptions) -> Self {
        let upstream = match target.get_socket() {
            Some(dir) => Upstream::Unix(dir.join(format!(".s.PGSQL.{}", target.get_port()))),
            None => Upstream::Tcp(format!("{}:{}", target.get_host(), target.get_port())),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (mode, watcher) = watch::channel(Mode::Up);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *watcher.borrow() == Mode::Down {
                    continue; // dropped: the client sees the connection close
                }
                tokio::spawn(forward(client, upstream.clone(), watcher.clone()));
            }
        });
        Self { address, mode }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// `options` rewritten to go through the proxy.
    pub fn url_for(&self, options: &PgConnectOptions) -> String {
        let mut url = options.to_url_lossy();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(self.address.port())).unwrap();
        url.to_string()
    }
}

async fn forward(client: TcpStream, upstream: Upstream, mode: watch::Receiver<Mode>) {
    let (client_read, client_write) = client.into_split();
    match upstream {
        Upstream::Tcp(addr) => {
            let Ok(server) = TcpStream::connect(addr).await else {
                return;
            };
            let (server_read, server_write) = server.into_split();
            tokio::join!(
                pump(client_read, server_write, mode.clone()),
                pump(server_read, client_write, mode)
            );
        }
        Upstream::Unix(path) => {
            let Ok(server) = UnixStream::connect(path).await else {
                return;
            };
            let (server_read, server_write) = server.into_split();
            tokio::join!(
                pump(client_read, server_write, mode.clone()),
                pump(server_read, client_write, mode)
            );
        }
    }
}

/// Copies one direction, obeying the mode between reads and writes.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
            _ = mode.wait_for(|m| *m == Mode::Down) => break,
        };
        let now = *mode.wait_for(|m| *m != Mode::Paused).await.unwrap();
        if now == Mode::Down || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
