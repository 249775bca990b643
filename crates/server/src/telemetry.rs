//! Logging: human-readable lines by default, JSON lines for collectors.
//! Logs go to stderr so that stdout carries only what a command prints for
//! scripts.
//!
//! The subscriber is a registry of layers so that another sink (the
//! OpenTelemetry exporter, [`otlp`]) joins as one more `.with(Option<layer>)`:
//! an absent layer is a no-op. Each layer has its own filter, so that
//! `RUST_LOG=warn` quiets the log without emptying the traces.

mod collector;
mod metrics;
mod otlp;

use std::io::IsTerminal;

use tracing::Subscriber;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer, fmt};

use crate::config::LogFormat;

/// Installs the global subscriber once; later calls (tests) are no-ops.
/// Exports traces and metrics when the standard `OTEL_EXPORTER_OTLP_*`
/// variables name a collector; call [`shutdown`] before the process exits.
pub fn init(format: LogFormat, level: &str) {
    let (traces, refused) = match otlp::from_env() {
        Ok(traces) => (traces, None),
        Err(e) => (None, Some(e)),
    };
    let (pushed, metrics_refused) = match otlp::metrics_from_env() {
        Ok(pushed) => (pushed, None),
        Err(e) => (None, Some(e)),
    };
    let installed = tracing_subscriber::registry()
        .with(output(format).with_filter(filter(level)))
        .with(traces.as_ref().map(otlp::Traces::layer))
        .try_init()
        .is_ok();
    if let Some(e) = refused {
        tracing::warn!("not exporting traces: {e:#}");
    }
    if installed && let Some(traces) = traces {
        tracing::info!(endpoint = %traces.endpoint, "exporting traces over OTLP/HTTP");
        otlp::keep(traces);
    }
    if let Some(e) = metrics_refused {
        tracing::warn!("not exporting metrics: {e:#}");
    }
    if installed && let Some((pushed, endpoint)) = pushed {
        // Before anything records: the recorder is chosen once per process.
        if idstore_api::prometheus::install(Some(pushed.recorder)).is_some() {
            tracing::info!(%endpoint, "exporting metrics over OTLP/HTTP");
            otlp::keep_metrics(pushed.provider);
        }
    }
}

/// Whether metrics are pushed over OTLP: then the gauges that `/metrics`
/// reads when scraped must be read periodically.
pub fn exporting_metrics() -> bool {
    otlp::exporting_metrics()
}

/// Sends the spans still buffered and the metrics' last values, and stops
/// the exporters: the end of a process that called [`init`]. Waits at most
/// 5 s for the collector (both signals are flushed at once).
pub fn shutdown() {
    otlp::shutdown();
}

/// `RUST_LOG`, when set, overrides the configured level.
fn filter(level: &str) -> EnvFilter {
    EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Boxed so that both formats are one type and the chain in `init` does
/// not fork per format.
fn output<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    let layer = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => layer.boxed(),
        LogFormat::Json => layer
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
    }
}
