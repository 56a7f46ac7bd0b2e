//! Text extraction, classification and redaction. The "scan" is the text
//! itself; what the services derive from it is deterministic, so a document
//! decides whether the pipeline's redaction step runs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tonic::{Request, Response, Status};

use super::pii;
use crate::common::calls::Hub;
use crate::common::pb::documents::classifier_server::{self, Classifier};
use crate::common::pb::documents::ocr_service_server::{self, OcrService};
use crate::common::pb::documents::redactor_server::{self, Redactor};
use crate::common::pb::documents::{
    Classification, ClassifyRequest, DeleteRedactionRequest, DeleteRedactionResult, DocumentClass,
    ExtractTextRequest, ExtractedText, RedactRequest, Redaction,
};
use crate::common::{grpc, lock, round2};

/// Characters per page when the text has no form feeds.
const PAGE_CHARS: usize = 1800;

/// Class, words that suggest it, sensitivity.
const CLASSES: [(DocumentClass, &[&str], &str); 4] = [
    (
        DocumentClass::Invoice,
        &["invoice", "amount", "due", "total", "vat", "payable"],
        "internal",
    ),
    (
        DocumentClass::Contract,
        &["agreement", "party", "parties", "hereby", "terms", "signed"],
        "internal",
    ),
    (
        DocumentClass::MedicalRecord,
        &[
            "patient",
            "diagnosis",
            "prescribed",
            "clinic",
            "symptoms",
            "dosage",
        ],
        "restricted",
    ),
    (
        DocumentClass::Resume,
        &[
            "experience",
            "education",
            "skills",
            "curriculum",
            "references",
        ],
        "internal",
    ),
];

#[derive(Clone)]
pub struct Documents {
    hub: Arc<Hub>,
    /// redaction id -> deleted?
    redactions: Arc<Mutex<HashMap<String, bool>>>,
}

impl Documents {
    pub fn new(hub: &Arc<Hub>) -> Self {
        Self {
            hub: Arc::clone(hub),
            redactions: Arc::default(),
        }
    }
}

fn extract(request: ExtractTextRequest) -> Result<ExtractedText, Status> {
    let words = request.content.split_whitespace().count();
    if words == 0 {
        return Err(Status::invalid_argument(format!(
            "blob `{}` has no readable text",
            request.blob_id
        )));
    }
    let pages = if request.content.contains('\u{c}') {
        request.content.matches('\u{c}').count() + 1
    } else {
        request.content.chars().count().div_ceil(PAGE_CHARS)
    };
    let text: Vec<String> = request
        .content
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let text = text.join("\n").trim().to_owned();
    let unusual = text
        .chars()
        .filter(|c| !c.is_alphanumeric() && !c.is_whitespace() && !c.is_ascii_punctuation())
        .count();
    let pii_kinds = pii::kinds(&text);
    Ok(ExtractedText {
        blob_id: request.blob_id,
        pages: pages as u32,
        words: words as u32,
        confidence: round2((0.97 - unusual as f64 / text.len() as f64).clamp(0.3, 0.99)),
        pii_found: !pii_kinds.is_empty(),
        pii_kinds,
        language: if request.language.is_empty() {
            "en".to_owned()
        } else {
            request.language
        },
        text,
    })
}

fn classify(request: ClassifyRequest) -> Result<Classification, Status> {
    let text = format!("{} {}", request.filename, request.content).to_lowercase();
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        return Err(Status::invalid_argument("nothing to classify"));
    }
    let best = CLASSES
        .iter()
        .map(|(class, hints, sensitivity)| {
            let hits = words.iter().filter(|w| hints.contains(w)).count();
            (hits, *class, *sensitivity)
        })
        .max_by_key(|(hits, _, _)| *hits)
        .filter(|(hits, _, _)| *hits > 0);
    let (label, confidence, sensitivity) = match best {
        Some((hits, class, sensitivity)) => {
            (class, (0.5 + 0.1 * hits as f64).min(0.98), sensitivity)
        }
        None => (DocumentClass::Other, 0.4, "public"),
    };
    Ok(Classification {
        label: label as i32,
        confidence: round2(confidence),
        sensitivity: sensitivity.to_owned(),
    })
}

#[tonic::async_trait]
impl OcrService for Documents {
    async fn extract_text(
        &self,
        request: Request<ExtractTextRequest>,
    ) -> Result<Response<ExtractedText>, Status> {
        let name = ocr_service_server::SERVICE_NAME;
        grpc::unary(&self.hub, name, "ExtractText", request, extract).await
    }
}

#[tonic::async_trait]
impl Classifier for Documents {
    async fn classify(
        &self,
        request: Request<ClassifyRequest>,
    ) -> Result<Response<Classification>, Status> {
        let name = classifier_server::SERVICE_NAME;
        grpc::unary(&self.hub, name, "Classify", request, classify).await
    }
}

#[tonic::async_trait]
impl Redactor for Documents {
    async fn redact(&self, request: Request<RedactRequest>) -> Result<Response<Redaction>, Status> {
        let name = redactor_server::SERVICE_NAME;
        grpc::unary(&self.hub, name, "Redact", request, |r| {
            if r.text.trim().is_empty() {
                return Err(Status::invalid_argument("nothing to redact"));
            }
            let (text, redactions) = pii::redact(&r.text, &r.kinds);
            let redaction_id = self.hub.next_id("red");
            lock(&self.redactions).insert(redaction_id.clone(), false);
            Ok(Redaction {
                redaction_id,
                text,
                redactions,
            })
        })
        .await
    }

    async fn delete_redaction(
        &self,
        request: Request<DeleteRedactionRequest>,
    ) -> Result<Response<DeleteRedactionResult>, Status> {
        let name = redactor_server::SERVICE_NAME;
        grpc::unary(&self.hub, name, "DeleteRedaction", request, |r| {
            let mut redactions = lock(&self.redactions);
            let Some(deleted) = redactions.get_mut(&r.redaction_id) else {
                return Err(Status::not_found(format!(
                    "no redaction `{}`",
                    r.redaction_id
                )));
            };
            *deleted = true;
            Ok(DeleteRedactionResult {
                redaction_id: r.redaction_id,
                status: "deleted".to_owned(),
            })
        })
        .await
    }
}
