//! `portcullis member`: add, set-role, remove. The operator acts with an
//! OWNER's standing; the last OWNER of an organization stays, as on /v1
//! (the same `Accounts` functions decide).

use clap::Subcommand;
use portcullis::accounts::Role;
use portcullis::accounts::members::Asker;
use portcullis::config::Config;
use serde_json::json;

use crate::common::Admin;

#[derive(Subcommand)]
pub enum MemberCommand {
    /// Add an existing user to an organization.
    Add {
        /// Id of the organization, or a name only one has.
        org: String,
        email: String,
        /// OWNER, ADMIN, DEVELOPER or VIEWER.
        #[arg(long)]
        role: Role,
    },
    /// Change a member's role (their tokens end: they were issued under the
    /// old role). The last OWNER cannot be demoted.
    SetRole { org: String, email: String, role: Role },
    /// Remove a member (their tokens end; their keys lose their power). The
    /// last OWNER cannot be removed.
    Remove { org: String, email: String },
}

pub fn command(config: Config, command: MemberCommand) -> anyhow::Result<()> {
    let admin = Admin::open(config)?;
    let accounts = admin.accounts()?;
    match command {
        MemberCommand::Add { org, email, role } => {
            let org = admin.organization_id(&org)?;
            let user = admin.user(&accounts, &email)?.user;
            admin.rt.block_on(accounts.add_member(&org, &user.id, role))?;
            let details = json!({ "email": user.email, "role": role.as_str() });
            admin.audit(&org, "member.added", Some(&user.id), details);
            println!("added {} ({}) to organization {org} as {role}", user.email, user.id);
        }
        MemberCommand::SetRole { org, email, role } => {
            let org = admin.organization_id(&org)?;
            let user = admin.user(&accounts, &email)?.user;
            let old = admin
                .rt
                .block_on(accounts.change_role(&org, &user.id, role, Asker::Operator))?
                .ok_or_else(|| not_a_member(&user.email, &org))?;
            let details = json!({ "from": old.as_str(), "to": role.as_str() });
            admin.audit(&org, "member.role_changed", Some(&user.id), details);
            println!("{} is {role} of organization {org} (was {old})", user.email);
        }
        MemberCommand::Remove { org, email } => {
            let org = admin.organization_id(&org)?;
            let user = admin.user(&accounts, &email)?.user;
            let old = admin
                .rt
                .block_on(accounts.remove_member(&org, &user.id, Asker::Operator))?
                .ok_or_else(|| not_a_member(&user.email, &org))?;
            admin.audit(&org, "member.removed", Some(&user.id), json!({ "role": old.as_str() }));
            println!("removed {} ({old}) from organization {org}", user.email);
        }
    }
    Ok(())
}

fn not_a_member(email: &str, org: &str) -> anyhow::Error {
    anyhow::anyhow!("{email} is no member of organization {org}")
}
