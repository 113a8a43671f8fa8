//! The scope registry: built-in scopes plus the operator's, each with the
//! description shown on the consent page.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::error::OAuthError;

/// An operator-defined scope, from configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ScopeDefinition {
    pub name: String,
    pub description: String,
}

pub const OFFLINE_ACCESS: &str = "offline_access";

const BUILT_IN: [(&str, &str); 6] = [
    ("read", "Read your data"),
    ("write", "Create and change your data"),
    ("delete", "Delete your data"),
    ("admin", "Administer your organization"),
    ("webhook", "Manage your webhooks"),
    (OFFLINE_ACCESS, "Stay connected when you are not using the app"),
];

#[derive(Debug, Clone)]
pub struct ScopeRegistry {
    scopes: Vec<ScopeDefinition>,
}

/// A set of scopes, ordered, without duplicates.
pub type ScopeSet = BTreeSet<String>;

/// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Splits a space-delimited scope string; tokens of bad syntax are refused.
pub fn parse(scope: &str) -> Result<ScopeSet, OAuthError> {
    let mut set = ScopeSet::new();
    for token in scope.split(' ').filter(|t| !t.is_empty()) {
        if !is_scope_token(token) {
            return Err(OAuthError::invalid_scope(format!("malformed scope {token:?}")));
        }
        set.insert(token.to_owned());
    }
    Ok(set)
}

pub fn join(set: &ScopeSet) -> String {
    set.iter().map(String::as_str).collect::<Vec<_>>().join(" ")
}

impl ScopeRegistry {
    /// Built-ins plus `extra`; an extra may not redefine a built-in.
    pub fn new(extra: &[ScopeDefinition]) -> Result<Self, String> {
        let mut scopes: Vec<ScopeDefinition> =
            BUILT_IN.iter().map(|(n, d)| ScopeDefinition { name: (*n).into(), description: (*d).into() }).collect();
        for def in extra {
            if !is_scope_token(&def.name) {
                return Err(format!("scope {:?} is not a valid scope token", def.name));
            }
            if scopes.iter().any(|s| s.name == def.name) {
                return Err(format!("scope {:?} is defined twice", def.name));
            }
            scopes.push(def.clone());
        }
        Ok(Self { scopes })
    }

    pub fn all(&self) -> &[ScopeDefinition] {
        &self.scopes
    }

    pub fn describe(&self, name: &str) -> Option<&str> {
        self.scopes.iter().find(|s| s.name == name).map(|s| s.description.as_str())
    }

    /// Parses and checks every scope is registered.
    pub fn parse_known(&self, scope: &str) -> Result<ScopeSet, OAuthError> {
        let set = parse(scope)?;
        if let Some(unknown) = set.iter().find(|s| self.describe(s).is_none()) {
            return Err(OAuthError::invalid_scope(format!("unknown scope {unknown:?}")));
        }
        Ok(set)
    }

    /// A list of scopes as an API sends it: each element one known scope
    /// (`"read admin"` is not a name, and joining would smuggle `admin`).
    pub fn parse_known_list(&self, list: &[String]) -> Result<ScopeSet, OAuthError> {
        if let Some(bad) = list.iter().find(|s| !is_scope_token(s)) {
            return Err(OAuthError::invalid_scope(format!("malformed scope {bad:?}: one scope per element")));
        }
        self.parse_known(&list.join(" "))
    }

    /// The scopes granted for a request: the requested ones (all known and
    /// allowed), or all the client's allowed ones when none were requested.
    pub fn grant(&self, requested: Option<&str>, allowed: &ScopeSet) -> Result<ScopeSet, OAuthError> {
        let requested = match requested.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => self.parse_known(s)?,
            None => return Ok(allowed.clone()),
        };
        if let Some(extra) = requested.iter().find(|s| !allowed.contains(*s)) {
            return Err(OAuthError::invalid_scope(format!("scope {extra:?} is not allowed for this client")));
        }
        Ok(requested)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> ScopeSet {
        parse(s).unwrap()
    }

    #[test]
    fn syntax() {
        assert!(is_scope_token("invoices:read"));
        assert!(!is_scope_token("a\"b") && !is_scope_token("a\\b") && !is_scope_token("é") && !is_scope_token(""));
        assert_eq!(join(&set("write  read read")), "read write");
        assert!(parse("read \"x\"").is_err());
    }

    #[test]
    fn registry_and_grants() {
        let r = ScopeRegistry::new(&[ScopeDefinition {
            name: "invoices:read".into(),
            description: "Read invoices".into(),
        }])
        .unwrap();
        assert_eq!(r.describe("invoices:read"), Some("Read invoices"));
        let allowed = set("read invoices:read");
        assert_eq!(r.grant(Some("invoices:read"), &allowed).unwrap(), set("invoices:read"));
        assert_eq!(r.grant(None, &allowed).unwrap(), allowed);
        assert_eq!(r.grant(Some("write"), &allowed).unwrap_err().code, super::super::error::ErrorCode::InvalidScope);
        assert!(r.grant(Some("nope"), &allowed).unwrap_err().description.contains("unknown scope"));
        assert!(ScopeRegistry::new(&[ScopeDefinition { name: "read".into(), description: "x".into() }]).is_err());
    }
}
