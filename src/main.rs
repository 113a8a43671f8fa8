//! The portcullis command line.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use portcullis::accounts::{Accounts, Role};
use portcullis::clock::SystemClock;
use portcullis::config::Config;

#[derive(Parser)]
#[command(name = "portcullis", version, about = "OAuth 2.0 / OpenID Connect authorization server and API-key platform")]
struct Cli {
    /// TOML configuration file; environment variables (PORTCULLIS_*) override it.
    #[arg(long, short, global = true, env = "PORTCULLIS_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default). Applies pending migrations first.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user in an organization (created if no organization has that
    /// name). The password is read from standard input, or prompted for on a
    /// terminal; never from the command line, where other users could see it.
    Create {
        /// The user's email address (unique, case-insensitively).
        #[arg(long)]
        email: String,
        /// Name of the organization to join or create.
        #[arg(long)]
        org: String,
        /// OWNER, ADMIN, DEVELOPER or VIEWER.
        #[arg(long, default_value = "OWNER")]
        role: Role,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    portcullis::telemetry::init(config.log_format, &config.log_level);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config),
        Command::Migrate => migrate(&config),
        Command::User(UserCommand::Create { email, org, role }) => create_user(config, &email, &org, role),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn serve(config: Config) -> anyhow::Result<()> {
    let addr = config.bind_addr();
    let state = portcullis::build_state(config, Arc::new(SystemClock))?;
    let listener = std::net::TcpListener::bind(addr).map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    tracing::info!(%addr, issuer = %state.config.issuer(), database = %state.store.url().redacted(), "portcullis listening");
    actix_web::rt::System::new().block_on(async move { portcullis::serve(state, listener)?.await })?;
    tracing::info!("stopped");
    Ok(())
}

fn migrate(config: &Config) -> anyhow::Result<()> {
    let store = portcullis::open_store(config)?;
    println!("database {} is up to date", store.url().redacted());
    Ok(())
}

fn create_user(config: Config, email: &str, org: &str, role: Role) -> anyhow::Result<()> {
    let password = read_password()?;
    let store = portcullis::open_store(&config)?;
    let accounts = Accounts::new(store, Arc::new(SystemClock), config.login_throttle.clone(), config.session_ttl_secs);
    let (user, org, created) = runtime()?.block_on(accounts.create_user(email, &password, org, role))?;
    println!(
        "created user {} ({}) as {role} of {}organization {} ({})",
        user.email,
        user.id,
        if created { "new " } else { "" },
        org.name,
        org.id
    );
    Ok(())
}

/// Prompts twice on a terminal; otherwise reads the first line of stdin.
fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Repeat password: ")?;
        anyhow::ensure!(first == second, "the passwords do not match");
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(!password.is_empty(), "no password on standard input");
    Ok(password)
}
