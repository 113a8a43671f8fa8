//! `portcullis email`: the outbox as an operator sees it: how many messages
//! wait and how many were given up (dead letters), and why each was.

use clap::Subcommand;
use portcullis::config::Config;
use portcullis::store::email_outbox;
use serde_json::json;

use crate::common::{Admin, print_list, time};

/// Dead letters listed at most.
const LISTED: i64 = 500;

#[derive(Subcommand)]
pub enum EmailCommand {
    /// How many messages wait to be sent and how many were given up.
    Status,
    /// The messages given up (kept 30 days, bodies emptied), newest first:
    /// refused for good by the mail server, or unsent after 3 days.
    Failed {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub fn command(config: Config, command: EmailCommand) -> anyhow::Result<()> {
    let admin = Admin::open(config)?;
    match command {
        EmailCommand::Status => {
            let counts = admin.store.run_blocking(email_outbox::counts)?;
            println!("waiting: {}\nfailed: {}", counts.waiting, counts.failed);
        }
        EmailCommand::Failed { json } => {
            let rows = admin.store.run_blocking(|c| email_outbox::failed(c, LISTED))?;
            let rows: Vec<_> = rows
                .into_iter()
                .map(|r| {
                    json!({
                        "id": r.id,
                        "to": r.recipient,
                        "subject": r.subject,
                        "attempts": r.attempts,
                        "queued_at": time(Some(r.created_at.and_utc())),
                        "failed_at": time(r.failed_at.map(|t| t.and_utc())),
                        "reason": r.last_error,
                    })
                })
                .collect();
            let columns = [
                ("ID", "id"),
                ("TO", "to"),
                ("SUBJECT", "subject"),
                ("ATTEMPTS", "attempts"),
                ("FAILED", "failed_at"),
                ("REASON", "reason"),
            ];
            print_list(json, &rows, &columns)?;
        }
    }
    Ok(())
}
