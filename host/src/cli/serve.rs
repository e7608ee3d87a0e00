//! `cube serve`: the server with its bundled connectors.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use crate::secrets::{KeySource, MasterKey, Sealer};
use crate::store::Store;
use crate::store::users::Role;
use crate::sync::{SyncDeps, SyncQueue};
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
    /// The URL people use to reach the server (behind a TLS proxy, its
    /// https URL): cookies are marked Secure when it is https.
    #[arg(long, env = "CUBE_PUBLIC_URL")]
    public_url: Option<String>,
    #[command(flatten)]
    connectors: super::connectors::ConnectorArgs,
    /// A connector registry: a directory with an `index.json`, as `cube
    /// plugin publish` writes, or the http(s) URL where one is served.
    /// Admins browse and install from it at /marketplace.
    #[arg(long, env = "CUBE_REGISTRY")]
    registry: Option<crate::marketplace::source::RegistrySource>,
    /// Seconds a node holds a sync job without renewing it; another node
    /// takes over a dead node's job after that.
    #[arg(long, env = "CUBE_JOB_LEASE_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(2..=3600))]
    job_lease_secs: u64,
    #[command(flatten)]
    network: super::network::NetworkArgs,
    /// Proxies in front of the server whose `X-Forwarded-For` and
    /// `X-Forwarded-Proto` are believed (addresses or networks,
    /// comma-separated): sign-in throttling and the audit log then see the
    /// client's address, and cookies get `Secure` on requests that reached
    /// the proxy over https. Headers from anyone else are ignored.
    #[arg(long, env = "CUBE_TRUSTED_PROXIES", value_delimiter = ',', value_parser = web::access::parse_proxy)]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// Mark every cookie `Secure` (the server is reached over https only).
    /// On by itself when the public URL is https.
    #[arg(long, env = "CUBE_SECURE_COOKIES")]
    secure_cookies: bool,
    /// A token `/metrics` asks for (`Authorization: Bearer <token>`); without
    /// it `/metrics` is open. Prefer the environment variable: other local
    /// users can read command lines.
    #[arg(long, env = "CUBE_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// Password checks run at a time (argon2id, ~19 MiB each); by default
    /// half the cores.
    #[arg(long, env = "CUBE_PASSWORD_THREADS", value_parser = clap::value_parser!(u64).range(1..=256))]
    password_threads: Option<u64>,
    /// Sign-ins that may wait for a password check; past them sign-ins are
    /// answered 503 at once. By default 32 per password thread.
    #[arg(long, env = "CUBE_PASSWORD_QUEUE")]
    password_queue: Option<usize>,
    /// Days the directory change feed keeps changes; a consumer whose
    /// cursor is older must read the directory in full again.
    #[arg(long, env = "CUBE_DIRECTORY_CHANGE_RETENTION_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3650))]
    directory_change_retention_days: u64,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            args.data_dir.display()
        )
    })?;
    let outbound = Arc::new(args.network.outbound()?);
    let store = super::open_store(args.database_url.as_deref(), &args.data_dir).await?;
    let runtime = super::connectors::host_runtime(&store, &args.data_dir)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let catalog = Catalog::new();
    ensure_first_admin(&store).await?;
    let (key, source) = MasterKey::load(&args.data_dir)?;
    match source {
        KeySource::CreatedFile => tracing::warn!(
            key = %key.id(),
            file = %args.data_dir.join(crate::secrets::MASTER_KEY_FILE).display(),
            "created a new master key: back this file up; stored credentials cannot be read without it"
        ),
        other => tracing::info!(key = %key.id(), from = ?other, "master key loaded"),
    }
    let sealer = Arc::new(Sealer::new(&key));
    let access = access(&args, key.derive("cube log pseudonyms v1"))?;
    drop(key);
    let sync = SyncQueue::new();
    tokio::spawn(crate::worker::run(
        SyncDeps {
            store: store.clone(),
            catalog: catalog.clone(),
            runtime: runtime.clone(),
            sealer: sealer.clone(),
            retry: Default::default(),
            outbound: outbound.clone(),
            events: sync.events.clone(),
            lease_ms: (args.job_lease_secs * 1000) as i64,
        },
        sync.clone(),
        crate::worker::Retention {
            directory_changes: std::time::Duration::from_secs(
                args.directory_change_retention_days * 24 * 3600,
            ),
        },
    ));
    let secure_cookies = args.secure_cookies
        || args
            .public_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://"));
    let app = web::router(AppState {
        catalog: catalog.clone(),
        store: store.clone(),
        runtime: runtime.clone(),
        sealer: sealer.clone(),
        sync,
        intake: crate::webhooks::Intake::start(store.clone()),
        endpoints: crate::webhooks::Endpoints::new(store.clone(), sealer.clone()),
        secure_cookies,
        access,
        public_url: args.public_url.clone(),
        lease_ms: (args.job_lease_secs * 1000) as i64,
        registry: args.registry.clone(),
        outbound,
        data_dir: Some(args.data_dir.clone()),
    });
    tracing::info!(address = %listener.local_addr()?, "listening");
    // Connectors load in the background: /healthz answers at once, and
    // /readyz says ready when they are all loaded (compiling a large
    // component the first time takes seconds).
    // Packages installed with `cube plugin install` load after (and so win
    // over) the same connector in the --connectors directories.
    let connector_dirs = args.connectors.with_installed(&args.data_dir);
    let loading = catalog.clone();
    let installed_dir = crate::marketplace::install::connectors_dir(&args.data_dir);
    tokio::spawn(async move {
        loading.clone().load_dirs(runtime, connector_dirs).await;
        // `cube plugin install` runs without the server's connectors: it
        // reads which ids are bundled from here.
        if let Err(error) = loading.bundled().record(&installed_dir) {
            tracing::warn!(dir = %installed_dir.display(), %error, "cannot record the bundled connectors' ids");
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("the server stopped")?;
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// The edge settings from the command line.
fn access(args: &ServeArgs, pseudonym_key: [u8; 32]) -> anyhow::Result<web::access::Access> {
    let mut access = web::access::Access::new(pseudonym_key);
    access.trusted_proxies = args.trusted_proxies.clone().into();
    access.metrics_token = match args.metrics_token.as_deref().map(str::trim) {
        Some("") => anyhow::bail!(
            "the metrics token is empty: set CUBE_METRICS_TOKEN to a long random value, or unset it"
        ),
        Some(token) => Some(token.into()),
        None => None,
    };
    if args.password_threads.is_some() || args.password_queue.is_some() {
        let threads = args.password_threads.map_or_else(
            || (std::thread::available_parallelism().map_or(1, |n| n.get()) / 2).max(1),
            |n| n as usize,
        );
        let queue = args.password_queue.unwrap_or(threads * 32);
        access.passwords = web::passwords::PasswordPool::new(threads, queue);
    }
    Ok(access)
}

/// On first run (no users yet) creates `admin`, with the password from
/// `CUBE_ADMIN_PASSWORD` or a random one printed once, here.
async fn ensure_first_admin(store: &Store) -> anyhow::Result<()> {
    if store.count_users().await? > 0 {
        return Ok(());
    }
    let (password, generated) = match std::env::var("CUBE_ADMIN_PASSWORD") {
        Ok(password) => (password, false),
        Err(_) => (
            crate::store::sessions::random_token()[..24].to_owned(),
            true,
        ),
    };
    store
        .create_user("admin", &password, Role::Admin)
        .await
        .context(
            "cannot create the first admin (CUBE_ADMIN_PASSWORD must be at least 12 characters)",
        )?;
    if generated {
        // Printed, not logged: it must not end up in log files.
        eprintln!(
            "\nFirst run: created the user `admin` with the one-time password\n\n    {password}\n\n\
             Sign in and create your own accounts; this password is not shown again.\n"
        );
    } else {
        tracing::info!(
            "first run: created the user `admin` with the password from CUBE_ADMIN_PASSWORD"
        );
    }
    Ok(())
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
