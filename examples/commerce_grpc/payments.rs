//! Card payments and loyalty points. Test card tokens decline the way a
//! payment provider's do, a repeated idempotency key never charges twice, and
//! refunds and point restores (the compensations) are safe to repeat.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tonic::{Request, Response, Status};

use crate::common::calls::Hub;
use crate::common::pb::commerce::loyalty_service_server::{self, LoyaltyService};
use crate::common::pb::commerce::payment_service_server::{self, PaymentService};
use crate::common::pb::commerce::{
    ChargeRequest, ChargeResult, ChargeStatus, PaymentMethod, RedeemPointsRequest, Redemption,
    RefundRequest, RefundResult, RestorePointsRequest, RestoreResult,
};
use crate::common::{fingerprint, grpc, lock};

/// 2^53 + 1: the first integer a double cannot hold.
const FIRST_LEDGER_ENTRY: i64 = 9_007_199_254_740_993;
/// A card's limit, in cents.
const CARD_LIMIT_CENTS: i64 = 5_000_000;
const STARTING_POINTS: u32 = 5_000;

#[derive(Clone)]
pub struct Payments {
    hub: Arc<Hub>,
    state: Arc<Mutex<Books>>,
}

#[derive(Default)]
struct Books {
    ledger: i64,
    /// charge id -> amount, refund (if any).
    charges: HashMap<String, (i64, Option<RefundResult>)>,
    points: HashMap<String, u32>,
    /// redemption id -> customer, points, restored?
    redemptions: HashMap<String, (String, u32, bool)>,
}

impl Payments {
    pub fn new(hub: &Arc<Hub>) -> Self {
        Self {
            hub: Arc::clone(hub),
            state: Arc::default(),
        }
    }

    fn charge(&self, request: ChargeRequest) -> Result<ChargeResult, Status> {
        if request.amount_cents <= 0 {
            return Err(Status::invalid_argument("`amount_cents` must be positive"));
        }
        let method = PaymentMethod::try_from(request.method).unwrap_or_default();
        let card = matches!(method, PaymentMethod::Unspecified | PaymentMethod::Card);
        if card && request.card_token.is_empty() {
            return Err(Status::invalid_argument(
                "a card payment needs `card_token`",
            ));
        }
        let decline = match request.card_token.as_str() {
            "tok_declined" => Some("do_not_honor"),
            "tok_insufficient_funds" => Some("insufficient_funds"),
            "tok_expired" => Some("expired_card"),
            _ if card && request.amount_cents > CARD_LIMIT_CENTS => Some("over_card_limit"),
            _ => None,
        };
        if let Some(reason) = decline {
            return Err(Status::failed_precondition(format!(
                "card declined: {reason}"
            )));
        }
        let charge_id = self.hub.next_id("ch");
        let mut books = lock(&self.state);
        let ledger_entry_id = FIRST_LEDGER_ENTRY + books.ledger;
        books.ledger += 1;
        books
            .charges
            .insert(charge_id.clone(), (request.amount_cents, None));
        Ok(ChargeResult {
            authorization_code: format!("A{:06}", fingerprint(charge_id.as_bytes()) % 1_000_000),
            charge_id,
            status: if request.capture {
                ChargeStatus::Captured
            } else {
                ChargeStatus::Authorized
            } as i32,
            amount_cents: request.amount_cents,
            currency: if request.currency.is_empty() {
                "USD".to_owned()
            } else {
                request.currency
            },
            ledger_entry_id,
        })
    }

    fn refund(&self, request: RefundRequest) -> Result<RefundResult, Status> {
        let mut books = lock(&self.state);
        let Some((amount, refund)) = books.charges.get_mut(&request.charge_id) else {
            return Err(Status::not_found(format!(
                "no charge `{}`",
                request.charge_id
            )));
        };
        if let Some(done) = refund {
            return Ok(done.clone());
        }
        let refunded = if request.amount_cents == 0 {
            *amount
        } else {
            request.amount_cents
        };
        if refunded < 0 || refunded > *amount {
            return Err(Status::invalid_argument(format!(
                "cannot refund {refunded} of a {amount} charge"
            )));
        }
        let result = RefundResult {
            refund_id: self.hub.next_id("re"),
            charge_id: request.charge_id,
            amount_cents: refunded,
            status: ChargeStatus::Refunded as i32,
        };
        *refund = Some(result.clone());
        Ok(result)
    }

    fn redeem(&self, request: RedeemPointsRequest) -> Result<Redemption, Status> {
        if request.customer_id.is_empty() || request.points == 0 {
            return Err(Status::invalid_argument(
                "redeeming needs `customer_id` and a positive `points`",
            ));
        }
        let mut books = lock(&self.state);
        let balance = books
            .points
            .entry(request.customer_id.clone())
            .or_insert(STARTING_POINTS);
        if *balance < request.points {
            return Err(Status::failed_precondition(format!(
                "{} points requested, {} available",
                request.points, balance
            )));
        }
        *balance -= request.points;
        let balance = *balance;
        let redemption_id = self.hub.next_id("rd");
        books.redemptions.insert(
            redemption_id.clone(),
            (request.customer_id, request.points, false),
        );
        Ok(Redemption {
            redemption_id,
            points: request.points,
            discount_cents: i64::from(request.points),
            balance,
        })
    }

    fn restore(&self, request: RestorePointsRequest) -> Result<RestoreResult, Status> {
        let mut books = lock(&self.state);
        let Books {
            points,
            redemptions,
            ..
        } = &mut *books;
        let Some((customer, redeemed, restored)) = redemptions.get_mut(&request.redemption_id)
        else {
            return Err(Status::not_found(format!(
                "no redemption `{}`",
                request.redemption_id
            )));
        };
        let balance = points.entry(customer.clone()).or_insert(STARTING_POINTS);
        if !*restored {
            *balance += *redeemed;
            *restored = true;
        }
        Ok(RestoreResult {
            redemption_id: request.redemption_id,
            points: *redeemed,
            balance: *balance,
            status: "restored".to_owned(),
        })
    }
}

#[tonic::async_trait]
impl PaymentService for Payments {
    async fn charge(
        &self,
        request: Request<ChargeRequest>,
    ) -> Result<Response<ChargeResult>, Status> {
        let name = payment_service_server::SERVICE_NAME;
        grpc::unary(&self.hub, name, "Charge", request, |r| self.charge(r)).await
    }

    async fn refund(
        &self,
        request: Request<RefundRequest>,
    ) -> Result<Response<RefundResult>, Status> {
        let name = payment_service_server::SERVICE_NAME;
        grpc::unary(&self.hub, name, "Refund", request, |r| self.refund(r)).await
    }
}

#[tonic::async_trait]
impl LoyaltyService for Payments {
    async fn redeem_points(
        &self,
        request: Request<RedeemPointsRequest>,
    ) -> Result<Response<Redemption>, Status> {
        let name = loyalty_service_server::SERVICE_NAME;
        grpc::unary(&self.hub, name, "RedeemPoints", request, |r| self.redeem(r)).await
    }

    async fn restore_points(
        &self,
        request: Request<RestorePointsRequest>,
    ) -> Result<Response<RestoreResult>, Status> {
        let name = loyalty_service_server::SERVICE_NAME;
        grpc::unary(&self.hub, name, "RestorePoints", request, |r| {
            self.restore(r)
        })
        .await
    }
}
