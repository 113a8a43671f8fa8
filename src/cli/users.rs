//! `portcullis user`: create, list, disable, enable, reset-password (the
//! link emailed through the outbox, or printed with `--print-link`); and
//! `portcullis sessions revoke`. A user belongs to no organization alone:
//! an event about a user is recorded in each organization they belong to.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal};
use std::sync::Arc;

use clap::Subcommand;
use portcullis::accounts::{Accounts, Role, User};
use portcullis::clock::SystemClock;
use portcullis::config::Config;
use portcullis::email::{Delivery, Outbox, Sender};
use serde_json::{Value, json};

use crate::common::{Admin, master_key, print_list, time};

#[derive(Subcommand)]
pub enum UserCommand {
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
    /// Every user (or an organization's members): id, email, status,
    /// organizations and roles, creation time.
    List {
        /// Only this organization's members (id, or a name only one has).
        #[arg(long)]
        org: Option<String>,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: sign-in is refused, every session and token of
    /// theirs ends now, and their API keys and management apps stop working.
    Disable { email: String },
    /// Let a disabled user sign in again (ended sessions stay ended; their
    /// keys and apps work again).
    Enable { email: String },
    /// Email the user a single-use link (valid 30 minutes) where they
    /// choose a new password, as "Forgot your password?" does: through SMTP
    /// (`smtp_url`), or without it as an .eml file in data_dir/outbox.
    /// Using the link ends every session and token of theirs.
    ResetPassword {
        email: String,
        /// Print the link here instead of emailing it (for a server without
        /// mail): hand it to the user yourself, over a channel you trust.
        #[arg(long)]
        print_link: bool,
    },
}

#[derive(Subcommand)]
pub enum SessionsCommand {
    /// Sign a user out everywhere: every browser session and every token
    /// (dashboard, /v1, apps' tokens for them) ends now.
    Revoke {
        /// The user's email.
        #[arg(long = "user", value_name = "EMAIL")]
        email: String,
    },
}

pub fn command(config: Config, command: UserCommand) -> anyhow::Result<()> {
    let open = |config| -> anyhow::Result<_> {
        let admin = Admin::open(config)?;
        let accounts = admin.accounts()?;
        Ok((admin, accounts))
    };
    match command {
        UserCommand::Create { email, org, role } => {
            // Read before the database opens: a bad input costs nothing.
            let password = read_password()?;
            let (admin, accounts) = open(config)?;
            create(&admin, &accounts, &email, &org, role, &password)?;
        }
        UserCommand::List { org, json } => {
            let (admin, accounts) = open(config)?;
            list(&admin, &accounts, org.as_deref(), json)?;
        }
        UserCommand::Disable { email } => {
            let (admin, accounts) = open(config)?;
            let user = admin.user(&accounts, &email)?;
            let changed = admin.rt.block_on(accounts.disable_user(&user.user.id))?;
            admin.tell_apps();
            admin.audit_user(&accounts, &user.user.id, "user.disabled", json!({ "email": user.user.email }))?;
            let was = if changed { "" } else { " (it was disabled already)" };
            println!(
                "disabled user {} ({}){was}: every session and token of theirs has ended",
                user.user.email, user.user.id
            );
        }
        UserCommand::Enable { email } => {
            let (admin, accounts) = open(config)?;
            let user = admin.user(&accounts, &email)?;
            let changed = admin.rt.block_on(accounts.enable_user(&user.user.id))?;
            admin.audit_user(&accounts, &user.user.id, "user.enabled", json!({ "email": user.user.email }))?;
            let was = if changed { "" } else { " (it was not disabled)" };
            println!("enabled user {} ({}){was}", user.user.email, user.user.id);
        }
        UserCommand::ResetPassword { email, print_link } => {
            let (admin, accounts) = open(config)?;
            let user = admin.user(&accounts, &email)?;
            if user.disabled_at.is_some() {
                eprintln!("note: the user is disabled; a new password does not enable them (`portcullis user enable`)");
            }
            if print_link {
                print_reset_link(&admin, &accounts, &user.user)?;
            } else {
                email_reset_link(&admin, accounts, &user.user)?;
            }
        }
    }
    Ok(())
}

pub fn sessions_command(config: Config, command: SessionsCommand) -> anyhow::Result<()> {
    let admin = Admin::open(config)?;
    let accounts = admin.accounts()?;
    match command {
        SessionsCommand::Revoke { email } => {
            let user = admin.user(&accounts, &email)?;
            let ended = admin.rt.block_on(accounts.end_every_session(&user.user.id))?;
            admin.tell_apps();
            admin.audit_user(&accounts, &user.user.id, "user.sessions_revoked", json!({ "sessions": ended }))?;
            println!("ended {ended} session(s) and every token of {} ({})", user.user.email, user.user.id);
        }
    }
    Ok(())
}

/// `reset-password --print-link`: the link on stdout, the one time it is
/// shown (only its digest is stored).
fn print_reset_link(admin: &Admin, accounts: &Accounts, user: &User) -> anyhow::Result<()> {
    let (token, expires_at) = admin.rt.block_on(accounts.create_password_reset(&user.id))?;
    let details = json!({ "email": user.email, "expires_at": time(Some(expires_at)), "sent": "printed" });
    admin.audit_user(accounts, &user.id, "user.password_reset_link_created", details)?;
    println!("{}/reset-password?token={token}", admin.config.issuer());
    eprintln!("(single use, valid until {}; shown once)", expires_at.to_rfc3339());
    Ok(())
}

/// `reset-password`: the link emailed through the outbox, sent at once by
/// this command when it can (a running server retries what it could not).
fn email_reset_link(admin: &Admin, accounts: Accounts, user: &User) -> anyhow::Result<()> {
    let outbox = Outbox::new(admin.config.issuer(), master_key(&admin.config)?);
    let sender = Sender::from_config(&admin.config, admin.store.clone(), Arc::new(SystemClock), &outbox)?;
    let accounts = accounts.with_outbox(outbox);
    let (message, expires_at) = admin.rt.block_on(accounts.email_password_reset(user))?;
    let details =
        json!({ "email": user.email, "expires_at": time(Some(expires_at)), "sent": "email", "message": message });
    admin.audit_user(&accounts, &user.id, "user.password_reset_link_created", details)?;
    let to = &user.email;
    match admin.rt.block_on(sender.deliver_now(&message))? {
        Delivery::Sent(None) => println!("emailed a password-reset link to {to} through SMTP (message {message})"),
        Delivery::Sent(Some(file)) => {
            println!("wrote a password-reset email for {to} to {} (no smtp_url; message {message})", file.display());
        }
        Delivery::Taken => {
            println!("queued a password-reset email to {to}; a running server is sending it (message {message})")
        }
        Delivery::Retrying { retry_at, why } => {
            println!("queued a password-reset email to {to} (message {message})");
            eprintln!("warning: not sent yet ({why}); the server tries again from {}", retry_at.and_utc().to_rfc3339());
        }
        Delivery::GivenUp(why) => {
            anyhow::bail!(
                "the password-reset email to {to} was refused for good: {why} (message {message}; `--print-link` shows a link instead)"
            )
        }
    }
    eprintln!("(the link is single use, valid until {})", expires_at.to_rfc3339());
    Ok(())
}

fn create(
    admin: &Admin,
    accounts: &Accounts,
    email: &str,
    org: &str,
    role: Role,
    password: &str,
) -> anyhow::Result<()> {
    let (user, org, created) = admin.rt.block_on(accounts.create_user(email, password, org, role))?;
    if created {
        admin.audit(&org.id, "organization.created", Some(&org.id), json!({ "name": org.name }));
    }
    let details = json!({ "email": user.email, "role": role.as_str() });
    admin.audit(&org.id, "user.created", Some(&user.id), details);
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

fn list(admin: &Admin, accounts: &Accounts, org: Option<&str>, json: bool) -> anyhow::Result<()> {
    let org = org.map(|o| admin.organization_id(o)).transpose()?;
    let mut rows = Vec::new();
    for account in admin.rt.block_on(accounts.all_users())? {
        let memberships = admin.rt.block_on(accounts.memberships(&account.user.id))?;
        let role_here = org.as_ref().map(|o| memberships.iter().find(|m| &m.organization.id == o));
        if role_here.is_some_and(|m| m.is_none()) {
            continue;
        }
        let organizations: Vec<Value> = memberships
            .iter()
            .map(|m| json!({ "id": m.organization.id, "name": m.organization.name, "role": m.role.as_str() }))
            .collect();
        let summary: BTreeMap<_, _> = memberships.iter().map(|m| (m.organization.name.clone(), m.role)).collect();
        let summary: Vec<String> = summary.iter().map(|(name, role)| format!("{name}:{role}")).collect();
        let mut row = json!({
            "id": account.user.id,
            "email": account.user.email,
            "status": if account.disabled_at.is_some() { "disabled" } else { "active" },
            "disabled_at": time(account.disabled_at),
            "created_at": time(Some(account.user.created_at)),
            "organizations": organizations,
            "memberships": summary,
        });
        if let Some(Some(m)) = role_here {
            row["role"] = json!(m.role.as_str());
        }
        rows.push(row);
    }
    if json {
        // `memberships` is the table's column; `organizations` says it all.
        for row in &mut rows {
            if let Some(o) = row.as_object_mut() {
                o.remove("memberships");
            }
        }
    }
    let mut columns = vec![("ID", "id"), ("EMAIL", "email"), ("STATUS", "status")];
    if org.is_some() {
        columns.push(("ROLE", "role"));
    }
    columns.extend([("ORGANIZATIONS", "memberships"), ("CREATED", "created_at")]);
    print_list(json, &rows, &columns)
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
