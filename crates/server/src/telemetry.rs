//! Logging: human-readable lines by default, JSON lines for collectors.
//! Logs go to stderr so that stdout carries only what a command prints for
//! scripts.
//!
//! The subscriber is a registry of layers so that another sink (an
//! OpenTelemetry exporter) joins as one more `.with(Option<layer>)`: an
//! absent layer is a no-op, and the filter and output stay as they are.

use std::io::IsTerminal;

use tracing::Subscriber;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer, fmt};

use crate::config::LogFormat;

/// Installs the global subscriber once; later calls (tests) are no-ops.
pub fn init(format: LogFormat, level: &str) {
    let _ = tracing_subscriber::registry()
        .with(filter(level))
        .with(output(format))
        .try_init();
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
