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
/// OpenID Connect Core §3.1.2.1: makes an authorization request an
/// authentication request (an ID token comes with the tokens).
pub const OPENID: &str = "openid";
/// OpenID Connect Core §5.4: the claims these two scopes release.
pub const PROFILE: &str = "profile";
pub const EMAIL: &str = "email";

const BUILT_IN: [(&str, &str); 9] = [
    ("read", "Read your data"),
    ("write", "Create and change your data"),
    ("delete", "Delete your data"),
    ("admin", "Administer your organization"),
    ("webhook", "Manage your webhooks"),
    (OFFLINE_ACCESS, "Stay connected when you are not using the app"),
    (OPENID, "Sign you in with your account"),
    (PROFILE, "See your basic profile information"),
    (EMAIL, "See your email address"),
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
    /// allowed), or, when none were requested, all the client's allowed ones
    /// but `openid`: only a request that asks for `openid` is an OpenID
    /// Connect authentication request (OIDC Core §3.1.2.1).
    pub fn grant(&self, requested: Option<&str>, allowed: &ScopeSet) -> Result<ScopeSet, OAuthError> {
        let requested = match requested.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => self.parse_known(s)?,
            None => return Ok(allowed.iter().filter(|s| *s != OPENID).cloned().collect()),
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

    #[test]
    fn openid_is_granted_only_when_asked_for() {
        let r = ScopeRegistry::new(&[]).unwrap();
        let allowed = set("openid profile email read");
        assert_eq!(r.grant(None, &allowed).unwrap(), set("profile email read"));
        assert_eq!(r.grant(Some("openid email"), &allowed).unwrap(), set("openid email"));
        assert_eq!(r.describe(OPENID), Some("Sign you in with your account"));
        let refused = r.grant(Some("openid"), &set("read")).unwrap_err();
        assert_eq!(refused.description, "scope \"openid\" is not allowed for this client");
    }
}

/// Properties of scope parsing and narrowing (issue 11).
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::oauth::error::ErrorCode;

    /// RFC 6749 §3.3, written out again: %x21 / %x23-5B / %x5D-7E.
    fn in_abnf(c: char) -> bool {
        matches!(c, '\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E')
    }

    fn scope_token() -> impl Strategy<Value = String> {
        "[!#-\\[\\]-~]{1,12}"
    }

    /// Separators as clients send them: one space or more.
    fn spaces() -> impl Strategy<Value = String> {
        " {1,3}"
    }

    fn extra_scopes() -> Vec<ScopeDefinition> {
        ["invoices:read", "invoices:write", "https://api.example/files"]
            .map(|name| ScopeDefinition { name: name.into(), description: name.into() })
            .to_vec()
    }

    /// Known scopes and a few unknown ones, to request and to allow.
    fn scope_name() -> impl Strategy<Value = String> {
        let mut names: Vec<String> = BUILT_IN.iter().map(|(n, _)| (*n).to_owned()).collect();
        names.extend(extra_scopes().into_iter().map(|d| d.name));
        names.extend(["unknown", "READ", "read:all"].map(String::from));
        proptest::sample::select(names)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn is_scope_token_is_the_rfc_6749_grammar(chars in proptest::collection::vec(any::<char>(), 0..8)) {
            let s: String = chars.iter().collect();
            prop_assert_eq!(is_scope_token(&s), !chars.is_empty() && chars.iter().all(|c| in_abnf(*c)));
        }

        /// join(parse(x)) is canonical: sorted, without duplicates, single
        /// spaces; extra spaces between tokens are tolerated, not kept.
        #[test]
        fn parse_then_join_is_canonical(
            tokens in proptest::collection::vec(scope_token(), 0..8),
            separators in proptest::collection::vec(spaces(), 9),
            leading in "( {1,2})?",
        ) {
            let mut sent = leading;
            for (token, separator) in tokens.iter().zip(&separators) {
                sent.push_str(token);
                sent.push_str(separator);
            }
            let parsed = parse(&sent).unwrap();
            let mut expected = tokens.clone();
            expected.sort();
            expected.dedup();
            prop_assert_eq!(parsed.iter().cloned().collect::<Vec<_>>(), expected.clone());
            let joined = join(&parsed);
            prop_assert_eq!(&joined, &expected.join(" "));
            prop_assert!(!joined.starts_with(' ') && !joined.ends_with(' ') && !joined.contains("  "));
            prop_assert_eq!(parse(&joined).unwrap(), parsed);
        }

        /// A token with a character outside the grammar is refused, naming
        /// it; tabs and newlines are not separators.
        #[test]
        fn a_token_outside_the_grammar_is_refused(
            before in proptest::collection::vec(scope_token(), 0..3),
            head in "[!#-\\[\\]-~]{0,6}",
            bad in any::<char>().prop_filter("outside the grammar, not a separator", |c| !in_abnf(*c) && *c != ' '),
            tail in "[!#-\\[\\]-~]{0,6}",
        ) {
            let token = format!("{head}{bad}{tail}");
            let sent = format!("{} {token}", before.join(" "));
            let refused = parse(&sent).unwrap_err();
            prop_assert_eq!(refused.code, ErrorCode::InvalidScope);
            prop_assert_eq!(refused.description, format!("malformed scope {token:?}"));
        }

        /// Narrowing never widens: a grant is the requested set when that is
        /// known and within the allowed set, the allowed set but `openid`
        /// when nothing is requested, and otherwise an invalid_scope refusal.
        #[test]
        fn a_grant_never_exceeds_the_allowed_scopes(
            allowed in proptest::collection::btree_set(scope_name(), 0..6),
            requested in proptest::option::of(proptest::collection::vec(scope_name(), 0..5)),
            separator in spaces(),
        ) {
            let registry = ScopeRegistry::new(&extra_scopes()).unwrap();
            let allowed: ScopeSet = allowed.into_iter().filter(|s| registry.describe(s).is_some()).collect();
            let requested = requested.map(|r| r.join(&separator));
            let wanted = requested.as_deref().map(|r| parse(r).unwrap()).filter(|w| !w.is_empty());
            match (registry.grant(requested.as_deref(), &allowed), wanted) {
                (Ok(granted), None) => {
                    let without_openid: ScopeSet = allowed.iter().filter(|s| *s != OPENID).cloned().collect();
                    prop_assert_eq!(granted, without_openid)
                }
                (Ok(granted), Some(wanted)) => {
                    prop_assert!(granted.is_subset(&allowed));
                    prop_assert_eq!(granted, wanted);
                }
                (Err(refused), Some(wanted)) => {
                    prop_assert_eq!(refused.code, ErrorCode::InvalidScope);
                    prop_assert!(!wanted.is_subset(&allowed), "{wanted:?} within {allowed:?} was refused");
                }
                (Err(refused), None) => prop_assert!(false, "nothing requested, yet refused: {refused:?}"),
            }
        }
    }
}
