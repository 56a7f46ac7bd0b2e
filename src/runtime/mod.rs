//! The actors that run workflows: a supervisor with one actor per service,
//! one workflow-run actor and one saga actor per run. A run's progress is an
//! append-only list of [`events::RunEvent`]s; its report is derived from them.

pub mod events;
