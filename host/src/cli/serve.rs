//! `cube serve`: the server with its bundled connectors.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::runtime::Runtime;
use crate::web::{self, Catalog};

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CUBE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the host keeps its data (compiled-component cache, database).
    #[arg(long, env = "CUBE_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
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
    let runtime = Runtime::builder()
        .cache_dir(args.data_dir.join("compiled"))
        .build()?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let catalog = Catalog::new();
    let app = web::router(catalog.clone());
    tracing::info!(address = %listener.local_addr()?, "listening");
    // Connectors load in the background: /healthz answers at once, and
    // /readyz says ready when they are all loaded (compiling a large
    // component the first time takes seconds).
    tokio::spawn(catalog.clone().load_dirs(runtime, args.connector_dirs));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("the server stopped")?;
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
