//! `portcullis key`: list and revoke API keys. A key's secret is never
//! shown (it is not stored): lists show its prefix and last four characters.

use std::collections::HashMap;

use clap::Subcommand;
use portcullis::apikeys::{ApiKey, ApiKeys};
use portcullis::config::Config;
use serde_json::{Value, json};

use crate::common::{Admin, print_list};

#[derive(Subcommand)]
pub enum KeyCommand {
    /// API keys: id, organization, name, prefix and last four, environment,
    /// scopes, creator, last use, expiry, status. Never the secret.
    List {
        /// Only this organization's keys (id, or a name only one has).
        #[arg(long)]
        org: Option<String>,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key at once and for good, on every instance.
    Revoke {
        /// The key's id, the start of it, or its masked form
        /// (`sk_live_…abcd`); one that fits several keys is refused.
        id_or_prefix: String,
    },
}

/// An organization's keys, newest first: every page of `ApiKeys::list`.
fn keys_of(admin: &Admin, api_keys: &ApiKeys, organization_id: &str) -> anyhow::Result<Vec<ApiKey>> {
    const PAGE: i64 = 100;
    let mut all: Vec<ApiKey> = Vec::new();
    loop {
        let after = all.last().map(|k| k.id.clone());
        let page = admin.rt.block_on(api_keys.list(organization_id, after.as_deref(), PAGE))?;
        let done = (page.len() as i64) < PAGE;
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
}

/// Every key of the organizations asked for, with the organization's name.
fn keys(admin: &Admin, api_keys: &ApiKeys, org: Option<&str>) -> anyhow::Result<Vec<(ApiKey, String)>> {
    let org = org.map(|o| admin.organization_id(o)).transpose()?;
    let mut found = Vec::new();
    for (o, _) in admin.store.run_blocking(portcullis::store::orgs::list_organizations)? {
        if org.as_ref().is_none_or(|wanted| wanted == &o.id) {
            found.extend(keys_of(admin, api_keys, &o.id)?.into_iter().map(|k| (k, o.name.clone())));
        }
    }
    Ok(found)
}

fn status(admin: &Admin, key: &ApiKey) -> &'static str {
    if key.revoked_at.is_some() {
        "revoked"
    } else if key.expires_at.is_some_and(|t| t <= admin.now()) {
        "expired"
    } else {
        "active"
    }
}

/// A key as /v1 shows it (`key_json`), with its organization, its creator's
/// email and its status.
fn row(admin: &Admin, key: &ApiKey, organization: &str, emails: &HashMap<String, String>) -> Value {
    let mut row = portcullis::http::api::key_json(key);
    row["organization_id"] = json!(key.organization_id);
    row["organization"] = json!(organization);
    row["creator_email"] = json!(key.created_by.as_ref().and_then(|u| emails.get(u)));
    row["status"] = json!(status(admin, key));
    row
}

pub fn command(config: Config, command: KeyCommand) -> anyhow::Result<()> {
    let admin = Admin::open(config)?;
    let api_keys = admin.api_keys()?;
    let accounts = admin.accounts()?;
    let emails: HashMap<String, String> =
        admin.rt.block_on(accounts.all_users())?.into_iter().map(|a| (a.user.id, a.user.email)).collect();
    match command {
        KeyCommand::List { org, json } => {
            let rows: Vec<Value> =
                keys(&admin, &api_keys, org.as_deref())?.iter().map(|(k, o)| row(&admin, k, o, &emails)).collect();
            let columns = [
                ("ID", "id"),
                ("ORGANIZATION", "organization"),
                ("NAME", "name"),
                ("KEY", "masked"),
                ("ENV", "environment"),
                ("SCOPES", "scopes"),
                ("CREATOR", "creator_email"),
                ("LAST USED", "last_used_at"),
                ("EXPIRES", "expires_at"),
                ("STATUS", "status"),
            ];
            print_list(json, &rows, &columns)?;
        }
        KeyCommand::Revoke { id_or_prefix } => {
            let wanted = id_or_prefix.trim();
            anyhow::ensure!(!wanted.is_empty(), "give a key's id or the start of it");
            let all = keys(&admin, &api_keys, None)?;
            let exact: Vec<&(ApiKey, String)> = all.iter().filter(|(k, _)| k.id == wanted).collect();
            let candidates: Vec<&(ApiKey, String)> =
                if exact.is_empty() { all.iter().filter(|(k, _)| matches(k, wanted)).collect() } else { exact };
            let (key, organization) = match candidates.as_slice() {
                [one] => *one,
                [] => anyhow::bail!("no API key has the id or prefix {wanted:?} (see `portcullis key list`)"),
                more => {
                    let list: Vec<String> = more
                        .iter()
                        .map(|(k, o)| format!("  {}  {}…{}  {:?} ({o})", k.id, k.prefix, k.last_four, k.name))
                        .collect();
                    anyhow::bail!(
                        "{} API keys match {wanted:?}; give one of their ids:\n{}",
                        more.len(),
                        list.join("\n")
                    )
                }
            };
            if let Some(at) = key.revoked_at {
                println!("{}\talready revoked at {}", key.id, at.to_rfc3339());
                return Ok(());
            }
            let revoked = admin.rt.block_on(api_keys.revoke(&key.organization_id, &key.id))?;
            let details = json!({
                "name": revoked.name,
                "scopes": portcullis::oauth::scopes::join(&revoked.scopes),
                "environment": revoked.environment.as_str(),
            });
            admin.audit(&key.organization_id, "api_key.revoked", Some(&key.id), details);
            println!("{}\trevoked\t{}…{}\t{:?} ({organization})", key.id, key.prefix, key.last_four, key.name);
        }
    }
    Ok(())
}

/// The start of the id, or the masked form a list shows (`sk_live_…abcd`,
/// with `…` or `...`).
fn matches(key: &ApiKey, wanted: &str) -> bool {
    if key.id.starts_with(wanted) {
        return true;
    }
    let masked = wanted.replace("...", "…");
    masked == format!("{}…{}", key.prefix, key.last_four)
}
