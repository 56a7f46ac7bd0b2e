//! `fast_service` and `ml_service` of the README's first workflow: a text
//! normaliser and a scorer whose confidence drops on hedging words, so the
//! payload decides whether the workflow's `when` lets the submit step run.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::common::calls::Hub;
use crate::common::pb::quickstart::{
    AnalyzeRequest, AnalyzeResponse, Priority, ProcessRequest, ProcessResponse,
    fast_service_server::{self, FastService},
    ml_service_server::{self, MlService},
};
use crate::common::{fingerprint, grpc, round2};

const HEDGES: [&str; 8] = [
    "maybe",
    "perhaps",
    "unsure",
    "uncertain",
    "possibly",
    "might",
    "unclear",
    "guess",
];
const POSITIVE: [&str; 8] = [
    "good",
    "great",
    "grew",
    "growth",
    "strong",
    "strongly",
    "excellent",
    "improved",
];
const NEGATIVE: [&str; 8] = [
    "bad", "poor", "fell", "decline", "weak", "loss", "failed", "worse",
];

#[derive(Clone)]
pub struct Quickstart {
    hub: Arc<Hub>,
}

impl Quickstart {
    pub fn new(hub: &Arc<Hub>) -> Self {
        Self {
            hub: Arc::clone(hub),
        }
    }
}

#[tonic::async_trait]
impl FastService for Quickstart {
    async fn process(
        &self,
        request: Request<ProcessRequest>,
    ) -> Result<Response<ProcessResponse>, Status> {
        grpc::unary(
            &self.hub,
            fast_service_server::SERVICE_NAME,
            "Process",
            request,
            process,
        )
        .await
    }
}

#[tonic::async_trait]
impl MlService for Quickstart {
    async fn analyze(
        &self,
        request: Request<AnalyzeRequest>,
    ) -> Result<Response<AnalyzeResponse>, Status> {
        grpc::unary(
            &self.hub,
            ml_service_server::SERVICE_NAME,
            "Analyze",
            request,
            analyze,
        )
        .await
    }
}

fn process(request: ProcessRequest) -> Result<ProcessResponse, Status> {
    let words: Vec<&str> = request.data.split_whitespace().collect();
    if words.is_empty() {
        return Err(Status::invalid_argument("`data` is empty"));
    }
    let result = words.join(" ");
    let priority = if request.priority == Priority::Unspecified as i32 {
        Priority::Normal as i32
    } else {
        request.priority
    };
    Ok(ProcessResponse {
        id: format!("proc_{:016x}", fingerprint(result.as_bytes())),
        words: words.len() as u32,
        result,
        sequence: request.sequence,
        priority,
    })
}

fn analyze(request: AnalyzeRequest) -> Result<AnalyzeResponse, Status> {
    let words: Vec<String> = request
        .content
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    if words.is_empty() {
        return Err(Status::invalid_argument("`content` has no words"));
    }
    let count = |list: &[&str]| words.iter().filter(|w| list.contains(&w.as_str())).count();
    let hedges = count(&HEDGES) + request.content.matches('?').count();
    let mut confidence = 0.92 - 0.25 * hedges as f64;
    if words.len() < 3 {
        confidence -= 0.2;
    }
    let (positive, negative) = (count(&POSITIVE), count(&NEGATIVE));
    let label = match positive.cmp(&negative) {
        std::cmp::Ordering::Greater => "positive",
        std::cmp::Ordering::Less => "negative",
        std::cmp::Ordering::Equal => "neutral",
    };
    let mut keywords: Vec<String> = Vec::new();
    for word in &words {
        if word.len() > 4 && !keywords.contains(word) && keywords.len() < 5 {
            keywords.push(word.clone());
        }
    }
    Ok(AnalyzeResponse {
        confidence: round2(confidence.clamp(0.05, 0.99)),
        label: label.to_owned(),
        model: if request.model.is_empty() {
            "sentiment-v2".to_owned()
        } else {
            request.model
        },
        keywords,
    })
}
