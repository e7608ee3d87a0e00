//! `cube token create|list|revoke`: API tokens from the command line, for
//! the first token of an installation and for scripts (decision 0035).
//!
//! `create` prints the token alone on stdout, so that a script can take it
//! (`TOKEN=$(cube token create ...)`), and what it is on stderr; it is the
//! only time the token is shown. Every change is audited with the actor
//! `cli`, as a change made on the server's own machine.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::store::Store;
use crate::store::api_tokens::{
    DEFAULT_REQUESTS_PER_MINUTE, NewToken, TokenError, TokenFor, parse_expiry, parse_scopes,
};
use crate::store::audit::AuditEvent;
use crate::store::now_millis;

/// Who the audit log says made a change from the command line.
const ACTOR: &str = "cli";

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Makes a token and prints it (once: only its hash is kept).
    Create(CreateArgs),
    /// Lists tokens: whom each acts for, its scopes, expiry and last use.
    List(ListArgs),
    /// Revokes a token at once, on every node.
    Revoke(RevokeArgs),
}

#[derive(Args)]
pub struct DatabaseArgs {
    #[arg(long, env = "CUBE_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    #[arg(long, env = "CUBE_DATABASE_URL")]
    database_url: Option<String>,
}

#[derive(Args)]
pub struct CreateArgs {
    /// The token's name (letters, digits, . _ -), unique for whom it acts.
    #[arg(long)]
    name: String,
    /// A personal token of this local user.
    #[arg(
        long,
        conflicts_with = "service_account",
        required_unless_present = "service_account"
    )]
    user: Option<String>,
    /// A token of this service account (made when it does not exist yet:
    /// then --owner names the admin who answers for it).
    #[arg(long)]
    service_account: Option<String>,
    /// The admin who owns a new service account.
    #[arg(long, requires = "service_account")]
    owner: Option<String>,
    /// Scopes, comma-separated: read, write, admin, directory:read, scim.
    #[arg(long, default_value = "read")]
    scopes: String,
    /// When it expires: days (90d), a date (2027-01-31, 00:00 UTC), or never.
    #[arg(long, default_value = "90d")]
    expires: String,
    /// Requests a minute the token may make.
    #[arg(long, default_value_t = DEFAULT_REQUESTS_PER_MINUTE)]
    rate_limit: i64,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Args)]
pub struct ListArgs {
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Args)]
pub struct RevokeArgs {
    /// The token's id (`cube token list` shows it).
    id: i64,
    #[command(flatten)]
    database: DatabaseArgs,
}

pub async fn run(command: TokenCommand) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::Create(args) => create(args).await,
        TokenCommand::List(args) => list(args).await,
        TokenCommand::Revoke(args) => revoke(args).await,
    }
}

async fn open(database: &DatabaseArgs) -> anyhow::Result<Store> {
    super::open_store(database.database_url.as_deref(), &database.data_dir).await
}

async fn create(args: CreateArgs) -> anyhow::Result<ExitCode> {
    let store = open(&args.database).await?;
    let scopes = parse_scopes(&args.scopes)?;
    let expires_at = parse_expiry(&args.expires, now_millis())?;
    let account;
    let user;
    let owner = match (&args.user, &args.service_account) {
        (Some(name), _) => {
            user = store
                .user_named(name)
                .await?
                .with_context(|| format!("there is no local user `{name}`"))?;
            TokenFor::User(&user)
        }
        (None, Some(name)) => {
            account = match store.service_account_named(name).await? {
                Some(existing) => {
                    if args.owner.is_some() {
                        bail!("the service account `{name}` exists already; leave out --owner");
                    }
                    existing
                }
                None => {
                    let owner_name = args.owner.as_deref().with_context(|| {
                        format!(
                            "there is no service account `{name}`; pass --owner ADMIN to make it"
                        )
                    })?;
                    let owner = store
                        .user_named(owner_name)
                        .await?
                        .with_context(|| format!("there is no local user `{owner_name}`"))?;
                    let made = store.create_service_account(name, "", &owner).await?;
                    audit(
                        &store,
                        "service_account.create",
                        &format!("service_account:{}", made.name),
                        json!({ "name": made.name, "owner": made.owner_name }),
                    )
                    .await?;
                    made
                }
            };
            TokenFor::ServiceAccount(&account)
        }
        (None, None) => unreachable!("clap requires --user or --service-account"),
    };
    let new = NewToken {
        name: &args.name,
        owner,
        scopes,
        expires_at,
        requests_per_minute: args.rate_limit,
        created_by: ACTOR,
    };
    let (token, secret) = match store.create_api_token(&new).await {
        Ok(made) => made,
        Err(TokenError::Database(e)) => return Err(e.into()),
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    audit(
        &store,
        "api_token.create",
        &format!("api_token:{}", token.id),
        json!({ "name": token.name, "for": token.owner, "scopes": token.scopes, "expires_at": token.expires_at }),
    )
    .await?;
    store.close().await;
    println!("{secret}");
    let scopes: Vec<_> = token.scopes.iter().map(|s| s.as_str()).collect();
    eprintln!(
        "Token {} ({}) for {}, scopes {}, {}. It is shown this once: store it now.",
        token.id,
        token.name,
        token.owner.name(),
        scopes.join(" "),
        expiry_text(token.expires_at),
    );
    Ok(ExitCode::SUCCESS)
}

async fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let store = open(&args.database).await?;
    let tokens = store.api_tokens(None).await?;
    store.close().await;
    let now = now_millis();
    if args.json {
        for token in &tokens {
            let mut line = json!(token);
            line["status"] = json!(token.status(now));
            println!("{line}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:>4}  {:<20} {:<20} {:<8} {:<28} {:<12} LAST USED",
        "ID", "NAME", "FOR", "STATUS", "SCOPES", "EXPIRES"
    );
    for token in &tokens {
        let scopes: Vec<_> = token.scopes.iter().map(|s| s.as_str()).collect();
        let last_used = match (&token.last_used_at, &token.last_used_from) {
            (Some(at), Some(from)) => format!("{} from {from}", date(*at)),
            (Some(at), None) => date(*at),
            _ => "never".into(),
        };
        println!(
            "{:>4}  {:<20} {:<20} {:<8} {:<28} {:<12} {last_used}",
            token.id,
            token.name,
            token.owner.name(),
            token.status(now),
            scopes.join(" "),
            token.expires_at.map(date).unwrap_or_else(|| "never".into()),
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn revoke(args: RevokeArgs) -> anyhow::Result<ExitCode> {
    let store = open(&args.database).await?;
    let Some(before) = store.api_token(args.id).await? else {
        eprintln!("error: there is no token {}", args.id);
        return Ok(ExitCode::from(2));
    };
    if before.revoked_at.is_some() {
        eprintln!("Token {} ({}) was revoked already.", before.id, before.name);
        return Ok(ExitCode::SUCCESS);
    }
    store.revoke_api_token(args.id, ACTOR).await?;
    audit(
        &store,
        "api_token.revoke",
        &format!("api_token:{}", before.id),
        json!({ "name": before.name, "for": before.owner }),
    )
    .await?;
    store.close().await;
    eprintln!("Token {} ({}) revoked.", before.id, before.name);
    Ok(ExitCode::SUCCESS)
}

async fn audit(
    store: &Store,
    action: &str,
    target: &str,
    after: serde_json::Value,
) -> anyhow::Result<()> {
    store
        .audit(AuditEvent {
            actor: ACTOR,
            action,
            target,
            before: None,
            after: Some(after),
            remote: None,
        })
        .await?;
    Ok(())
}

fn date(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn expiry_text(expires_at: Option<i64>) -> String {
    match expires_at {
        Some(at) => format!("expires {}", date(at)),
        None => "never expires".into(),
    }
}
