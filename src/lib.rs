//! Maestro glues existing gRPC and HTTP services into workflows that survive
//! failure: retries, circuit breaking, timeouts and saga compensation, driven
//! by a YAML file and a single binary.
//!
//! # Layout
//!
//! Layers from the bottom up; each imports only those named after "uses"
//! (checked by the `layers` integration test).
//!
//! - [`error`]: the class of an error a caller acts on, shared by every
//!   layer's error enum. Uses nothing.
//! - [`escape`]: text made safe for a terminal, or for HTML and SVG. Uses
//!   nothing.
//! - [`template`]: `{{ .path }}` templates and `when` conditions, parsed once
//!   at load time and evaluated against a run's data (text rendered by
//!   tera). Uses nothing.
//! - [`resilience`]: pure policy: exponential backoff, circuit breaker
//!   state, deadlines, and the class of a failure they act on. No I/O, tested
//!   with an injected clock. Uses nothing.
//! - [`proto`]: protobuf schemas: `.proto` files compiled within allowed
//!   folders, methods resolved in a descriptor pool. Uses nothing.
//! - [`telemetry`]: OpenTelemetry traces: span ids derived from a run, the
//!   W3C `traceparent`, and the OTLP exporter, off unless configured. Uses
//!   error, escape.
//! - [`workflow`]: the workflow language: YAML loading, validation with
//!   located diagnostics, and the validated model the runtime executes. Uses
//!   escape, proto, resilience, template.
//! - [`run`]: a run's lifecycle, pure: the events it records, the state
//!   they fold into, and the state machine deciding each next command the
//!   actors carry out. Uses resilience, template, workflow.
//! - [`graph`]: the workflow drawn as a Mermaid or Graphviz flowchart, or
//!   as SVG. Uses escape, workflow.
//! - [`transport`]: the wire: HTTP over reqwest, gRPC over tonic with
//!   descriptors from server reflection or `.proto` files, and every failure
//!   classified as retryable, permanent or unknown. Uses proto, resilience,
//!   telemetry, template, workflow.
//! - [`journal`]: durable runs: each run's definition and events in SQLite
//!   (a state directory) or PostgreSQL (replicas sharing runs by lease).
//!   Uses run, workflow.
//! - [`runtime`]: the actors: a supervisor with one actor per service, a
//!   workflow-run actor per run, a saga actor per run, and the run's event
//!   log, and the spans a run's events make. Uses journal, resilience, run,
//!   telemetry, template, transport, workflow.
//! - [`server`]: `maestro serve`: concurrent runs behind an HTTP API, with
//!   metrics, health and an OpenAPI document; bounded connections and reads,
//!   and the strict reading of run inputs the CLI shares. Uses any layer
//!   below.
//! - [`cli`]: the `maestro` command line. Uses any layer.

pub mod cli;
pub mod error;
pub mod escape;
pub mod graph;
pub mod journal;
pub mod proto;
pub mod resilience;
pub mod run;
pub mod runtime;
pub mod server;
pub mod telemetry;
pub mod template;
pub mod transport;
pub mod workflow;
