//! Maestro glues existing gRPC and HTTP services into workflows that survive
//! failure: retries, circuit breaking, timeouts and saga compensation, driven
//! by a YAML file and a single binary.
//!
//! # Layout
//!
//! - [`workflow`]: the workflow language: YAML loading, validation with
//!   located diagnostics, and the validated model the runtime executes.
//! - [`template`]: `{{ .path }}` templates and `when` conditions, parsed once at
//!   load time and evaluated against a run's data (text rendered by tera).
//! - [`graph`]: the workflow drawn as a Mermaid or Graphviz flowchart.
//! - [`resilience`]: pure policy: exponential backoff, circuit breaker state,
//!   deadlines. No I/O, tested with an injected clock.
//! - [`transport`]: the wire: HTTP over reqwest, gRPC over tonic with
//!   descriptors from server reflection or `.proto` files, and the
//!   classification of every failure as retryable, permanent or unknown.
//! - [`runtime`]: the actors: a supervisor with one actor per service, a
//!   workflow-run actor per run, a saga actor per run, and the run's event log.
//! - [`journal`]: durable runs: each run's definition and events in SQLite
//!   (a state directory) or PostgreSQL (replicas sharing runs by lease).
//! - [`server`]: `maestro serve`: concurrent runs behind an HTTP API, with
//!   metrics, health and an OpenAPI document; bounded connections and reads,
//!   and the strict reading of run inputs the CLI shares.
//! - [`cli`]: the `maestro` command line.
//! - [`escape`]: text made safe for a terminal; imports nothing, used by any
//!   layer that prints.

pub mod cli;
pub mod escape;
pub mod graph;
pub mod journal;
pub mod resilience;
pub mod runtime;
pub mod server;
pub mod template;
pub mod transport;
pub mod workflow;
