//! A run's lifecycle as data, beneath the actors and the journal: the
//! events a run records and the status they lead to. Everything that tells
//! or resumes where a run stood reads these.

pub mod events;

pub use events::{HaltReason, Recorded, RunEvent, RunStatus};
