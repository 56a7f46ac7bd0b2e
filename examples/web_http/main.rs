//! HTTP services: `api_service` and `legacy_service` of the README's first
//! workflow, the user onboarding services (accounts, mailer, storage, crm,
//! billing) and the document pipeline's blob store and search index.

#[path = "../common/mod.rs"]
mod common;
mod documents;
mod onboarding;
mod quickstart;
mod store;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

/// HTTP services of the example workflows (default port 7102).
#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    serve: common::ServeArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let hub = args.serve.hub();
    let app = Arc::new(store::App::new(&hub));
    let router = quickstart::routes(&app)
        .merge(onboarding::routes(&app))
        .merge(documents::routes(&app))
        .fallback(common::http::not_found);
    common::run(&args.serve, 7102, hub, common::Protocol::Http, router).await
}
