//! The HTTP plumbing every provider shares: one timeout, status → error
//! classification, metrics per call, JSON decoding with clear messages, and
//! value sanity checks. Nothing here puts a URL query, header or secret into
//! an error message.
use crate::backoff::parse_retry_after;
use crate::error::ProviderError;
use crate::metrics::Metrics;
use crate::secret::Secret;
use jiff::Timestamp;
use serde::de::DeserializeOwned;
use std::time::{Duration, Instant};

/// A completed HTTP exchange (any status).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Vec<u8>,
}

/// A reqwest client bound to one provider name, timeout and metrics.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    provider: &'static str,
    timeout: Duration,
    metrics: Metrics,
    /// Secrets this provider sends; scrubbed from any body excerpt we quote.
    redact: Vec<Secret>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("provider", &self.provider)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl HttpClient {
    pub fn new(provider: &'static str, timeout: Duration, metrics: Metrics) -> Result<Self, ProviderError> {
        // reqwest panics when built without a crypto provider; say so instead.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            return Err(ProviderError::Config {
                provider: provider.to_string(),
                detail: "no rustls crypto provider installed (the binary must install one, e.g. ring)".into(),
            });
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("gridshift-carbon/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ProviderError::Config { provider: provider.to_string(), detail: e.to_string() })?;
        Ok(Self { client, provider, timeout, metrics, redact: Vec::new() })
    }

    pub fn redacting(mut self, secret: &Secret) -> Self {
        if !secret.is_empty() {
            self.redact.push(secret.clone());
        }
        self
    }

    pub fn provider(&self) -> &'static str {
        self.provider
    }

    pub fn get(&self, url: reqwest::Url) -> reqwest::RequestBuilder {
        self.client.get(url).header(reqwest::header::ACCEPT, "application/json")
    }

    /// Sends `req`, reads the whole body and records the call. Transport
    /// failures and timeouts become errors; every HTTP status is returned.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Result<Reply, ProviderError> {
        let started = Instant::now(); // latency is real network time, not simulated time
        let result = async {
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = resp.bytes().await?.to_vec();
            Ok::<_, reqwest::Error>(Reply { status, retry_after, body })
        }
        .await;
        let secs = started.elapsed().as_secs_f64();
        match result {
            Ok(reply) => {
                self.metrics.observe_call(self.provider, &reply.status.to_string(), secs);
                Ok(reply)
            }
            Err(e) => {
                let e = e.without_url();
                let provider = self.provider.to_string();
                if e.is_timeout() {
                    self.metrics.observe_call(self.provider, "timeout", secs);
                    Err(ProviderError::Timeout { provider, timeout: format!("{:?}", self.timeout) })
                } else {
                    self.metrics.observe_call(self.provider, "transport", secs);
                    Err(ProviderError::Transport { provider, detail: self.scrub(&error_chain(&e)) })
                }
            }
        }
    }

    /// The common status classification. `what` names the request in errors
    /// (e.g. "forecast for DE"), never with its query string.
    pub fn check(&self, reply: &Reply, what: &str, now: Timestamp) -> Result<(), ProviderError> {
        let provider = self.provider.to_string();
        match reply.status {
            200..=299 => Ok(()),
            429 => Err(ProviderError::RateLimited {
                provider,
                retry_after: reply.retry_after.as_deref().and_then(|v| parse_retry_after(v, now)),
            }),
            401 | 403 => Err(ProviderError::Unauthorized {
                provider,
                status: reply.status,
                detail: self.excerpt(&reply.body),
            }),
            404 => Err(ProviderError::NotFound { provider, what: what.to_string() }),
            status => Err(ProviderError::Http { provider, status, detail: self.excerpt(&reply.body) }),
        }
    }

    /// Decodes JSON, telling a truncated body from a non-JSON one from a
    /// wrong shape.
    pub fn decode<T: DeserializeOwned>(&self, body: &[u8]) -> Result<T, ProviderError> {
        decode_json(self.provider, body)
    }

    /// A short, printable, secret-free quote of a response body.
    pub fn excerpt(&self, body: &[u8]) -> String {
        let text = String::from_utf8_lossy(body);
        let mut s: String = text.chars().take(160).map(|c| if c.is_control() { ' ' } else { c }).collect();
        if text.chars().count() > 160 {
            s.push('…');
        }
        let s = self.scrub(s.trim());
        if s.is_empty() { "(empty body)".into() } else { s }
    }

    fn scrub(&self, s: &str) -> String {
        let mut out = s.to_string();
        for secret in &self.redact {
            out = out.replace(secret.expose(), "[redacted]");
        }
        out
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

pub fn decode_json<T: DeserializeOwned>(provider: &str, body: &[u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        let detail = match e.classify() {
            Category::Eof if body.iter().all(u8::is_ascii_whitespace) => "empty body".to_string(),
            Category::Eof => format!("truncated body ({e})"),
            Category::Syntax | Category::Io => format!("not JSON ({e})"),
            Category::Data => format!("unexpected JSON shape ({e})"),
        };
        ProviderError::decode(provider, detail)
    })
}

/// Checks one intensity value in g/kWh. Nulls are not handled here: callers
/// treat a null as a gap, but a negative or absurd number means the whole
/// response is suspect (a unit change, a parsing bug upstream) and is refused.
pub fn check_value(provider: &str, value: f64, at: &str) -> Result<f64, ProviderError> {
    gridshift_core::series::check_intensity(value, at)
        .map_err(|detail| ProviderError::invalid(provider, detail))
}

/// Parses a provider timestamp, accepting RFC 3339 with or without seconds
/// (`2018-01-20T12:00Z`, as the UK API writes them).
pub fn parse_time(provider: &str, s: &str) -> Result<Timestamp, ProviderError> {
    s.parse::<Timestamp>().map_err(|e| ProviderError::decode(provider, format!("bad timestamp {s:?}: {e}")))
}

/// Joins `path` onto a base URL, keeping any path prefix the base has
/// (`https://host/v3` + `carbon-intensity/latest`).
pub fn join(provider: &str, base: &str, path: &str) -> Result<reqwest::Url, ProviderError> {
    let base = if base.ends_with('/') { base.to_string() } else { format!("{base}/") };
    reqwest::Url::parse(&base).and_then(|b| b.join(path.trim_start_matches('/'))).map_err(|e| {
        ProviderError::Config {
            provider: provider.to_string(),
            detail: format!("bad base URL {base:?}: {e}"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_errors_are_told_apart() {
        let e = decode_json::<serde_json::Value>("p", b"<html>oops").unwrap_err().to_string();
        assert!(e.contains("not JSON"), "{e}");
        let e = decode_json::<serde_json::Value>("p", b"{\"a\": [1,").unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        let e = decode_json::<serde_json::Value>("p", b"  ").unwrap_err().to_string();
        assert!(e.contains("empty body"), "{e}");
        #[derive(serde::Deserialize, Debug)]
        struct S {
            #[allow(dead_code)]
            x: u32,
        }
        let e = decode_json::<S>("p", b"{}").unwrap_err().to_string();
        assert!(e.contains("missing field `x`"), "{e}");
    }

    #[test]
    fn values_are_sanity_checked() {
        assert_eq!(check_value("p", 120.0, "t").unwrap(), 120.0);
        assert!(check_value("p", -1.0, "t").unwrap_err().to_string().contains("negative"));
        assert!(check_value("p", 99999.0, "t").unwrap_err().to_string().contains("implausible"));
    }

    #[test]
    fn parses_short_uk_timestamps() {
        assert_eq!(parse_time("p", "2018-01-20T12:00Z").unwrap(), "2018-01-20T12:00:00Z".parse().unwrap());
        assert!(parse_time("p", "yesterday").is_err());
    }

    #[test]
    fn join_keeps_base_path() {
        let u = join("p", "http://127.0.0.1:1/v3", "carbon-intensity/latest").unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:1/v3/carbon-intensity/latest");
    }
}
