//! What a failed call tells the caller about the world: the one fact about a
//! failure that retries, the breaker and the saga decide on. Transports
//! classify; this layer and those above act on the class.

/// What a failed call tells the caller about the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// Not applied, and worth trying again (connection refused, 503, UNAVAILABLE).
    Retryable,
    /// Not applied, and trying again will not help (400, INVALID_ARGUMENT).
    Permanent,
    /// May have been applied (timed out after sending, connection lost
    /// mid-call, INTERNAL). Retried with the same idempotency key; a step
    /// that ends failed after such an attempt is compensated.
    Unknown,
}

impl FailureClass {
    /// Whether another attempt may be made.
    pub fn is_retryable(self) -> bool {
        !matches!(self, FailureClass::Permanent)
    }
    /// Whether the failure counts against the service's circuit breaker.
    pub fn is_transient(self) -> bool {
        !matches!(self, FailureClass::Permanent)
    }
}
