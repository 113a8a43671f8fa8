//! The portcullis command line.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use portcullis::accounts::passwords::PasswordHashing;
use portcullis::accounts::{Accounts, Role};
use portcullis::clock::SystemClock;
use portcullis::config::Config;
use portcullis::oauth::clients::{ClientType, Clients, GrantType, NewClient, OidcRegistration, SubjectType};
use portcullis::oauth::scopes::ScopeRegistry;
use portcullis::tokens::signing::SigningAlgorithm;

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
    /// Manage OAuth clients (registered apps).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Signing keys: list, rotate, retire.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Copy the SQLite database, online, to a file (mode 0600); the
    /// master key is not in it. PostgreSQL: use pg_dump.
    Backup(backup::BackupArgs),
    /// Replace the SQLite database with a backup. The server must be
    /// stopped, and the master key must be the backed-up server's.
    Restore(backup::RestoreArgs),
    /// The configuration: check it and print it, secrets masked.
    #[command(subcommand)]
    Config(config_check::ConfigCommand),
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Every organization: id, name, number of members, creation time.
    List,
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Register an app. A confidential client's secret is printed once and
    /// stored only as a digest: copy it now.
    Create(Box<CreateClient>),
    /// List registered apps.
    List {
        /// Only this organization's apps (id, or a name only one has).
        #[arg(long)]
        org: Option<String>,
    },
    /// Issue a new client secret, printed once.
    RotateSecret {
        client_id: String,
        /// Seconds the previous secret keeps working (0: it stops now).
        #[arg(long, default_value_t = 0)]
        grace: i64,
    },
}

/// What `client create` registers.
#[derive(clap::Args)]
struct CreateClient {
    /// Id of the organization that owns the app, or its name when only one has it.
    #[arg(long)]
    org: String,
    /// Name shown on the consent page.
    #[arg(long)]
    name: String,
    /// confidential (has a secret: servers) or public (no secret: SPAs, native apps; PKCE required).
    #[arg(long = "type", default_value = "confidential")]
    client_type: ClientType,
    /// A redirect URI, matched exactly (repeat for several).
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// authorization_code, client_credentials or refresh_token (repeat for several).
    #[arg(long = "grant", required = true)]
    grants: Vec<GrantType>,
    /// A scope the app may ask for (repeat for several).
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// Homepage shown on the consent page.
    #[arg(long)]
    homepage: Option<String>,
    /// Logo (https) shown on the consent page.
    #[arg(long)]
    logo: Option<String>,
    /// Access-token lifetime in seconds, at most 86400 (default from configuration).
    #[arg(long)]
    access_token_ttl: Option<i64>,
    /// Refresh-token idle lifetime in seconds (default from configuration).
    #[arg(long)]
    refresh_token_ttl: Option<i64>,
    /// Issue a refresh token in the code flow even without offline_access.
    #[arg(long)]
    always_issue_refresh_token: bool,
    /// May introspect tokens issued to any client (for resource servers).
    #[arg(long)]
    resource_server: bool,
    /// PKCE (S256) on the code flow: required (default, OAuth 2.1), or
    /// optional for a legacy confidential client that cannot send it.
    /// Public clients always require it.
    #[arg(long, value_name = "required|optional", default_value = "required")]
    pkce: PkceRule,
    /// Where /oauth/logout may send the browser after sign-out, matched
    /// exactly (repeat for several).
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// Where a logout token is POSTed when a user's session ends
    /// (OpenID Connect Back-Channel Logout): https, or http on loopback.
    #[arg(long)]
    backchannel_logout_uri: Option<String>,
    /// The `sub` of ID tokens: the user's id (public), or one per sector
    /// identifier (pairwise).
    #[arg(long, value_name = "public|pairwise", default_value = "public")]
    subject_type: SubjectType,
    /// For a pairwise app whose redirect URIs span several hosts: the one of
    /// them its subjects are computed for.
    #[arg(long)]
    sector_identifier: Option<String>,
    /// The ID-token signing algorithm.
    #[arg(long, value_name = "RS256|ES256|EdDSA", default_value = "RS256")]
    id_token_alg: SigningAlgorithm,
}

/// Whether a client must use PKCE in the code flow.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum PkceRule {
    Required,
    Optional,
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
        /// Id of the organization to join, or the name of one to join or create.
        #[arg(long)]
        org: String,
        /// OWNER, ADMIN, DEVELOPER or VIEWER.
        #[arg(long, default_value = "OWNER")]
        role: Role,
    },
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
        Command::User(UserCommand::Create { email, org, role }) => create_user(config, &email, &org, role),
        Command::Client(command) => client_command(config, command),
        Command::Org(command) => org_command(config, command),
        Command::Keys(command) => keys::command(config, command),
        Command::Backup(args) => backup::backup(&config, args),
        Command::Restore(args) => backup::restore(&config, args),
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

#[path = "cli/backup.rs"]
mod backup;
#[path = "cli/config_check.rs"]
mod config_check;
#[path = "cli/keys.rs"]
mod keys;
use keys::KeysCommand;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn serve(config: Config) -> anyhow::Result<()> {
    let addr = config.bind_addr();
    let state = portcullis::build_state(config, Arc::new(SystemClock))?;
    let listener = std::net::TcpListener::bind(addr).map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    // The address bound, not the one asked for: port 0 is the system's pick.
    let addr = listener.local_addr()?;
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
    let passwords = PasswordHashing::new(&config.password_hash)?;
    let throttle = config.login_throttle.clone();
    let accounts = Accounts::new(store, Arc::new(SystemClock), throttle, passwords, config.session_ttl_secs);
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

/// An organization by id, or by a name only one organization has.
fn organization_id(store: &portcullis::store::Store, id_or_name: &str) -> anyhow::Result<String> {
    use portcullis::store::orgs;
    let wanted = id_or_name.to_owned();
    let found = store.run_blocking(|conn| match orgs::find_organization(conn, &wanted)? {
        Some(by_id) => Ok(vec![by_id]),
        None => orgs::find_organizations_by_name(conn, &wanted),
    })?;
    match found.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => anyhow::bail!("no organization has the id or name {id_or_name:?} (see `portcullis org list`)"),
        more => {
            let ids: Vec<&str> = more.iter().map(|o| o.id.as_str()).collect();
            anyhow::bail!(
                "{} organizations are named {id_or_name:?}: give one of their ids ({})",
                more.len(),
                ids.join(", ")
            )
        }
    }
}

fn org_command(config: Config, command: OrgCommand) -> anyhow::Result<()> {
    let store = portcullis::open_store(&config)?;
    match command {
        OrgCommand::List => {
            let all = store.run_blocking(portcullis::store::orgs::list_organizations)?;
            for (org, members) in all {
                println!(
                    "{}\t{}\t{} members\tcreated {}",
                    org.id,
                    org.name,
                    members,
                    org.created_at.and_utc().to_rfc3339()
                );
            }
        }
    }
    Ok(())
}

fn client_command(config: Config, command: ClientCommand) -> anyhow::Result<()> {
    let store = portcullis::open_store(&config)?;
    let registry = Arc::new(ScopeRegistry::new(&config.oauth.scopes).map_err(anyhow::Error::msg)?);
    let clients = Clients::new(store.clone(), Arc::new(SystemClock), registry).for_config(&config);
    let rt = runtime()?;
    match command {
        ClientCommand::Create(create) => {
            let CreateClient {
                org,
                name,
                client_type,
                redirect_uris,
                grants,
                scopes,
                homepage,
                logo,
                access_token_ttl,
                refresh_token_ttl,
                always_issue_refresh_token,
                resource_server,
                pkce,
                post_logout_redirect_uris,
                backchannel_logout_uri,
                subject_type,
                sector_identifier,
                id_token_alg,
            } = *create;
            let organization_id = organization_id(&store, &org)?;
            let new = NewClient {
                organization_id,
                name,
                client_type,
                redirect_uris,
                grant_types: grants.into_iter().collect(),
                scopes,
                homepage_url: homepage,
                logo_url: logo,
                access_token_ttl_secs: access_token_ttl,
                refresh_token_ttl_secs: refresh_token_ttl,
                always_issue_refresh_token,
                resource_server,
                management: false,
                // Clients::create refuses an exemption for a public client.
                require_pkce: pkce == PkceRule::Required,
                created_by: None,
                oidc: OidcRegistration {
                    post_logout_redirect_uris,
                    backchannel_logout_uri,
                    subject_type,
                    sector_identifier,
                    id_token_alg,
                },
            };
            let (client, secret) = rt.block_on(clients.create(new))?;
            println!("client_id:     {}", client.client_id);
            if let Some(secret) = secret {
                println!("client_secret: {secret}");
                println!("(the secret is shown once; only its digest is stored)");
            }
        }
        ClientCommand::List { org } => {
            let org = org.map(|o| organization_id(&store, &o)).transpose()?;
            for c in rt.block_on(clients.list(org))? {
                let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    c.client_id,
                    c.organization_name,
                    c.name,
                    c.client_type,
                    grants.join(","),
                    portcullis::oauth::scopes::join(&c.scopes)
                );
            }
        }
        ClientCommand::RotateSecret { client_id, grace } => {
            let secret = rt.block_on(clients.rotate_secret(&client_id, chrono::Duration::seconds(grace)))?;
            println!("client_secret: {secret}");
            if grace > 0 {
                println!("(the previous secret keeps working for {grace} s)");
            }
        }
    }
    Ok(())
}
