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
use tokio::sync::broadcast::error::RecvError;

use crate::runtime::Recorded;
use crate::server::api::{AppState, Shared};
use crate::server::bodies::{ApiError, Failure};

use super::{HEARTBEAT, Published, Subscription};

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
    let mut follower = Follower::new(receiver, query, Some(state.clone()));
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
    Ok(respond(stream))
}

/// The stream as `text/event-stream`, a heartbeat comment in every quiet
/// [`HEARTBEAT`].
fn respond<S>(stream: S) -> Response
where
    S: futures_util::Stream<Item = Result<Event, Infallible>> + Send + 'static,
{
    let keep_alive = KeepAlive::new().interval(HEARTBEAT).text("keep-alive");
    Sse::new(stream).keep_alive(keep_alive).into_response()
}

/// One subscriber's place in the stream.
struct Follower {
    receiver: Subscription,
    /// Events to send before reading more: the run's history, a gap filled.
    queue: VecDeque<Arc<Published>>,
    /// With `run`: the place of the next event of that run to send.
    next: u64,
    query: EventsQuery,
    /// Where a run's history is read; none in unit tests.
    state: Option<Shared>,
}

impl Follower {
    fn new(receiver: Subscription, query: EventsQuery, state: Option<Shared>) -> Self {
        Follower {
            receiver,
            queue: VecDeque::new(),
            next: 0,
            query,
            state,
        }
    }

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
        let (Some(run), Some(state)) = (self.query.run.clone(), self.state.clone()) else {
            return;
        };
        let history = history(&state, &run).await.unwrap_or_default();
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

/// A run's events so far: from memory while this server holds it and has
/// them, else from the journal. `None` for a run known to neither.
async fn history(state: &AppState, run_id: &str) -> Option<Vec<Arc<Published>>> {
    let here = state.runs.get(run_id).filter(|e| state.runs.held_here(e));
    let in_memory = here
        .as_ref()
        .and_then(|e| Some((e.workflow().to_string(), e.events()?)));
    let (workflow, events): (String, Vec<Recorded>) =
        match (in_memory, state.runs.runtime().journal()) {
            (Some(found), _) => found,
            (None, Some(journal)) => {
                let stored = journal.load(run_id).await.ok()??;
                (stored.definition.name, stored.events)
            }
            // Without a journal, an older finished run keeps its report alone.
            (None, None) => (here?.workflow().to_string(), Vec::new()),
        };
    let (run, workflow): (Arc<str>, Arc<str>) = (Arc::from(run_id), Arc::from(workflow));
    let published = events
        .iter()
        .enumerate()
        .map(|(seq, recorded)| Arc::new(Published::new(&run, &workflow, seq as u64, recorded)));
    Some(published.collect())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::runtime::RunEvent;
    use crate::server::events::Hub;

    fn skipped(step: &str) -> Recorded {
        Recorded {
            at: SystemTime::UNIX_EPOCH,
            event: RunEvent::StepSkipped { step: step.into() },
        }
    }

    fn query(run: Option<&str>, workflow: Option<&str>) -> EventsQuery {
        EventsQuery {
            run: run.map(String::from),
            workflow: workflow.map(String::from),
        }
    }

    /// An event as the stream writes it on the wire.
    async fn text(event: Option<Event>) -> String {
        let event = event.expect("an event");
        let once = futures_util::stream::iter([Ok::<_, Infallible>(event)]);
        let body = Sse::new(once).into_response().into_body();
        let bytes = axum::body::to_bytes(body, 1 << 16).await.expect("the body");
        String::from_utf8(bytes.to_vec()).expect("UTF-8")
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_stream_sends_a_heartbeat_comment_every_15_seconds() {
        use tokio_stream::StreamExt;

        let quiet = futures_util::stream::pending::<Result<Event, Infallible>>();
        let mut body = respond(quiet).into_body().into_data_stream();
        let early = tokio::time::timeout(HEARTBEAT - Duration::from_secs(1), body.next()).await;
        assert!(early.is_err(), "nothing before the first heartbeat");
        assert_eq!(HEARTBEAT, Duration::from_secs(15), "as documented");
        for _ in 0..2 {
            let next = tokio::time::timeout(HEARTBEAT + Duration::from_secs(1), body.next());
            let data = next
                .await
                .expect("in time")
                .expect("a heartbeat")
                .expect("no error");
            assert_eq!(&data[..], b": keep-alive\n\n");
        }
    }

    #[tokio::test]
    async fn a_subscriber_that_lags_hears_how_many_it_missed_then_goes_on() {
        let hub = Hub::new(2);
        let mut follower = Follower::new(hub.subscribe(), query(None, None), None);
        for step in ["a", "b", "c", "d", "e"] {
            hub.publish("r1", "w", 0, &skipped(step));
        }
        let lagged = text(follower.next_event().await).await;
        assert_eq!(lagged, "event: lagged\ndata: {\"missed\":3}\n\n");
        let next = text(follower.next_event().await).await;
        assert!(next.starts_with("event: step\ndata: {"), "{next}");
        assert!(next.contains("\"step\":\"d\""), "the oldest kept: {next}");
    }

    #[tokio::test]
    async fn filters_keep_one_workflow_or_one_run_and_skip_what_the_history_sent() {
        let hub = Hub::new(16);
        let mut by_workflow = Follower::new(hub.subscribe(), query(None, Some("w2")), None);
        let mut by_run = Follower::new(hub.subscribe(), query(Some("r1"), None), None);
        // As if its history had sent places 0 and 1.
        by_run.next = 2;
        hub.publish("r1", "w1", 1, &skipped("old"));
        hub.publish("r2", "w2", 0, &skipped("other"));
        hub.publish("r1", "w1", 2, &skipped("new"));
        let first = text(by_workflow.next_event().await).await;
        assert!(first.contains("other"), "{first}");
        let first = text(by_run.next_event().await).await;
        assert!(first.contains("new") && !first.contains("old"), "{first}");
        hub.publish("r1", "w1", 3, &skipped("last"));
        let last = text(by_run.next_event().await).await;
        assert!(last.contains("last"), "{last}");
        assert_eq!(by_run.next, 4, "the place of the next event of the run");
    }
}
