//! `aig-controlplane serve`: serve the API while the background tasks run — publishing every
//! tenant at start-up, usage ingestion, the missing-records watchdog and balance
//! reconciliation — until SIGINT/SIGTERM.

use crate::config::Config;
use crate::error::Error;
use crate::ingest::Ingester;
use crate::state::AppState;
use crate::{publish, reconcile, router};

pub async fn run(config: Config, dev: bool) -> Result<(), Error> {
    // Sessions (sign-up/login) sign with it; refuse to run without one outside --dev.
    config.jwt_secret(dev)?;
    if dev {
        tracing::warn!("--dev: development mode, not for deployment");
    }
    let addr = config.addr;
    let state = AppState::connect(config).await?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        Error::Internal(format!(
            "AIG_CONTROLPLANE_ADDR: cannot listen on {addr}: {e}"
        ))
    })?;

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let tasks = [
        // In the background: with many tenants it takes a while, and the API need not wait.
        tokio::spawn(publish_all(state.clone())),
        tokio::spawn(Ingester::new(state.clone()).run(stopped.clone())),
        publish::spawn_watchdog(state.clone(), stopped.clone()),
        reconcile::spawn_reconciler(state.clone(), stopped),
    ];

    tracing::info!(%addr, "aig-controlplane listening");
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    let _ = stop.send(true);
    for task in tasks {
        let _ = task.await;
    }
    tracing::info!("aig-controlplane stopped");
    served.map_err(|e| Error::Internal(format!("server error: {e}")))
}

/// Publishes every tenant in full: Redis may have lost data, or changed while no control
/// plane ran.
async fn publish_all(state: AppState) {
    match publish::all(&state).await {
        Ok((published, 0)) => tracing::info!(published, "tenants published to Redis"),
        Ok((published, failed)) => tracing::warn!(
            published,
            failed,
            "some tenants could not be published; the watchdog retries every 30 s"
        ),
        Err(e) => tracing::warn!("start-up publish failed; the watchdog retries every 30 s: {e}"),
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
