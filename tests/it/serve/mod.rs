//! `maestro serve` end to end: the real server process on 127.0.0.1 port 0,
//! running the example workflows against the example services.

mod api;
mod children;
mod contract;
mod embedded;
pub mod events;
mod filters;
mod foreach;
mod fuzz;
mod guard;
mod limits;
mod load;
mod parking;
mod pauses;
pub mod process;
mod raw;
mod retry;
pub mod schedules;
mod service_limits;
mod startup;
