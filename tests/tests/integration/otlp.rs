//! OpenTelemetry export: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, a real
//! `idstore serve` sends its request spans to an OTLP/HTTP collector (here a
//! small receiver inside the test), carrying the request id, the route
//! template, the status and the tenant, with the store calls as children,
//! and never the identifiers a path carries; and it pushes the series of
//! `/metrics` there too, with the same values.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use idstore_tests::app::random_kek;
use idstore_tests::db::{TestDb, fresh_database};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric, number_data_point};
use prost::Message as _;
use serde_json::Value;

use crate::process::{Served, client_token, serve_on};

/// One POST to the collector: its path, content type and body.
type Export = (String, String, Vec<u8>);

/// What a collector received.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<Export>>>);

/// A span as the assertions need it; attribute values as text.
#[derive(Debug, Clone)]
struct Span {
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    /// OTLP's `SpanKind` (2: server); 0 where the encoding is not read.
    kind: i32,
    attributes: HashMap<String, String>,
    /// The `service.name` of the resource it came with.
    service: String,
}

impl Span {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

impl Received {
    fn bodies(&self) -> Vec<Export> {
        self.0.lock().unwrap().clone()
    }

    fn to(&self, path: &str) -> Vec<Export> {
        self.bodies()
            .into_iter()
            .filter(|(to, _, _)| to == path)
            .collect()
    }

    fn spans(&self) -> Vec<Span> {
        self.to("/v1/traces")
            .iter()
            .flat_map(|(_, content_type, body)| match content_type.as_str() {
                "application/json" => from_json(&serde_json::from_slice(body).unwrap()),
                "application/x-protobuf" => {
                    from_protobuf(&ExportTraceServiceRequest::decode(&body[..]).unwrap())
                }
                other => panic!("an export in {other}"),
            })
            .collect()
    }

    fn request_span(&self, request_id: &str) -> Option<Span> {
        self.spans()
            .into_iter()
            .find(|s| s.attr("request_id") == Some(request_id))
    }

    async fn wait_for_request(&self, request_id: &str, within: Duration) -> Span {
        let start = Instant::now();
        loop {
            if let Some(span) = self.request_span(request_id) {
                return span;
            }
            assert!(
                start.elapsed() < within,
                "no span of request {request_id} arrived within {within:?}; received: {:#?}",
                self.spans()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether any export, whatever its encoding, holds `text`.
    fn contains(&self, text: &str) -> bool {
        self.bodies()
            .iter()
            .any(|(_, _, body)| body.windows(text.len()).any(|w| w == text.as_bytes()))
    }

    /// Every metric of every metrics export, in the order they came.
    fn metrics(&self) -> Vec<Metric> {
        self.to("/v1/metrics")
            .iter()
            .flat_map(|(_, content_type, body)| {
                assert_eq!(content_type, "application/x-protobuf");
                ExportMetricsServiceRequest::decode(&body[..])
                    .unwrap()
                    .resource_metrics
            })
            .flat_map(|r| r.scope_metrics)
            .flat_map(|s| s.metrics)
            .collect()
    }

    /// The latest exported value of counter `name`'s data point whose
    /// attributes include `labels`.
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.metrics()
            .iter()
            .rev()
            .filter(|m| m.name == name)
            .filter_map(|m| match &m.data {
                Some(metric::Data::Sum(sum)) => Some(&sum.data_points),
                _ => None,
            })
            .flatten()
            .filter(|p| has(&attributes(&p.attributes), labels))
            .find_map(|p| number(p.value.as_ref()))
    }
}

fn has(attributes: &HashMap<String, String>, labels: &[(&str, &str)]) -> bool {
    labels
        .iter()
        .all(|(k, v)| attributes.get(*k).map(String::as_str) == Some(*v))
}

#[allow(clippy::cast_precision_loss)]
fn number(value: Option<&number_data_point::Value>) -> Option<f64> {
    match value? {
        number_data_point::Value::AsDouble(d) => Some(*d),
        number_data_point::Value::AsInt(i) => Some(*i as f64),
    }
}

/// An OTLP/HTTP trace receiver on a free port of the loopback.
fn collector() -> (SocketAddr, Received, actix_web::dev::ServerHandle) {
    let received = Received::default();
    let sink = received.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(sink.clone()))
            .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
            .route("/v1/traces", web::post().to(accept))
            .route("/v1/metrics", web::post().to(accept))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (address, received, handle)
}

async fn accept(req: HttpRequest, body: web::Bytes, sink: web::Data<Received>) -> HttpResponse {
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    sink.0
        .lock()
        .unwrap()
        .push((req.path().to_owned(), content_type.clone(), body.to_vec()));
    // An empty Export*ServiceResponse: everything accepted.
    let answer = if content_type == "application/json" {
        "{}"
    } else {
        ""
    };
    HttpResponse::Ok().content_type(content_type).body(answer)
}

fn text_of(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn attributes(kvs: &[KeyValue]) -> HashMap<String, String> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), text_of(kv.value.as_ref())))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_protobuf(export: &ExportTraceServiceRequest) -> Vec<Span> {
    let mut spans = Vec::new();
    for resource_spans in &export.resource_spans {
        let resource = attributes(
            resource_spans
                .resource
                .as_ref()
                .map_or(&[][..], |r| &r.attributes),
        );
        let service = resource.get("service.name").cloned().unwrap_or_default();
        for span in resource_spans.scope_spans.iter().flat_map(|s| &s.spans) {
            spans.push(Span {
                name: span.name.clone(),
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent_span_id: hex(&span.parent_span_id),
                kind: span.kind,
                attributes: attributes(&span.attributes),
                service: service.clone(),
            });
        }
    }
    spans
}

/// OTLP's JSON encoding: the same tree, camelCase, ids in hex, each value
/// an object naming its type (`{"stringValue": ...}`, `{"intValue": ...}`).
fn from_json(export: &Value) -> Vec<Span> {
    let attributes = |v: &Value| -> HashMap<String, String> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|kv| {
                let value = kv["value"]
                    .as_object()
                    .and_then(|o| o.values().next())
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .unwrap_or_default();
                (kv["key"].as_str().unwrap_or_default().to_owned(), value)
            })
            .collect()
    };
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let mut spans = Vec::new();
    for resource_spans in export["resourceSpans"].as_array().into_iter().flatten() {
        let service = attributes(&resource_spans["resource"]["attributes"])
            .remove("service.name")
            .unwrap_or_default();
        for scope in resource_spans["scopeSpans"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for span in scope["spans"].as_array().into_iter().flatten() {
                spans.push(Span {
                    name: text(&span["name"]),
                    trace_id: text(&span["traceId"]),
                    span_id: text(&span["spanId"]),
                    parent_span_id: text(&span["parentSpanId"]),
                    kind: span["kind"].as_i64().map_or(0, |k| k as i32),
                    attributes: attributes(&span["attributes"]),
                    service: service.clone(),
                });
            }
        }
    }
    spans
}

const ADMIN: &str = "otlp-admin";

/// `idstore serve` exporting to `collector`, with `env` on top.
async fn start(
    db: &TestDb,
    dir: &std::path::Path,
    collector: SocketAddr,
    secret: &str,
    env: &[(&str, &str)],
) -> Served {
    let mut cmd = serve_on(dir, &db.url());
    cmd.env("IDSTORE_KEY_ENCRYPTION_KEY", random_kek())
        .env("IDSTORE_BOOTSTRAP_CLIENT_ID", ADMIN)
        .env("IDSTORE_BOOTSTRAP_CLIENT_SECRET", secret)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}"))
        .envs(env.iter().copied());
    Served::start(cmd, Duration::from_secs(30)).await
}

/// `GET path` with a bearer token and our own request id; the status.
async fn get(served: &Served, path: &str, token: &str, request_id: &str) -> u16 {
    let res = awc::Client::default()
        .get(served.url(path))
        .insert_header(("authorization", format!("Bearer {token}")))
        .insert_header(("x-request-id", request_id))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some(request_id),
        "the request id was not kept"
    );
    res.status().as_u16()
}

async fn tenant_of(db: &TestDb) -> String {
    sqlx::query_scalar("SELECT tenant_id FROM tenants")
        .fetch_one(&mut db.connect().await)
        .await
        .unwrap()
}

#[actix_web::test]
async fn request_spans_reach_an_otlp_collector_with_request_id_route_template_and_tenant() {
    let (address, received, receiver) = collector();
    let db = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = idstore_tests::tokens::new_client_secret();
    let mut served = start(
        &db,
        dir.path(),
        address,
        &secret,
        &[("OTEL_BSP_SCHEDULE_DELAY", "100")],
    )
    .await;
    let token = client_token(&served.url(""), ADMIN, &secret).await;
    let email = "otlp.probe@example.com";
    // Idempotent: served in a task of its own, still within the request.
    let create_id = format!("otlp-create-{}", uuid::Uuid::now_v7().simple());
    let created = awc::Client::default()
        .post(served.url("/v1/users"))
        .insert_header(("authorization", format!("Bearer {token}")))
        .insert_header(("idempotency-key", "otlp-create"))
        .insert_header(("x-request-id", create_id.as_str()))
        .send_json(&serde_json::json!({ "email": email }))
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let request_id = format!("otlp-{}", uuid::Uuid::now_v7().simple());
    let path = format!("/v1/users/email/{email}");
    assert_eq!(get(&served, &path, &token, &request_id).await, 200);

    let span = received
        .wait_for_request(&request_id, Duration::from_secs(15))
        .await;
    assert_eq!(
        span.attr("route"),
        Some("/v1/users/email/{email}"),
        "{span:#?}"
    );
    assert_eq!(span.attr("method"), Some("GET"), "{span:#?}");
    assert_eq!(span.name, "GET /v1/users/email/{email}", "{span:#?}");
    assert_eq!(span.kind, 2, "not a server span: {span:#?}");
    assert_eq!(span.attr("status"), Some("200"), "{span:#?}");
    assert_eq!(
        span.attr("tenant"),
        Some(tenant_of(&db).await.as_str()),
        "{span:#?}"
    );
    assert_eq!(span.service, "idstore", "{span:#?}");
    // The store call that read the user, as a child in the same trace.
    let spans = received.spans();
    let store = spans
        .iter()
        .find(|s| s.parent_span_id == span.span_id && s.name.starts_with("store."))
        .unwrap_or_else(|| panic!("no store span under the request: {spans:#?}"));
    assert_eq!(store.trace_id, span.trace_id);
    assert_eq!(
        store.attr("db.system.name"),
        Some("postgresql"),
        "{store:#?}"
    );
    let create = received
        .wait_for_request(&create_id, Duration::from_secs(15))
        .await;
    assert_eq!(create.name, "POST /v1/users", "{create:#?}");
    assert_eq!(create.attr("tenant"), span.attr("tenant"), "{create:#?}");
    let spans = received.spans();
    assert!(
        spans
            .iter()
            .any(|s| s.trace_id == create.trace_id && s.name == "store.users.create"),
        "the idempotent create's store calls are not under its request: {spans:#?}"
    );
    // The revocation list's refresh (at start, then every second) calls the
    // store outside any request: no trace of its own.
    let orphans: Vec<_> = spans
        .iter()
        .filter(|s| s.name.starts_with("store.") && s.parent_span_id.is_empty())
        .collect();
    assert!(
        orphans.is_empty(),
        "store spans outside a request: {orphans:#?}"
    );

    assert!(
        received
            .bodies()
            .iter()
            .all(|(_, t, _)| t == "application/x-protobuf"),
        "protobuf is OTLP/HTTP's default encoding"
    );
    assert!(!received.contains(email), "an email reached the collector");
    assert!(
        !received.contains(&secret),
        "a client secret reached the collector"
    );
    assert!(!received.contains(&token), "a token reached the collector");
    served.signal("TERM");
    assert!(served.wait(Duration::from_secs(20)).await.success());
    receiver.stop(false).await;
}

#[actix_web::test]
async fn spans_still_queued_are_sent_when_idstore_stops_and_json_is_spoken_on_request() {
    let (address, received, receiver) = collector();
    let db = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = idstore_tests::tokens::new_client_secret();
    // A batch delay longer than the test: only the flush at shutdown sends.
    let mut served = start(
        &db,
        dir.path(),
        address,
        &secret,
        &[
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_SERVICE_NAME", "idstore-flush-test"),
        ],
    )
    .await;
    let token = client_token(&served.url(""), ADMIN, &secret).await;
    let request_id = format!("otlp-{}", uuid::Uuid::now_v7().simple());
    let path = "/v1/users/email/nobody@example.com";
    assert_eq!(get(&served, path, &token, &request_id).await, 404);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        received.request_span(&request_id).is_none(),
        "exported before the batch delay: this test would prove nothing"
    );

    served.signal("TERM");
    assert!(served.wait(Duration::from_secs(20)).await.success());
    let span = received
        .request_span(&request_id)
        .unwrap_or_else(|| panic!("not flushed at shutdown; log:\n{}", served.log()));
    assert!(
        received
            .bodies()
            .iter()
            .all(|(_, t, _)| t == "application/json"),
        "not all exports were JSON"
    );
    assert_eq!(
        span.attr("route"),
        Some("/v1/users/email/{email}"),
        "{span:#?}"
    );
    assert_eq!(span.attr("status"), Some("404"), "{span:#?}");
    assert_eq!(span.service, "idstore-flush-test");
    assert!(!received.contains("nobody@example.com"));
    receiver.stop(false).await;
}

#[actix_web::test]
async fn the_series_of_metrics_are_pushed_to_the_collector_with_the_values_metrics_shows() {
    let (address, received, receiver) = collector();
    let db = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = idstore_tests::tokens::new_client_secret();
    let mut served = start(
        &db,
        dir.path(),
        address,
        &secret,
        &[
            ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
            // Traces off: only metrics may arrive.
            ("OTEL_TRACES_EXPORTER", "none"),
        ],
    )
    .await;
    let token = client_token(&served.url(""), ADMIN, &secret).await;
    let path = "/v1/users/email/nobody@example.com";
    let route = [
        ("route", "/v1/users/email/{email}"),
        ("method", "GET"),
        ("status", "404"),
    ];
    for i in 0..3 {
        assert_eq!(
            get(&served, path, &token, &format!("metrics-{i}")).await,
            404
        );
    }

    let start = Instant::now();
    while received.counter("idstore_http_requests_total", &route) != Some(3.0) {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the request count never reached 3 at the collector: {:?}; log:\n{}",
            received.counter("idstore_http_requests_total", &route),
            served.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The same count as the scrape shows.
    let scraped = awc::Client::default()
        .get(served.url("/metrics"))
        .send()
        .await
        .unwrap()
        .body()
        .await
        .unwrap();
    let scraped = String::from_utf8(scraped.to_vec()).unwrap();
    let line = scraped
        .lines()
        .find(|l| {
            l.starts_with("idstore_http_requests_total{")
                && l.contains("route=\"/v1/users/email/{email}\"")
                && l.contains("status=\"404\"")
        })
        .unwrap_or_else(|| panic!("no such series at /metrics:\n{scraped}"));
    assert!(line.ends_with(" 3"), "{line}");

    assert!(
        received
            .counter("idstore_tokens_issued_total", &[])
            .is_some_and(|n| n >= 1.0),
        "no token issuance exported"
    );
    let metrics = received.metrics();
    let latency = metrics
        .iter()
        .rev()
        .find_map(|m| match (&m.name[..], &m.data) {
            ("idstore_http_request_duration_seconds", Some(metric::Data::Histogram(h))) => h
                .data_points
                .iter()
                .find(|p| has(&attributes(&p.attributes), &route[..2]))
                .cloned(),
            _ => None,
        })
        .expect("no latency histogram of the route");
    assert_eq!(latency.count, 3);
    assert_eq!(
        latency.explicit_bounds,
        idstore_api::prometheus::LATENCY_BUCKETS,
        "the buckets differ from /metrics'"
    );
    // Gauges are read without a scrape while metrics are pushed.
    let gauge = |name: &str, labels: &[(&str, &str)]| {
        metrics
            .iter()
            .filter(|m| m.name == name)
            .filter_map(|m| match &m.data {
                Some(metric::Data::Gauge(g)) => Some(&g.data_points),
                _ => None,
            })
            .flatten()
            .filter(|p| has(&attributes(&p.attributes), labels))
            .find_map(|p| number(p.value.as_ref()))
    };
    assert_eq!(
        gauge("idstore_db_pool_max_connections", &[("pool", "serving")]),
        Some(10.0),
        "the pool size (max_connections' default) was not exported"
    );
    assert_eq!(gauge("idstore_hash_queue_depth", &[]), Some(0.0));

    served.signal("TERM");
    assert!(served.wait(Duration::from_secs(20)).await.success());
    assert!(
        received.to("/v1/traces").is_empty(),
        "traces were sent though OTEL_TRACES_EXPORTER=none"
    );
    assert!(!received.contains(&token), "a token reached the collector");
    receiver.stop(false).await;
}
