//! `portcullis config check`: the configuration `serve` would load,
//! printed with its secrets masked, or the reason it is invalid without
//! the values that were set.

use std::path::Path;
use std::process::Output;

use crate::cli::portcullis;

/// In every secret: it must never be printed.
const MARKER: &str = "MaRkEr";

fn check(dir: &Path, file: &str, env: &[(&str, &str)]) -> Output {
    let config = dir.join("portcullis.toml");
    std::fs::write(&config, file).unwrap();
    let mut cmd = portcullis(dir);
    cmd.args(["config", "check", "--config"]).arg(&config);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn out(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn a_valid_configuration_is_printed_with_every_secret_masked() {
    let dir = tempfile::tempdir().unwrap();
    // Base64 of 32 bytes, with the marker in it.
    let master_key = format!("{MARKER}{MARKER}{}=", "A".repeat(31));
    let file = format!(
        "pool_size = 7\nmaster_key = \"{master_key}\"\nsmtp_url = \"smtps://mailer:{MARKER}@smtp.example.com\"\n\
         email_from = \"Acme <no-reply@acme.example>\"\n[api]\nrate_limit_redis_url = \"redis://:{MARKER}@127.0.0.1:6379/2\"\n"
    );
    for password in ["p/ss", "p@ss", "p%40ss", "p?ss", "a/b@c%d?e"] {
        let url = format!("postgres://app:{MARKER}{password}@db.internal:5432/portcullis?sslmode=require");
        let o = check(dir.path(), &file, &[("PORTCULLIS_DATABASE_URL", &url), ("PORTCULLIS_LOG_LEVEL", "debug")]);
        let (stdout, stderr) = out(&o);
        assert_eq!((o.status.code(), stderr.as_str()), (Some(0), "configuration OK\n"), "{stdout}");
        assert!(!stdout.contains(MARKER), "{password}: {stdout}");
        let printed: toml::Value = toml::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
        assert_eq!(printed["pool_size"].as_integer(), Some(7), "the file is read");
        assert_eq!(printed["log_level"].as_str(), Some("debug"), "the environment overrides it");
        assert_eq!(printed["master_key"].as_str(), Some("***"));
        assert_eq!(printed["smtp_url"].as_str(), Some("***"), "smtp_url is a secret");
        assert_eq!(printed["email_from"].as_str(), Some("Acme <no-reply@acme.example>"));
        assert_eq!(
            printed["database_url"].as_str(),
            Some("postgres://app:***@db.internal:5432/portcullis?sslmode=require")
        );
        assert_eq!(printed["api"]["rate_limit_redis_url"].as_str(), Some("redis://:***@127.0.0.1:6379/2"));
        assert!(stdout.starts_with("# master_key: configured\n"), "{stdout}");
    }
}

#[test]
fn an_invalid_configuration_is_refused_without_its_values() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("portcullis.toml");
    let config = config.display();
    for (file, env, says) in [
        (
            format!("pool_size = \"{MARKER}\"\n"),
            None,
            format!("invalid configuration: pool_size in {config}: invalid type: found a string, expected u32\n"),
        ),
        (format!("master_key = \"{MARKER}\n"), None, "TOML parse error at line 1".to_owned()),
        (format!("master_kye = \"{MARKER}\"\n"), None, "master_kye".to_owned()),
        (format!("log_format = \"{MARKER}\"\n"), None, "unknown variant, expected one of: pretty, json".to_owned()),
        (
            // Not a secret: shown as set (it would be printed as set).
            "issuer = \"ftp://auth.example\"\n".to_owned(),
            None,
            "invalid configuration: issuer: \"ftp://auth.example\" must be an http(s) URL without query or fragment"
                .to_owned(),
        ),
        (
            String::new(),
            Some(("PORTCULLIS_MASTER_KEY", format!("{MARKER}=="))),
            "invalid configuration: master_key must be base64 of exactly 32 bytes".to_owned(),
        ),
        (
            String::new(),
            Some(("PORTCULLIS_DATABASE_URL", format!("mysql://root:{MARKER}@db/x"))),
            "invalid configuration: database_url: unsupported database URL mysql://root:***@db/x".to_owned(),
        ),
    ] {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let o = check(dir.path(), &file, &env);
        let (stdout, stderr) = out(&o);
        assert_eq!(o.status.code(), Some(2), "{file}: {stderr}");
        assert_eq!(stdout, "", "nothing printed for an invalid configuration");
        assert!(stderr.starts_with("error: ") && stderr.contains(&says), "{file}: {stderr}");
        assert!(!stderr.contains(MARKER), "{file}: {stderr}");
    }
    let o = portcullis(dir.path()).args(["config", "check", "--config", "missing.toml"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(out(&o).1, "error: configuration file missing.toml does not exist\n");
}

/// Attacker round 11, finding 15: a value is struck where a secret field
/// holds it, not wherever it occurs. The data directory set in the file is
/// also part of the file's path: the path is shown whole.
#[test]
fn an_error_strikes_the_secret_fields_values_not_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    let config = dir.path().join("portcullis.toml");
    let file = format!("data_dir = \"{data_dir}\"\nmaster_key = \"{MARKER}{MARKER}\"\nbogus_field = 1\n");
    let o = check(dir.path(), &file, &[]);
    let (stdout, stderr) = out(&o);
    assert_eq!((o.status.code(), stdout.as_str()), (Some(2), ""), "{stderr}");
    assert!(stderr.contains(&format!("bogus_field in {}", config.display())), "the path shown whole: {stderr}");
    assert!(!stderr.contains("***") && !stderr.contains(MARKER), "{stderr}");

    // The secret itself is struck, even where it is part of something else.
    let file = format!("data_dir = \"{data_dir}\"\nmaster_key = \"{data_dir}\"\nbogus_field = 1\n");
    let (_, stderr) = out(&check(dir.path(), &file, &[]));
    assert!(stderr.contains("bogus_field in ***/portcullis.toml"), "{stderr}");
}
