//! Where spans go: `--otlp-endpoint`, else the standard `OTEL_*` variables;
//! no endpoint at all means no exporter.

use super::TelemetryError;

/// Service name spans carry when `OTEL_SERVICE_NAME` is not set.
pub const DEFAULT_SERVICE_NAME: &str = "maestro";

/// How spans travel to the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP over gRPC (a collector's port 4317).
    Grpc,
    /// OTLP protobuf over HTTP POST to `/v1/traces` (port 4318); the
    /// specification's default.
    HttpProtobuf,
}

/// A resolved exporter configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// For gRPC, the collector's address; for HTTP, the full URL spans are
    /// posted to.
    pub endpoint: String,
    pub protocol: Protocol,
    pub service_name: String,
}

impl Config {
    /// The configuration given by the flag `--otlp-endpoint` (a base URL,
    /// like `OTEL_EXPORTER_OTLP_ENDPOINT`) and the environment `env`;
    /// `None` when no endpoint is set anywhere.
    pub fn resolve(
        flag: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Config>, TelemetryError> {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let protocol = match var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .map(|v| ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", v))
            .or_else(|| {
                var("OTEL_EXPORTER_OTLP_PROTOCOL").map(|v| ("OTEL_EXPORTER_OTLP_PROTOCOL", v))
            }) {
            None => Protocol::HttpProtobuf,
            Some((name, value)) => match value.trim() {
                "grpc" => Protocol::Grpc,
                "http/protobuf" => Protocol::HttpProtobuf,
                other => {
                    return Err(TelemetryError::Config {
                        setting: name.into(),
                        reason: format!(
                            "protocol `{}` is not supported; use `grpc` or `http/protobuf`",
                            crate::escape::line(other)
                        ),
                    });
                }
            },
        };
        // A signal's own endpoint is used as it is; a base gets the path.
        let (setting, endpoint, full) = match (
            flag.filter(|f| !f.trim().is_empty()),
            var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        ) {
            (Some(flag), _) => ("--otlp-endpoint", flag.trim().to_owned(), false),
            (None, Some(url)) => (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                url.trim().to_owned(),
                true,
            ),
            (None, None) => match var("OTEL_EXPORTER_OTLP_ENDPOINT") {
                Some(url) => ("OTEL_EXPORTER_OTLP_ENDPOINT", url.trim().to_owned(), false),
                None => return Ok(None),
            },
        };
        let invalid = |reason: &str| TelemetryError::Config {
            setting: setting.into(),
            reason: format!("`{}` {reason}", crate::escape::line(&endpoint)),
        };
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|_| invalid("is not a URL like http://127.0.0.1:4318"))?;
        match (uri.scheme_str(), protocol) {
            (Some("http"), _) | (Some("https"), Protocol::HttpProtobuf) => {}
            (Some("https"), Protocol::Grpc) => {
                return Err(invalid(
                    "uses https, which OTLP over gRPC does not support here; use http://",
                ));
            }
            _ => return Err(invalid("is not a URL like http://127.0.0.1:4318")),
        }
        if uri.host().is_none() {
            return Err(invalid("names no host"));
        }
        let endpoint = match protocol {
            Protocol::HttpProtobuf if !full => {
                format!("{}/v1/traces", endpoint.trim_end_matches('/'))
            }
            _ => endpoint,
        };
        let service_name = var("OTEL_SERVICE_NAME").unwrap_or_else(|| DEFAULT_SERVICE_NAME.into());
        Ok(Some(Config {
            endpoint,
            protocol,
            service_name,
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn resolve(
        flag: Option<&str>,
        vars: &[(&str, &str)],
    ) -> Result<Option<Config>, TelemetryError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::resolve(flag, &|name| vars.get(name).cloned())
    }

    #[test]
    fn nothing_set_means_no_exporter() {
        assert_eq!(resolve(None, &[]).unwrap(), None);
        assert_eq!(
            resolve(Some(""), &[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]).unwrap(),
            None
        );
    }

    #[test]
    fn the_flag_wins_and_http_gets_the_signal_path() {
        let c = resolve(
            Some("http://127.0.0.1:4318/"),
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://other:1"),
                ("OTEL_SERVICE_NAME", "shop"),
            ],
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.endpoint, "http://127.0.0.1:4318/v1/traces");
        assert_eq!(
            (c.protocol, c.service_name.as_str()),
            (Protocol::HttpProtobuf, "shop")
        );
        let own = resolve(
            None,
            &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://h:1/x")],
        );
        assert_eq!(own.unwrap().unwrap().endpoint, "http://h:1/x");
    }

    #[test]
    fn grpc_takes_the_address_as_given() {
        let c = resolve(
            None,
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ],
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (c.endpoint.as_str(), c.protocol),
            ("http://127.0.0.1:4317", Protocol::Grpc)
        );
        assert_eq!(c.service_name, DEFAULT_SERVICE_NAME);
    }

    #[test]
    fn wrong_settings_are_named() {
        let e = resolve(
            Some("http://h:1"),
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")],
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("OTEL_EXPORTER_OTLP_PROTOCOL")
                && e.to_string().contains("http/protobuf"),
            "{e}"
        );
        let e = resolve(Some("localhost:4317"), &[]).unwrap_err();
        assert!(e.to_string().contains("--otlp-endpoint"), "{e}");
        let e = resolve(
            Some("https://h:1"),
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
        )
        .unwrap_err();
        assert!(e.to_string().contains("https"), "{e}");
    }
}
