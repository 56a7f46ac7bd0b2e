//! The workflow language: YAML in, a validated [`Workflow`] out, or every
//! problem in the file, each located at its line and column.

pub mod model;

pub use model::*;
