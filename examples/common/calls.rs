//! The call log and the misbehaviour engine of an example process: every call
//! is recorded, and chaos from the request, faults set through the admin
//! listener and the process flags decide whether it is delayed or fails.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use super::codes::{FailCode, code_name};

/// Microseconds since the Unix epoch, the unit of every timestamp in the log.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The `chaos` field of a request (gRPC message or HTTP JSON body).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Chaos {
    fail_times: u32,
    code: Value,
    delay_ms: u64,
    delay_times: u32,
    retry_after_s: u32,
    fail_after_apply: bool,
}

/// A fault set through `POST /faults`: it applies to every call whose
/// service, method or path equals `method` (`*` for all).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    #[serde(default = "any_method")]
    pub method: String,
    /// The next N matching calls fail with `code`.
    #[serde(default)]
    pub fail_next: u32,
    #[serde(default)]
    pub code: Value,
    /// Added to matching calls...
    #[serde(default)]
    pub delay_ms: u64,
    /// ...to the next N of them only, when given.
    #[serde(default)]
    pub delay_next: Option<u32>,
    /// Sent back as `Retry-After` on the failures.
    #[serde(default)]
    pub retry_after_s: Option<u32>,
}

fn any_method() -> String {
    "*".to_owned()
}

impl Fault {
    pub fn validate(&self) -> Result<(), String> {
        FailCode::parse(&self.code).map(|_| ())
    }

    fn spent(&self) -> bool {
        self.fail_next == 0 && (self.delay_ms == 0 || self.delay_next == Some(0))
    }
}

/// Faults of the whole process, from its command line.
#[derive(Debug, Clone)]
pub struct ProcessFaults {
    /// Share of calls that fail, spread evenly (0.25: every fourth call).
    pub fail_rate: f64,
    pub fail_code: FailCode,
    pub delay: Duration,
}

/// One finished call, as `GET /calls` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    /// Order in which calls started.
    pub seq: u64,
    /// grpc or http.
    pub protocol: &'static str,
    /// gRPC: `package.Service`; HTTP: the service's name in the workflows.
    pub service: String,
    /// gRPC: `Method`; HTTP: verb and route (`DELETE /accounts/{id}`).
    pub method: String,
    /// The request's path (`/accounts/acc_000001`).
    pub path: String,
    pub idempotency_key: Option<String>,
    pub run_id: Option<String>,
    pub step_id: Option<String>,
    /// 1 for the first call with this idempotency key (or, without one,
    /// this body) to this method.
    pub attempt: u32,
    /// Request headers or metadata, names lower-case.
    pub headers: BTreeMap<String, String>,
    pub request: Value,
    pub ok: bool,
    /// `ok`, a gRPC code name, an HTTP status, or `cancelled` when the
    /// caller went away first.
    pub outcome: String,
    /// HTTP status of the answer.
    pub status: Option<u16>,
    pub message: Option<String>,
    pub response: Option<Value>,
    /// The failure came from chaos, a fault or `--fail-rate`.
    pub injected: bool,
    /// Answered from the idempotency store without running again.
    pub replayed: bool,
    pub start_us: u64,
    pub end_us: u64,
    /// The caller's address: one per client connection.
    pub peer: String,
}

/// What the protocol layer knows when a call arrives.
pub struct CallStart {
    pub protocol: &'static str,
    pub service: String,
    pub method: String,
    pub path: String,
    /// HTTP verb, to match faults written as `POST /orders/o1`.
    pub verb: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub request: Value,
    pub peer: String,
}

/// An injected failure.
#[derive(Debug, Clone)]
pub struct Injected {
    pub code: FailCode,
    pub message: String,
    pub retry_after_s: Option<u32>,
    /// Run the call, then fail.
    pub after_apply: bool,
}

/// What to do with a call before running it.
pub struct Plan {
    pub delay: Duration,
    pub fail: Option<Injected>,
    /// The stored answer of an earlier call with the same idempotency key.
    pub replay: Option<Arc<dyn Any + Send + Sync>>,
}

type Store = HashMap<(String, String), Arc<dyn Any + Send + Sync>>;

#[derive(Default)]
struct State {
    log: Vec<CallRecord>,
    /// Calls that started and have not finished, by `seq`.
    active: BTreeMap<u64, CallRecord>,
    /// The most calls in `active` at once since the log was last cleared.
    peak: usize,
    attempts: HashMap<(String, String), u32>,
    faults: Vec<Fault>,
    answers: Store,
    rate_ticks: u64,
}

/// The process-wide log, faults and id counters, shared by every service of
/// the process and by its admin listener.
pub struct Hub {
    state: Mutex<State>,
    process: ProcessFaults,
    seq: AtomicU64,
    ids: Mutex<HashMap<&'static str, u64>>,
}

impl Hub {
    pub fn new(process: ProcessFaults) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::default(),
            process,
            seq: AtomicU64::new(1),
            ids: Mutex::default(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A handler that panicked holding the lock leaves data that is still
        // fine to show and to append to.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `prefix_000001`, `prefix_000002`, ... per prefix.
    pub fn next_id(&self, prefix: &'static str) -> String {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        let n = ids.entry(prefix).or_insert(0);
        *n += 1;
        format!("{prefix}_{n:06}")
    }

    pub fn calls(&self) -> Vec<CallRecord> {
        let mut calls = self.state().log.clone();
        calls.sort_by_key(|c| c.seq);
        calls
    }

    /// Calls inside the process right now (their outcome still empty), so a
    /// test can act while a call is in flight rather than after it ended.
    pub fn active_calls(&self) -> Vec<CallRecord> {
        self.state().active.values().cloned().collect()
    }

    /// The most calls that were inside the process at once.
    pub fn peak_active(&self) -> usize {
        self.state().peak
    }

    /// Forgets calls, attempt counts and stored answers; keeps faults.
    pub fn clear_calls(&self) -> usize {
        let mut state = self.state();
        state.attempts.clear();
        state.answers.clear();
        state.peak = state.active.len();
        std::mem::take(&mut state.log).len()
    }

    pub fn faults(&self) -> Vec<Fault> {
        self.state().faults.clone()
    }

    pub fn add_fault(&self, fault: Fault) {
        self.state().faults.push(fault);
    }

    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// Records the call's start and decides its fate.
    pub fn begin(self: &Arc<Self>, start: CallStart) -> (ActiveCall, Plan) {
        let key = start.headers.get("idempotency-key").cloned();
        let label = format!("{} {}", start.service, start.method);
        let attempt_key = (
            label.clone(),
            key.clone()
                .unwrap_or_else(|| format!("body:{}", start.request)),
        );
        let chaos = start
            .request
            .get("chaos")
            .filter(|c| c.is_object())
            .and_then(|c| serde_json::from_value::<Chaos>(c.clone()).ok());

        let mut state = self.state();
        let attempt = {
            let n = state.attempts.entry(attempt_key).or_insert(0);
            *n += 1;
            *n
        };
        let mut delay = self.process.delay;
        let mut fail = None;
        for fault in state.faults.iter_mut().filter(|f| matches(f, &start)) {
            if fault.delay_ms > 0 && fault.delay_next != Some(0) {
                delay += Duration::from_millis(fault.delay_ms);
                if let Some(n) = fault.delay_next.as_mut() {
                    *n -= 1;
                }
            }
            if fail.is_none() && fault.fail_next > 0 {
                fault.fail_next -= 1;
                fail = Some(Injected {
                    code: FailCode::parse(&fault.code)
                        .ok()
                        .flatten()
                        .unwrap_or(FailCode::DEFAULT),
                    message: format!("injected by the fault on `{}`", fault.method),
                    retry_after_s: fault.retry_after_s,
                    after_apply: false,
                });
            }
        }
        state.faults.retain(|f| !f.spent());
        if let Some(chaos) = &chaos {
            if chaos.delay_times == 0 || attempt <= chaos.delay_times {
                delay += Duration::from_millis(chaos.delay_ms);
            }
            if fail.is_none() && attempt <= chaos.fail_times {
                fail = Some(Injected {
                    code: FailCode::parse(&chaos.code)
                        .ok()
                        .flatten()
                        .unwrap_or(FailCode::DEFAULT),
                    message: format!(
                        "injected by chaos: attempt {attempt} of the first {} fails",
                        chaos.fail_times
                    ),
                    retry_after_s: (chaos.retry_after_s > 0).then_some(chaos.retry_after_s),
                    after_apply: chaos.fail_after_apply,
                });
            }
        }
        if fail.is_none() && self.process.fail_rate > 0.0 {
            let tick = state.rate_ticks as f64;
            state.rate_ticks += 1;
            let rate = self.process.fail_rate.min(1.0);
            if ((tick + 1.0) * rate).floor() > (tick * rate).floor() {
                fail = Some(Injected {
                    code: self.process.fail_code,
                    message: format!("injected by --fail-rate {rate}"),
                    retry_after_s: None,
                    after_apply: false,
                });
            }
        }
        let store_key = key.clone().map(|k| (label, k));
        let replay = store_key
            .as_ref()
            .and_then(|k| state.answers.get(k).cloned());
        drop(state);

        let header = |name: &str| start.headers.get(name).cloned();
        let record = CallRecord {
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            protocol: start.protocol,
            idempotency_key: key,
            run_id: header("x-maestro-run-id"),
            step_id: header("x-maestro-step-id"),
            attempt,
            service: start.service,
            method: start.method,
            path: start.path,
            headers: start.headers,
            request: start.request,
            ok: false,
            outcome: String::new(),
            status: None,
            message: None,
            response: None,
            injected: false,
            replayed: false,
            start_us: now_us(),
            end_us: 0,
            peer: start.peer,
        };
        let mut state = self.state();
        state.active.insert(record.seq, record.clone());
        state.peak = state.peak.max(state.active.len());
        drop(state);
        let call = ActiveCall {
            hub: Arc::clone(self),
            record: Some(record),
            store_key,
        };
        (
            call,
            Plan {
                delay,
                fail,
                replay,
            },
        )
    }

    fn push(&self, mut record: CallRecord) {
        record.end_us = now_us();
        let mut state = self.state();
        state.active.remove(&record.seq);
        state.log.push(record);
    }
}

fn matches(fault: &Fault, call: &CallStart) -> bool {
    let want = fault.method.trim();
    if want == "*" {
        return true;
    }
    let short = call.service.rsplit('.').next().unwrap_or(&call.service);
    let verb_path = call.verb.as_ref().map(|v| format!("{v} {}", call.path));
    want == call.service
        || want == short
        || want == call.method
        || want == call.path
        || want == format!("{}/{}", call.service, call.method)
        || want == format!("{short}/{}", call.method)
        || verb_path.as_deref() == Some(want)
}

/// A call in progress. Dropped unfinished (the caller cancelled and the
/// server dropped the handler), it is logged as `cancelled`.
pub struct ActiveCall {
    hub: Arc<Hub>,
    record: Option<CallRecord>,
    store_key: Option<(String, String)>,
}

impl ActiveCall {
    /// Stores the answer for later calls with the same idempotency key.
    pub fn remember(&self, answer: Arc<dyn Any + Send + Sync>) {
        if let Some(key) = &self.store_key {
            self.hub.state().answers.insert(key.clone(), answer);
        }
    }

    pub fn succeed(mut self, response: Value, status: Option<u16>, replayed: bool) {
        if let Some(mut record) = self.record.take() {
            record.ok = true;
            record.outcome = "ok".to_owned();
            record.status = status;
            record.response = Some(response);
            record.replayed = replayed;
            self.hub.push(record);
        }
    }

    /// `outcome` is the gRPC code name or the HTTP status.
    pub fn fail(
        mut self,
        outcome: String,
        status: Option<u16>,
        message: String,
        response: Option<Value>,
        injected: bool,
    ) {
        if let Some(mut record) = self.record.take() {
            record.outcome = outcome;
            record.status = status;
            record.message = Some(message);
            record.response = response;
            record.injected = injected;
            self.hub.push(record);
        }
    }
}

impl Drop for ActiveCall {
    fn drop(&mut self) {
        if let Some(mut record) = self.record.take() {
            record.outcome = "cancelled".to_owned();
            record.message = Some("the caller went away before the answer".to_owned());
            self.hub.push(record);
        }
    }
}
