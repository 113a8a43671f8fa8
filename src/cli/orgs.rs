//! `portcullis org`: list, create, rename.

use clap::Subcommand;
use portcullis::config::Config;
use serde_json::json;

use crate::common::{Admin, print_list, time};

#[derive(Subcommand)]
pub enum OrgCommand {
    /// Every organization: id, name, number of members, creation time.
    List {
        /// One JSON array (id, name, members, created_at) instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Create an organization with no members yet (add them with `member add`).
    Create { name: String },
    /// Rename an organization.
    Rename {
        /// Its id, or a name only one organization has.
        org: String,
        new_name: String,
    },
}

pub fn command(config: Config, command: OrgCommand) -> anyhow::Result<()> {
    let admin = Admin::open(config)?;
    match command {
        OrgCommand::List { json } => {
            let all = admin.store.run_blocking(portcullis::store::orgs::list_organizations)?;
            if json {
                let rows: Vec<_> = all
                    .iter()
                    .map(|(o, members)| {
                        json!({
                            "id": o.id,
                            "name": o.name,
                            "members": members,
                            "created_at": time(Some(o.created_at.and_utc())),
                        })
                    })
                    .collect();
                return print_list(true, &rows, &[]);
            }
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
        OrgCommand::Create { name } => {
            let accounts = admin.accounts()?;
            let org = admin.rt.block_on(accounts.create_organization(&name))?;
            admin.audit(&org.id, "organization.created", Some(&org.id), json!({ "name": org.name }));
            println!("created organization {} ({})", org.name, org.id);
        }
        OrgCommand::Rename { org, new_name } => {
            let id = admin.organization_id(&org)?;
            let accounts = admin.accounts()?;
            let old = admin
                .rt
                .block_on(accounts.rename_organization(&id, &new_name))?
                .ok_or_else(|| anyhow::anyhow!("no organization has the id {id:?}"))?;
            let new_name = new_name.trim();
            admin.audit(&id, "organization.renamed", Some(&id), json!({ "from": old, "to": new_name }));
            println!("renamed organization {id} from {old:?} to {new_name:?}");
        }
    }
    Ok(())
}
