//! Trace and span ids of a run, derived from the run (and the caller's
//! `traceparent`, when one was given) alone, so that a process resuming the
//! run from its journal names every span as the first process did.

use std::fmt::Write as _;

use opentelemetry::trace::{SpanId, TraceId};
use sha2::{Digest, Sha256};

/// The longest `traceparent` read: version 00 is 55 characters; a later
/// version may append fields, but not without end.
pub const MAX_TRACEPARENT_LEN: usize = 512;

/// A W3C `traceparent`: the caller's trace, and its span that is the parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: TraceId,
    pub parent_id: SpanId,
    pub sampled: bool,
}

impl TraceParent {
    /// Read a header value as the W3C Trace Context spec says: version 00
    /// exactly, a later version by its first four fields; lower-case hex,
    /// ids not all zero, version `ff` refused. `None` for anything else.
    pub fn parse(value: &str) -> Option<TraceParent> {
        let value = value.trim();
        if value.len() < 55 || value.len() > MAX_TRACEPARENT_LEN || !value.is_ascii() {
            return None;
        }
        let version = &value[..2];
        let exact = version == "00";
        if !lower_hex(version) || version == "ff" || (exact && value.len() != 55) {
            return None;
        }
        if value.len() > 55 && value.as_bytes()[55] != b'-' {
            return None;
        }
        let fields = &value[..55];
        let mut parts = fields.split('-');
        let (_, trace, parent, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if trace.len() != 32 || parent.len() != 16 || flags.len() != 2 {
            return None;
        }
        if !(lower_hex(trace) && lower_hex(parent) && lower_hex(flags)) {
            return None;
        }
        let trace_id = TraceId::from_hex(trace).ok()?;
        let parent_id = SpanId::from_hex(parent).ok()?;
        if trace_id == TraceId::INVALID || parent_id == SpanId::INVALID {
            return None;
        }
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(TraceParent {
            trace_id,
            parent_id,
            sampled: flags & 1 == 1,
        })
    }

    /// The header value, version 00.
    pub fn header(&self) -> String {
        let mut out = String::with_capacity(55);
        let flags = u8::from(self.sampled);
        let _ = write!(out, "00-{}-{}-{flags:02x}", self.trace_id, self.parent_id);
        out
    }
}

fn lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A run's trace: its id, the root span, and the caller's span above it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunTrace {
    pub trace_id: TraceId,
    /// The run's own span, parent of its steps and compensations.
    pub root: SpanId,
    /// The caller's span, when the run was started with a `traceparent`.
    pub remote_parent: Option<SpanId>,
    /// Whether the run's spans are exported (the caller may say no).
    pub sampled: bool,
}

impl RunTrace {
    /// The trace of run `run_id`: the caller's trace when it sent one,
    /// else one derived from the run id.
    pub fn new(run_id: &str, caller: Option<&TraceParent>) -> RunTrace {
        let trace_id = match caller {
            Some(caller) => caller.trace_id,
            None => {
                let digest = digest(&[b"maestro.run", run_id.as_bytes()]);
                let mut bytes = [0u8; 16];
                bytes.copy_from_slice(&digest[..16]);
                bytes[15] |= (bytes == [0; 16]) as u8;
                TraceId::from_bytes(bytes)
            }
        };
        let mut trace = RunTrace {
            trace_id,
            root: SpanId::INVALID,
            remote_parent: caller.map(|c| c.parent_id),
            sampled: caller.is_none_or(|c| c.sampled),
        };
        trace.root = span_id(&trace_id.to_bytes(), &["run", run_id]);
        trace
    }

    /// The span of step `step`.
    pub fn step(&self, step: &str) -> SpanId {
        self.span(&["step", step])
    }

    /// The span of the compensation of step `step`.
    pub fn compensation(&self, step: &str) -> SpanId {
        self.span(&["compensation", step])
    }

    /// What one attempt of a step (or of its compensation) carries to the
    /// transport: its own span, under the step's (or compensation's).
    pub fn call(&self, step: &str, attempt: u32, compensation: bool) -> CallTrace {
        let n = attempt.to_string();
        let (parent, span) = if compensation {
            let span = self.span(&["compensation-attempt", step, &n]);
            (self.compensation(step), span)
        } else {
            (self.step(step), self.span(&["attempt", step, &n]))
        };
        CallTrace {
            trace_id: self.trace_id,
            span,
            parent,
            sampled: self.sampled,
            attempt,
            compensation,
        }
    }

    /// A span id that is a function of the run's root span and `key`
    /// alone: two runs under one caller's trace share no id.
    fn span(&self, key: &[&str]) -> SpanId {
        span_id(&self.root.to_bytes(), key)
    }
}

fn span_id(prefix: &[u8], key: &[&str]) -> SpanId {
    let mut parts: Vec<&[u8]> = vec![prefix];
    parts.extend(key.iter().map(|k| k.as_bytes()));
    let digest = digest(&parts);
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    bytes[7] |= (bytes == [0; 8]) as u8;
    SpanId::from_bytes(bytes)
}

/// SHA-256 of the parts, each followed by a NUL so that no two keys collide.
fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part);
        hash.update([0]);
    }
    hash.finalize().into()
}

/// One attempt's place in its run's trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallTrace {
    pub trace_id: TraceId,
    /// The attempt's span: the parent of whatever the service records.
    pub span: SpanId,
    /// The step's span, or its compensation's.
    pub parent: SpanId,
    pub sampled: bool,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub compensation: bool,
}

impl CallTrace {
    /// The `traceparent` the service receives.
    pub fn traceparent(&self) -> String {
        TraceParent {
            trace_id: self.trace_id,
            parent_id: self.span,
            sampled: self.sampled,
        }
        .header()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIVEN: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_traceparent_reads_back_as_written() {
        let parent = TraceParent::parse(GIVEN).unwrap();
        assert!(parent.sampled);
        assert_eq!(parent.header(), GIVEN);
        let later = format!("cc{}-extra", &GIVEN[2..]);
        assert_eq!(
            TraceParent::parse(&later).unwrap().trace_id,
            parent.trace_id
        );
    }

    #[test]
    fn malformed_traceparents_are_refused() {
        let bad = [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        ];
        for value in bad {
            assert_eq!(TraceParent::parse(value), None, "{value}");
        }
        let long = format!("cc{}-{}", &GIVEN[2..], "a".repeat(MAX_TRACEPARENT_LEN));
        assert_eq!(TraceParent::parse(&long), None);
    }

    #[test]
    fn a_run_keeps_its_ids_and_a_caller_keeps_its_trace() {
        let a = RunTrace::new("run-1", None);
        assert_eq!(a, RunTrace::new("run-1", None));
        assert_ne!(a.trace_id, RunTrace::new("run-2", None).trace_id);
        assert!(a.sampled && a.remote_parent.is_none());
        let caller = TraceParent::parse(GIVEN).unwrap();
        let b = RunTrace::new("run-1", Some(&caller));
        assert_eq!(b.trace_id, caller.trace_id);
        assert_eq!(b.remote_parent, Some(caller.parent_id));
        let other = RunTrace::new("run-2", Some(&caller));
        assert_ne!(b.step("a"), other.step("a"));
        let unsampled = TraceParent::parse(&GIVEN.replace("-01", "-00")).unwrap();
        assert!(!RunTrace::new("run-1", Some(&unsampled)).sampled);
    }

    #[test]
    fn every_span_of_a_run_has_its_own_id() {
        let run = RunTrace::new("run-1", None);
        let ids = [
            run.root,
            run.step("a"),
            run.step("b"),
            run.compensation("a"),
            run.call("a", 1, false).span,
            run.call("a", 2, false).span,
            run.call("a", 1, true).span,
        ];
        for (i, x) in ids.iter().enumerate() {
            assert!(ids[i + 1..].iter().all(|y| y != x), "{ids:?}");
        }
        let call = run.call("a", 2, true);
        assert_eq!(call.parent, run.compensation("a"));
        let sent = TraceParent::parse(&call.traceparent()).unwrap();
        assert_eq!((sent.trace_id, sent.parent_id), (run.trace_id, call.span));
    }
}
