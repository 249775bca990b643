//! Trace export over OTLP/HTTP, configured by the standard OpenTelemetry
//! variables and off when they name no collector:
//!
//! - `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is) or
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces` appended);
//! - `OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf` (default) or `http/json`;
//! - `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT` (and their
//!   `_TRACES_` forms), `OTEL_SERVICE_NAME` (default `idstore`),
//!   `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*`, `OTEL_TRACES_SAMPLER`:
//!   read by the SDK itself.
//!
//! Spans are batched and sent by the SDK's own thread, so a slow or absent
//! collector never holds a request up; at worst spans are dropped when its
//! queue is full.

use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithHttpConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::filter::{DynFilterFn, FilterExt as _, Targets};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::collector::CollectorClient;

const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const TRACES_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";
const TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
/// The specification's default export timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const SERVICE_NAME: &str = "idstore";
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

/// The running exporter, kept for [`shutdown`].
static RUNNING: Mutex<Option<SdkTracerProvider>> = Mutex::new(None);

/// The exporter the environment asks for: none when it names no collector,
/// an error when what it names cannot be used.
pub fn from_env() -> anyhow::Result<Option<Traces>> {
    let var = |name: &str| std::env::var(name).ok();
    let Some(configured) = endpoint(var) else {
        return Ok(None);
    };
    let endpoint = loggable(&configured)?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(CollectorClient::new(timeout(var)))
        .build()
        .context("the OTLP exporter")?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource())
        .build();
    Ok(Some(Traces { provider, endpoint }))
}

/// Keeps `traces` running until [`shutdown`].
pub fn keep(traces: Traces) {
    let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    *running = Some(traces.provider);
}

/// Flushes and stops the running exporter, if any.
pub fn shutdown() {
    let running = RUNNING.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(provider) = running
        && let Err(e) = provider.shutdown_with_timeout(FLUSH_TIMEOUT)
    {
        // The subscriber may be the one exporting: say it on stderr.
        eprintln!("warning: flushing traces to the collector failed: {e}");
    }
}

/// The collector's URL, if one is configured: the traces variable wins, as
/// the specification says; an empty variable counts as unset.
fn endpoint(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    [TRACES_ENDPOINT, ENDPOINT]
        .into_iter()
        .filter_map(var)
        .map(|v| v.trim().to_owned())
        .find(|v| !v.is_empty())
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
    let host = parsed
        .host_str()
        .with_context(|| format!("{ENDPOINT} names no host"))?;
    Ok(format!(
        "http://{host}:{}",
        parsed.port_or_known_default().unwrap_or(80)
    ))
}

/// The export timeout, in milliseconds in the variables; the traces one wins.
fn timeout(var: impl Fn(&str) -> Option<String>) -> Duration {
    [TRACES_TIMEOUT, TIMEOUT]
        .into_iter()
        .filter_map(var)
        .find_map(|v| v.trim().parse().ok())
        .map_or(DEFAULT_TIMEOUT, Duration::from_millis)
}

/// What the SDK detects (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`),
/// named `idstore` when neither names the service, and the version.
fn resource() -> Resource {
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

    #[test]
    fn no_endpoint_means_no_export_and_the_traces_endpoint_wins() {
        assert_eq!(endpoint(env(&[])), None);
        assert_eq!(endpoint(env(&[(ENDPOINT, " ")])), None);
        assert_eq!(
            endpoint(env(&[(ENDPOINT, "http://collector:4318")])).as_deref(),
            Some("http://collector:4318")
        );
        assert_eq!(
            endpoint(env(&[
                (ENDPOINT, "http://collector:4318"),
                (TRACES_ENDPOINT, "http://traces:4318/v1/traces"),
            ]))
            .as_deref(),
            Some("http://traces:4318/v1/traces")
        );
    }

    #[test]
    fn only_plain_http_is_accepted_and_credentials_are_not_logged() {
        assert_eq!(
            loggable("http://user:secret@collector:4318/v1/traces").unwrap(),
            "http://collector:4318"
        );
        assert_eq!(loggable("http://collector").unwrap(), "http://collector:80");
        let refused = loggable("https://collector:4318").unwrap_err().to_string();
        assert!(refused.contains("http://"), "{refused}");
        assert!(loggable("collector:4318").is_err());
    }

    #[test]
    fn the_timeout_is_read_in_milliseconds_with_the_traces_variable_first() {
        assert_eq!(timeout(env(&[])), DEFAULT_TIMEOUT);
        assert_eq!(
            timeout(env(&[(TIMEOUT, "2500")])),
            Duration::from_millis(2500)
        );
        assert_eq!(
            timeout(env(&[(TIMEOUT, "2500"), (TRACES_TIMEOUT, "700")])),
            Duration::from_millis(700)
        );
        assert_eq!(timeout(env(&[(TIMEOUT, "soon")])), DEFAULT_TIMEOUT);
    }
}
