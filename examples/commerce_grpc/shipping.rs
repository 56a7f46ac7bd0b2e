//! Shipping and tax, which share the shipping zones: where an order can go,
//! which carrier takes it, what shipping costs and which tax rate applies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tonic::{Request, Response, Status};

use crate::common::calls::Hub;
use crate::common::pb::commerce::shipping_service_server::{self, ShippingService};
use crate::common::pb::commerce::tax_service_server::{self, TaxService};
use crate::common::pb::commerce::{
    Address, CancelShipmentRequest, CancelShipmentResult, CreateShipmentRequest, QuoteRequest,
    Shipment, ShippingSpeed, TaxQuote,
};
use crate::common::{fingerprint, grpc, lock};

struct Zone {
    country: &'static str,
    carrier: &'static str,
    /// Standard delivery.
    days: u32,
    /// Standard shipping, in cents.
    shipping_cents: i64,
    /// VAT or sales tax, percent.
    tax_rate: f64,
    currency: &'static str,
}

const fn zone(
    country: &'static str,
    carrier: &'static str,
    days: u32,
    shipping_cents: i64,
    tax_rate: f64,
    currency: &'static str,
) -> Zone {
    Zone {
        country,
        carrier,
        days,
        shipping_cents,
        tax_rate,
        currency,
    }
}

const ZONES: [Zone; 9] = [
    zone("US", "UPS", 4, 995, 7.25, "USD"),
    zone("CA", "Canada Post", 5, 1495, 13.0, "CAD"),
    zone("GB", "Royal Mail", 3, 795, 20.0, "GBP"),
    zone("DE", "DHL", 2, 595, 19.0, "EUR"),
    zone("FR", "La Poste", 3, 695, 20.0, "EUR"),
    zone("NL", "PostNL", 2, 595, 21.0, "EUR"),
    zone("ES", "Correos", 4, 695, 21.0, "EUR"),
    zone("IT", "Poste Italiane", 4, 695, 22.0, "EUR"),
    zone("AU", "Australia Post", 7, 1995, 10.0, "AUD"),
];

fn zone_of(address: Option<&Address>) -> Result<&'static Zone, Status> {
    let country = address
        .map(|a| a.country.to_uppercase())
        .unwrap_or_default();
    ZONES
        .iter()
        .find(|z| z.country == country)
        .ok_or_else(|| Status::invalid_argument(format!("we do not ship to `{country}`")))
}

fn speed_of(speed: i32) -> ShippingSpeed {
    match ShippingSpeed::try_from(speed) {
        Ok(ShippingSpeed::Unspecified) | Err(_) => ShippingSpeed::Standard,
        Ok(speed) => speed,
    }
}

#[derive(Clone)]
pub struct Shipping {
    hub: Arc<Hub>,
    /// shipment id -> cancelled?
    shipments: Arc<Mutex<HashMap<String, bool>>>,
}

impl Shipping {
    pub fn new(hub: &Arc<Hub>) -> Self {
        Self {
            hub: Arc::clone(hub),
            shipments: Arc::default(),
        }
    }

    fn create(&self, request: CreateShipmentRequest) -> Result<Shipment, Status> {
        let zone = zone_of(request.address.as_ref())?;
        if request
            .address
            .as_ref()
            .is_none_or(|a| a.postal_code.is_empty())
        {
            return Err(Status::invalid_argument("the address has no postal code"));
        }
        if request.items.is_empty() {
            return Err(Status::invalid_argument("nothing to ship"));
        }
        let speed = speed_of(request.speed);
        let estimated_days = match speed {
            ShippingSpeed::Overnight => 1,
            ShippingSpeed::Express => zone.days.div_ceil(2),
            _ => zone.days,
        };
        let shipment_id = self.hub.next_id("shp");
        let prefix: String = zone
            .carrier
            .chars()
            .filter(char::is_ascii_uppercase)
            .collect();
        lock(&self.shipments).insert(shipment_id.clone(), false);
        Ok(Shipment {
            tracking_number: format!(
                "{prefix}{:012}",
                fingerprint(shipment_id.as_bytes()) % 1_000_000_000_000
            ),
            shipment_id,
            carrier: zone.carrier.to_owned(),
            estimated_days,
            speed: speed as i32,
        })
    }

    fn cancel(&self, request: CancelShipmentRequest) -> Result<CancelShipmentResult, Status> {
        let mut shipments = lock(&self.shipments);
        let Some(cancelled) = shipments.get_mut(&request.shipment_id) else {
            return Err(Status::not_found(format!(
                "no shipment `{}`",
                request.shipment_id
            )));
        };
        *cancelled = true;
        Ok(CancelShipmentResult {
            shipment_id: request.shipment_id,
            status: "cancelled".to_owned(),
        })
    }
}

fn quote(request: QuoteRequest) -> Result<TaxQuote, Status> {
    let zone = zone_of(request.address.as_ref())?;
    if request.items.is_empty() {
        return Err(Status::invalid_argument("an order needs at least one item"));
    }
    let subtotal: i64 = request
        .items
        .iter()
        .map(|i| i64::from(i.quantity) * i.unit_price_cents)
        .sum();
    let discount = request.discount_cents.clamp(0, subtotal);
    let shipping = zone.shipping_cents
        * match speed_of(request.speed) {
            ShippingSpeed::Overnight => 4,
            ShippingSpeed::Express => 2,
            _ => 1,
        };
    let tax = ((subtotal - discount + shipping) as f64 * zone.tax_rate / 100.0).round() as i64;
    Ok(TaxQuote {
        subtotal_cents: subtotal,
        discount_cents: discount,
        shipping_cents: shipping,
        tax_cents: tax,
        total_cents: subtotal - discount + shipping + tax,
        rate: zone.tax_rate,
        currency: zone.currency.to_owned(),
        jurisdiction: zone.country.to_owned(),
    })
}

#[tonic::async_trait]
impl ShippingService for Shipping {
    async fn create_shipment(
        &self,
        request: Request<CreateShipmentRequest>,
    ) -> Result<Response<Shipment>, Status> {
        let name = shipping_service_server::SERVICE_NAME;
        grpc::unary(&self.hub, name, "CreateShipment", request, |r| {
            self.create(r)
        })
        .await
    }

    async fn cancel_shipment(
        &self,
        request: Request<CancelShipmentRequest>,
    ) -> Result<Response<CancelShipmentResult>, Status> {
        let name = shipping_service_server::SERVICE_NAME;
        grpc::unary(&self.hub, name, "CancelShipment", request, |r| {
            self.cancel(r)
        })
        .await
    }
}

#[tonic::async_trait]
impl TaxService for Shipping {
    async fn quote(&self, request: Request<QuoteRequest>) -> Result<Response<TaxQuote>, Status> {
        grpc::unary(
            &self.hub,
            tax_service_server::SERVICE_NAME,
            "Quote",
            request,
            quote,
        )
        .await
    }
}
