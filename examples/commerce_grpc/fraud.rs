//! Order fraud screening: a points score from the customer and the order.
//! A blocked order fails the call, so the saga undoes what ran before it.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::common::calls::Hub;
use crate::common::grpc;
use crate::common::pb::commerce::fraud_screen_server::{self, FraudScreen};
use crate::common::pb::commerce::{ScreenRequest, ScreenResult};

const DISPOSABLE_DOMAINS: [&str; 3] = ["mailinator.com", "tempmail.dev", "example.invalid"];

#[derive(Clone)]
pub struct Fraud {
    hub: Arc<Hub>,
}

impl Fraud {
    pub fn new(hub: &Arc<Hub>) -> Self {
        Self {
            hub: Arc::clone(hub),
        }
    }
}

fn screen(request: ScreenRequest) -> Result<ScreenResult, Status> {
    let mut score = 0;
    let mut reasons = Vec::new();
    let mut flag = |points: u32, reason: &str| {
        score += points;
        reasons.push(reason.to_owned());
    };
    match &request.customer {
        None => flag(30, "anonymous_customer"),
        Some(customer) => {
            if customer.account_age_days == 0 {
                flag(30, "new_account");
            }
            let domain = customer.email.rsplit('@').next().unwrap_or_default();
            if DISPOSABLE_DOMAINS.contains(&domain) {
                flag(40, "disposable_email");
            }
            let shipping = request
                .shipping_address
                .as_ref()
                .map(|a| a.country.to_uppercase())
                .unwrap_or_default();
            if !customer.country.is_empty()
                && !shipping.is_empty()
                && customer.country.to_uppercase() != shipping
            {
                flag(20, "country_mismatch");
            }
        }
    }
    let value: i64 = request
        .items
        .iter()
        .map(|i| i64::from(i.quantity) * i.unit_price_cents)
        .sum();
    if value > 200_000 {
        flag(25, "high_value_order");
    }
    if request.items.iter().any(|i| i.quantity > 10) {
        flag(15, "bulk_quantity");
    }
    if score >= 70 {
        return Err(Status::permission_denied(format!(
            "order blocked by the fraud screen (score {score}: {})",
            reasons.join(", ")
        )));
    }
    Ok(ScreenResult {
        decision: if score >= 40 { "review" } else { "approve" }.to_owned(),
        score,
        reasons,
    })
}

#[tonic::async_trait]
impl FraudScreen for Fraud {
    async fn screen(
        &self,
        request: Request<ScreenRequest>,
    ) -> Result<Response<ScreenResult>, Status> {
        grpc::unary(
            &self.hub,
            fraud_screen_server::SERVICE_NAME,
            "Screen",
            request,
            screen,
        )
        .await
    }
}
