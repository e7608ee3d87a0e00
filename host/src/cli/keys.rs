//! `cube keys rotate`: a new master key, and every stored secret re-sealed
//! with it in one transaction.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::secrets::{KeySource, MASTER_KEY_FILE, MasterKey, Sealer};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Generates a new master key and re-encrypts every stored secret with it.
    ///
    /// Stop every `cube serve` that uses this database first: a running
    /// server keeps sealing with the key it started with.
    Rotate(RotateArgs),
}

#[derive(Args)]
pub struct RotateArgs {
    /// The data directory (holds the key file and the embedded database).
    #[arg(long, env = "CUBE_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// The database, when it is not the embedded SQLite.
    #[arg(long, env = "CUBE_DATABASE_URL")]
    database_url: Option<String>,
    /// Where to write the new key when the current one comes from
    /// CUBE_MASTER_KEY (it is then yours to put into that variable).
    #[arg(long)]
    new_key_file: Option<PathBuf>,
}

pub async fn run(command: KeysCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeysCommand::Rotate(args) => rotate(args).await,
    }
}

async fn rotate(args: RotateArgs) -> anyhow::Result<ExitCode> {
    let (old_key, source) = MasterKey::load_existing(&args.data_dir)?;
    let new_key = MasterKey::generate();
    // Write the new key down before any secret depends on it.
    let staged = match (&source, &args.new_key_file) {
        (KeySource::Environment, None) => anyhow::bail!(
            "the current key comes from CUBE_MASTER_KEY; pass --new-key-file PATH to receive the new one"
        ),
        (KeySource::Environment, Some(path)) => path.clone(),
        (_, _) => args.data_dir.join(format!("{MASTER_KEY_FILE}.new")),
    };
    new_key.write_new_file(&staged).with_context(|| {
        format!(
            "cannot write the new key to {} (if it exists, an earlier rotation did not finish: \
             the sealed values name the key they need)",
            staged.display()
        )
    })?;
    let store = super::open_store(args.database_url.as_deref(), &args.data_dir).await?;
    let report = match store
        .reseal_all(&Sealer::new(&old_key), &Sealer::new(&new_key))
        .await
    {
        Ok(report) => report,
        Err(error) => {
            let _ = std::fs::remove_file(&staged);
            return Err(error).context("nothing was changed; the current key stays in use");
        }
    };
    store.close().await;
    if matches!(source, KeySource::Environment) {
        println!(
            "Re-encrypted {} secrets ({} integrations, {} wizard drafts, {} webhooks) with key {}.\n\
             The new key is in {}: set CUBE_MASTER_KEY to its contents before starting the server.",
            report.secrets,
            report.integrations,
            report.drafts,
            report.webhooks,
            new_key.id(),
            staged.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let current = args.data_dir.join(MASTER_KEY_FILE);
    let retired = args
        .data_dir
        .join(format!("{MASTER_KEY_FILE}.retired-{}", old_key.id()));
    std::fs::rename(&current, &retired)
        .and_then(|()| std::fs::rename(&staged, &current))
        .with_context(|| {
            format!(
                "the secrets now need key {}, staged in {}: move it to {} by hand",
                new_key.id(),
                staged.display(),
                current.display()
            )
        })?;
    println!(
        "Re-encrypted {} secrets ({} integrations, {} wizard drafts, {} webhooks) with the new key {}.\n\
         The old key is kept as {}: delete it once no backup needs it.",
        report.secrets,
        report.integrations,
        report.drafts,
        report.webhooks,
        new_key.id(),
        retired.display()
    );
    Ok(ExitCode::SUCCESS)
}
