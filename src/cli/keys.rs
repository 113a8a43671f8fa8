//! `portcullis signing-key` (also `keys`): list, rotate and retire signing
//! keys. Output is one tab-separated line per key (or `--json`), for
//! scripts; warnings go to stderr. A rotation or retirement concerns every
//! organization's tokens: its audit event (actor `cli`) is recorded in each.

use chrono::{DateTime, Utc};
use clap::Subcommand;
use portcullis::config::Config;
use portcullis::store::Store;
use portcullis::tokens::signing::{ALGORITHMS, KeyStatus, RotationPolicy, SigningAlgorithm, SigningKeys, list_keys};
use serde_json::json;

use crate::common::{Admin, master_key};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Every key: kid, algorithm, state (next, current, retired), created,
    /// activated, retired, when it activates (next) or stops being published
    /// (retired), and `access` on the key that signs access tokens.
    List {
        /// One JSON array instead of tab-separated lines.
        #[arg(long)]
        json: bool,
    },
    /// Prepare a next key: published at once, signing once the server has
    /// published it for the JWKS max-age plus the change-poll interval.
    Rotate {
        /// ES256, RS256, EdDSA, or all.
        #[arg(long, value_name = "ES256|RS256|EdDSA|all", default_value = "all")]
        algorithm: AlgorithmChoice,
        /// For a compromised key: the new key signs at once. Clients that
        /// cached the JWKS may fail to verify new tokens until they refetch it.
        #[arg(long)]
        now: bool,
    },
    /// Stop publishing a retired key at once, before the end of its
    /// retention (for a compromised key): tokens it signed are refused.
    Retire {
        /// A kid may begin with `-` (it is base64url).
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

/// One algorithm or every one.
#[derive(Clone, Copy)]
pub enum AlgorithmChoice {
    One(SigningAlgorithm),
    All,
}

impl std::str::FromStr for AlgorithmChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "all" => Ok(Self::All),
            one => one.parse().map(Self::One).map_err(|e| format!("{e}, or all")),
        }
    }
}

impl AlgorithmChoice {
    fn algorithms(self) -> Vec<SigningAlgorithm> {
        match self {
            Self::One(a) => vec![a],
            Self::All => ALGORITHMS.to_vec(),
        }
    }
}

pub fn command(config: Config, command: KeysCommand) -> anyhow::Result<()> {
    let admin = Admin::open(config)?;
    let (config, store) = (&admin.config, &admin.store);
    match command {
        KeysCommand::List { json } => list(config, store, json),
        KeysCommand::Rotate { algorithm, now } => rotate(&admin, algorithm, now),
        KeysCommand::Retire { kid } => {
            SigningKeys::remove_retired(store, &kid)?;
            admin.audit_everywhere("signing_key.retired", Some(&kid), json!({}))?;
            println!("{kid}\tremoved");
            eprintln!("running servers stop publishing it and refuse its tokens within one change poll");
            Ok(())
        }
    }
}

fn list(config: &Config, store: &Store, json: bool) -> anyhow::Result<()> {
    access_algorithm(config)?;
    let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339());
    let rows: Vec<serde_json::Value> = list_keys(config, store)?
        .iter()
        .map(|k| {
            json!({
                "kid": k.kid,
                "algorithm": k.algorithm,
                "state": k.state,
                "created_at": time(Some(k.created_at)),
                "activated_at": time(k.activated_at),
                "retired_at": time(k.retired_at),
                "until": time(k.until),
                "signs_access_tokens": k.signs_access_tokens,
            })
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    for r in &rows {
        let field = |name: &str| r[name].as_str().unwrap_or("-").to_owned();
        let access = if r["signs_access_tokens"] == true { "access" } else { "-" };
        let fields = ["kid", "algorithm", "state", "created_at", "activated_at", "retired_at", "until"].map(field);
        println!("{}\t{access}", fields.join("\t"));
    }
    Ok(())
}

fn rotate(admin: &Admin, choice: AlgorithmChoice, at_once: bool) -> anyhow::Result<()> {
    let (config, store) = (&admin.config, &admin.store);
    let master = master_key(config)?;
    let now = Utc::now();
    let keys = SigningKeys::load_or_create(store, &master, access_algorithm(config)?, now)?;
    let policy = RotationPolicy::from_config(config);
    for algorithm in choice.algorithms() {
        let prepared = SigningKeys::statuses(store)?.into_iter().find(|k| is(k, algorithm, "next"));
        let next = match prepared {
            Some(next) if !at_once => {
                println!("{algorithm}\tnext\t{}\talready prepared, activates {}", next.kid, activates(&policy, &next));
                continue;
            }
            Some(next) => next.kid,
            None => keys.prepare_next(store, &master, algorithm, now)?,
        };
        if !at_once {
            let status = SigningKeys::statuses(store)?.into_iter().find(|k| k.kid == next);
            let when = status.map_or_else(|| "-".to_owned(), |s| activates(&policy, &s));
            let details = json!({ "algorithm": algorithm.as_str(), "state": "next" });
            admin.audit_everywhere("signing_key.rotated", Some(&next), details)?;
            println!("{algorithm}\tnext\t{next}\tactivates {when}");
            continue;
        }
        let old = keys.current_kid_of(algorithm);
        let kid = keys.activate_next(store, &master, algorithm, Utc::now())?;
        let details = json!({ "algorithm": algorithm.as_str(), "state": "current", "retired": old, "now": true });
        admin.audit_everywhere("signing_key.rotated", Some(&kid), details)?;
        println!("{algorithm}\tcurrent\t{kid}\tretired {old}");
        eprintln!(
            "warning: {kid} signs {algorithm} tokens now; clients that cached the JWKS (up to {} s) may fail \
             to verify them until they fetch it again",
            config.oauth.jwks_max_age_secs
        );
    }
    Ok(())
}

fn is(k: &KeyStatus, algorithm: SigningAlgorithm, state: &str) -> bool {
    k.algorithm == algorithm.as_str() && k.state == state
}

fn activates(policy: &RotationPolicy, next: &KeyStatus) -> String {
    format!("after {} (by a running server)", policy.activates_at(next).to_rfc3339())
}

fn access_algorithm(config: &Config) -> anyhow::Result<SigningAlgorithm> {
    config.oauth.signing_algorithm.parse().map_err(|e| anyhow::anyhow!("oauth.signing_algorithm: {e}"))
}
