//! `GET /v1/schedules`: each schedule of the loaded workflows, with the
//! tick it waits for and the latest one fired.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::workflow::schedule::Cadence;

use super::super::api::Shared;
use super::Scheduled;

/// One schedule of a workflow.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleInfo {
    pub workflow: String,
    /// Its place in the workflow's `schedules`, from 0.
    pub index: u32,
    /// `cron */5 * * * *` or `every 10m`.
    pub expression: String,
    /// The IANA zone a cron expression is read in.
    pub timezone: String,
    /// `skip`, `allow` or `cancel_previous`.
    pub overlap: String,
    pub catch_up: bool,
    /// RFC 3339; null once the expression never matches again.
    pub next_fire: Option<String>,
    /// RFC 3339; the latest tick fired, by this server or (with a shared
    /// journal) another; null before the first.
    pub last_fire: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleList {
    pub schedules: Vec<ScheduleInfo>,
}

impl ScheduleInfo {
    pub fn of(scheduled: &Scheduled) -> Self {
        let s = &scheduled.schedule;
        let rfc3339 = |at| humantime::format_rfc3339_millis(at).to_string();
        ScheduleInfo {
            workflow: scheduled.key.workflow.clone(),
            index: scheduled.key.index,
            expression: s.cadence.to_string(),
            timezone: match s.cadence {
                Cadence::Cron { .. } => s.timezone.name.clone(),
                Cadence::Every(_) => "UTC".into(),
            },
            overlap: s.overlap.label().into(),
            catch_up: s.catch_up,
            next_fire: scheduled.next().map(rfc3339),
            last_fire: scheduled.last().map(rfc3339),
        }
    }
}

/// Every schedule of the workflows this server runs, with its next and last
/// fire time.
#[utoipa::path(get, path = "/v1/schedules", tag = "workflows", responses((status = 200, body = ScheduleList)))]
pub async fn list_schedules(State(state): State<Shared>) -> Json<ScheduleList> {
    let schedules = state
        .schedules
        .iter()
        .map(|s| ScheduleInfo::of(s))
        .collect();
    Json(ScheduleList { schedules })
}
