//! gRPC services of the document pipeline: text extraction with personal
//! data detection, classification, and redaction. `make demo` starts it with
//! `--reflection v1alpha`, as a server that only knows the older protocol.

#[path = "../common/mod.rs"]
mod common;
mod pii;
mod services;

use std::process::ExitCode;

use clap::Parser;

use common::grpc::{Reflection, Services};
use common::pb::documents::{
    classifier_server::ClassifierServer, ocr_service_server::OcrServiceServer,
    redactor_server::RedactorServer,
};

/// gRPC services of the document pipeline (default port 7104).
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
    let documents = services::Documents::new(&hub);
    let services = Services::new()
        .add(OcrServiceServer::new(documents.clone()))
        .add(ClassifierServer::new(documents.clone()))
        .add(RedactorServer::new(documents));
    let router = match services.into_router(args.reflection) {
        Ok(router) => router,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    common::run(&args.serve, 7104, hub, common::Protocol::Grpc, router).await
}
