//! `aig-mock-providers`: serves the mock LLM providers on a loopback address until ctrl-c/SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use aig_tests::mock::{router, MockState};
use clap::Parser;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;

/// Hung requests keep connections open; after this long a shutdown stops waiting for them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Offline mock OpenAI, Anthropic, Cohere and OpenAI-compatible providers.
#[derive(Parser, Debug)]
#[command(name = "aig-mock-providers", version)]
struct Args {
    /// Loopback address to listen on.
    #[arg(long, env = "AIG_MOCK_ADDR", default_value = "127.0.0.1:8090")]
    addr: SocketAddr,
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
            "AIG_MOCK_ADDR/--addr must be a loopback address, got {}",
            args.addr
        )
        .into());
    }

    let listener = TcpListener::bind(args.addr).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "aig-mock-providers listening");

    let (stop_tx, mut stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        aig_tests::signal::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let mut drained_rx = stop_rx.clone();
    let server =
        axum::serve(listener, router(MockState::default())).with_graceful_shutdown(async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        });
    tokio::select! {
        served = server => served?,
        () = async {
            let _ = drained_rx.wait_for(|stop| *stop).await;
            tokio::time::sleep(DRAIN_TIMEOUT).await;
        } => tracing::warn!("stopped without waiting longer for open connections"),
    }
    tracing::info!("aig-mock-providers stopped");
    Ok(())
}
