//! Turning a step or compensation into a concrete request: templates
//! rendered against the run's data, headers merged, keys and budgets set.

use std::sync::Arc;
use std::time::Duration;

use crate::resilience::deadline;
use crate::template::{Scope, TemplateError, ValueTemplate};
use crate::transport::http::path::render_path;
use crate::transport::{CallRequest, CallTarget};
use crate::workflow::{Call, DEFAULT_CALL_TIMEOUT, Header, Service, ServiceKind};

/// The parts of a step or compensation that make a request.
pub struct CallSpec<'a> {
    pub service: &'a Service,
    pub call: &'a Call,
    pub input: &'a ValueTemplate,
    pub headers: &'a [Header],
    /// The step's own timeout, if any.
    pub timeout: Option<Duration>,
}

/// Identity of the operation: the idempotency key is the same for every
/// attempt of it, so a service can recognise a retry.
pub struct CallIdentity<'a> {
    pub run_id: &'a str,
    pub step_id: &'a str,
    pub idempotency_key: String,
}

/// Which part of a request could not be rendered, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{part} could not be rendered: {error}")]
pub struct RenderError {
    /// `path`, `input` or ``header `name` ``.
    pub part: String,
    #[source]
    pub error: TemplateError,
}

fn part(name: &str) -> impl FnOnce(TemplateError) -> RenderError + '_ {
    move |error| RenderError {
        part: name.to_owned(),
        error,
    }
}

pub fn render_request(
    spec: &CallSpec<'_>,
    id: CallIdentity<'_>,
    scope: &Scope,
) -> Result<CallRequest, RenderError> {
    let target = match spec.call {
        Call::Grpc { method } => CallTarget::Grpc {
            method: method.clone(),
        },
        Call::Http { verb, path } => CallTarget::Http {
            verb: verb.clone(),
            path: render_path(path, scope).map_err(part("path"))?,
        },
    };
    let body = spec.input.render(scope).map_err(part("input"))?;
    let service_headers: &[Header] = match &spec.service.kind {
        ServiceKind::Http(http) => &http.headers,
        ServiceKind::Grpc(_) => &[],
    };
    let mut headers = Vec::with_capacity(service_headers.len() + spec.headers.len());
    // A step's header replaces the service's header of the same name.
    for header in service_headers
        .iter()
        .filter(|h| !spec.headers.iter().any(|s| s.name == h.name))
        .chain(spec.headers)
    {
        let value = header.value.render_string(scope);
        let value = value.map_err(|e| part(&format!("header `{}`", header.name))(e))?;
        headers.push((header.name.clone(), value));
    }
    Ok(CallRequest {
        target,
        body: Arc::new(body),
        headers: headers.into(),
        idempotency_key: id.idempotency_key.into(),
        run_id: id.run_id.into(),
        step_id: id.step_id.into(),
        // The run's remaining time is applied per attempt by the attempt loop.
        timeout: deadline::attempt_timeout(
            spec.timeout,
            spec.service.timeout,
            None,
            DEFAULT_CALL_TIMEOUT,
        ),
        // Set per attempt, each attempt being a span of its own.
        trace: None,
    })
}

/// The key of a step's attempts.
pub fn step_key(run_id: &str, step_id: &str) -> String {
    [run_id, ":", step_id].concat()
}

/// The key of a compensation's attempts: distinct from the step's, because
/// undoing is another operation that a service must not deduplicate away.
pub fn compensation_key(run_id: &str, step_id: &str) -> String {
    [run_id, ":", step_id, ":compensate"].concat()
}
