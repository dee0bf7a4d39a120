//! `aig-dataplane`: parse config, start tracing, build state, serve until a signal.

use aig_dataplane::{router, AppState, Config};
use std::process::ExitCode;

/// mimalloc: the request path allocates many small JSON values; glibc malloc took about a
/// fifth of the data plane's CPU under load (see README, Benchmarks).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("aig-dataplane: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    aig_dataplane::telemetry::init(config.log_format);
    let addr = config.addr;
    let state = match AppState::new(config).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("start-up failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("AIG_DATAPLANE_ADDR: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(%addr, "aig-dataplane listening");
    let served = axum::serve(listener, router(state.clone()))
        .with_graceful_shutdown(shutdown_signal())
        .await;
    // Write the last counts and marks and hand the health monitor's lead to another
    // instance now rather than when the lock expires.
    state.health().shutdown(&state).await;
    match served {
        Ok(()) => {
            tracing::info!("aig-dataplane stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("server error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
