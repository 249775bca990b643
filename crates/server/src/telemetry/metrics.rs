//! Metrics over OTLP/HTTP: the series of `/metrics`, under the same names
//! and labels, pushed to the collector every `OTEL_METRIC_EXPORT_INTERVAL`
//! milliseconds (the SDK's default: 60 s) and once more at shutdown.
//!
//! The code records through the `metrics` facade; this is a second
//! recorder beside Prometheus's (`idstore_api::prometheus::install`), so
//! no call site knows about OpenTelemetry. Counters stay counters,
//! gauges become OpenTelemetry gauges, the latency histogram keeps the
//! buckets `/metrics` has.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use metrics::{Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName};
use metrics::{Metadata, Recorder, SharedString, Unit};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};

use super::collector::CollectorClient;
use super::otlp::Export;

/// The meter provider and the recorder feeding it.
pub struct Metrics {
    pub provider: SdkMeterProvider,
    pub recorder: OtelRecorder,
}

/// The exporter the environment asks for (the caller has checked that it
/// names a collector for metrics).
pub fn exporter(export: Export) -> anyhow::Result<Metrics> {
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .with_endpoint(export.url)
        .with_protocol(export.protocol)
        .with_http_client(CollectorClient::new(export.timeout))
        .build()
        .context("the OTLP metrics exporter")?;
    // The reader's own thread exports; it reads OTEL_METRIC_EXPORT_INTERVAL.
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter).build())
        .with_resource(super::otlp::resource())
        .build();
    let recorder = OtelRecorder::new(provider.meter(super::otlp::SERVICE_NAME));
    Ok(Metrics { provider, recorder })
}

/// A `metrics` recorder creating one OpenTelemetry instrument per metric
/// name (labels become attributes of its data points), and one handle per
/// name and labels: the macros register on every call, and a handle keeps
/// what a relative update needs (a gauge's value, a counter's total).
pub struct OtelRecorder {
    meter: Meter,
    descriptions: Mutex<HashMap<String, SharedString>>,
    counters: Mutex<HashMap<String, opentelemetry::metrics::Counter<u64>>>,
    gauges: Mutex<HashMap<String, opentelemetry::metrics::Gauge<f64>>>,
    histograms: Mutex<HashMap<String, opentelemetry::metrics::Histogram<f64>>>,
    counter_handles: Mutex<HashMap<Key, Arc<OtelCounter>>>,
    gauge_handles: Mutex<HashMap<Key, Arc<OtelGauge>>>,
    histogram_handles: Mutex<HashMap<Key, Arc<OtelHistogram>>>,
}

/// The handle of `key` in `handles`, made by `make` the first time.
fn handle<H>(handles: &Mutex<HashMap<Key, Arc<H>>>, key: &Key, make: impl FnOnce() -> H) -> Arc<H> {
    if let Some(found) = lock(handles).get(key) {
        return found.clone();
    }
    let made = Arc::new(make());
    lock(handles).entry(key.clone()).or_insert(made).clone()
}

impl OtelRecorder {
    fn new(meter: Meter) -> Self {
        Self {
            meter,
            descriptions: Mutex::default(),
            counters: Mutex::default(),
            gauges: Mutex::default(),
            histograms: Mutex::default(),
            counter_handles: Mutex::default(),
            gauge_handles: Mutex::default(),
            histogram_handles: Mutex::default(),
        }
    }

    fn describe(&self, key: &KeyName, description: SharedString) {
        lock(&self.descriptions).insert(key.as_str().to_owned(), description);
    }

    fn description(&self, name: &str) -> String {
        lock(&self.descriptions)
            .get(name)
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    /// The instrument named `name`, created by `make` the first time: the
    /// SDK aggregates per instrument, and a second one of the same name
    /// would be a conflict it warns about.
    fn instrument<I: Clone>(
        &self,
        instruments: &Mutex<HashMap<String, I>>,
        name: &str,
        make: impl FnOnce(String, String) -> I,
    ) -> I {
        if let Some(found) = lock(instruments).get(name) {
            return found.clone();
        }
        let made = make(name.to_owned(), self.description(name));
        lock(instruments)
            .entry(name.to_owned())
            .or_insert(made)
            .clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn attributes(key: &Key) -> Vec<KeyValue> {
    key.labels()
        .map(|l| KeyValue::new(l.key().to_owned(), l.value().to_owned()))
        .collect()
}

impl Recorder for OtelRecorder {
    fn describe_counter(&self, key: KeyName, _: Option<Unit>, description: SharedString) {
        self.describe(&key, description);
    }

    fn describe_gauge(&self, key: KeyName, _: Option<Unit>, description: SharedString) {
        self.describe(&key, description);
    }

    fn describe_histogram(&self, key: KeyName, _: Option<Unit>, description: SharedString) {
        self.describe(&key, description);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(handle(&self.counter_handles, key, || OtelCounter {
            counter: self.instrument(&self.counters, key.name(), |name, description| {
                self.meter
                    .u64_counter(name)
                    .with_description(description)
                    .build()
            }),
            attributes: attributes(key),
            total: AtomicU64::new(0),
        }))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(handle(&self.gauge_handles, key, || OtelGauge {
            gauge: self.instrument(&self.gauges, key.name(), |name, description| {
                self.meter
                    .f64_gauge(name)
                    .with_description(description)
                    .build()
            }),
            attributes: attributes(key),
            value: AtomicU64::new(0f64.to_bits()),
        }))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(handle(&self.histogram_handles, key, || OtelHistogram {
            histogram: self.instrument(&self.histograms, key.name(), |name, description| {
                self.meter
                    .f64_histogram(name)
                    .with_description(description)
                    .with_unit("s")
                    .with_boundaries(idstore_api::prometheus::LATENCY_BUCKETS.to_vec())
                    .build()
            }),
            attributes: attributes(key),
        }))
    }
}

struct OtelCounter {
    counter: opentelemetry::metrics::Counter<u64>,
    attributes: Vec<KeyValue>,
    /// What has been added: an `absolute` value adds only what it exceeds.
    total: AtomicU64,
}

impl CounterFn for OtelCounter {
    fn increment(&self, value: u64) {
        self.total.fetch_add(value, Ordering::Relaxed);
        self.counter.add(value, &self.attributes);
    }

    fn absolute(&self, value: u64) {
        let before = self.total.fetch_max(value, Ordering::Relaxed);
        if value > before {
            self.counter.add(value - before, &self.attributes);
        }
    }
}

struct OtelGauge {
    gauge: opentelemetry::metrics::Gauge<f64>,
    attributes: Vec<KeyValue>,
    /// The present value, as `f64` bits: `increment` and `decrement` are
    /// relative, an OpenTelemetry gauge records absolute values.
    value: AtomicU64,
}

impl OtelGauge {
    fn update(&self, change: impl Fn(f64) -> f64) {
        let mut now = self.value.load(Ordering::Relaxed);
        loop {
            let next = change(f64::from_bits(now));
            match self.value.compare_exchange_weak(
                now,
                next.to_bits(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return self.gauge.record(next, &self.attributes),
                Err(seen) => now = seen,
            }
        }
    }
}

impl GaugeFn for OtelGauge {
    fn increment(&self, value: f64) {
        self.update(|v| v + value);
    }

    fn decrement(&self, value: f64) {
        self.update(|v| v - value);
    }

    fn set(&self, value: f64) {
        self.update(|_| value);
    }
}

struct OtelHistogram {
    histogram: opentelemetry::metrics::Histogram<f64>,
    attributes: Vec<KeyValue>,
}

impl HistogramFn for OtelHistogram {
    fn record(&self, value: f64) {
        self.histogram.record(value, &self.attributes);
    }
}
