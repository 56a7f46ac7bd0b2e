//! `GET /v1/events`: one subscriber's stream. With `run`, the run's events
//! so far come first, then its new ones, none twice and none missing (a gap
//! in its places is filled from its log); heartbeats keep it open.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::runtime::Recorded;
use crate::server::api::{AppState, Shared};
use crate::server::bodies::{ApiError, Failure};

use super::{HEARTBEAT, Published};

/// Which events a subscriber wants.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only this run's events; its events so far are sent first.
    pub run: Option<String>,
    /// Only events of runs of this workflow.
    pub workflow: Option<String>,
}

/// Run and step events as they happen, as Server-Sent Events: `event: run`
/// or `event: step` with the event as JSON in `data` (`run_id`, `workflow`,
/// `seq` (its place in the run), `at`, `event` and its fields), `event:
/// lagged` with `{"missed": N}` when this client fell more than 1024 events
/// behind, and a `: keep-alive` comment every 15 s.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "runs",
    params(EventsQuery),
    responses(
        (status = 200, description = "A stream of events (`text/event-stream`), open until the client or the server closes it", content_type = "text/event-stream", body = String),
        (status = 400, description = "Malformed query", body = ApiError),
        (status = 404, description = "`run` names no run known here or in the journal", body = ApiError),
    )
)]
pub async fn events(
    State(state): State<Shared>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Response, Failure> {
    let Query(query) = query?;
    // Subscribed before the history is read: nothing falls between them.
    let receiver = state.events.subscribe();
    let mut follower = Follower {
        receiver,
        queue: VecDeque::new(),
        next: 0,
        query,
        state: state.clone(),
    };
    if let Some(run) = follower.query.run.clone() {
        let Some(history) = history(&state, &run).await else {
            return Err(Failure::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no run `{run}` (finished runs are kept for a while, then evicted)"),
            ));
        };
        follower.next = history.len() as u64;
        follower.queue.extend(history);
    }
    let closed = state.events.closed().clone();
    let stream = futures_util::stream::unfold(follower, move |mut follower| {
        let closed = closed.clone();
        async move {
            tokio::select! {
                biased;
                () = closed.cancelled() => None,
                event = follower.next_event() => event.map(|e| (Ok::<_, Infallible>(e), follower)),
            }
        }
    });
    let keep_alive = KeepAlive::new().interval(HEARTBEAT).text("keep-alive");
    Ok(Sse::new(stream).keep_alive(keep_alive).into_response())
}

/// One subscriber's place in the stream.
struct Follower {
    receiver: broadcast::Receiver<Arc<Published>>,
    /// Events to send before reading more: the run's history, a gap filled.
    queue: VecDeque<Arc<Published>>,
    /// With `run`: the place of the next event of that run to send.
    next: u64,
    query: super::EventsQuery,
    state: Shared,
}

impl Follower {
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(published) = self.queue.pop_front() {
                return Some(event_of(&published));
            }
            let published = match self.receiver.recv().await {
                Ok(published) => published,
                Err(RecvError::Lagged(missed)) => {
                    let data = format!("{{\"missed\":{missed}}}");
                    return Some(Event::default().event("lagged").data(data));
                }
                Err(RecvError::Closed) => return None,
            };
            if !self.wanted(&published) {
                continue;
            }
            if self.query.run.is_some() {
                if published.seq < self.next {
                    continue;
                }
                if published.seq > self.next {
                    self.fill(published.seq).await;
                }
                self.next = published.seq + 1;
            }
            self.queue.push_back(published);
        }
    }

    fn wanted(&self, published: &Published) -> bool {
        let run = self.query.run.as_deref();
        let workflow = self.query.workflow.as_deref();
        run.is_none_or(|r| *published.run_id == *r)
            && workflow.is_none_or(|w| *published.workflow == *w)
    }

    /// Queue the run's events from `next` up to `until` from its log: missed
    /// while lagging, or published before this stream subscribed.
    async fn fill(&mut self, until: u64) {
        let Some(run) = self.query.run.clone() else {
            return;
        };
        let history = history(&self.state, &run).await.unwrap_or_default();
        let missing = history
            .into_iter()
            .filter(|p| p.seq >= self.next && p.seq < until);
        self.queue.extend(missing);
    }
}

fn event_of(published: &Published) -> Event {
    Event::default()
        .event(published.kind.name())
        .data(published.json.as_str())
}

/// A run's events so far: from memory while this server holds it, else
/// from the journal. `None` for a run known to neither.
async fn history(state: &AppState, run_id: &str) -> Option<Vec<Arc<Published>>> {
    let (workflow, events): (String, Vec<Recorded>) = match state.runs.get(run_id) {
        Some(entry) if state.runs.held_here(&entry) => {
            (entry.workflow().to_string(), entry.events())
        }
        _ => {
            let journal = state.runs.runtime().journal()?;
            let stored = journal.load(run_id).await.ok()??;
            (stored.definition.name, stored.events)
        }
    };
    let (run, workflow): (Arc<str>, Arc<str>) = (Arc::from(run_id), Arc::from(workflow));
    let published = events
        .iter()
        .enumerate()
        .map(|(seq, recorded)| Arc::new(Published::new(&run, &workflow, seq as u64, recorded)));
    Some(published.collect())
}
