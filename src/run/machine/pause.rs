//! Steps that call nothing: a sleep ends at a journaled time, a wait with
//! the first signal of its name the run has not used, or at its timeout.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tokio::time::Instant;

use super::{Command, Machine};
use crate::run::events::RunEvent;
use crate::run::state::StepRef;
use crate::workflow::timestamp::parse_rfc3339;
use crate::workflow::{Action, Sleep, Wait};

/// How far ahead a wake-up is put when a time is beyond what the clock
/// can count to: the run wakes and looks again then.
const FAR_AHEAD: Duration = Duration::from_secs(60 * 60 * 24 * 365 * 30);

impl Machine {
    /// The wall-clock time at `now`.
    fn wall(&self, now: Instant) -> SystemTime {
        match self.clock {
            Some((then, wall)) => wall + now.saturating_duration_since(then),
            None => SystemTime::now(),
        }
    }

    /// The instant at which the wall clock reads `time`; `now` if it has.
    fn instant_of(&self, time: SystemTime, now: Instant) -> Instant {
        match time.duration_since(self.wall(now)) {
            Ok(ahead) => now.checked_add(ahead).unwrap_or_else(|| now + FAR_AHEAD),
            Err(_) => now,
        }
    }

    /// A sleep begins: its end, journaled, so that a restart sleeps only
    /// the rest. `sleep_until` is rendered now.
    pub(super) fn sleep_started(
        &self,
        at: StepRef,
        sleep: &Sleep,
        now: Instant,
    ) -> Result<Command, String> {
        let until = match sleep {
            Sleep::For(length) => self.wall(now) + *length,
            Sleep::Until(template) => {
                let rendered = template
                    .render_string(self.scope_of(at))
                    .map_err(|e| format!("`sleep_until` could not be rendered: {e}"))?;
                parse_rfc3339(&rendered).map_err(|e| format!("`sleep_until`: {e}"))?
            }
        };
        let step = self.state.at(at).id.clone();
        Ok(Command::Record(RunEvent::TimerStarted { step, until }))
    }

    /// A wait begins, with the time it gives up at, if it does.
    pub(super) fn wait_started(&self, at: StepRef, wait: &Wait, now: Instant) -> Command {
        let until = wait.timeout.map(|t| self.wall(now) + t);
        Command::Record(RunEvent::WaitStarted {
            step: self.state.at(at).id.clone(),
            signal: wait.signal.clone(),
            until,
        })
    }

    /// A sleeping or waiting step: end it if it is time or its signal is
    /// here, else ask to be woken. True when it took a signal: a sibling
    /// waiting for the same name decides once this one's end is applied.
    pub(super) fn pause_due(
        &mut self,
        at: StepRef,
        now: Instant,
        commands: &mut Vec<Command>,
    ) -> bool {
        let i = at.index();
        let state = &self.state.steps[i];
        let (step, until) = (state.def.clone(), state.until);
        let due = until.is_some_and(|t| self.wall(now) >= t);
        let id = state.id.clone();
        let event = match &step.action {
            Action::Wait(wait) => match self.signals.get(&wait.signal).and_then(|q| q.front()) {
                Some(payload) => Some(completed(id, payload.clone())),
                None if due => Some(RunEvent::StepFailed {
                    step: id,
                    attempts: 0,
                    error: no_signal(wait),
                    outcome_unknown: false,
                }),
                None => None,
            },
            _ if due => Some(completed(id, Value::Null)),
            _ => None,
        };
        let took_signal = matches!(event, Some(RunEvent::StepCompleted { .. }))
            && matches!(step.action, Action::Wait(_));
        match event {
            Some(event) => commands.push(Command::Record(event)),
            None => {
                if let Some(until) = until
                    && self.timers.insert(i)
                {
                    commands.push(Command::WakeAt(self.instant_of(until, now)));
                }
            }
        }
        took_signal
    }

    /// When nothing is in flight and every open step sleeps or waits: the
    /// run may be put aside until the earliest of their ends and the
    /// workflow's timeout (`None`: until a signal comes).
    pub fn idle_until(&self, now: Instant) -> Option<Option<SystemTime>> {
        let busy = self.state.halt.is_some()
            || self.requested.is_some()
            || self.finishing
            || self.undoing.is_some()
            || self.calling.iter().any(|&c| c);
        if busy || self.state.waiting().next().is_none() {
            return None;
        }
        let timeout = self.deadline.map(|d| self.wall(d.max(now)));
        let ends = self.state.waiting().filter_map(|s| s.until);
        Some(ends.chain(timeout).min())
    }

    /// Signals named `name` received and not taken by a wait yet.
    pub fn pending_signals(&self, name: &str) -> usize {
        self.signals.get(name).map_or(0, VecDeque::len)
    }

    /// A signal arrived; kept until a wait takes it.
    pub(super) fn signal_received(&mut self, name: &str, id: &str, payload: &Value) {
        if self.signal_ids.insert(id.to_owned()) {
            let queue = self.signals.entry(name.to_owned()).or_default();
            queue.push_back(payload.clone());
        }
    }

    /// Step `at` completed: if it waited, it took its signal's oldest one.
    pub(super) fn signal_taken(&mut self, at: StepRef) {
        if let Action::Wait(wait) = &self.state.at(at).def.action
            && let Some(queue) = self.signals.get_mut(&wait.signal)
        {
            queue.pop_front();
        }
    }
}

fn completed(step: String, output: Value) -> RunEvent {
    RunEvent::StepCompleted {
        step,
        attempts: 0,
        output: output.into(),
    }
}

fn no_signal(wait: &Wait) -> String {
    let within = wait
        .timeout
        .map(|t| format!(" within {}", humantime::format_duration(t)))
        .unwrap_or_default();
    format!("no signal `{}` arrived{within}", wait.signal)
}
