//! The `maestro` command line: `validate`, `graph`, `execute`. Data a user may
//! pipe goes to stdout; diagnostics and timelines go to stderr.

use std::process::ExitCode;

pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
