//! The bank loan services of the README's `loan_processing` workflow. Scores
//! and risk come from the applicant's data, so the applicant decides which
//! branch runs: automatic approval, manual review or rejection. A request
//! without an applicant is about a sample applicant who is approved.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tonic::{Request, Response, Status};

use crate::common::calls::Hub;
use crate::common::pb::loan::*;
use crate::common::{grpc, lock, round2};

#[derive(Clone)]
pub struct Loans {
    hub: Arc<Hub>,
    /// loan id -> status (approved, cancelled).
    loans: Arc<Mutex<HashMap<String, &'static str>>>,
}

impl Loans {
    pub fn new(hub: &Arc<Hub>) -> Self {
        Self {
            hub: Arc::clone(hub),
            loans: Arc::default(),
        }
    }
}

/// The applicant of the request, or the sample one.
fn applicant(given: Option<Applicant>) -> Applicant {
    given
        .filter(|a| *a != Applicant::default())
        .unwrap_or_else(|| Applicant {
            applicant_id: "app_sample".to_owned(),
            full_name: "Ada Lovelace".to_owned(),
            email: "ada@example.com".to_owned(),
            date_of_birth: "1985-12-10".to_owned(),
            national_id: "123-45-6789".to_owned(),
            employer: "Analytical Engines Ltd".to_owned(),
            years_employed: 6,
            annual_income_cents: 9_600_000,
            monthly_debt_cents: 120_000,
            late_payments: 0,
            requested_amount_cents: 2_500_000,
            term_months: 36,
        })
}

fn debt_to_income(a: &Applicant) -> f64 {
    if a.annual_income_cents <= 0 {
        return 1.0;
    }
    (a.monthly_debt_cents.max(0) as f64 * 12.0) / a.annual_income_cents as f64
}

/// 300..850. The sample applicant scores 782; income 50k with 1.5k monthly
/// debt and 3 years employed scores 636; 3 late payments cost 135.
fn credit_score(a: &Applicant) -> i32 {
    let dti = debt_to_income(a);
    let mut score = 580 + 12 * a.years_employed.min(10) as i32 - 45 * a.late_payments as i32;
    score += match dti {
        d if d < 0.2 => 90,
        d if d < 0.35 => 50,
        d if d < 0.5 => 0,
        _ => -80,
    };
    score += match a.annual_income_cents {
        i if i >= 8_000_000 => 40,
        i if i >= 4_000_000 => 20,
        _ => 0,
    };
    score.clamp(300, 850)
}

/// (level, score, signals): 60 and more is high, 30 and more medium.
fn risk(a: &Applicant) -> (&'static str, u32, Vec<String>) {
    let mut score = 0;
    let mut signals = Vec::new();
    let mut flag = |points: u32, signal: &str| {
        score += points;
        signals.push(signal.to_owned());
    };
    if a.requested_amount_cents > 2 * a.annual_income_cents.max(0) {
        flag(35, "amount_over_twice_income");
    }
    let domain = a.email.rsplit('@').next().unwrap_or_default();
    if ["mailinator.com", "tempmail.dev", "example.invalid"].contains(&domain) {
        flag(40, "disposable_email");
    }
    if a.years_employed == 0 {
        flag(15, "no_employment_history");
    }
    if a.national_id.is_empty() {
        flag(25, "missing_national_id");
    }
    if a.full_name.chars().any(|c| c.is_ascii_digit()) {
        flag(30, "name_contains_digits");
    }
    let level = match score {
        s if s >= 60 => "high",
        s if s >= 30 => "medium",
        _ => "low",
    };
    (level, score, signals)
}

fn current_year() -> i32 {
    let days = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400);
    1970 + (days as f64 / 365.2425) as i32
}

fn monthly_payment(amount_cents: i64, yearly_rate: f64, months: u32) -> i64 {
    let r = yearly_rate / 100.0 / 12.0;
    let n = f64::from(months.max(1));
    (amount_cents as f64 * r / (1.0 - (1.0 + r).powf(-n))).round() as i64
}

#[tonic::async_trait]
impl kyc_service_server::KycService for Loans {
    async fn verify_identity(
        &self,
        request: Request<VerifyIdentityRequest>,
    ) -> Result<Response<IdentityResult>, Status> {
        let name = kyc_service_server::SERVICE_NAME;
        grpc::unary(&self.hub, name, "VerifyIdentity", request, |r| {
            let a = applicant(r.applicant);
            let digits = a.national_id.chars().filter(char::is_ascii_digit).count();
            if !a.national_id.is_empty() && digits != 9 {
                return Err(Status::failed_precondition(format!(
                    "national id `{}` does not have 9 digits",
                    a.national_id
                )));
            }
            let age = a
                .date_of_birth
                .get(..4)
                .and_then(|y| y.parse::<i32>().ok())
                .map_or(0, |year| current_year() - year);
            if a.date_of_birth.is_empty() || age < 18 {
                return Err(Status::failed_precondition(format!(
                    "applicant must be an adult (date of birth `{}`)",
                    a.date_of_birth
                )));
            }
            Ok(IdentityResult {
                verified: !a.national_id.is_empty(),
                applicant_id: a.applicant_id,
                check_id: self.hub.next_id("kyc"),
                age,
            })
        })
        .await
    }
}

#[tonic::async_trait]
impl credit_bureau_server::CreditBureau for Loans {
    async fn get_credit_score(
        &self,
        request: Request<CreditScoreRequest>,
    ) -> Result<Response<CreditScore>, Status> {
        let name = credit_bureau_server::SERVICE_NAME;
        grpc::unary(&self.hub, name, "GetCreditScore", request, |r| {
            let a = applicant(r.applicant);
            let value = credit_score(&a);
            let band = match value {
                v if v < 580 => "poor",
                v if v < 670 => "fair",
                v if v < 740 => "good",
                _ => "excellent",
            };
            Ok(CreditScore {
                value,
                band: band.to_owned(),
                debt_to_income: round2(debt_to_income(&a)),
                report_id: self.hub.next_id("report"),
            })
        })
        .await
    }
}

#[tonic::async_trait]
impl employer_api_server::EmployerApi for Loans {
    async fn verify_income(
        &self,
        request: Request<VerifyIncomeRequest>,
    ) -> Result<Response<IncomeVerification>, Status> {
        let name = employer_api_server::SERVICE_NAME;
        grpc::unary(&self.hub, name, "VerifyIncome", request, |r| {
            let a = applicant(r.applicant);
            let status = if a.employer.is_empty() && a.years_employed == 0 {
                EmploymentStatus::Unemployed
            } else if a.employer.to_lowercase().contains("self") {
                EmploymentStatus::SelfEmployed
            } else {
                EmploymentStatus::Employed
            };
            Ok(IncomeVerification {
                verified: status != EmploymentStatus::Unemployed,
                employer: a.employer,
                status: status as i32,
                annual_income_cents: a.annual_income_cents,
            })
        })
        .await
    }
}

#[tonic::async_trait]
impl fraud_detection_server::FraudDetection for Loans {
    async fn analyze_risk(
        &self,
        request: Request<AnalyzeRiskRequest>,
    ) -> Result<Response<RiskAssessment>, Status> {
        let name = fraud_detection_server::SERVICE_NAME;
        grpc::unary(&self.hub, name, "AnalyzeRisk", request, |r| {
            let (level, score, signals) = risk(&applicant(r.applicant));
            Ok(RiskAssessment {
                level: level.to_owned(),
                score,
                signals,
            })
        })
        .await
    }
}

#[tonic::async_trait]
impl loan_service_server::LoanService for Loans {
    async fn auto_approve(
        &self,
        request: Request<AutoApproveRequest>,
    ) -> Result<Response<Approval>, Status> {
        let name = loan_service_server::SERVICE_NAME;
        grpc::unary(&self.hub, name, "AutoApprove", request, |r| {
            let a = applicant(r.applicant);
            let score = if r.credit_score > 0 {
                r.credit_score
            } else {
                credit_score(&a)
            };
            let level = if r.risk_level.is_empty() {
                risk(&a).0.to_owned()
            } else {
                r.risk_level
            };
            if score <= 700 || level != "low" {
                return Err(Status::failed_precondition(format!(
                    "not eligible for automatic approval (score {score}, risk {level})"
                )));
            }
            let rate = round2(4.5 + f64::from(850 - score) / 50.0 * 0.75);
            let amount = if a.requested_amount_cents > 0 {
                a.requested_amount_cents
            } else {
                2_500_000
            };
            let months = if a.term_months > 0 { a.term_months } else { 36 };
            let loan_id = self.hub.next_id("loan");
            lock(&self.loans).insert(loan_id.clone(), "approved");
            Ok(Approval {
                loan_id,
                status: "approved".to_owned(),
                terms: Some(LoanTerms {
                    amount_cents: amount,
                    term_months: months,
                    monthly_payment_cents: monthly_payment(amount, rate, months),
                    currency: "USD".to_owned(),
                }),
                interest_rate: rate,
            })
        })
        .await
    }

    async fn cancel_approval(
        &self,
        request: Request<CancelApprovalRequest>,
    ) -> Result<Response<CancelApprovalResponse>, Status> {
        let name = loan_service_server::SERVICE_NAME;
        grpc::unary(&self.hub, name, "CancelApproval", request, |r| {
            let mut loans = lock(&self.loans);
            let Some(status) = loans.get_mut(&r.loan_id) else {
                return Err(Status::not_found(format!("no loan `{}`", r.loan_id)));
            };
            *status = "cancelled";
            Ok(CancelApprovalResponse {
                loan_id: r.loan_id,
                status: "cancelled".to_owned(),
            })
        })
        .await
    }

    async fn reject_application(
        &self,
        request: Request<RejectApplicationRequest>,
    ) -> Result<Response<Rejection>, Status> {
        let name = loan_service_server::SERVICE_NAME;
        grpc::unary(&self.hub, name, "RejectApplication", request, |r| {
            let score = if r.credit_score > 0 {
                r.credit_score
            } else {
                credit_score(&applicant(r.applicant))
            };
            let reason = if r.reason.is_empty() {
                format!("credit score {score} is below the minimum of 601")
            } else {
                r.reason
            };
            Ok(Rejection {
                rejection_id: self.hub.next_id("rejection"),
                status: "rejected".to_owned(),
                reason,
            })
        })
        .await
    }
}

#[tonic::async_trait]
impl review_queue_server::ReviewQueue for Loans {
    async fn create_review_task(
        &self,
        request: Request<CreateReviewTaskRequest>,
    ) -> Result<Response<ReviewTask>, Status> {
        let name = review_queue_server::SERVICE_NAME;
        grpc::unary(&self.hub, name, "CreateReviewTask", request, |r| {
            let (priority, sla_hours) = match r.priority.as_str() {
                "urgent" => ("urgent", 4),
                "" | "normal" => ("normal", 48),
                other => {
                    return Err(Status::invalid_argument(format!(
                        "priority `{other}` is neither urgent nor normal"
                    )));
                }
            };
            Ok(ReviewTask {
                task_id: self.hub.next_id("review"),
                priority: priority.to_owned(),
                queue: "underwriting".to_owned(),
                sla_hours,
            })
        })
        .await
    }
}

#[tonic::async_trait]
impl document_service_server::DocumentService for Loans {
    async fn generate_contract(
        &self,
        request: Request<GenerateContractRequest>,
    ) -> Result<Response<Contract>, Status> {
        let name = document_service_server::SERVICE_NAME;
        grpc::unary(&self.hub, name, "GenerateContract", request, |r| {
            let terms = r.terms.unwrap_or_default();
            if terms.amount_cents <= 0 || terms.term_months == 0 {
                return Err(Status::invalid_argument(
                    "`terms` needs a positive amount_cents and term_months",
                ));
            }
            if r.rate <= 0.0 {
                return Err(Status::invalid_argument("`rate` must be positive"));
            }
            let contract_id = self.hub.next_id("contract");
            Ok(Contract {
                document_url: format!("https://documents.example.com/contracts/{contract_id}.pdf"),
                contract_id,
                status: "generated".to_owned(),
                pages: 4 + terms.term_months / 12,
            })
        })
        .await
    }
}
