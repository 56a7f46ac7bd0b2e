//! gRPC services of the README's two workflows: `fast_service` and
//! `ml_service` of `my_workflow`, and the bank loan services of
//! `loan_processing`. Serves reflection (v1 and v1alpha unless told).

#[path = "../common/mod.rs"]
mod common;
mod loan;
mod quickstart;

use std::process::ExitCode;

use clap::Parser;

use common::grpc::{Reflection, Services};
use common::pb::loan::{
    credit_bureau_server::CreditBureauServer, document_service_server::DocumentServiceServer,
    employer_api_server::EmployerApiServer, fraud_detection_server::FraudDetectionServer,
    kyc_service_server::KycServiceServer, loan_service_server::LoanServiceServer,
    review_queue_server::ReviewQueueServer,
};
use common::pb::quickstart::{
    fast_service_server::FastServiceServer, ml_service_server::MlServiceServer,
};

/// gRPC services of the quick-start and loan workflows (default port 7101).
#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    serve: common::ServeArgs,
    /// Reflection protocols to serve
    #[arg(long, value_enum, default_value = "both")]
    reflection: Reflection,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let hub = args.serve.hub();
    let quickstart = quickstart::Quickstart::new(&hub);
    let loans = loan::Loans::new(&hub);
    let services = Services::new()
        .add(FastServiceServer::new(quickstart.clone()))
        .add(MlServiceServer::new(quickstart))
        .add(KycServiceServer::new(loans.clone()))
        .add(CreditBureauServer::new(loans.clone()))
        .add(EmployerApiServer::new(loans.clone()))
        .add(FraudDetectionServer::new(loans.clone()))
        .add(LoanServiceServer::new(loans.clone()))
        .add(ReviewQueueServer::new(loans.clone()))
        .add(DocumentServiceServer::new(loans));
    let router = match services.into_router(args.reflection) {
        Ok(router) => router,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    common::run(&args.serve, 7101, hub, common::Protocol::Grpc, router).await
}
