//! What every administrative command shares: the database and the domain
//! services on it (the same ones /v1 uses), how organizations and users are
//! named on the command line, audit events with actor `cli`, and output:
//! `--json` (one array on stdout) or a table for people.

use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use portcullis::accounts::Accounts;
use portcullis::accounts::admin::UserAccount;
use portcullis::accounts::passwords::PasswordHashing;
use portcullis::apikeys::{ApiKeys, KeyWords};
use portcullis::audit::Origin;
use portcullis::changes::Changes;
use portcullis::clock::{Clock, SystemClock};
use portcullis::config::Config;
use portcullis::oauth::backchannel::{BackChannel, Delivery, DeliveryPolicy};
use portcullis::oauth::clients::Clients;
use portcullis::oauth::scopes::ScopeRegistry;
use portcullis::store::oidc_logins::EndedSession;
use portcullis::store::{Store, orgs};
use portcullis::tokens::master_key::MasterKey;
use portcullis::tokens::signing::RotationPolicy;
use serde_json::Value;

/// The actor of every audit event a command writes.
pub const ACTOR: &str = "cli";

/// An open database and a runtime for the domain's async functions.
pub struct Admin {
    pub config: Config,
    pub store: Store,
    pub rt: tokio::runtime::Runtime,
    clock: Arc<dyn Clock>,
    /// Sessions the command ended whose apps got ID tokens: told on their
    /// back channel before the command exits (`tell_apps`).
    ended: Arc<Mutex<Vec<EndedSession>>>,
}

impl Admin {
    pub fn open(config: Config) -> anyhow::Result<Self> {
        let store = portcullis::open_store(&config)?;
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        Ok(Self { config, store, rt, clock: Arc::new(SystemClock), ended: Arc::default() })
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Accounts as the server builds them: a user's revoked tokens are
    /// denied for as long as the server's tokens can live.
    pub fn accounts(&self) -> anyhow::Result<Accounts> {
        let passwords = PasswordHashing::new(&self.config.password_hash)?;
        let lifetime = RotationPolicy::from_config(&self.config).retired_retention(&self.store)?;
        Ok(Accounts::new(
            self.store.clone(),
            self.clock.clone(),
            self.config.login_throttle.clone(),
            passwords,
            self.config.session_ttl_secs,
        )
        .with_token_lifetime(lifetime)
        .on_session_end({
            let ended = self.ended.clone();
            Arc::new(move |sessions| ended.lock().unwrap_or_else(PoisonError::into_inner).extend(sessions))
        }))
    }

    /// Tells the apps of the sessions this command ended (OpenID Connect
    /// Back-Channel Logout), as the server does when it ends one, and waits
    /// for the deliveries (each bounded by the delivery policy). A failure
    /// is a warning: the sessions and their tokens have ended all the same.
    pub fn tell_apps(&self) {
        let ended = std::mem::take(&mut *self.ended.lock().unwrap_or_else(PoisonError::into_inner));
        if ended.is_empty() {
            return;
        }
        let channel = match self.back_channel() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("warning: the apps of the ended sessions were not told on their back channel: {e:#}");
                return;
            }
        };
        let (mut told, mut failed) = (0, Vec::new());
        for session in ended {
            for client_id in &session.client_ids {
                match self.rt.block_on(channel.deliver_to(client_id, &session.user_id, &session.session_id)) {
                    Delivery::Delivered => told += 1,
                    // No back channel: nobody to tell, nothing failed.
                    Delivery::NoBackChannel => {}
                    Delivery::Failed(why) => failed.push(format!("{client_id}: {why}")),
                }
            }
        }
        if let Some(report) = back_channel_report(told, &failed) {
            eprintln!("{report}");
        }
    }

    fn back_channel(&self) -> anyhow::Result<BackChannel> {
        let _runtime = self.rt.enter();
        let master = master_key(&self.config)?;
        let changes = Changes::new(self.store.clone())?;
        let oauth = portcullis::build_oauth(&self.config, &self.store, &master, self.clock.clone(), &changes)?;
        BackChannel::new(
            self.store.clone(),
            self.clock.clone(),
            oauth.keys.clone(),
            oauth.pairwise.clone(),
            oauth.sid.clone(),
            oauth.settings.issuer.clone(),
            DeliveryPolicy::default(),
        )
    }

    fn scopes(&self) -> anyhow::Result<Arc<ScopeRegistry>> {
        Ok(Arc::new(ScopeRegistry::new(&self.config.oauth.scopes).map_err(anyhow::Error::msg)?))
    }

    pub fn clients(&self) -> anyhow::Result<Clients> {
        Ok(Clients::new(self.store.clone(), self.clock.clone(), self.scopes()?).for_config(&self.config))
    }

    pub fn api_keys(&self) -> anyhow::Result<ApiKeys> {
        let api = &self.config.api;
        let words = KeyWords { secret: api.secret_key_prefix.clone(), restricted: api.restricted_key_prefix.clone() };
        Ok(ApiKeys::new(self.store.clone(), self.clock.clone(), self.scopes()?, words))
    }

    /// An organization by id, or by a name only one organization has.
    pub fn organization_id(&self, id_or_name: &str) -> anyhow::Result<String> {
        organization_id(&self.store, id_or_name)
    }

    /// The user with this email (case-insensitively), or a clear error.
    pub fn user(&self, accounts: &Accounts, email: &str) -> anyhow::Result<UserAccount> {
        self.rt
            .block_on(accounts.user_by_email(email))?
            .with_context(|| format!("no user has the email {email:?} (see `portcullis user list`)"))
    }

    /// Records an event in one organization, with actor `cli`.
    pub fn audit(&self, organization_id: &str, action: &str, target: Option<&str>, details: Value) {
        let origin = origin();
        self.rt.block_on(portcullis::audit::record(
            &self.store,
            self.now(),
            organization_id,
            action,
            &origin,
            target,
            details,
        ));
    }

    /// Records an event about a user in each organization they belong to
    /// (events belong to an organization); says so when there is none.
    pub fn audit_user(&self, accounts: &Accounts, user_id: &str, action: &str, details: Value) -> anyhow::Result<()> {
        let recorded = self.rt.block_on(accounts.audit_user_event(user_id, action, &origin(), details))?;
        if recorded == 0 {
            eprintln!("note: the user belongs to no organization, so no audit event records this");
        }
        Ok(())
    }

    /// Records an event about the whole server (signing keys) in every
    /// organization: each one's tokens are concerned.
    pub fn audit_everywhere(&self, action: &str, target: Option<&str>, details: Value) -> anyhow::Result<()> {
        for (org, _) in self.store.run_blocking(orgs::list_organizations)? {
            self.audit(&org.id, action, target, details.clone());
        }
        Ok(())
    }
}

/// The server's master key: configured, or the development one in the data
/// directory. Never a new one: keys sealed under another would not open.
pub fn master_key(config: &Config) -> anyhow::Result<MasterKey> {
    match MasterKey::find(config.master_key.as_deref(), config.is_https(), &config.data_dir)? {
        Some((key, _)) => Ok(key),
        None => anyhow::bail!("no master key: set PORTCULLIS_MASTER_KEY (or the data_dir the server uses)"),
    }
}

fn origin() -> Origin {
    Origin { actor: ACTOR.into(), request_id: None, ip: None }
}

/// An organization by id, or by a name only one organization has.
pub fn organization_id(store: &Store, id_or_name: &str) -> anyhow::Result<String> {
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

/// What `tell_apps` prints: the apps with a back channel told and those
/// that failed, each with why (the command's own log is not shown); nothing
/// when no app had a back channel.
fn back_channel_report(told: usize, failed: &[String]) -> Option<String> {
    if told == 0 && failed.is_empty() {
        return None;
    }
    let mut report = format!("back-channel logout: {told} app(s) told, {} failed", failed.len());
    for why in failed {
        report.push_str("\n  ");
        report.push_str(why);
    }
    Some(report)
}

/// RFC 3339 in UTC, to the second; `-` in tables for nothing.
pub fn time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
}

/// Prints a list: with `json`, one JSON array on stdout; otherwise a table
/// of `columns` (header, field of each row), aligned, `-` for null.
pub fn print_list(json: bool, rows: &[Value], columns: &[(&str, &str)]) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(rows)?);
        return Ok(());
    }
    let cell = |row: &Value, field: &str| match &row[field] {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts: Vec<String> =
                items.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned)).collect();
            if parts.is_empty() { "-".to_owned() } else { parts.join(",") }
        }
        other => other.to_string(),
    };
    let table: Vec<Vec<String>> = std::iter::once(columns.iter().map(|(h, _)| (*h).to_owned()).collect())
        .chain(rows.iter().map(|r| columns.iter().map(|(_, f)| cell(r, f)).collect()))
        .collect();
    let widths: Vec<usize> =
        (0..columns.len()).map(|i| table.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    for row in &table {
        let line: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", line.join("  ").trim_end());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_back_channel_report_counts_apps_with_one_and_says_what_failed() {
        assert_eq!(back_channel_report(0, &[]), None, "no app had a back channel: nothing to say");
        assert_eq!(back_channel_report(2, &[]).as_deref(), Some("back-channel logout: 2 app(s) told, 0 failed"));
        let failed = ["pc_a: answered 500 (3 attempts, https://rp.example/bc)".to_owned()];
        assert_eq!(
            back_channel_report(1, &failed).as_deref(),
            Some(
                "back-channel logout: 1 app(s) told, 1 failed\n  pc_a: answered 500 (3 attempts, https://rp.example/bc)"
            )
        );
    }
}
