//! Exit statuses, the same for every subcommand, so that scripts can tell a
//! broken workflow from a failed run: derived here, and only here, from a
//! run's status or an error's class.

use crate::error::ErrorClass;
use crate::run::RunStatus;

/// Everything went as asked.
pub const EXIT_OK: u8 = 0;
/// The run failed, and every completed step was compensated.
pub const EXIT_COMPENSATED: u8 = 1;
/// The workflow file or the run's input is invalid (nothing was called), or
/// the command line is wrong.
pub const EXIT_INVALID: u8 = 2;
/// The run failed and at least one compensation did not succeed: some
/// service may hold state that needs a person's attention.
pub const EXIT_COMPENSATION_FAILED: u8 = 3;
/// The workflow's `timeout` expired; the completed steps were compensated.
pub const EXIT_TIMED_OUT: u8 = 4;
/// Maestro itself could not do its work (a journal that cannot be opened or
/// is locked by another process, a port in use, an I/O error); stderr says
/// which, on a line starting with `error:`.
pub const EXIT_ERROR: u8 = 5;
// `execute` stopped by a signal exits 128 + its number: 130 for SIGINT,
// 143 for SIGTERM (see `interrupt`).

/// The status of a command that ran a workflow to its end.
pub fn for_status(status: RunStatus) -> u8 {
    match status {
        RunStatus::Succeeded => EXIT_OK,
        RunStatus::Compensated | RunStatus::Cancelled => EXIT_COMPENSATED,
        // A report is only printed once the run has ended.
        RunStatus::Queued | RunStatus::Running => EXIT_COMPENSATED,
        RunStatus::CompensationFailed => EXIT_COMPENSATION_FAILED,
        RunStatus::TimedOut => EXIT_TIMED_OUT,
    }
}

/// The status of a command that failed with an error of `class`: the
/// caller's to fix, or Maestro's own.
pub fn for_class(class: ErrorClass) -> u8 {
    match class {
        ErrorClass::Invalid => EXIT_INVALID,
        ErrorClass::Transient | ErrorClass::Conflict | ErrorClass::Internal => EXIT_ERROR,
    }
}
