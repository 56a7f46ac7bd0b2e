//! The one fold of a run's events: [`RunState::apply`].

use std::time::SystemTime;

use super::events::{Recorded, RunEvent};
use super::state::{Finished, Phase, RunState, Undo, UnknownStep};

/// What journals written before [`RunEvent::CompensationAttemptFailed`]
/// added to a step's id in the `attempt_failed` of its compensation.
const LEGACY_COMPENSATION_SUFFIX: &str = ".compensate";

impl RunState {
    /// Take one event into account. An event naming a step the workflow
    /// does not have changes no step and is refused.
    pub fn apply(&mut self, recorded: &Recorded) -> Result<(), UnknownStep> {
        let at = recorded.at;
        let position = self.applied;
        self.applied += 1;
        self.started_at.get_or_insert(at);
        self.last_at = Some(at);
        match &recorded.event {
            RunEvent::RunStarted {
                run_id, retry_of, ..
            } => {
                self.run_id.clone_from(run_id);
                self.retry_of.clone_from(retry_of);
            }
            RunEvent::RunResumed | RunEvent::RunParked { .. } => {}
            RunEvent::CompensationsRetried => self.reopen(),
            RunEvent::RunHalted { reason } => {
                self.halt.get_or_insert_with(|| reason.clone());
            }
            RunEvent::RunFinished {
                status,
                output,
                error,
            } => {
                self.finished = Some(Finished {
                    status: *status,
                    output: output.clone(),
                    error: error.clone(),
                });
            }
            RunEvent::CompensationStarted { .. }
            | RunEvent::CompensationAttemptFailed { .. }
            | RunEvent::CompensationCompleted { .. }
            | RunEvent::CompensationFailed { .. } => self.apply_undo(&recorded.event)?,
            _ => self.apply_step(&recorded.event, at, position)?,
        }
        Ok(())
    }

    /// An event of a step going forward.
    fn apply_step(
        &mut self,
        event: &RunEvent,
        at: SystemTime,
        position: usize,
    ) -> Result<(), UnknownStep> {
        match event {
            RunEvent::StepSkipped { step } => self.step_mut(step)?.1.phase = Phase::Skipped,
            RunEvent::TimerStarted { step, until } => self.begin_wait(step, Some(*until), at)?,
            RunEvent::WaitStarted { step, until, .. } => self.begin_wait(step, *until, at)?,
            RunEvent::ForeachStarted { step, items } => self.open_body(step, items.len(), at)?,
            RunEvent::WorkflowStarted { step, .. } => self.open_body(step, 1, at)?,
            RunEvent::AttemptStarted {
                step,
                attempt,
                request,
                ..
            } => self.attempt_started(step, *attempt, request, at)?,
            RunEvent::AttemptFailed {
                step,
                attempt,
                error,
                ..
            } => self.attempt_failed(step, *attempt, error)?,
            RunEvent::StepCompleted { step, attempts, .. } => {
                let (i, s) = self.step_mut(step)?;
                s.end(Phase::Completed, at);
                (s.attempts, s.error, s.last_failure) = (*attempts, None, None);
                s.output_event = Some(position);
                self.effects.push(i);
            }
            RunEvent::StepFailed {
                step,
                attempts,
                error,
                outcome_unknown,
            } => {
                let (i, s) = self.step_mut(step)?;
                s.end(Phase::Failed, at);
                (s.attempts, s.error) = (*attempts, Some(error.clone()));
                s.outcome_unknown = *outcome_unknown;
                if *outcome_unknown {
                    self.effects.push(i);
                }
                self.failed.push(i);
            }
            RunEvent::StepCancelled {
                step,
                outcome_unknown,
            } => {
                let (i, s) = self.step_mut(step)?;
                s.end(Phase::Cancelled, at);
                s.outcome_unknown = *outcome_unknown;
                if *outcome_unknown {
                    self.effects.push(i);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// An attempt announced: the step runs, from its first attempt on.
    fn attempt_started(
        &mut self,
        step: &str,
        attempt: u32,
        request: &Option<String>,
        at: SystemTime,
    ) -> Result<(), UnknownStep> {
        let (i, s) = self.step_mut(step)?;
        let first = s.started.is_none();
        s.phase = Phase::Running;
        s.attempts = attempt;
        s.request.clone_from(request);
        s.started.get_or_insert(at);
        if first {
            self.announced.push(i);
        }
        Ok(())
    }

    /// A run that ended with failed compensations is taken up again: those
    /// are to do once more, and the run has not finished.
    fn reopen(&mut self) {
        self.finished = None;
        let steps = &mut self.steps;
        self.undone
            .retain(|&i| !matches!(steps[i].undo, Undo::Failed { .. }));
        for step in steps.iter_mut() {
            if matches!(step.undo, Undo::Failed { .. }) {
                step.undo = Undo::NotStarted;
            }
        }
    }

    /// A sleep or a wait began.
    fn begin_wait(
        &mut self,
        step: &str,
        until: Option<SystemTime>,
        at: SystemTime,
    ) -> Result<(), UnknownStep> {
        let (_, s) = self.step_mut(step)?;
        s.phase = Phase::Waiting;
        s.until = until;
        s.started.get_or_insert(at);
        Ok(())
    }

    /// A failed attempt going forward, or, in an older journal, undoing.
    fn attempt_failed(&mut self, step: &str, attempt: u32, error: &str) -> Result<(), UnknownStep> {
        let failure = Some((attempt, error.to_owned()));
        if let Some(undone) = step.strip_suffix(LEGACY_COMPENSATION_SUFFIX)
            && let Ok((_, s)) = self.step_mut(undone)
        {
            s.undo_failure = failure;
            return Ok(());
        }
        let (_, s) = self.step_mut(step)?;
        s.error = Some(error.to_owned());
        s.last_failure = failure;
        Ok(())
    }

    /// An event of a step's compensation.
    fn apply_undo(&mut self, event: &RunEvent) -> Result<(), UnknownStep> {
        match event {
            RunEvent::CompensationStarted { step, request, .. } => {
                self.step_mut(step)?.1.undo = Undo::Running {
                    request: request.clone(),
                };
            }
            RunEvent::CompensationAttemptFailed {
                step,
                attempt,
                error,
                ..
            } => self.step_mut(step)?.1.undo_failure = Some((*attempt, error.clone())),
            RunEvent::CompensationCompleted { step, attempts } => {
                let (i, s) = self.step_mut(step)?;
                let request = undo_request(&s.undo);
                s.undo = Undo::Completed {
                    attempts: *attempts,
                    request,
                };
                self.undone.push(i);
            }
            RunEvent::CompensationFailed {
                step,
                attempts,
                error,
            } => {
                let (i, s) = self.step_mut(step)?;
                let request = undo_request(&s.undo);
                s.undo = Undo::Failed {
                    attempts: *attempts,
                    request,
                    error: error.clone(),
                };
                self.undone.push(i);
            }
            _ => {}
        }
        Ok(())
    }
}

/// The request of the compensation attempt in flight, if one was announced.
fn undo_request(undo: &Undo) -> Option<String> {
    match undo {
        Undo::Running { request } => request.clone(),
        _ => None,
    }
}
