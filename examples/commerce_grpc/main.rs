//! gRPC services of the order checkout saga: inventory, payments, loyalty
//! points, shipping, tax and fraud screening. The checkout workflows describe
//! them with `proto:` files, so this server also works with
//! `--reflection none`.

#[path = "../common/mod.rs"]
mod common;
mod fraud;
mod inventory;
mod payments;
mod shipping;

use std::process::ExitCode;

use clap::Parser;

use common::grpc::{Reflection, Services};
use common::pb::commerce::{
    fraud_screen_server::FraudScreenServer, inventory_service_server::InventoryServiceServer,
    loyalty_service_server::LoyaltyServiceServer, payment_service_server::PaymentServiceServer,
    shipping_service_server::ShippingServiceServer, tax_service_server::TaxServiceServer,
};

/// gRPC services of the order checkout saga (default port 7103).
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
    let payments = payments::Payments::new(&hub);
    let shipping = shipping::Shipping::new(&hub);
    let services = Services::new()
        .add(InventoryServiceServer::new(inventory::Inventory::new(&hub)))
        .add(PaymentServiceServer::new(payments.clone()))
        .add(LoyaltyServiceServer::new(payments))
        .add(ShippingServiceServer::new(shipping.clone()))
        .add(TaxServiceServer::new(shipping))
        .add(FraudScreenServer::new(fraud::Fraud::new(&hub)));
    let router = match services.into_router(args.reflection) {
        Ok(router) => router,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    common::run(&args.serve, 7103, hub, common::Protocol::Grpc, router).await
}
