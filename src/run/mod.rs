//! A run's lifecycle as data, beneath the actors and the journal: the
//! events a run records, the status they lead to, and the state they fold
//! into. Everything that tells or resumes where a run stood reads these.

mod apply;
pub mod events;
mod frames;
mod machine;
pub mod state;

#[cfg(test)]
mod foreach_tests;
#[cfg(test)]
mod machine_props;
#[cfg(test)]
mod machine_tests;
#[cfg(test)]
mod pause_tests;
#[cfg(test)]
mod retry_tests;
#[cfg(test)]
mod tests;

pub use events::{HaltReason, Recorded, RunEvent, RunStatus};
pub use machine::{Command, Machine, ResumeError};
pub use state::{
    Finished, Frame, FrameId, Phase, RunState, StepDef, StepRef, StepState, Undo, UnknownStep,
};
