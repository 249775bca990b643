//! The HTTP client the OTLP exporter posts batches with.
//!
//! Why our own: the SDK's batch processor exports from a thread of its own,
//! outside any async runtime, so it needs a blocking client. The exporter's
//! stock one is reqwest's blocking client, which brings reqwest, hyper and a
//! hidden runtime thread into a binary that otherwise has no HTTP client;
//! its async alternatives (reqwest, hyper) need the experimental
//! runtime-driven processor. What it sends is one POST of a known length to
//! a collector, over plain HTTP on the local network (TLS, when the
//! collector is elsewhere, is a local collector's or sidecar's job): that is
//! a few lines over `std::net`, with actix's `httparse` reading the answer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::Bytes;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};

/// A collector's answer is a status and a small message; more is not read.
const MAX_ANSWER: u64 = 64 * 1024;
const MAX_HEADERS: usize = 64;

#[derive(Debug, Clone)]
pub struct CollectorClient {
    timeout: Duration,
}

impl CollectorClient {
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

#[async_trait::async_trait]
impl HttpClient for CollectorClient {
    /// Blocks: the batch processor's own thread runs it, never a runtime's.
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        post(&request, self.timeout)
    }
}

fn post(request: &Request<Bytes>, timeout: Duration) -> Result<Response<Bytes>, HttpError> {
    let uri = request.uri();
    if uri.scheme_str() != Some("http") {
        return Err(format!("only http:// collectors are supported, not {uri}").into());
    }
    let host = uri.host().ok_or("the collector URL names no host")?;
    let port = uri.port_u16().unwrap_or(80);
    let mut stream = connect(
        host.trim_start_matches('[').trim_end_matches(']'),
        port,
        timeout,
    )?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(&head(request))?;
    stream.write_all(request.body())?;
    stream.flush()?;
    read_answer(BufReader::new(stream.take(MAX_ANSWER)))
}

/// The first address of `host` that accepts within `timeout`.
fn connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, HttpError> {
    let mut last = None;
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last.map_or_else(
        || format!("{host} resolves to no address").into(),
        Into::into,
    ))
}

/// The request line and headers: the exporter's (content type, encoding,
/// `OTEL_EXPORTER_OTLP_HEADERS`) and the framing, which is ours.
fn head(request: &Request<Bytes>) -> Vec<u8> {
    let uri = request.uri();
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    // Host and port only: an authority may carry `user:password@`, which
    // does not belong in a Host header (`otlp::loggable` refuses it anyway).
    let host = uri.host().unwrap_or_default();
    let authority = uri
        .port_u16()
        .map_or_else(|| host.to_owned(), |port| format!("{host}:{port}"));
    let mut head = format!(
        "{} {target} HTTP/1.1\r\nhost: {authority}\r\ncontent-length: {}\r\nconnection: close\r\n",
        request.method(),
        request.body().len()
    )
    .into_bytes();
    for (name, value) in request.headers() {
        if matches!(
            name.as_str(),
            "host" | "content-length" | "connection" | "transfer-encoding"
        ) {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// Status, headers and body of an HTTP/1.1 answer to a `connection: close`
/// request: the body runs for its `content-length`, in chunks, or to the end.
fn read_answer(mut reader: impl BufRead) -> Result<Response<Bytes>, HttpError> {
    let mut raw = Vec::new();
    while !raw.ends_with(b"\r\n\r\n") {
        if reader.read_until(b'\n', &mut raw)? == 0 {
            return Err("the collector closed the connection before answering".into());
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut headers);
    parsed.parse(&raw)?;
    let mut answer = Response::builder().status(parsed.code.ok_or("no status")?);
    let mut length = None;
    let mut chunked = false;
    for header in parsed.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            length = Some(std::str::from_utf8(header.value)?.trim().parse::<usize>()?);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = header.value.eq_ignore_ascii_case(b"chunked");
        }
        answer = answer.header(header.name, header.value);
    }
    let body = match (chunked, length) {
        (true, _) => dechunk(&mut reader)?,
        // What the collector claims is not trusted with an allocation.
        (false, Some(n)) if n as u64 > MAX_ANSWER => {
            return Err(format!("the collector announced a body of {n} bytes").into());
        }
        (false, Some(n)) => {
            let mut body = vec![0; n];
            reader.read_exact(&mut body)?;
            body
        }
        (false, None) => {
            let mut body = Vec::new();
            reader.read_to_end(&mut body)?;
            body
        }
    };
    Ok(answer.body(Bytes::from(body))?)
}

/// A chunked body, trailers dropped.
fn dechunk(reader: &mut impl BufRead) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    loop {
        let mut line = Vec::new();
        reader.read_until(b'\n', &mut line)?;
        let size = match httparse::parse_chunk_size(&line) {
            Ok(httparse::Status::Complete((_, size))) => usize::try_from(size)?,
            _ => return Err("a malformed chunk from the collector".into()),
        };
        if size == 0 {
            return Ok(body);
        }
        let start = body.len();
        let end = start
            .checked_add(size)
            .filter(|&end| end as u64 <= MAX_ANSWER)
            .ok_or("the collector's chunks exceed the answer's limit")?;
        body.resize(end, 0);
        reader.read_exact(&mut body[start..])?;
        let mut end = [0; 2];
        reader.read_exact(&mut end)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn request() -> Request<Bytes> {
        Request::builder()
            .method("POST")
            .uri("http://127.0.0.1:4318/v1/traces")
            .header("content-type", "application/x-protobuf")
            .header("authorization", "Bearer t")
            .header("content-length", "999")
            .body(Bytes::from_static(b"spans"))
            .unwrap()
    }

    #[test]
    fn the_host_header_carries_no_credentials() {
        let request = Request::builder()
            .method("POST")
            .uri("http://user:secret@collector:4318/v1/traces")
            .body(Bytes::new())
            .unwrap();
        let head = String::from_utf8(head(&request)).unwrap();
        assert!(head.contains("host: collector:4318\r\n"), "{head}");
        assert!(!head.contains("secret"), "{head}");
    }

    #[test]
    fn the_head_keeps_the_exporters_headers_and_frames_the_body_itself() {
        let head = String::from_utf8(head(&request())).unwrap();
        assert!(
            head.starts_with("POST /v1/traces HTTP/1.1\r\nhost: 127.0.0.1:4318\r\n"),
            "{head}"
        );
        assert!(head.contains("content-length: 5\r\n"), "{head}");
        assert!(!head.contains("999"), "{head}");
        assert!(head.contains("content-type: application/x-protobuf\r\n"));
        assert!(head.contains("authorization: Bearer t\r\n"));
        assert!(head.ends_with("\r\n\r\n"));
    }

    #[test]
    fn answers_are_read_by_length_by_chunks_and_to_the_end() {
        let by_length = read_answer(&b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"[..]);
        assert_eq!(by_length.unwrap().body().as_ref(), b"ok");
        let chunked = read_answer(
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n3;x=y\r\ncde\r\n0\r\n\r\n"[..],
        )
        .unwrap();
        assert_eq!(chunked.body().as_ref(), b"abcde");
        let to_end =
            read_answer(&b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\r\nbusy"[..])
                .unwrap();
        assert_eq!(to_end.status(), 503);
        assert_eq!(to_end.headers()["retry-after"], "1");
        assert_eq!(to_end.body().as_ref(), b"busy");
        assert!(read_answer(&b"HTTP/1.1 200 OK\r\n"[..]).is_err());
        // A length or chunk claimed beyond the answer's limit is refused,
        // not allocated.
        let huge = b"HTTP/1.1 200 OK\r\nContent-Length: 4611686018427387904\r\n\r\nok";
        assert!(read_answer(&huge[..]).is_err());
        let huge = b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nok";
        assert!(read_answer(&huge[..]).is_err());
        let chunk = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nok";
        assert!(read_answer(&chunk[..]).is_err());
    }

    #[test]
    fn a_post_reaches_a_listener_and_its_answer_comes_back() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let mut received = Vec::new();
            while !received.ends_with(b"\r\n\r\nspans") {
                let mut byte = [0];
                reader.read_exact(&mut byte).unwrap();
                received.push(byte[0]);
            }
            reader
                .get_mut()
                .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
            String::from_utf8(received).unwrap()
        });
        let mut request = request();
        *request.uri_mut() = format!("http://127.0.0.1:{port}/v1/traces")
            .parse()
            .unwrap();
        let answer = post(&request, Duration::from_secs(5)).unwrap();
        assert_eq!(answer.status(), 202);
        let received = server.join().unwrap();
        assert!(
            received.starts_with("POST /v1/traces HTTP/1.1\r\n"),
            "{received}"
        );
    }

    #[test]
    fn https_and_a_closed_port_are_errors_not_hangs() {
        let mut request = request();
        *request.uri_mut() = "https://127.0.0.1:4318/v1/traces".parse().unwrap();
        assert!(post(&request, Duration::from_secs(1)).is_err());
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        *request.uri_mut() = format!("http://127.0.0.1:{port}/v1/traces")
            .parse()
            .unwrap();
        assert!(post(&request, Duration::from_secs(1)).is_err());
    }
}
