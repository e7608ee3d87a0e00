//! `cube serve`: the server with its bundled connectors.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use crate::runtime::Runtime;
use crate::store::Store;
use crate::store::state::DbStateStore;
use crate::web::{self, AppState, Catalog};

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CUBE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the host keeps its data (compiled-component cache, database).
    #[arg(long, env = "CUBE_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// The database: postgres://... for a shared one; by default SQLite in
    /// the data directory.
    #[arg(long, env = "CUBE_DATABASE_URL")]
    database_url: Option<String>,
    /// Directories of connector components (`*.wasm`) to load at start.
    #[arg(
        long = "connectors",
        env = "CUBE_CONNECTORS",
        value_delimiter = ',',
        default_value = "target/components"
    )]
    connector_dirs: Vec<PathBuf>,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            args.data_dir.display()
        )
    })?;
    let store = match &args.database_url {
        Some(url) => Store::connect(url).await?,
        None => Store::open_in(&args.data_dir).await?,
    };
    let runtime = Runtime::builder()
        .cache_dir(args.data_dir.join("compiled"))
        .state_store(Arc::new(DbStateStore::new(store.clone())))
        .build()?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let catalog = Catalog::new();
    let app = web::router(AppState {
        catalog: catalog.clone(),
        store: store.clone(),
    });
    tracing::info!(address = %listener.local_addr()?, "listening");
    // Connectors load in the background: /healthz answers at once, and
    // /readyz says ready when they are all loaded (compiling a large
    // component the first time takes seconds).
    tokio::spawn(catalog.clone().load_dirs(runtime, args.connector_dirs));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("the server stopped")?;
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
}
