//! `aig-fake-stripe`: an offline Stripe for development (scripts/dev) and browser tests. It
//! creates Checkout Sessions at `POST /v1/checkout/sessions` (point the control plane's
//! `STRIPE_API_BASE` at it), shows each session's line items and total on its checkout page,
//! and its Pay button sends the control plane a `checkout.session.completed` webhook signed
//! with `STRIPE_WEBHOOK_SECRET`, then sends the browser to the session's `success_url`.

use aig_tests::fake_stripe::FakeStripe;
use clap::Parser;
use std::net::SocketAddr;
use tracing_subscriber::EnvFilter;

/// Offline fake of Stripe Checkout with signed webhooks.
#[derive(Parser, Debug)]
#[command(name = "aig-fake-stripe", version)]
struct Args {
    /// Loopback address to listen on.
    #[arg(long, env = "AIG_FAKE_STRIPE_ADDR", default_value = "127.0.0.1:8092")]
    addr: SocketAddr,
    /// Where Pay delivers `checkout.session.completed` (the control plane's webhook).
    #[arg(
        long,
        env = "AIG_FAKE_STRIPE_WEBHOOK_URL",
        default_value = "http://127.0.0.1:8081/webhooks/stripe"
    )]
    webhook_url: String,
    /// The webhook signing secret, shared with the control plane.
    #[arg(long, env = "STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    if !args.addr.ip().is_loopback() {
        return Err(format!(
            "AIG_FAKE_STRIPE_ADDR/--addr must be a loopback address, got {}",
            args.addr
        )
        .into());
    }
    if !args.webhook_secret.starts_with("whsec_") {
        return Err("STRIPE_WEBHOOK_SECRET must be a whsec_… secret".into());
    }
    let stripe = FakeStripe::start_on(args.addr, &args.webhook_secret).await?;
    stripe.set_webhook_url(&args.webhook_url);
    println!(
        "aig-fake-stripe listening on {} (webhooks to {})",
        stripe.base_url(),
        args.webhook_url
    );
    tracing::info!(addr = %stripe.addr, webhook = %args.webhook_url, "aig-fake-stripe listening");
    tokio::select! {
        () = stripe.wait() => {}
        () = aig_tests::signal::shutdown_signal() => {}
    }
    tracing::info!("aig-fake-stripe stopped");
    Ok(())
}
