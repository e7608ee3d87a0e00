//! The `cube` command line.

mod connectors;
mod keys;
mod marketplace;
mod network;
mod plugin;
mod serve;
mod sync;
mod token;

use std::path::Path;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::store::Store;

#[derive(Parser)]
#[command(name = "cube", version, about = "The CUBE integration host")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the server.
    Serve(serve::ServeArgs),
    /// Builds, inspects and runs connector components; packs, signs,
    /// publishes and installs connector packages.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Runs one sync of an integration now, with progress and a summary.
    Sync(sync::SyncArgs),
    /// Manages the master key that encrypts stored credentials.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Makes, lists and revokes API tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
}

/// Runs the command line and returns the process's exit code: 0 on success,
/// 1 when the connector or operation failed, 2 when the input was unusable.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Plugin(command) => plugin::run(command).await,
            Command::Keys(command) => keys::run(command).await,
            Command::Sync(args) => sync::run(args).await,
            Command::Token(command) => token::run(command).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Logs go to stderr: readable lines by default, one JSON object per line
/// with `CUBE_LOG_FORMAT=json` (for log shippers). `CUBE_LOG` filters.
/// The database a command works on: `database_url` when given, else the
/// SQLite database in `data_dir`.
async fn open_store(database_url: Option<&str>, data_dir: &Path) -> anyhow::Result<Store> {
    match database_url {
        Some(url) => Store::connect(url).await,
        None => Store::open_in(data_dir).await,
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("CUBE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if std::env::var("CUBE_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
