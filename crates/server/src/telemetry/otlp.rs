//! Trace (and metrics, [`super::metrics`]) export over OTLP/HTTP, configured
//! by the standard OpenTelemetry variables and off when they name no
//! collector:
//!
//! - `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `..._METRICS_ENDPOINT` (used as
//!   is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces`, `/v1/metrics`
//!   appended); `OTEL_TRACES_EXPORTER=none` / `OTEL_METRICS_EXPORTER=none`
//!   turn one signal off;
//! - `OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf` (default) or `http/json`;
//! - `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT` (and their
//!   per-signal forms), `OTEL_SERVICE_NAME` (default `idstore`),
//!   `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*`, `OTEL_TRACES_SAMPLER`,
//!   `OTEL_METRIC_EXPORT_INTERVAL`: read by the SDK itself.
//!
//! Spans are batched and sent by the SDK's own thread, so a slow or absent
//! collector never holds a request up; at worst spans are dropped when its
//! queue is full.

use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::filter::{DynFilterFn, FilterExt as _, Targets};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use opentelemetry_sdk::metrics::SdkMeterProvider;

use super::collector::CollectorClient;
use super::metrics::Metrics;

const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
/// The specification's default export timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const SERVICE_NAME: &str = "idstore";

/// What is exported; each signal has variables of its own that win over
/// the shared ones.
#[derive(Debug, Clone, Copy)]
pub enum Signal {
    Traces,
    Metrics,
}

impl Signal {
    fn endpoint_variable(self) -> &'static str {
        match self {
            Self::Traces => "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            Self::Metrics => "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        }
    }

    fn timeout_variable(self) -> &'static str {
        match self {
            Self::Traces => "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
            Self::Metrics => "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
        }
    }

    /// The path under `OTEL_EXPORTER_OTLP_ENDPOINT`.
    fn path(self) -> &'static str {
        match self {
            Self::Traces => "v1/traces",
            Self::Metrics => "v1/metrics",
        }
    }

    fn protocol_variable(self) -> &'static str {
        match self {
            Self::Traces => "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            Self::Metrics => "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
        }
    }

    fn exporter_variable(self) -> &'static str {
        match self {
            Self::Traces => "OTEL_TRACES_EXPORTER",
            Self::Metrics => "OTEL_METRICS_EXPORTER",
        }
    }
}
/// How long a stopping process waits for its last spans to be sent: a
/// collector that is down must not hold a rolling restart up for long.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// A configured exporter, not yet installed.
pub struct Traces {
    provider: SdkTracerProvider,
    /// Where spans go, as `scheme://host:port`: what may be logged of the
    /// configured URL (which could carry credentials).
    pub endpoint: String,
}

impl Traces {
    /// The layer turning `tracing` spans into OpenTelemetry spans: idstore's
    /// own spans and events at `info` and above whatever `RUST_LOG` says
    /// (that is the log's filter), and only warnings of other crates.
    pub fn layer<S>(&self) -> impl Layer<S> + use<S>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        let ours = Targets::new()
            .with_default(tracing::Level::WARN)
            .with_targets(
                [
                    "idstore_api",
                    "idstore_store",
                    "idstore_auth",
                    "idstore_server",
                ]
                .map(|crate_name| (crate_name, tracing::Level::INFO)),
            );
        // Background work (the revocation list's refresh, every second)
        // calls the store outside any request: as traces of their own,
        // those calls would drown the requests'.
        let in_a_request = DynFilterFn::new(|meta: &Metadata<'_>, cx: &Context<'_, S>| {
            !(meta.is_span()
                && meta.target().starts_with("idstore_store")
                && cx.lookup_current().is_none())
        });
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer(SERVICE_NAME))
            .with_filter(ours.and(in_a_request))
    }
}

/// The running exporters, kept for [`shutdown`].
static RUNNING: Mutex<Option<SdkTracerProvider>> = Mutex::new(None);
static RUNNING_METRICS: Mutex<Option<SdkMeterProvider>> = Mutex::new(None);

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// How `signal` is to be exported, as the environment says.
pub struct Export {
    /// The collector, as may be logged.
    pub endpoint: String,
    /// Where the exports go: given to the SDK, which would otherwise read
    /// the variables again in its own way.
    pub url: String,
    pub timeout: Duration,
    pub protocol: Protocol,
}

/// `signal`'s export: none when the environment names no collector, an
/// error when what it names cannot be used.
fn configured(signal: Signal) -> anyhow::Result<Option<Export>> {
    let Some(configured) = endpoint(signal, var) else {
        return Ok(None);
    };
    Ok(Some(Export {
        endpoint: loggable(&configured)?,
        url: configured,
        timeout: timeout(signal, var),
        protocol: protocol(signal, var)?,
    }))
}

/// The trace exporter the environment asks for, if any.
pub fn from_env() -> anyhow::Result<Option<Traces>> {
    let Some(export) = configured(Signal::Traces)? else {
        return Ok(None);
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(export.url)
        .with_protocol(export.protocol)
        .with_http_client(CollectorClient::new(export.timeout))
        .build()
        .context("the OTLP exporter")?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource())
        .build();
    Ok(Some(Traces {
        provider,
        endpoint: export.endpoint,
    }))
}

/// The metrics exporter the environment asks for, if any, and where it
/// sends.
pub fn metrics_from_env() -> anyhow::Result<Option<(Metrics, String)>> {
    let Some(export) = configured(Signal::Metrics)? else {
        return Ok(None);
    };
    let endpoint = export.endpoint.clone();
    Ok(Some((super::metrics::exporter(export)?, endpoint)))
}

/// Keeps `traces` running until [`shutdown`].
pub fn keep(traces: Traces) {
    let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    *running = Some(traces.provider);
}

/// Keeps the metrics exporter running until [`shutdown`].
pub fn keep_metrics(provider: SdkMeterProvider) {
    let mut running = RUNNING_METRICS.lock().unwrap_or_else(|e| e.into_inner());
    *running = Some(provider);
}

/// Whether metrics are pushed over OTLP (then nothing scrapes the gauges).
pub fn exporting_metrics() -> bool {
    RUNNING_METRICS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .is_some()
}

/// Flushes and stops the running exporters, if any: the last spans, and
/// the metrics' final values, both at once, so that a collector that is
/// down holds the exit up for [`FLUSH_TIMEOUT`] at most.
pub fn shutdown() {
    let traces = RUNNING.lock().unwrap_or_else(|e| e.into_inner()).take();
    let metrics = RUNNING_METRICS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    std::thread::scope(|s| {
        if let Some(provider) = traces {
            s.spawn(move || {
                if let Err(e) = provider.shutdown_with_timeout(FLUSH_TIMEOUT) {
                    // The subscriber may be the one exporting: say it on stderr.
                    eprintln!("warning: flushing traces to the collector failed: {e}");
                }
            });
        }
        if let Some(provider) = metrics {
            s.spawn(move || {
                if let Err(e) = provider.shutdown_with_timeout(FLUSH_TIMEOUT) {
                    eprintln!("warning: sending the last metrics to the collector failed: {e}");
                }
            });
        }
    });
}

/// The URL `signal`'s exports go to, if one is configured: the signal's
/// own variable as it is, else the shared one with `/v1/traces` or
/// `/v1/metrics` appended, as the specification says; an empty variable
/// counts as unset, and `OTEL_<SIGNAL>_EXPORTER=none` turns the signal off.
fn endpoint(signal: Signal, var: impl Fn(&str) -> Option<String>) -> Option<String> {
    if var(signal.exporter_variable()).is_some_and(|v| v.trim().eq_ignore_ascii_case("none")) {
        return None;
    }
    let set = |name| {
        var(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    set(signal.endpoint_variable()).or_else(|| {
        set(ENDPOINT).map(|base| format!("{}/{}", base.trim_end_matches('/'), signal.path()))
    })
}

/// `scheme://host:port` of an `http` URL. `https` is refused: the client
/// speaks plain HTTP, for a collector (or sidecar) on the local network
/// that forwards over TLS if it must.
fn loggable(url: &str) -> anyhow::Result<String> {
    let parsed = url::Url::parse(url).map_err(|e| anyhow::anyhow!("{ENDPOINT}: {e}"))?;
    if parsed.scheme() != "http" {
        anyhow::bail!(
            "{ENDPOINT} must be an http:// URL (idstore sends OTLP over plain HTTP: run a \
             collector beside it to forward over TLS)"
        );
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        anyhow::bail!(
            "{ENDPOINT} carries credentials: give them as a header instead, in \
             OTEL_EXPORTER_OTLP_HEADERS (for example `Authorization=Basic ...`)"
        );
    }
    let host = parsed
        .host_str()
        .with_context(|| format!("{ENDPOINT} names no host"))?;
    Ok(format!(
        "http://{host}:{}",
        parsed.port_or_known_default().unwrap_or(80)
    ))
}

/// The encoding: `http/protobuf` unless the variables (the signal's first)
/// say `http/json`, whatever the SDK's own default (JSON when both are
/// compiled in, against the specification).
fn protocol(signal: Signal, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Protocol> {
    let named = [signal.protocol_variable(), "OTEL_EXPORTER_OTLP_PROTOCOL"]
        .into_iter()
        .filter_map(|name| var(name).map(|v| (name, v.trim().to_owned())))
        .find(|(_, v)| !v.is_empty());
    match named {
        None => Ok(Protocol::HttpBinary),
        Some((_, v)) if v == "http/protobuf" => Ok(Protocol::HttpBinary),
        Some((_, v)) if v == "http/json" => Ok(Protocol::HttpJson),
        Some((name, v)) => anyhow::bail!(
            "{name}={v}: idstore sends OTLP over HTTP, as `http/protobuf` or `http/json`"
        ),
    }
}

/// The export timeout, in milliseconds in the variables; the signal's wins.
fn timeout(signal: Signal, var: impl Fn(&str) -> Option<String>) -> Duration {
    [signal.timeout_variable(), TIMEOUT]
        .into_iter()
        .filter_map(var)
        .find_map(|v| v.trim().parse().ok())
        .map_or(DEFAULT_TIMEOUT, Duration::from_millis)
}

/// What the SDK detects (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`),
/// named `idstore` when neither names the service, and the version.
pub fn resource() -> Resource {
    let detected = Resource::builder().build();
    let named = detected
        .get(&opentelemetry::Key::new("service.name"))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    let builder = Resource::builder().with_attribute(opentelemetry::KeyValue::new(
        "service.version",
        env!("CARGO_PKG_VERSION"),
    ));
    if named {
        builder.build()
    } else {
        builder.with_service_name(SERVICE_NAME).build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
    const METRICS_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT";
    const TRACES_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";
    use Signal::{Metrics, Traces};

    #[test]
    fn no_endpoint_means_no_export_and_the_signals_endpoint_wins() {
        for (signal, path) in [(Traces, "/v1/traces"), (Metrics, "/v1/metrics")] {
            assert_eq!(endpoint(signal, env(&[])), None);
            assert_eq!(endpoint(signal, env(&[(ENDPOINT, " ")])), None);
            for base in ["http://collector:4318", " http://collector:4318/ "] {
                assert_eq!(
                    endpoint(signal, env(&[(ENDPOINT, base)])),
                    Some(format!("http://collector:4318{path}"))
                );
            }
        }
        let both = [
            (ENDPOINT, "http://collector:4318"),
            (TRACES_ENDPOINT, "http://traces:4318/v1/traces"),
            (METRICS_ENDPOINT, "http://metrics:4318/v1/metrics"),
        ];
        assert_eq!(
            endpoint(Traces, env(&both)).as_deref(),
            Some("http://traces:4318/v1/traces")
        );
        assert_eq!(
            endpoint(Metrics, env(&both)).as_deref(),
            Some("http://metrics:4318/v1/metrics")
        );
    }

    #[test]
    fn an_exporter_named_none_turns_only_its_signal_off() {
        let vars = [
            (ENDPOINT, "http://collector:4318"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ];
        assert_eq!(endpoint(Metrics, env(&vars)), None);
        assert_eq!(
            endpoint(Traces, env(&vars)).as_deref(),
            Some("http://collector:4318/v1/traces")
        );
        let vars = [
            (ENDPOINT, "http://collector:4318"),
            ("OTEL_TRACES_EXPORTER", "None"),
            ("OTEL_METRICS_EXPORTER", "otlp"),
        ];
        assert_eq!(endpoint(Traces, env(&vars)), None);
        assert!(endpoint(Metrics, env(&vars)).is_some());
    }

    #[test]
    fn protobuf_is_the_default_encoding_and_grpc_is_refused() {
        assert_eq!(protocol(Traces, env(&[])).unwrap(), Protocol::HttpBinary);
        let json = [("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")];
        assert_eq!(protocol(Metrics, env(&json)).unwrap(), Protocol::HttpJson);
        let mixed = [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
        ];
        assert_eq!(
            protocol(Metrics, env(&mixed)).unwrap(),
            Protocol::HttpBinary
        );
        assert_eq!(protocol(Traces, env(&mixed)).unwrap(), Protocol::HttpJson);
        let grpc = [("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")];
        let refused = protocol(Traces, env(&grpc)).unwrap_err().to_string();
        assert!(refused.contains("http/protobuf"), "{refused}");
    }

    #[test]
    fn only_plain_http_without_credentials_is_accepted() {
        let refused = loggable("http://user:secret@collector:4318/v1/traces")
            .unwrap_err()
            .to_string();
        assert!(refused.contains("OTEL_EXPORTER_OTLP_HEADERS"), "{refused}");
        assert!(!refused.contains("secret"), "{refused}");
        assert_eq!(
            loggable("http://collector:4318/v1/traces").unwrap(),
            "http://collector:4318"
        );
        assert_eq!(loggable("http://collector").unwrap(), "http://collector:80");
        let refused = loggable("https://collector:4318").unwrap_err().to_string();
        assert!(refused.contains("http://"), "{refused}");
        assert!(loggable("collector:4318").is_err());
    }

    #[test]
    fn the_timeout_is_read_in_milliseconds_with_the_signals_variable_first() {
        assert_eq!(timeout(Traces, env(&[])), DEFAULT_TIMEOUT);
        assert_eq!(
            timeout(Traces, env(&[(TIMEOUT, "2500")])),
            Duration::from_millis(2500)
        );
        assert_eq!(
            timeout(Traces, env(&[(TIMEOUT, "2500"), (TRACES_TIMEOUT, "700")])),
            Duration::from_millis(700)
        );
        assert_eq!(
            timeout(Metrics, env(&[(TIMEOUT, "2500"), (TRACES_TIMEOUT, "700")])),
            Duration::from_millis(2500)
        );
        assert_eq!(timeout(Traces, env(&[(TIMEOUT, "soon")])), DEFAULT_TIMEOUT);
    }
}
