//! Stock reservations: a small catalog with stock levels, reserved all-or-
//! nothing, given back by `Release` (the step's compensation) and made final
//! by `Commit` once the order is complete.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use tonic::{Request, Response, Status};

use crate::common::calls::Hub;
use crate::common::pb::commerce::inventory_service_server::{self, InventoryService};
use crate::common::pb::commerce::{
    CommitRequest, CommitResponse, ReleaseRequest, ReleaseResponse, Reservation, ReserveRequest,
    ReservedLine,
};
use crate::common::{grpc, lock};

/// SKU, units on hand at start, warehouse.
const CATALOG: [(&str, u32, &str); 6] = [
    ("SKU-KEYBOARD", 500, "ams-1"),
    ("SKU-MOUSE", 1000, "ams-1"),
    ("SKU-HEADSET", 200, "dub-1"),
    ("SKU-MONITOR", 40, "fra-2"),
    ("SKU-LAPTOP", 5, "fra-2"),
    ("SKU-DISCONTINUED", 0, "ams-1"),
];

#[derive(Clone)]
pub struct Inventory {
    hub: Arc<Hub>,
    state: Arc<Mutex<Stock>>,
}

struct Stock {
    on_hand: HashMap<&'static str, u32>,
    reservations: HashMap<String, (Vec<ReservedLine>, Held)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    Reserved,
    Released,
    Committed,
}

impl Inventory {
    pub fn new(hub: &Arc<Hub>) -> Self {
        let stock = Stock {
            on_hand: CATALOG.iter().map(|(sku, n, _)| (*sku, *n)).collect(),
            reservations: HashMap::new(),
        };
        Self {
            hub: Arc::clone(hub),
            state: Arc::new(Mutex::new(stock)),
        }
    }

    fn reserve(&self, request: ReserveRequest) -> Result<Reservation, Status> {
        if request.items.is_empty() {
            return Err(Status::invalid_argument("an order needs at least one item"));
        }
        let mut wanted: BTreeMap<&str, u32> = BTreeMap::new();
        for item in &request.items {
            if item.quantity == 0 {
                return Err(Status::invalid_argument(format!(
                    "{}: quantity must be at least 1",
                    item.sku
                )));
            }
            *wanted.entry(item.sku.as_str()).or_default() += item.quantity;
        }
        let mut stock = lock(&self.state);
        for (sku, quantity) in &wanted {
            let Some(available) = stock.on_hand.get(sku) else {
                return Err(Status::not_found(format!("unknown SKU `{sku}`")));
            };
            if available < quantity {
                return Err(Status::failed_precondition(format!(
                    "{sku}: {quantity} requested, {available} in stock"
                )));
            }
        }
        let mut lines = Vec::new();
        for (sku, quantity) in wanted {
            let (key, _, warehouse) = CATALOG
                .iter()
                .find(|(s, _, _)| *s == sku)
                .copied()
                .unwrap_or_default();
            if let Some(available) = stock.on_hand.get_mut(key) {
                *available -= quantity;
            }
            lines.push(ReservedLine {
                sku: sku.to_owned(),
                quantity,
                warehouse: warehouse.to_owned(),
            });
        }
        let reservation_id = self.hub.next_id("res");
        stock
            .reservations
            .insert(reservation_id.clone(), (lines.clone(), Held::Reserved));
        Ok(Reservation {
            reservation_id,
            order_id: request.order_id,
            lines,
            expires_in_s: 900,
        })
    }

    fn release(&self, request: ReleaseRequest) -> Result<ReleaseResponse, Status> {
        let mut stock = lock(&self.state);
        let Stock {
            on_hand,
            reservations,
        } = &mut *stock;
        let Some((lines, held)) = reservations.get_mut(&request.reservation_id) else {
            return Err(Status::not_found(format!(
                "no reservation `{}`",
                request.reservation_id
            )));
        };
        match held {
            Held::Committed => {
                return Err(Status::failed_precondition(format!(
                    "reservation `{}` is already committed",
                    request.reservation_id
                )));
            }
            Held::Released => {}
            Held::Reserved => {
                for line in lines.iter() {
                    if let Some(n) = on_hand.get_mut(line.sku.as_str()) {
                        *n += line.quantity;
                    }
                }
                *held = Held::Released;
            }
        }
        Ok(ReleaseResponse {
            reservation_id: request.reservation_id,
            status: "released".to_owned(),
        })
    }

    fn commit(&self, request: CommitRequest) -> Result<CommitResponse, Status> {
        let mut stock = lock(&self.state);
        let Some((_, held)) = stock.reservations.get_mut(&request.reservation_id) else {
            return Err(Status::not_found(format!(
                "no reservation `{}`",
                request.reservation_id
            )));
        };
        if *held == Held::Released {
            return Err(Status::failed_precondition(format!(
                "reservation `{}` was released",
                request.reservation_id
            )));
        }
        *held = Held::Committed;
        Ok(CommitResponse {
            reservation_id: request.reservation_id,
            status: "committed".to_owned(),
        })
    }
}

#[tonic::async_trait]
impl InventoryService for Inventory {
    async fn reserve(
        &self,
        request: Request<ReserveRequest>,
    ) -> Result<Response<Reservation>, Status> {
        let name = inventory_service_server::SERVICE_NAME;
        grpc::unary(&self.hub, name, "Reserve", request, |r| self.reserve(r)).await
    }

    async fn release(
        &self,
        request: Request<ReleaseRequest>,
    ) -> Result<Response<ReleaseResponse>, Status> {
        let name = inventory_service_server::SERVICE_NAME;
        grpc::unary(&self.hub, name, "Release", request, |r| self.release(r)).await
    }

    async fn commit(
        &self,
        request: Request<CommitRequest>,
    ) -> Result<Response<CommitResponse>, Status> {
        let name = inventory_service_server::SERVICE_NAME;
        grpc::unary(&self.hub, name, "Commit", request, |r| self.commit(r)).await
    }
}
