//! `idstore-healthcheck`: the container image's HEALTHCHECK.
//!
//! The runtime image holds no shell, curl or wget, and `idstore` has no
//! probe subcommand, so the Dockerfile compiles this file (the standard
//! library only, no crates) with `rustc` into a binary of a few hundred
//! kilobytes. It asks `GET <path>` (default `/healthz`) of the address in
//! `IDSTORE_LISTEN` (default `0.0.0.0:8080`; an unspecified address such as
//! `0.0.0.0` or `[::]` is asked on loopback) and exits 0 on a `200`, 1
//! otherwise, within 2 seconds.
//!
//! Usage: `idstore-healthcheck [PATH]`, e.g. `idstore-healthcheck /readyz`.
//!
//! The integration tests include this file as a module and run [`probe`]
//! against a served idstore.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

const DEFAULT_LISTEN: &str = "0.0.0.0:8080";
const TIMEOUT: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    let path = std::env::args().nth(1).unwrap_or_else(|| "/healthz".into());
    let listen = std::env::var("IDSTORE_LISTEN").unwrap_or_else(|_| DEFAULT_LISTEN.into());
    match target(&listen).and_then(|address| probe(address, &path, TIMEOUT)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("idstore-healthcheck: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Where to ask: the listen address, with an unspecified IP as loopback.
pub fn target(listen: &str) -> Result<SocketAddr, String> {
    let mut address: SocketAddr = listen
        .parse()
        .map_err(|_| format!("IDSTORE_LISTEN={listen:?} is not HOST:PORT"))?;
    if address.ip().is_unspecified() {
        address.set_ip(match address.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    Ok(address)
}

/// `Ok` when `GET path` on `address` answers 200 within `timeout` (per step).
pub fn probe(address: SocketAddr, path: &str, timeout: Duration) -> Result<(), String> {
    let mut stream = TcpStream::connect_timeout(&address, timeout)
        .map_err(|e| format!("cannot connect to {address}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nUser-Agent: idstore-healthcheck\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("cannot send to {address}: {e}"))?;
    // The status line is all we need; it fits in the first read or few.
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 1024 {
        let n = stream
            .read(&mut buf)
            .map_err(|e| format!("no answer from {address}{path}: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let status_line = head.lines().next().unwrap_or_default();
    let status = status_line.split_whitespace().nth(1);
    if status_line.starts_with("HTTP/") && status == Some("200") {
        Ok(())
    } else {
        Err(format!("{address}{path} answered {status_line:?}"))
    }
}
