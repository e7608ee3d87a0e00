//! `cube plugin ...`: the connector author's inner loop.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

use super::marketplace;
use crate::plugin::scaffold::{self, NewConnector, Template};
use crate::plugin::trial::{self, RecordingPlan, Trial, feature_names as features};
use crate::plugin::{build, inspect};
use crate::runtime::types::{ConnectorInfo, Record, SyncMode, SyncRequest};
use crate::runtime::{
    CallOutcome, CallReport, HttpGrant, LdapGrant, LimitOverrides, Runtime, Secrets,
};

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Starts a connector crate from a template; it builds and passes its
    /// tests as it is.
    New(NewArgs),
    /// Builds connector crates into components (`<target>/components/NAME.wasm`).
    Build {
        /// Connector crate directories (default: the current directory).
        crates: Vec<PathBuf>,
        /// Where to write the components.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// Shows what a component is: world, imports, exports, requested capabilities.
    Inspect {
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Runs a connector once in the real sandbox.
    Run(RunArgs),
    /// Puts a connector through what the host will ask of it, in the real
    /// sandbox: info, configuration, connection test, full and incremental
    /// sync, webhook deliveries.
    Test(TestArgs),
    /// Makes a publisher key pair: NAME.key (secret) and NAME.pub.
    Keygen(marketplace::KeygenArgs),
    /// Packs a component and its manifest into `<id>-<version>.cubepkg`.
    Pack(marketplace::PackArgs),
    /// Signs a package with a publisher's secret key.
    Sign(marketplace::SignArgs),
    /// Checks a package as an install would, without installing it.
    Verify(marketplace::VerifyArgs),
    /// Verifies a signed package and adds it to a registry directory.
    Publish(marketplace::PublishArgs),
    /// Trusts a publisher's public key on this host.
    Trust(marketplace::TrustArgs),
    /// Verifies and installs a package, from a registry or a file.
    Install(marketplace::InstallArgs),
    /// Makes the installed version below the current one current again.
    Rollback(marketplace::RollbackArgs),
    /// Removes an installed connector (every version).
    Uninstall(marketplace::UninstallArgs),
}

#[derive(Args)]
pub struct NewArgs {
    /// The connector's id and crate name (like `acme-tickets`).
    name: String,
    #[arg(long, value_enum, default_value = "rest")]
    template: Template,
    /// The folder to create (default: NAME in the current directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The connector SDK's folder (default: the one beside this host's
    /// sources).
    #[arg(long, env = "CUBE_SDK_PATH")]
    sdk: Option<PathBuf>,
}

#[derive(Args)]
pub struct TestArgs {
    /// A connector crate (built first) or a component file (default: the
    /// crate in the current directory).
    target: Option<PathBuf>,
    /// The integration's configuration, a JSON file.
    #[arg(long)]
    config: PathBuf,
    #[command(flatten)]
    grants: GrantArgs,
    /// Keeps every HTTP exchange in FILE (secrets left out).
    #[arg(long, value_name = "FILE", conflicts_with = "replay")]
    record: Option<PathBuf>,
    /// Answers HTTP from a recording instead of the network.
    #[arg(long, value_name = "FILE")]
    replay: Option<PathBuf>,
    /// A sample webhook delivery body to hand to the connector; repeatable.
    #[arg(long = "webhook", value_name = "FILE")]
    webhooks: Vec<PathBuf>,
    #[arg(long, default_value_t = 100)]
    page_size: u32,
    /// A sync not finished after this many pages fails.
    #[arg(long, default_value_t = 1000)]
    max_pages: u32,
}

/// What a connector run from the command line (`run`, `test`) may reach.
#[derive(Args)]
pub struct GrantArgs {
    /// Grants an HTTP destination (scheme://host[:port]); repeatable.
    #[arg(long = "allow", value_name = "PATTERN")]
    allow: Vec<HttpGrant>,
    /// Grants an HTTP destination, private addresses included (a local
    /// test server); repeatable.
    #[arg(long = "allow-private", value_name = "PATTERN")]
    allow_private: Vec<HttpGrant>,
    /// Grants an LDAP server (ldap[s]://host[:port]); repeatable.
    #[arg(long = "allow-ldap", value_name = "URL", value_parser = LdapGrant::parse)]
    allow_ldap: Vec<LdapGrant>,
}

impl GrantArgs {
    /// The HTTP grants of `--allow` and of `--allow-private` (which reach
    /// private addresses too), and the LDAP grants.
    fn into_grants(self) -> (Vec<HttpGrant>, Vec<LdapGrant>) {
        let http = self
            .allow
            .into_iter()
            .chain(
                self.allow_private
                    .into_iter()
                    .map(|g| g.allow_private(true)),
            )
            .collect();
        (http, self.allow_ldap)
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Operation {
    Info,
    TestConnection,
    Sync,
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Full,
    Incremental,
}

#[derive(Args)]
pub struct RunArgs {
    file: PathBuf,
    #[arg(value_enum)]
    operation: Operation,
    /// The integration's configuration, a JSON file.
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    grants: GrantArgs,
    #[arg(long, value_enum, default_value = "full")]
    mode: Mode,
    /// The cursor to start from.
    #[arg(long)]
    cursor: Option<String>,
    #[arg(long)]
    dry_run: bool,
    #[arg(long, default_value_t = 100)]
    page_size: u32,
    /// Stop after this many pages.
    #[arg(long, default_value_t = 1000)]
    max_pages: u32,
    /// Per-call deadline in milliseconds.
    #[arg(long)]
    deadline_ms: Option<u64>,
    /// Per-call memory limit in MiB.
    #[arg(long)]
    memory_mib: Option<usize>,
}

pub async fn run(command: PluginCommand) -> anyhow::Result<ExitCode> {
    match command {
        PluginCommand::New(args) => new_connector(args),
        PluginCommand::Test(args) => test_connector(args).await,
        PluginCommand::Build { crates, out_dir } => {
            let crates = if crates.is_empty() {
                vec![PathBuf::from(".")]
            } else {
                crates
            };
            let built =
                tokio::task::spawn_blocking(move || build::build(&crates, out_dir.as_deref()))
                    .await??;
            for b in built {
                println!(
                    "{} -> {} ({} KiB)",
                    b.package,
                    b.path.display(),
                    b.bytes / 1024
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::Inspect { file, json } => inspect_file(&file, json).await,
        PluginCommand::Run(args) => run_connector(args).await,
        PluginCommand::Keygen(args) => marketplace::keygen(args),
        PluginCommand::Pack(args) => marketplace::pack(args).await,
        PluginCommand::Sign(args) => marketplace::sign(args),
        PluginCommand::Verify(args) => marketplace::verify(args).await,
        PluginCommand::Publish(args) => marketplace::publish(args).await,
        PluginCommand::Trust(args) => marketplace::trust(args),
        PluginCommand::Install(args) => marketplace::install(args).await,
        PluginCommand::Rollback(args) => marketplace::rollback(args),
        PluginCommand::Uninstall(args) => marketplace::uninstall(args).await,
    }
}

fn new_connector(args: NewArgs) -> anyhow::Result<ExitCode> {
    let Some(sdk) = args.sdk.or_else(scaffold::sdk_beside_sources) else {
        eprintln!(
            "error: where is the connector SDK? Pass --sdk (or set CUBE_SDK_PATH) \
             with the `sdk` folder of the CUBE sources"
        );
        return Ok(ExitCode::from(2));
    };
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(&args.name));
    let new = NewConnector {
        name: args.name,
        template: args.template,
        dir,
        sdk,
    };
    match scaffold::scaffold(&new) {
        Ok(files) => {
            println!("created {}:", new.dir.display());
            for file in files {
                println!("  {file}");
            }
            println!(
                "next: cd {} && cargo test && cube plugin build && \
                 cube plugin test --config config.example.json (see README.md)",
                new.dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            Ok(ExitCode::from(2))
        }
    }
}

async fn test_connector(args: TestArgs) -> anyhow::Result<ExitCode> {
    let target = args.target.unwrap_or_else(|| PathBuf::from("."));
    let component = if target.is_dir() {
        let dir = target.clone();
        let built = tokio::task::spawn_blocking(move || build::build(&[dir], None)).await??;
        let first = built
            .into_iter()
            .next()
            .context("the build wrote no component")?;
        read(&first.path)?
    } else {
        read(&target)?
    };
    let config: Value = serde_json::from_slice(&read(&args.config)?)
        .with_context(|| format!("{} is not valid JSON", args.config.display()))?;
    let recording = match (&args.record, &args.replay) {
        (Some(_), _) => Some(RecordingPlan::Record),
        (None, Some(file)) => Some(RecordingPlan::Replay(
            std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?,
        )),
        (None, None) => None,
    };
    let mut deliveries = Vec::new();
    for file in &args.webhooks {
        deliveries.push((file.display().to_string(), read(file)?));
    }
    let (http_grants, ldap_grants) = args.grants.into_grants();
    let runtime = Runtime::builder().pooling(false).build()?;
    let outcome = trial::run(
        &runtime,
        Trial {
            component,
            config,
            http_grants,
            ldap_grants,
            recording,
            deliveries,
            page_size: args.page_size,
            max_pages: args.max_pages,
        },
    )
    .await;
    let steps = &outcome.steps;
    let mut failed = 0;
    for step in steps {
        for line in &step.log {
            eprintln!("    {line}");
        }
        match &step.result {
            Ok(detail) => println!("ok    {}: {detail}", step.name),
            Err(why) => {
                failed += 1;
                println!("FAIL  {}: {why}", step.name);
            }
        }
    }
    if let (Some(file), Some(recording)) = (&args.record, &outcome.recording) {
        std::fs::write(file, recording.to_json())
            .with_context(|| format!("cannot write {}", file.display()))?;
        println!(
            "recorded {} exchanges in {}",
            recording.counts().0,
            file.display()
        );
    }
    if failed == 0 {
        println!("passed: {} steps", steps.len());
        Ok(ExitCode::SUCCESS)
    } else {
        println!("failed: {failed} of {} steps", steps.len());
        Ok(ExitCode::from(1))
    }
}

fn read(file: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))
}

async fn inspect_file(file: &Path, as_json: bool) -> anyhow::Result<ExitCode> {
    let bytes = read(file)?;
    let shape = match inspect::shape(&bytes) {
        Ok(shape) => shape,
        Err(error) => {
            eprintln!("error: {}: {error}", file.display());
            return Ok(ExitCode::from(2));
        }
    };
    let runtime = Runtime::builder().pooling(false).build()?;
    let connector = match runtime.load(&bytes) {
        Ok(connector) => connector,
        Err(error) => {
            eprintln!("error: {}: {error}", file.display());
            return Ok(ExitCode::from(2));
        }
    };
    let outcome = connector.info(&runtime.context("inspect")).await;
    let info = match outcome.result {
        Ok(info) => info,
        Err(error) => {
            eprintln!("error: {}: its info() call failed: {error}", file.display());
            return Ok(ExitCode::from(1));
        }
    };
    if as_json {
        let out = json!({
            "file": file.display().to_string(),
            "sha256": connector.digest(),
            "size": bytes.len(),
            "world": crate::runtime::WORLD,
            "imports": shape.imports,
            "exports": shape.exports,
            "uses_wasi": connector.uses_wasi(),
            "info": info_json(&info),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "file:         {} ({} KiB)",
            file.display(),
            bytes.len() / 1024
        );
        println!("sha256:       {}", connector.digest());
        println!("world:        {}", crate::runtime::WORLD);
        println!("connector:    {} {} ({})", info.id, info.version, info.name);
        if !info.description.is_empty() {
            println!("description:  {}", info.description);
        }
        println!("features:     {}", features(info.features).join(", "));
        println!("imports:      {}", shape.imports.join(", "));
        println!("exports:      {}", shape.exports.join(", "));
        println!("requests:");
        println!("  http:       {}", list_or_none(&info.capabilities.http));
        println!("  ldap:       {}", list_or_none(&info.capabilities.ldap));
        if connector.uses_wasi() {
            println!("note:         imports WASI; the host links it with nothing granted");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_connector(args: RunArgs) -> anyhow::Result<ExitCode> {
    let bytes = read(&args.file)?;
    let config: Value = match &args.config {
        Some(path) => serde_json::from_slice(&read(path)?)
            .with_context(|| format!("{} is not valid JSON", path.display()))?,
        None => json!({}),
    };
    let runtime = Runtime::builder().pooling(false).build()?;
    let connector = match runtime.load(&bytes) {
        Ok(connector) => connector,
        Err(error) => {
            eprintln!("error: {}: {error}", args.file.display());
            return Ok(ExitCode::from(2));
        }
    };
    let limits = runtime.limits_with(&LimitOverrides {
        deadline_ms: args.deadline_ms,
        memory_bytes: args.memory_mib.map(|m| m << 20),
        ..Default::default()
    })?;
    let info_outcome = connector
        .info(&runtime.context("cli").with_limits(limits.clone()))
        .await;
    print_log(&info_outcome.report);
    let info = match info_outcome.result {
        Ok(info) => info,
        Err(error) => {
            eprintln!("error: info() failed: {error}");
            return Ok(ExitCode::from(1));
        }
    };
    let schema: Value = serde_json::from_str(&info.config_schema).unwrap_or(Value::Null);
    let (http_grants, ldap_grants) = args.grants.into_grants();
    let ctx = runtime
        .context("cli")
        .with_limits(limits)
        .with_http_grants(http_grants)
        .with_ldap_grants(ldap_grants)
        .with_secrets(Secrets::from_config(&schema, &config));
    let config_text = config.to_string();

    match args.operation {
        Operation::Info => {
            println!("{}", serde_json::to_string_pretty(&info_json(&info))?);
            Ok(ExitCode::SUCCESS)
        }
        Operation::TestConnection => {
            let outcome = connector.test_connection(&ctx, &config_text).await;
            print_log(&outcome.report);
            Ok(verdict(outcome, |message| println!("ok: {message}")))
        }
        Operation::Sync => {
            let mut cursor = args.cursor;
            let mut total = 0usize;
            for page in 1..=args.max_pages {
                let request = SyncRequest {
                    config: config_text.clone(),
                    mode: match args.mode {
                        Mode::Full => SyncMode::Full,
                        Mode::Incremental => SyncMode::Incremental,
                    },
                    cursor: cursor.clone(),
                    dry_run: args.dry_run,
                    page_size: args.page_size,
                };
                let outcome = connector.sync(&ctx, &request).await;
                print_log(&outcome.report);
                let sync_page = match outcome.result {
                    Ok(p) => p,
                    Err(error) => {
                        eprintln!("error: page {page}: {error}");
                        return Ok(ExitCode::from(1));
                    }
                };
                total += sync_page.records.len();
                eprintln!(
                    "page {page}: {} records, cursor {}{}",
                    sync_page.records.len(),
                    sync_page.cursor.as_deref().unwrap_or("(none)"),
                    if sync_page.has_more {
                        ", more follow"
                    } else {
                        ""
                    }
                );
                for record in &sync_page.records {
                    println!("{}", record_json(record));
                }
                cursor = sync_page.cursor;
                if !sync_page.has_more {
                    eprintln!("done: {total} records in {page} pages");
                    return Ok(ExitCode::SUCCESS);
                }
            }
            eprintln!(
                "stopped after {} pages ({total} records); more follow",
                args.max_pages
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn verdict<T>(outcome: CallOutcome<T>, on_ok: impl FnOnce(T)) -> ExitCode {
    match outcome.result {
        Ok(value) => {
            on_ok(value);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
    }
}

fn print_log(report: &CallReport) {
    for line in &report.log {
        eprintln!("[{}] {}", line.level, line.message);
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".to_owned()
    } else {
        items.join(", ")
    }
}

fn info_json(info: &ConnectorInfo) -> Value {
    json!({
        "id": info.id,
        "name": info.name,
        "version": info.version,
        "description": info.description,
        "config_schema": serde_json::from_str::<Value>(&info.config_schema).unwrap_or(Value::String(info.config_schema.clone())),
        "capabilities": {"http": info.capabilities.http, "ldap": info.capabilities.ldap},
        "features": features(info.features),
    })
}

fn record_json(record: &Record) -> Value {
    json!({
        "kind": record.kind,
        "external_id": record.external_id,
        "fields": serde_json::from_str::<Value>(&record.fields).unwrap_or(Value::String(record.fields.clone())),
        "deleted": record.deleted,
        "version": record.version,
    })
}
