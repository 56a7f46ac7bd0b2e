//! Signals during `maestro execute`: the first SIGINT or SIGTERM stops the
//! run as a cancellation does (no new step starts, calls in flight are
//! cancelled, what completed is undone); a second one exits at once.

use crate::runtime::report::StepOutcome;
use crate::runtime::{RunHandle, RunReport, RuntimeError};
use crate::workflow::Workflow;

use super::say;

/// A signal that asks `execute` to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// SIGINT, Ctrl-C on a terminal.
    Int,
    /// SIGTERM, what `kill` and process managers send.
    Term,
}

impl Interrupt {
    /// 128 + the signal's number, as shells report a process it stopped.
    pub fn exit_code(self) -> u8 {
        match self {
            Interrupt::Int => 130,
            Interrupt::Term => 143,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Interrupt::Int => "SIGINT",
            Interrupt::Term => "SIGTERM",
        }
    }
}

/// Both signals, watched from creation: their default action (dying at
/// once) no longer applies to this process.
pub struct Interrupts {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Interrupts {
    pub fn watch() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Interrupts {
                int: signal(SignalKind::interrupt())?,
                term: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Interrupts {})
    }

    pub async fn next(&mut self) -> Interrupt {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.int.recv() => Interrupt::Int,
                _ = self.term.recv() => Interrupt::Term,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Interrupt::Int
        }
    }
}

/// Wait for the run's end; on the first signal cancel it and go on
/// waiting, on the second exit the process with that signal's code. With
/// a journal (`journal` names it) the run stays there, resumable.
pub async fn drive(
    handle: RunHandle,
    interrupts: &mut Interrupts,
    workflow: &Workflow,
    journal: Option<&str>,
) -> (Result<RunReport, RuntimeError>, Option<Interrupt>) {
    let (canceller, watch, run_id) = (handle.canceller(), handle.watch(), handle.run_id.clone());
    let finished = handle.finished();
    tokio::pin!(finished);
    let mut first = None;
    loop {
        tokio::select! {
            report = &mut finished => return (report, first),
            signal = interrupts.next() => {
                if first.is_none() {
                    first = Some(signal);
                    say::warn(&format!(
                        "{}: stopping run {run_id}: no new step starts, calls in flight are \
                         cancelled, completed steps are undone ({} again to exit at once)",
                        signal.name(),
                        signal.name()
                    ));
                    canceller.cancel();
                    continue;
                }
                let progress = watch.progress();
                let left = not_undone(workflow, &progress);
                say::warn(&match journal {
                    Some(place) => format!(
                        "{}: exiting now; run {run_id} stays in the journal ({place}) and \
                         goes on undoing ({}) when maestro starts again on it",
                        signal.name(),
                        list(&left)
                    ),
                    None => format!(
                        "{}: exiting now; run {run_id} was not fully undone: {} still in effect",
                        signal.name(),
                        list(&left)
                    ),
                });
                std::process::exit(i32::from(signal.exit_code()));
            }
        }
    }
}

/// Steps that took effect, or may have, and whose undo has not run.
fn not_undone<'a>(workflow: &Workflow, report: &'a RunReport) -> Vec<&'a str> {
    report
        .steps
        .iter()
        .filter(|rec| {
            let undoable = workflow
                .deep_steps()
                .iter()
                .any(|s| rec.id.rsplit('/').next() == Some(&s.id) && s.compensation().is_some());
            let took_effect = rec.outcome == StepOutcome::Ok
                || (rec.outcome_unknown
                    && matches!(rec.outcome, StepOutcome::Failed | StepOutcome::Cancelled));
            undoable && took_effect
        })
        .map(|rec| rec.id.as_str())
        .collect()
}

fn list(steps: &[&str]) -> String {
    if steps.is_empty() {
        "no step".into()
    } else {
        steps.join(", ")
    }
}
