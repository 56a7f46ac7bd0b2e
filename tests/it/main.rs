//! The one integration-test binary: each module is an area. Tests that run
//! workflows talk to real servers (the example services) on 127.0.0.1.

mod browser;
mod control_grpc;
mod execute;
mod faults;
mod graph;
mod hostile;
mod input;
mod input_schema;
mod journal;
mod layers;
mod output;
mod packaging;
mod postgres;
mod props;
mod proto_input;
mod readme;
mod runtime;
mod saga_model;
mod schema;
mod serve;
mod shell;
mod signals;
mod support;
mod terminal;
mod threats;
mod traces;
mod transport;
mod validate;
mod waits;
mod workflow_tests;
