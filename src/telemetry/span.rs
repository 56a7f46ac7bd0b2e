//! A finished span as plain data, with the ids and times its run gives it,
//! handed to the exporter in one piece once it has ended.

use std::borrow::Cow;
use std::time::SystemTime;

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

use super::CallTrace;

/// One span, ended.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRecord {
    pub name: String,
    pub kind: SpanKind,
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// The parent, and whether it lives in another process (the caller).
    pub parent: Option<(SpanId, bool)>,
    pub start: SystemTime,
    pub end: SystemTime,
    pub attributes: Vec<KeyValue>,
    /// The error, for a span that failed.
    pub error: Option<String>,
}

impl SpanRecord {
    pub(super) fn into_data(self, scope: InstrumentationScope) -> SpanData {
        let flags = TraceFlags::SAMPLED;
        let (parent, remote) = self.parent.unwrap_or((SpanId::INVALID, false));
        SpanData {
            span_context: SpanContext::new(
                self.trace_id,
                self.span_id,
                flags,
                false,
                TraceState::default(),
            ),
            parent_span_id: parent,
            parent_span_is_remote: remote,
            span_kind: self.kind,
            name: Cow::Owned(self.name),
            start_time: self.start,
            end_time: self.end.max(self.start),
            attributes: self.attributes,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: match self.error {
                Some(message) => Status::error(message),
                None => Status::Ok,
            },
            instrumentation_scope: scope,
        }
    }
}

/// An attempt's client span, from the moment its request leaves. One
/// dropped before [`ClientSpan::end`] (the call was abandoned: cancelled,
/// or its process gave up on it) is exported as such.
#[derive(Debug)]
pub struct ClientSpan {
    record: Option<SpanRecord>,
}

impl ClientSpan {
    /// Starts now; `attributes` say what is called (method, service).
    pub fn start(call: &CallTrace, name: String, mut attributes: Vec<KeyValue>) -> ClientSpan {
        attributes.push(KeyValue::new("maestro.attempt", i64::from(call.attempt)));
        attributes.push(KeyValue::new(
            "maestro.retry",
            i64::from(call.attempt.saturating_sub(1)),
        ));
        attributes.push(KeyValue::new("maestro.compensation", call.compensation));
        let now = SystemTime::now();
        ClientSpan {
            record: Some(SpanRecord {
                name,
                kind: SpanKind::Client,
                trace_id: call.trace_id,
                span_id: call.span,
                parent: Some((call.parent, false)),
                start: now,
                end: now,
                attributes,
                error: None,
            }),
        }
    }

    /// Ends now, with what the wire said (`http.response.status_code`,
    /// `rpc.grpc.status_code`) and, for a failure, its class and message.
    pub fn end(mut self, status: Option<KeyValue>, error: Option<(&str, &str)>) {
        let Some(mut record) = self.record.take() else {
            return;
        };
        record.end = SystemTime::now();
        record.attributes.extend(status);
        if let Some((class, message)) = error {
            record
                .attributes
                .push(KeyValue::new("maestro.error.class", class.to_owned()));
            record
                .attributes
                .push(KeyValue::new("error.type", class.to_owned()));
            record.error = Some(message.to_owned());
        }
        super::emit(record);
    }
}

impl Drop for ClientSpan {
    fn drop(&mut self) {
        if let Some(mut record) = self.record.take() {
            record.end = SystemTime::now();
            record.error = Some("abandoned before an answer came".into());
            super::emit(record);
        }
    }
}
