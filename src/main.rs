//! The portcullis command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
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
    /// Users: create, list, disable, enable, reset-password.
    #[command(subcommand)]
    User(users::UserCommand),
    /// Manage OAuth clients (registered apps).
    #[command(subcommand)]
    Client(clients::ClientCommand),
    /// Organizations: list, create, rename.
    #[command(subcommand)]
    Org(orgs::OrgCommand),
    /// Members of an organization: add, set-role, remove.
    #[command(subcommand)]
    Member(members::MemberCommand),
    /// API keys: list, revoke.
    #[command(subcommand)]
    Key(api_keys::KeyCommand),
    /// A user's sessions and tokens: revoke.
    #[command(subcommand)]
    Sessions(users::SessionsCommand),
    /// Signing keys: list, rotate, retire (`keys` is the former name).
    #[command(subcommand, name = "signing-key", visible_alias = "keys")]
    SigningKey(keys::KeysCommand),
    /// Copy the SQLite database, online, to a file (mode 0600); the
    /// master key is not in it. PostgreSQL: use pg_dump.
    Backup(backup::BackupArgs),
    /// Replace the SQLite database with a backup. The server must be
    /// stopped, and the master key must be the backed-up server's.
    Restore(backup::RestoreArgs),
    /// The email outbox: how many messages wait, and those given up.
    #[command(subcommand)]
    Email(email::EmailCommand),
    /// The configuration: check it and print it, secrets masked.
    #[command(subcommand)]
    Config(config_check::ConfigCommand),
}

/// glibc maps a large allocation on its own, but once such a block is freed
/// it raises that threshold to the block's size (up to 32 MiB), and every
/// later one comes from a thread's arena, which keeps it when freed: one
/// argon2 buffer (19 MiB at the default cost) per arena that ever hashed. A
/// fixed threshold turns that off: a block of 1 MiB or more is mapped when
/// allocated and unmapped when freed (the password limiter frees its buffers
/// when sign-ins stop).
fn fixed_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes an allocator setting; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

fn main() -> ExitCode {
    fixed_mmap_threshold();
    let cli = Cli::parse();
    if let Some(Command::Config(command)) = cli.command {
        return config_check::command(cli.config.as_deref(), command);
    }
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    portcullis::telemetry::init(config.log_format, &config.log_level);
    let command = cli.command.unwrap_or(Command::Serve);
    if !matches!(command, Command::Serve) {
        quiet_on_closed_pipe();
    }
    let result = match command {
        Command::Serve => serve(config),
        Command::Migrate => migrate(&config),
        Command::User(command) => users::command(config, command),
        Command::Client(command) => clients::command(config, command),
        Command::Org(command) => orgs::command(config, command),
        Command::Member(command) => members::command(config, command),
        Command::Key(command) => api_keys::command(config, command),
        Command::Sessions(command) => users::sessions_command(config, command),
        Command::SigningKey(command) => keys::command(config, command),
        Command::Backup(args) => backup::backup(&config, args),
        Command::Restore(args) => backup::restore(&config, args),
        Command::Email(command) => email::command(config, command),
        Command::Config(_) => unreachable!("handled before the configuration is loaded"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A command's output piped into `head` (or closed early): end quietly as
/// other command-line tools do, not with a panic from `println!`. Only for
/// the commands; the server handles its own sockets.
fn quiet_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: restores the default disposition of one signal before any
    // thread is started; no handler runs Rust code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

// The administrative commands, one file per noun (src/cli/).
#[path = "cli/api_keys.rs"]
mod api_keys;
#[path = "cli/backup.rs"]
mod backup;
#[path = "cli/clients.rs"]
mod clients;
#[path = "cli/common.rs"]
mod common;
#[path = "cli/config_check.rs"]
mod config_check;
#[path = "cli/email.rs"]
mod email;
#[path = "cli/keys.rs"]
mod keys;
#[path = "cli/members.rs"]
mod members;
#[path = "cli/orgs.rs"]
mod orgs;
#[path = "cli/users.rs"]
mod users;

fn serve(config: Config) -> anyhow::Result<()> {
    let addr = config.bind_addr();
    let state = portcullis::build_state(config, Arc::new(SystemClock))?;
    let listener = std::net::TcpListener::bind(addr).map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    // The address bound, not the one asked for: port 0 is the system's pick.
    let addr = listener.local_addr()?;
    let (issuer, database, tls) =
        (state.config.issuer().to_owned(), state.store.url().redacted(), state.config.tls.is_some());
    actix_web::rt::System::new().block_on(async move {
        // Said once the server runs: a certificate that cannot be used stops it first.
        let server = portcullis::serve(state, listener)?;
        tracing::info!(%addr, %issuer, %database, tls, "portcullis listening");
        server.await
    })?;
    tracing::info!("stopped");
    Ok(())
}

fn migrate(config: &Config) -> anyhow::Result<()> {
    let store = portcullis::open_store(config)?;
    println!("database {} is up to date", store.url().redacted());
    Ok(())
}
