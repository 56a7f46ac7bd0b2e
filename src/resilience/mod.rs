//! Resilience policy as pure logic: how long to wait before the next attempt,
//! whether a service's circuit lets a call through, and which deadline wins.
//! Nothing here does I/O or knows about actors; time is always passed in.

pub mod backoff;
pub mod breaker;
pub mod deadline;

pub use backoff::{Backoff, BackoffKind, RetryPolicy};
pub use breaker::BreakerConfig;
