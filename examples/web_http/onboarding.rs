//! The user onboarding services: accounts, a mailer, storage buckets, a CRM
//! and billing. Everything they create can be deleted again, which is what
//! the onboarding workflow's compensations do.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;

use super::store::{App, bad_request, created, deleter, ok, parse, valid_email, with_app};
use crate::common::http::{self, ApiError, ApiResult};
use crate::common::{calls::now_us, fingerprint};

const PLANS: [&str; 3] = ["free", "pro", "premium"];
const TEMPLATES: [&str; 3] = ["welcome", "premium_welcome", "password_reset"];
const SALES_REPS: [&str; 4] = ["maria.lopez", "jon.berg", "aiko.tanaka", "femi.adeyemi"];

pub fn routes(app: &Arc<App>) -> Router {
    let service =
        |name, routes: Router<Arc<App>>| http::service(&app.hub, name, with_app(routes, app));
    service(
        "accounts",
        Router::new()
            .route("/accounts", post(create_account))
            .route("/accounts/{id}", deleter("acc", "account_id"))
            .route("/accounts/{id}/activate", post(activate_account)),
    )
    .merge(service(
        "mailer",
        Router::new().route("/emails", post(send_email)),
    ))
    .merge(service(
        "storage",
        Router::new()
            .route("/storage/buckets", post(create_bucket))
            .route("/storage/buckets/{id}", deleter("bkt", "bucket_id")),
    ))
    .merge(service(
        "crm",
        Router::new()
            .route(
                "/crm/contacts",
                post(create_contact).delete(delete_account_contacts),
            )
            .route("/crm/contacts/{id}", deleter("ct", "contact_id")),
    ))
    .merge(service(
        "billing",
        Router::new()
            .route("/billing/subscriptions", post(create_subscription))
            .route(
                "/billing/subscriptions/{id}",
                deleter("sub", "subscription_id"),
            ),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NewAccount {
    email: String,
    name: String,
    plan: String,
}

async fn create_account(State(app): State<Arc<App>>, body: Bytes) -> ApiResult {
    let account: NewAccount = parse(&body)?;
    if !valid_email(&account.email) {
        return Err(bad_request(format!(
            "`{}` is not an e-mail address",
            account.email
        )));
    }
    let plan = if account.plan.is_empty() {
        "free"
    } else {
        account.plan.as_str()
    };
    if !PLANS.contains(&plan) {
        return Err(bad_request(format!(
            "unknown plan `{plan}` (free, pro, premium)"
        )));
    }
    created(app.create(
        "acc",
        "account_id",
        json!({
            "email": account.email,
            "name": account.name,
            "plan": plan,
            "status": "pending",
            "created_at_us": now_us(),
        }),
    ))
}

async fn activate_account(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult {
    let Some(account) = app.get("acc", &id) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no account `{id}`"),
        ));
    };
    if account["status"] == "deleted" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("account `{id}` was deleted"),
        ));
    }
    ok(app.set_status("acc", &id, "active").unwrap_or(account))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Email {
    to: String,
    template: String,
    account_id: String,
    locale: String,
}

async fn send_email(State(app): State<Arc<App>>, body: Bytes) -> ApiResult {
    let email: Email = parse(&body)?;
    if !valid_email(&email.to) {
        return Err(bad_request(format!(
            "`{}` is not an e-mail address",
            email.to
        )));
    }
    if !TEMPLATES.contains(&email.template.as_str()) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("no template `{}`", email.template),
        ));
    }
    let message = app.create(
        "msg",
        "message_id",
        json!({
            "status": "queued",
            "to": email.to,
            "template": email.template,
            "account_id": email.account_id,
            "locale": if email.locale.is_empty() { "en".to_owned() } else { email.locale },
        }),
    );
    Ok((StatusCode::ACCEPTED, axum::Json(message)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NewBucket {
    account_id: String,
    quota_gb: Option<u32>,
    region: String,
}

async fn create_bucket(State(app): State<Arc<App>>, body: Bytes) -> ApiResult {
    let bucket: NewBucket = parse(&body)?;
    if bucket.account_id.is_empty() {
        return Err(bad_request("`account_id` is required"));
    }
    let quota = bucket.quota_gb.unwrap_or(50);
    if !(1..=5000).contains(&quota) {
        return Err(bad_request(format!(
            "quota of {quota} GB is outside 1..=5000"
        )));
    }
    let region = if bucket.region.is_empty() {
        "eu-west-1".to_owned()
    } else {
        bucket.region
    };
    let mut record = app.create(
        "bkt",
        "bucket_id",
        json!({ "account_id": bucket.account_id, "quota_gb": quota, "region": region, "status": "ready" }),
    );
    record["url"] = json!(format!(
        "s3://user-data-{}/{}",
        region,
        record["bucket_id"].as_str().unwrap_or_default()
    ));
    created(record)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NewContact {
    account_id: String,
    email: String,
    name: String,
    plan: String,
    source: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AccountQuery {
    account_id: String,
}

/// `DELETE /crm/contacts?account_id=...`: removes whatever contacts the
/// account has, none included, so it can undo a create that timed out.
async fn delete_account_contacts(
    State(app): State<Arc<App>>,
    Query(query): Query<AccountQuery>,
) -> ApiResult {
    if query.account_id.is_empty() {
        return Err(bad_request("`account_id` is required"));
    }
    let deleted = app.delete_where("ct", "account_id", &query.account_id);
    ok(json!({ "account_id": query.account_id, "deleted": deleted }))
}

async fn create_contact(State(app): State<Arc<App>>, body: Bytes) -> ApiResult {
    let contact: NewContact = parse(&body)?;
    if contact.account_id.is_empty() || !valid_email(&contact.email) {
        return Err(bad_request("`account_id` and a valid `email` are required"));
    }
    let owner = SALES_REPS[(fingerprint(contact.email.as_bytes()) % 4) as usize];
    let segment = if contact.plan == "premium" {
        "high_touch"
    } else {
        "self_serve"
    };
    created(app.create(
        "ct",
        "contact_id",
        json!({
            "account_id": contact.account_id,
            "email": contact.email,
            "name": contact.name,
            "owner": owner,
            "segment": segment,
            "source": if contact.source.is_empty() { "signup".to_owned() } else { contact.source },
            "status": "active",
        }),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NewSubscription {
    account_id: String,
    plan: String,
    seats: Option<u32>,
    payment_method: String,
}

async fn create_subscription(State(app): State<Arc<App>>, body: Bytes) -> ApiResult {
    let subscription: NewSubscription = parse(&body)?;
    let price = match subscription.plan.as_str() {
        "premium" => 4900,
        "pro" => 1900,
        other => return Err(bad_request(format!("plan `{other}` has no subscription"))),
    };
    let seats = subscription.seats.unwrap_or(1);
    if subscription.account_id.is_empty() || !(1..=500).contains(&seats) {
        return Err(bad_request("`account_id` and 1..=500 `seats` are required"));
    }
    match subscription.payment_method.as_str() {
        "" => return Err(bad_request("`payment_method` is required")),
        "pm_card_declined" => {
            return Err(ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "the card on file was declined",
            ));
        }
        _ => {}
    }
    created(app.create(
        "sub",
        "subscription_id",
        json!({
            "account_id": subscription.account_id,
            "plan": subscription.plan,
            "seats": seats,
            "status": "trialing",
            "trial_days": 14,
            "monthly_price_cents": i64::from(seats) * price,
        }),
    ))
}
