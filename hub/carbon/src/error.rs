//! What can go wrong fetching intensity, classified so the store can choose how
//! long to back off and the metrics can say why.
use jiff::SignedDuration;

/// A failed provider fetch. Messages never contain secrets: URLs are reduced to
/// their path and response bodies are quoted only in short, sanitised excerpts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// 429, or Electricity Maps' 401 whose body says the quota is exhausted.
    #[error("{provider}: rate limited{}", retry_hint(.retry_after))]
    RateLimited { provider: String, retry_after: Option<SignedDuration> },
    /// The key or credentials were refused (401/403 that is not a rate limit).
    #[error("{provider}: credentials rejected (HTTP {status}): {detail}")]
    Unauthorized { provider: String, status: u16, detail: String },
    /// 404: the zone or endpoint does not exist for this provider/plan.
    #[error("{provider}: not found (HTTP 404) for {what}")]
    NotFound { provider: String, what: String },
    /// Any other HTTP status.
    #[error("{provider}: upstream answered HTTP {status}: {detail}")]
    Http { provider: String, status: u16, detail: String },
    /// No answer within the request timeout.
    #[error("{provider}: no response within {timeout}")]
    Timeout { provider: String, timeout: String },
    /// Connection refused, reset, DNS, TLS…
    #[error("{provider}: transport error: {detail}")]
    Transport { provider: String, detail: String },
    /// The body was not the JSON we expect (non-JSON, truncated, wrong shape).
    #[error("{provider}: undecodable response: {detail}")]
    Decode { provider: String, detail: String },
    /// Well-formed but unusable: nulls everywhere, negative or absurd values,
    /// empty arrays, unknown units.
    #[error("{provider}: invalid data: {detail}")]
    InvalidData { provider: String, detail: String },
    /// This provider cannot serve this zone (e.g. UK provider asked for DE).
    #[error("{provider}: zone {zone:?} is not served by this provider")]
    UnsupportedZone { provider: String, zone: String },
    /// Misconfiguration detected at call time (missing key…).
    #[error("{provider}: configuration: {detail}")]
    Config { provider: String, detail: String },
}

fn retry_hint(after: &Option<SignedDuration>) -> String {
    match after {
        Some(d) => format!(" (retry after {}s)", d.as_secs()),
        None => String::new(),
    }
}

/// Coarse kinds, used as the metrics `kind` label and by the backoff policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    RateLimited,
    Unauthorized,
    NotFound,
    Http,
    Timeout,
    Transport,
    Decode,
    InvalidData,
    UnsupportedZone,
    Config,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Http => "http",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Transport => "transport",
            ErrorKind::Decode => "decode",
            ErrorKind::InvalidData => "invalid_data",
            ErrorKind::UnsupportedZone => "unsupported_zone",
            ErrorKind::Config => "config",
        }
    }

    /// Errors that retrying soon cannot fix: a rejected key, a zone the provider
    /// does not have, a misconfiguration. They still get retried (keys get
    /// fixed, Secrets get remounted) but on the long end of the schedule.
    pub fn is_persistent(self) -> bool {
        matches!(
            self,
            ErrorKind::Unauthorized | ErrorKind::NotFound | ErrorKind::UnsupportedZone | ErrorKind::Config
        )
    }
}

impl ProviderError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ProviderError::RateLimited { .. } => ErrorKind::RateLimited,
            ProviderError::Unauthorized { .. } => ErrorKind::Unauthorized,
            ProviderError::NotFound { .. } => ErrorKind::NotFound,
            ProviderError::Http { .. } => ErrorKind::Http,
            ProviderError::Timeout { .. } => ErrorKind::Timeout,
            ProviderError::Transport { .. } => ErrorKind::Transport,
            ProviderError::Decode { .. } => ErrorKind::Decode,
            ProviderError::InvalidData { .. } => ErrorKind::InvalidData,
            ProviderError::UnsupportedZone { .. } => ErrorKind::UnsupportedZone,
            ProviderError::Config { .. } => ErrorKind::Config,
        }
    }

    /// The wait the upstream asked for, if any.
    pub fn retry_after(&self) -> Option<SignedDuration> {
        match self {
            ProviderError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A rate limit applies to the account, not to one zone: the store pauses
    /// the whole provider.
    pub fn is_rate_limit(&self) -> bool {
        matches!(self, ProviderError::RateLimited { .. })
    }

    pub fn invalid(provider: &str, detail: impl Into<String>) -> Self {
        ProviderError::InvalidData { provider: provider.to_string(), detail: detail.into() }
    }

    pub fn decode(provider: &str, detail: impl Into<String>) -> Self {
        ProviderError::Decode { provider: provider.to_string(), detail: detail.into() }
    }
}
