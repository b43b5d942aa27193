//! OpenTelemetry traces over OTLP/HTTP (protobuf), when the standard `OTEL_*` variables ask
//! for them.
//!
//! The library crates only open `tracing` spans (`poll`, `sage.request`, `poll.commit`,
//! `sage.token`, `delivery`); this module, the one place that knows OpenTelemetry, turns them
//! into exported spans. With no endpoint configured nothing here is built: no exporter, no
//! layer, no background thread.

use std::collections::HashMap;
use std::fmt;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::Subscriber;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Where and how traces go, read from the environment.
#[derive(Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// The full URL spans are POSTed to (`…/v1/traces`).
    pub endpoint: url::Url,
    /// `service.name` of the exported resource.
    pub service_name: String,
    /// Extra request headers (often an API key: never logged nor shown by `Debug`).
    headers: Vec<(String, String)>,
}

impl fmt::Debug for TelemetryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("TelemetryConfig")
            .field("endpoint", &redacted(&self.endpoint))
            .field("service_name", &self.service_name)
            .field("headers", &names)
            .finish()
    }
}

/// A bad `OTEL_*` variable.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct TelemetryConfigError {
    variable: &'static str,
    message: String,
}

fn bad(variable: &'static str, message: impl Into<String>) -> TelemetryConfigError {
    TelemetryConfigError {
        variable,
        message: message.into(),
    }
}

/// The endpoint without user info or query, for logs.
fn redacted(url: &url::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.to_string()
}

impl TelemetryConfig {
    /// Reads `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as given) or
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces` appended), `OTEL_SERVICE_NAME` (default
    /// `pollen`), `OTEL_EXPORTER_OTLP_HEADERS` / `OTEL_EXPORTER_OTLP_TRACES_HEADERS`
    /// (`key=value,…`) and the protocol variables (only `http/protobuf` is built). `None`
    /// when no endpoint is set, or `OTEL_TRACES_EXPORTER=none`.
    pub fn from_env(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<TelemetryConfig>, TelemetryConfigError> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.trim() == "none") {
            return Ok(None);
        }
        let endpoint = if let Some(text) = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            parse_endpoint("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &text)?
        } else if let Some(text) = var("OTEL_EXPORTER_OTLP_ENDPOINT") {
            let base = parse_endpoint("OTEL_EXPORTER_OTLP_ENDPOINT", &text)?;
            let path = format!("{}/v1/traces", base.path().trim_end_matches('/'));
            let mut url = base;
            url.set_path(&path);
            url
        } else {
            return Ok(None);
        };
        for variable in [
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ] {
            if let Some(protocol) = var(variable) {
                if protocol.trim() != "http/protobuf" {
                    return Err(bad(
                        variable,
                        format!(
                            "`{}` is not supported: pollen exports OTLP over http/protobuf only",
                            protocol.trim()
                        ),
                    ));
                }
                break;
            }
        }
        let (variable, headers) = match var("OTEL_EXPORTER_OTLP_TRACES_HEADERS") {
            Some(text) => ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", Some(text)),
            None => (
                "OTEL_EXPORTER_OTLP_HEADERS",
                var("OTEL_EXPORTER_OTLP_HEADERS"),
            ),
        };
        let headers = match headers {
            Some(text) => parse_headers(variable, &text)?,
            None => Vec::new(),
        };
        Ok(Some(TelemetryConfig {
            endpoint,
            service_name: var("OTEL_SERVICE_NAME").unwrap_or_else(|| "pollen".to_owned()),
            headers,
        }))
    }
}

fn parse_endpoint(variable: &'static str, text: &str) -> Result<url::Url, TelemetryConfigError> {
    // The value is not repeated: it may carry credentials.
    let url =
        url::Url::parse(text.trim()).map_err(|e| bad(variable, format!("not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(
            variable,
            format!("the scheme is `{}`, expected http or https", url.scheme()),
        ));
    }
    Ok(url)
}

/// `key=value,key=value` (values percent-decoded, as the specification says).
fn parse_headers(
    variable: &'static str,
    text: &str,
) -> Result<Vec<(String, String)>, TelemetryConfigError> {
    let mut headers = Vec::new();
    for (index, part) in text.split(',').enumerate() {
        if part.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = part.split_once('=') else {
            // Only the position: the entry may be a secret.
            return Err(bad(
                variable,
                format!("entry {} is not `key=value`", index + 1),
            ));
        };
        let key = key.trim();
        if key.is_empty() || http_header_name_invalid(key) {
            return Err(bad(
                variable,
                format!("entry {} has no valid header name", index + 1),
            ));
        }
        let value = percent_decode(value.trim());
        headers.push((key.to_owned(), value));
    }
    Ok(headers)
}

fn http_header_name_invalid(name: &str) -> bool {
    !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The installed exporter: flushes what is buffered when shut down or dropped.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

/// Only pollen's own spans are exported (not those of hyper, sqlx …), and events of warning
/// level and above as span events.
fn exported(metadata: &tracing::Metadata<'_>) -> bool {
    metadata.target().starts_with("pollen")
        && if metadata.is_span() {
            *metadata.level() <= tracing::Level::INFO
        } else {
            *metadata.level() <= tracing::Level::WARN
        }
}

impl Telemetry {
    /// Builds the exporter and the layer that feeds it. Must be called outside an async
    /// context or inside one alike: the batch processor exports from a thread of its own.
    pub fn start<S>(
        config: &TelemetryConfig,
    ) -> Result<(Telemetry, impl Layer<S> + Send + Sync), opentelemetry_otlp::ExporterBuildError>
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        let headers: HashMap<String, String> = config.headers.iter().cloned().collect();
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(config.endpoint.as_str())
            .with_headers(headers)
            .build()?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                Resource::builder()
                    .with_service_name(config.service_name.clone())
                    .build(),
            )
            .build();
        let tracer = provider.tracer("pollen");
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(tracing_subscriber::filter::filter_fn(exported));
        tracing::info!(
            endpoint = %redacted(&config.endpoint),
            "exporting traces over OTLP/HTTP"
        );
        Ok((Telemetry { provider }, layer))
    }

    /// Exports what is buffered and stops the exporter.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("warning: flushing the traces failed: {error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<Option<TelemetryConfig>, TelemetryConfigError> {
        TelemetryConfig::from_env(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn unset_means_off() {
        assert!(read(&[]).expect("read").is_none());
        assert!(read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_TRACES_EXPORTER", "none")
        ])
        .expect("read")
        .is_none());
    }

    #[test]
    fn endpoints_follow_the_specification() {
        let config = read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318/")])
            .expect("read")
            .expect("on");
        assert_eq!(config.endpoint.as_str(), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(config.service_name, "pollen");
        let config = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:9/x"),
            ("OTEL_SERVICE_NAME", "pollen-eu"),
        ])
        .expect("read")
        .expect("on");
        assert_eq!(config.endpoint.as_str(), "http://127.0.0.1:9/x");
        assert_eq!(config.service_name, "pollen-eu");
    }

    #[test]
    fn bad_values_are_named_and_secrets_are_not_shown() {
        let err = read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://host")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "OTEL_EXPORTER_OTLP_ENDPOINT: the scheme is `ftp`, expected http or https"
        );
        let err = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("`grpc` is not supported"), "{err}");
        let err = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1,sekrit-token"),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "OTEL_EXPORTER_OTLP_HEADERS: entry 2 is not `key=value`"
        );
        let config = read(&[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http://user:pw@127.0.0.1:4318",
            ),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s%20ekrit"),
        ])
        .expect("read")
        .expect("on");
        assert_eq!(
            config.headers,
            vec![("api-key".to_owned(), "s ekrit".to_owned())]
        );
        let shown = format!("{config:?}");
        assert!(!shown.contains("ekrit") && !shown.contains("pw"), "{shown}");
        assert!(shown.contains("api-key"), "{shown}");
    }
}
