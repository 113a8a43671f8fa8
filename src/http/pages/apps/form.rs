//! The register and edit form of an app: what was typed, each problem
//! next to its field, and the choices this member is offered.

use std::collections::BTreeSet;

use crate::apps::AppsError;
use crate::authority::{Denied, Principal};
use crate::http::AppState;
use crate::http::errors::PageError;
use crate::oauth::clients::{Client, ClientError, GrantType};
use crate::oauth::redirect;
use crate::problem::{Link, Problem};

use super::page_error;

const GRANT_LABELS: [(GrantType, &str); 3] = [
    (GrantType::AuthorizationCode, "Authorization code: people sign in and consent"),
    (GrantType::RefreshToken, "Refresh token: stays connected"),
    (GrantType::ClientCredentials, "Client credentials: the app acts for itself (confidential apps)"),
];

/// What the register and edit forms hold, as typed.
#[derive(Clone)]
pub(super) struct AppForm {
    pub(super) name: String,
    pub(super) client_type: String,
    /// One redirect URI a line.
    pub(super) redirect_uris: String,
    pub(super) scopes: Vec<String>,
    pub(super) grant_types: Vec<String>,
    pub(super) homepage_url: String,
    pub(super) logo_url: String,
    pub(super) management: bool,
    /// The register form's single-use token, as posted.
    pub(super) once: String,
}

impl Default for AppForm {
    fn default() -> Self {
        Self {
            name: String::new(),
            client_type: "confidential".into(),
            redirect_uris: String::new(),
            scopes: vec!["read".into()],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            homepage_url: String::new(),
            logo_url: String::new(),
            management: false,
            once: String::new(),
        }
    }
}

impl AppForm {
    /// The form's fields and its CSRF token, from the posted pairs
    /// (checkboxes repeat their name).
    pub(super) fn read(pairs: Vec<(String, String)>) -> (Self, String) {
        let mut form = Self { scopes: Vec::new(), grant_types: Vec::new(), ..Self::default() };
        let mut token = String::new();
        for (name, value) in pairs {
            match name.as_str() {
                "csrf_token" => token = value,
                "name" => form.name = value,
                "client_type" => form.client_type = value,
                "redirect_uris" => form.redirect_uris = value,
                "scopes" => form.scopes.push(value),
                "grant_types" => form.grant_types.push(value),
                "homepage_url" => form.homepage_url = value,
                "logo_url" => form.logo_url = value,
                "management" => form.management = true,
                super::super::ONCE_FIELD => form.once = value,
                _ => {}
            }
        }
        (form, token)
    }

    pub(super) fn of(app: &Client) -> Self {
        Self {
            name: app.name.clone(),
            client_type: app.client_type.to_string(),
            redirect_uris: app.redirect_uris.join("\n"),
            scopes: app.scopes.iter().cloned().collect(),
            grant_types: app.grant_types.iter().map(|g| g.as_str().to_owned()).collect(),
            homepage_url: app.homepage_url.clone().unwrap_or_default(),
            logo_url: app.logo_url.clone().unwrap_or_default(),
            management: app.management,
            once: String::new(),
        }
    }

    pub(super) fn uris(&self) -> Vec<String> {
        self.redirect_uris.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
    }

    pub(super) fn optional(value: &str) -> Option<String> {
        Some(value.trim().to_owned()).filter(|v| !v.is_empty())
    }

    /// The problem of each redirect URI, by its line: the rule /v1 applies
    /// to each (which stops at the first).
    pub(super) fn check_redirect_lines(&self, public: bool, errors: &mut FormErrors) {
        for (n, line) in self.redirect_uris.lines().enumerate() {
            let uri = line.trim();
            if let (false, Err(message)) = (uri.is_empty(), redirect::validate_for_registration(uri, public)) {
                errors.redirect_uris.push(format!("Line {}: {message}", n + 1));
            }
        }
    }

    pub(super) fn parse_grants(&self, errors: &mut FormErrors) -> BTreeSet<GrantType> {
        let mut grants = BTreeSet::new();
        for g in &self.grant_types {
            match g.parse() {
                Ok(g) => drop(grants.insert(g)),
                Err(message) => errors.grant_types = Some(message),
            }
        }
        grants
    }
}

/// The form's problems, each shown next to its field.
#[derive(Default)]
pub(super) struct FormErrors {
    pub(super) general: Option<String>,
    pub(super) name: Option<String>,
    pub(super) client_type: Option<String>,
    pub(super) redirect_uris: Vec<String>,
    pub(super) scopes: Option<String>,
    pub(super) grant_types: Option<String>,
    pub(super) homepage_url: Option<String>,
    pub(super) logo_url: Option<String>,
    pub(super) management: Option<String>,
}

impl FormErrors {
    pub(super) fn any(&self) -> bool {
        self.general.is_some()
            || self.name.is_some()
            || self.client_type.is_some()
            || !self.redirect_uris.is_empty()
            || self.scopes.is_some()
            || self.grant_types.is_some()
            || self.homepage_url.is_some()
            || self.logo_url.is_some()
            || self.management.is_some()
    }

    /// Puts a refusal next to the field it is about; what is no form
    /// problem (not found, not theirs, the store) is the page's error.
    pub(super) fn place(&mut self, e: AppsError) -> Result<(), PageError> {
        match e {
            AppsError::Denied(Denied::Scope { reason, .. }) if reason.contains("management") => {
                self.management = Some(reason)
            }
            AppsError::Denied(Denied::Scope { reason, .. }) => self.scopes = Some(reason),
            AppsError::Invalid(problem) | AppsError::Client(ClientError::Validation(problem)) => self.about(problem),
            AppsError::Denied(Denied::Invalid(m)) => self.about(Problem::Other(m)),
            other => return Err(page_error(other)),
        }
        Ok(())
    }

    /// Puts a problem of `apps` or `oauth::clients`, worded for people,
    /// next to the field it is about.
    fn about(&mut self, problem: Problem) {
        let worded = crate::http::pages::for_people(&problem);
        let slot = match Field::of(&problem) {
            Field::Name => &mut self.name,
            Field::Homepage => &mut self.homepage_url,
            Field::Logo => &mut self.logo_url,
            Field::RedirectUris => {
                self.redirect_uris.push(worded);
                return;
            }
            Field::Management => &mut self.management,
            Field::Grants => &mut self.grant_types,
            Field::Scopes => &mut self.scopes,
            Field::General => &mut self.general,
        };
        *slot = Some(worded);
    }
}

/// Where the form shows a problem.
enum Field {
    Name,
    Homepage,
    Logo,
    RedirectUris,
    Management,
    Grants,
    Scopes,
    General,
}

impl Field {
    fn of(problem: &Problem) -> Self {
        match problem {
            Problem::Name => Self::Name,
            Problem::NotWebUrl(Link::Homepage) => Self::Homepage,
            Problem::NotWebUrl(Link::Logo) => Self::Logo,
            Problem::NoRedirectUri => Self::RedirectUris,
            Problem::ManagementNotMachine | Problem::ManagementAppOfAnother => Self::Management,
            Problem::NoGrant | Problem::PublicClientCredentials => Self::Grants,
            Problem::NoScope | Problem::RestrictedScope(_) => Self::Scopes,
            Problem::KeyType(_)
            | Problem::Environment(_)
            | Problem::Overlap
            | Problem::NegativeGrace
            | Problem::GraceRange
            | Problem::TakeoverWithGrace => Self::General,
            Problem::Other(m) => Self::named_in(m),
        }
    }

    /// The field a message without a code names: a redirect URI's own
    /// problem, an unknown scope, who may hold a management app.
    fn named_in(m: &str) -> Self {
        if m.contains("redirect URI") {
            Self::RedirectUris
        } else if m.contains("management app") {
            Self::Management
        } else if m.contains("scope") {
            Self::Scopes
        } else {
            Self::General
        }
    }
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub checked: bool,
}

/// The form with its choices: the scopes this member may grant (and any
/// the form holds already), the grant types.
pub(super) struct FormView {
    pub(super) action: String,
    pub(super) editing: bool,
    pub(super) values: AppForm,
    pub(super) errors: FormErrors,
    pub(super) scopes: Vec<Choice>,
    pub(super) grants: Vec<Choice>,
    /// Only an ADMIN or OWNER makes management apps (`may_make_app`).
    pub(super) offers_management: bool,
    /// The register form's single-use token, new each time it is shown.
    pub(super) once: String,
}

impl FormView {
    pub(super) fn new(
        state: &AppState,
        p: &Principal,
        action: String,
        editing: bool,
        values: AppForm,
        errors: FormErrors,
    ) -> Self {
        let mut scopes: Vec<Choice> = state
            .oauth
            .scopes
            .all()
            .iter()
            .filter(|s| p.may_grant([&s.name]).is_ok() || values.scopes.contains(&s.name))
            .map(|s| Choice {
                value: s.name.clone(),
                label: s.description.clone(),
                checked: values.scopes.contains(&s.name),
            })
            .collect();
        for s in &values.scopes {
            if !scopes.iter().any(|c| &c.value == s) {
                scopes.push(Choice { value: s.clone(), label: String::new(), checked: true });
            }
        }
        let grants = GRANT_LABELS
            .iter()
            .map(|(g, label)| Choice {
                value: g.as_str().into(),
                label: (*label).into(),
                checked: values.grant_types.iter().any(|v| v == g.as_str()),
            })
            .collect();
        let offers_management = p.may_make_app(&[], false, true).is_ok() || values.management;
        let once = if editing { String::new() } else { super::super::once_token(state) };
        Self { action, editing, values, errors, scopes, grants, offers_management, once }
    }
}
