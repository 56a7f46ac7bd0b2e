//! The console at `/` and the API reference at `/docs`: pages built into the
//! binary whose scripts read the API with the token given once. A page holds
//! no data (opening one cannot carry a bearer token), so it needs none.

mod assets;
mod page;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::graph;

use super::api::Shared;
use super::bodies::{ApiError, Failure};
use page::Page;

/// What a console page may load: this server's own files and API only.
/// Styles allow inline for the docs viewer, which sets them from script.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The console's routes, outside the API document.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/", get(|| async { html(Page::Runs) }))
        .route("/runs/{id}", get(run_page))
        .route("/workflows", get(|| async { html(Page::Workflows) }))
        .route("/services", get(|| async { html(Page::Services) }))
        .route("/docs", get(|| async { html(Page::Docs) }))
        .route("/console/{file}", get(asset))
}

/// Paths a browser opens without the token: pages and their files, which
/// hold no data. The Host rule applies to them all the same.
pub fn is_public(path: &str) -> bool {
    matches!(path, "/" | "/workflows" | "/services" | "/docs")
        || path.starts_with("/console/")
        || path
            .strip_prefix("/runs/")
            .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

async fn run_page(id: Result<Path<String>, PathRejection>) -> Result<Response, Failure> {
    let Path(id) = id?;
    Ok(html(Page::Run(&id)))
}

fn html(page: Page) -> Response {
    let mut response = page::render(page).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    protect(response)
}

fn protect(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

async fn asset(file: Result<Path<String>, PathRejection>) -> Result<Response, Failure> {
    let Path(file) = file?;
    let Some((kind, bytes)) = assets::file(&file) else {
        return Err(Failure::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such console file",
        ));
    };
    let response = ([(header::CONTENT_TYPE, kind)], bytes).into_response();
    Ok(protect(response))
}

/// A workflow's graph as SVG, laid out by the server: a `<g data-step>`
/// per step, for a page to colour by outcome.
#[utoipa::path(
    get,
    path = "/v1/workflows/{name}/graph.svg",
    tag = "workflows",
    params(("name" = String, Path, description = "Workflow name")),
    responses(
        (status = 200, description = "SVG image", content_type = "image/svg+xml", body = String),
        (status = 400, description = "Malformed name", body = ApiError),
        (status = 404, description = "Unknown workflow", body = ApiError),
    )
)]
pub async fn workflow_graph(
    State(state): State<Shared>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, Failure> {
    let Path(name) = name?;
    let Some(workflow) = state.workflows.get(&name) else {
        return Err(super::api::unknown_workflow(&state, &name));
    };
    let svg = graph::svg(&workflow.bound.workflow);
    let response = ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response();
    Ok(protect(response))
}
