//! `portcullis config check`: loads the configuration as `serve` does
//! (defaults < file < environment), checks it, and prints the effective
//! configuration as TOML with its secrets masked.
//!
//! Masking is deny-by-default: a string field is printed only if it is on
//! `PRINTABLE` (and then with any URL's password removed); every other
//! string, such as `master_key` or a field added later and not reviewed,
//! shows as `***`. Errors never quote a value that was set: the parts of
//! serde's messages that would are left out, and whatever value the file or
//! the environment gives a secret field is struck from the text that remains
//! (a URL's password only, for the URLs that may hold one).

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use figment::error::{Actual, Kind};
use figment::value::Value as Setting;
use portcullis::config::Config;
use portcullis::store::DatabaseUrl;
use portcullis::store::conn::redact_url;
use portcullis::tokens::master_key::{KeySource, MasterKey};

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Check the configuration (the file of --config, then PORTCULLIS_*
    /// variables) as `serve` loads it, and print the effective configuration
    /// as TOML, secrets masked.
    Check,
}

/// What a masked value shows.
const MASK: &str = "***";

/// The string fields printed as they are (URLs without their password);
/// every other string is masked. A field holding a secret must never be
/// added here.
const PRINTABLE: &[&str] = &[
    "bind",
    "issuer",
    "database_url",
    "data_dir",
    "log_format",
    "log_level",
    "trusted_proxies",
    "forwarded_header",
    "oauth.signing_algorithm",
    "oauth.audience",
    "oauth.scopes.name",
    "oauth.scopes.description",
    "api.secret_key_prefix",
    "api.restricted_key_prefix",
    "api.rate_limit_redis_url",
    "api.rate_limit_redis_failure",
    "api.rate_limit_redis_prefix",
    "tls.cert_file",
    "tls.key_file",
    "metrics.bind",
    "email_from",
];

pub fn command(file: Option<&Path>, command: ConfigCommand) -> ExitCode {
    match command {
        ConfigCommand::Check => match check(file) {
            Ok(effective) => {
                print!("{effective}");
                eprintln!("configuration OK");
                ExitCode::SUCCESS
            }
            Err(why) => {
                eprintln!("error: {why}");
                ExitCode::from(2)
            }
        },
    }
}

/// The effective configuration as masked TOML, or why it is invalid
/// (without the values that were set).
fn check(file: Option<&Path>) -> Result<String, String> {
    let set = Config::sources(file).map_err(|e| e.to_string())?;
    let given = given_strings(&set);
    let scrub = |message: String| strike(message, &given);
    let config: Config = Config::figment(file)
        .map_err(|e| e.to_string())?
        .extract()
        .map_err(|e| scrub(e.into_iter().map(|e| describe(&e)).collect::<Vec<_>>().join("; ")))?;
    config.validate().map_err(|e| scrub(e.to_string()))?;
    let master_key = match MasterKey::find(config.master_key.as_deref(), config.is_https(), &config.data_dir) {
        Ok(Some((_, KeySource::File(path)))) => format!("the development key in {}", path.display()),
        Ok(Some(_)) => "configured".to_owned(),
        Ok(None) => format!("not set: a development key is generated into {} at start", config.data_dir.display()),
        Err(e) => return Err(scrub(format!("invalid configuration: {e}"))),
    };
    DatabaseUrl::parse(&config.database_url).map_err(|e| scrub(format!("invalid configuration: database_url: {e}")))?;
    let mut toml = masked(&config).map_err(|e| format!("cannot print the configuration: {e}"))?;
    toml.insert_str(0, &format!("# master_key: {master_key}\n"));
    Ok(toml)
}

/// The configuration as TOML, every string not on `PRINTABLE` masked.
fn masked(config: &Config) -> Result<String, toml::ser::Error> {
    let mut value = toml::Value::try_from(config)?;
    mask(&mut value, "");
    toml::to_string(&value)
}

fn mask(value: &mut toml::Value, path: &str) {
    match value {
        toml::Value::Table(table) => {
            for (key, field) in table.iter_mut() {
                let path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                mask(field, &path);
            }
        }
        toml::Value::Array(items) => items.iter_mut().for_each(|item| mask(item, path)),
        toml::Value::String(s) if s.is_empty() => {}
        toml::Value::String(s) if PRINTABLE.contains(&path) && s.contains("://") => *s = redact_url(s),
        toml::Value::String(_) if PRINTABLE.contains(&path) => {}
        toml::Value::String(s) => *s = MASK.to_owned(),
        _ => {}
    }
}

/// The printable fields that may hold a password in their URL: struck from
/// errors as the printed configuration shows them (password masked).
const URLS_WITH_CREDENTIALS: &[&str] = &["database_url", "api.rate_limit_redis_url"];

/// Each value the file and the environment set that an error must not
/// show, with what shows instead: a secret field's value (any field not on
/// `PRINTABLE`) becomes `***`, a URL that may hold a password shows without
/// it. A printable field's value (a path, an address) stays: striking it
/// would also strike it where it is part of something else, such as the
/// configuration file's path (round 11, finding 15).
fn given_strings(set: &figment::Figment) -> Vec<(String, String)> {
    fn collect(value: &Setting, path: &str, out: &mut Vec<(String, String)>) {
        match value {
            Setting::String(_, s) => {
                if let Some(shown) = shown_in_errors(path, s) {
                    out.push((s.clone(), shown));
                }
            }
            Setting::Dict(_, dict) => dict.iter().for_each(|(key, v)| {
                let path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                collect(v, &path, out)
            }),
            Setting::Array(_, items) => items.iter().for_each(|v| collect(v, path, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(profiles) = figment::Provider::data(set) {
        for dict in profiles.values() {
            dict.iter().for_each(|(key, v)| collect(v, key, &mut out));
        }
    }
    out
}

/// What an error shows of the value set at `path`, if not the value itself.
fn shown_in_errors(path: &str, value: &str) -> Option<String> {
    if URLS_WITH_CREDENTIALS.contains(&path) {
        let redacted = if value.contains("://") { redact_url(value) } else { MASK.to_owned() };
        return (redacted != value).then_some(redacted);
    }
    (!PRINTABLE.contains(&path)).then(|| MASK.to_owned())
}

/// `message` with each value (of 4 characters or more: shorter ones are no
/// secret and would strike words) replaced by what shows instead.
fn strike(mut message: String, values: &[(String, String)]) -> String {
    let mut values: Vec<&(String, String)> = values.iter().filter(|(v, _)| v.chars().count() >= 4).collect();
    values.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
    for (value, shown) in values {
        message = message.replace(value.as_str(), shown);
    }
    message
}

/// One error of figment's: where (the key, and the file or variable it
/// came from) and what, without the value.
fn describe(e: &figment::Error) -> String {
    let key = e.path.join(".");
    let origin = e.metadata.as_ref().map(|m| match &m.source {
        Some(figment::Source::File(file)) if key.is_empty() => file.display().to_string(),
        Some(figment::Source::File(file)) => format!("{key} in {}", file.display()),
        _ if key.is_empty() => m.name.to_string(),
        _ => format!("{key} (from {})", m.name),
    });
    let place = match origin {
        Some(origin) if !origin.is_empty() => origin,
        _ => key,
    };
    let what = match &e.kind {
        // TOML syntax errors quote the line: keep the position and the reason.
        Kind::Message(m) => {
            m.lines().filter(|l| !l.contains('|') && !l.trim().is_empty()).collect::<Vec<_>>().join(": ")
        }
        Kind::InvalidType(actual, expected) => format!("invalid type: found {}, expected {expected}", kind_of(actual)),
        Kind::InvalidValue(actual, expected) => {
            format!("invalid value: found {}, expected {expected}", kind_of(actual))
        }
        Kind::UnknownVariant(_, expected) => format!("unknown variant, expected one of: {}", expected.join(", ")),
        other => other.to_string(),
    };
    let what = what.trim_end_matches('.');
    if place.is_empty() {
        format!("invalid configuration: {what}")
    } else {
        format!("invalid configuration: {place}: {what}")
    }
}

/// What kind of value it was, never the value.
fn kind_of(actual: &Actual) -> &'static str {
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a number",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Unit | Actual::Option => "nothing",
        Actual::Seq => "a list",
        Actual::Map => "a table",
        _ => "a value of another type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARKER: &str = "MaRkEr";

    /// Every secret the configuration can hold, set to a marker: none shows.
    #[test]
    fn no_secret_is_printed() {
        let mut config = Config { master_key: Some(format!("{MARKER}base64key")), ..Config::default() };
        config.api.rate_limit_redis_url = Some(format!("redis://:{MARKER}@127.0.0.1:6379/2"));
        for password in ["p/ss", "p@ss", "p%40ss", "p?ss", "a/b@c%d?e", "plain"] {
            for url in [
                format!("postgres://app:{MARKER}{password}@db.internal:5432/portcullis"),
                format!("postgresql://db.internal/portcullis?user=app&password={MARKER}{password}&sslmode=require"),
            ] {
                config.database_url = url;
                let printed = masked(&config).unwrap();
                assert!(!printed.contains(MARKER), "{printed}");
                assert!(printed.contains("db.internal"), "{printed}");
                assert!(printed.contains("master_key = \"***\""), "{printed}");
                assert!(printed.contains("rate_limit_redis_url = \"redis://:***@127.0.0.1:6379/2\""), "{printed}");
            }
        }
    }

    /// A string field not reviewed (one added later: a token, a path) is
    /// masked until it is put on `PRINTABLE`.
    #[test]
    fn a_string_field_not_on_the_list_is_masked() {
        let mut value: toml::Value = toml::from_str(&format!(
            "issuer = \"http://a.example\"\npool_size = 3\n[metrics]\nbearer = \"{MARKER}\"\n\
             [smtp]\nurl = \"smtp://u:{MARKER}@mail\"\nlist = [\"{MARKER}\"]\n"
        ))
        .unwrap();
        mask(&mut value, "");
        let printed = toml::to_string(&value).unwrap();
        assert!(!printed.contains(MARKER), "{printed}");
        assert!(printed.contains("issuer = \"http://a.example\"") && printed.contains("pool_size = 3"), "{printed}");
        let mut scopes: toml::Value =
            toml::from_str("[[oauth.scopes]]\nname = \"mail:send\"\ndescription = \"Send as you@example.com\"")
                .unwrap();
        mask(&mut scopes, "");
        assert_eq!(scopes["oauth"]["scopes"][0]["description"].as_str(), Some("Send as you@example.com"));
    }

    /// Each name on the list is a string field of the configuration.
    #[test]
    fn the_printable_list_names_real_fields() {
        let mut config = Config::default();
        config.api.rate_limit_redis_url = Some("redis://127.0.0.1:6379".into());
        config.oauth.audience = vec!["https://api.example".into()];
        config.oauth.scopes =
            vec![toml::from_str("name = \"invoices:read\"\ndescription = \"Read invoices\"").unwrap()];
        config.trusted_proxies = toml::Value::Array(vec!["10.0.0.0/8".into()]).try_into().unwrap();
        config.tls = Some(portcullis::config::TlsConfig { cert_file: "c.pem".into(), key_file: "k.pem".into() });
        config.metrics.bind = Some("127.0.0.1:9464".into());
        config.email_from = Some("portcullis <no-reply@example.com>".into());
        let value = toml::Value::try_from(&config).unwrap();
        let mut strings = Vec::new();
        fn walk(v: &toml::Value, path: &str, out: &mut Vec<String>) {
            match v {
                toml::Value::Table(t) => t
                    .iter()
                    .for_each(|(k, v)| walk(v, &if path.is_empty() { k.clone() } else { format!("{path}.{k}") }, out)),
                toml::Value::Array(items) => items.iter().for_each(|v| walk(v, path, out)),
                toml::Value::String(_) => out.push(path.to_owned()),
                _ => {}
            }
        }
        walk(&value, "", &mut strings);
        for name in PRINTABLE {
            assert!(strings.iter().any(|s| s == name), "{name} is not a string field");
        }
    }

    #[test]
    fn errors_strike_every_secret_value_that_was_set() {
        let given = vec![("abc".to_owned(), MASK.to_owned()), (format!("k{MARKER}"), MASK.to_owned())];
        let message = format!("master_key k{MARKER} is wrong; abc stays");
        assert_eq!(strike(message, &given), "master_key *** is wrong; abc stays");
    }

    /// Round 11, finding 15: a secret field's value is struck; a printable
    /// field's (a directory that is also part of the file's path) is not; a
    /// URL shows without its password.
    #[test]
    fn errors_strike_only_what_secret_fields_hold() {
        assert_eq!(shown_in_errors("master_key", "S3cr3tKey"), Some(MASK.to_owned()));
        assert_eq!(shown_in_errors("smtp.password", "S3cr3tKey"), Some(MASK.to_owned()), "not reviewed: secret");
        assert_eq!(shown_in_errors("data_dir", "/srv/portcullis"), None);
        assert_eq!(shown_in_errors("bind", "127.0.0.1:8080"), None);
        assert_eq!(
            shown_in_errors("database_url", &format!("postgres://app:{MARKER}@db/p")).as_deref(),
            Some("postgres://app:***@db/p")
        );
        assert_eq!(shown_in_errors("database_url", "postgres://db/p"), None, "nothing to hide");
        assert_eq!(shown_in_errors("database_url", &format!("host=db password={MARKER}")).as_deref(), Some(MASK));
        assert_eq!(
            shown_in_errors("api.rate_limit_redis_url", &format!("redis://:{MARKER}@127.0.0.1:6379")).as_deref(),
            Some("redis://:***@127.0.0.1:6379")
        );
    }
}
