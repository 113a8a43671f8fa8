//! What every page of an organization shares: the signed-in person's
//! power in the organization of the URL (`/dashboard/orgs/{org}/…`), the
//! same [`Principal`] their `/v1` token would carry, and the header's
//! organization switcher and tabs.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use crate::accounts::CurrentSession;
use crate::accounts::{Membership, Role};
use crate::authority::{self, Principal};
use crate::http::AppState;
use crate::http::errors::PageError;
use crate::http::session::SignedIn;

/// A signed-in person acting in the organization named by the URL's
/// `{org}`. A non-member (or an unknown organization) gets 404: nothing
/// tells them the organization exists.
pub struct InOrg {
    pub session: CurrentSession,
    pub principal: Principal,
    pub organizations: Vec<Membership>,
    /// What "resend" of the verification banner did (`?verification=`).
    pub verification_notice: Option<&'static str>,
}

/// The banner's notice named by the query, if any.
fn verification_notice(query: &str) -> Option<&'static str> {
    url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "verification").and_then(|(_, v)| match &*v {
        "sent" => Some("sent"),
        "wait" => Some("wait"),
        _ => None,
    })
}

impl FromRequest for InOrg {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let signed_in = SignedIn::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let SignedIn(session) = signed_in.await?;
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| PageError::Internal("no app state".into()))?;
            let org = req.match_info().get("org").unwrap_or_default().to_owned();
            let principal = authority::for_page_session(&state.store, &session.user.id, &org)
                .await
                .map_err(PageError::from)?
                .ok_or(PageError::NotFound)?;
            let organizations = state.accounts.memberships(&session.user.id).await.map_err(PageError::from)?;
            let verification_notice = verification_notice(req.query_string());
            Ok(Self { session, principal, organizations, verification_notice })
        })
    }
}

impl InOrg {
    /// The header of a page of section `section` (`""` is the overview).
    pub fn shell(&self, section: &'static str) -> Shell {
        Shell {
            csrf_token: self.session.csrf_token.clone(),
            email: self.session.user.email.clone(),
            org_id: self.principal.organization_id.clone(),
            org_name: self.principal.organization_name.clone(),
            role: self.principal.role,
            organizations: self.organizations.clone(),
            section,
            principal: self.principal.clone(),
            email_verified: self.session.user.email_verified,
            verification_notice: self.verification_notice,
        }
    }
}

/// What `org_base.html` shows around every organization page.
pub struct Shell {
    pub csrf_token: String,
    pub email: String,
    pub org_id: String,
    pub org_name: String,
    pub role: Option<Role>,
    pub organizations: Vec<Membership>,
    pub section: &'static str,
    principal: Principal,
    /// False: the banner asks to confirm the address, with "resend".
    pub email_verified: bool,
    pub verification_notice: Option<&'static str>,
}

pub struct Tab {
    pub href: String,
    pub label: &'static str,
    pub current: bool,
}

/// The tabs of an organization, in order: (section, label, the scopes one
/// of which shows it).
pub const TABS: [(&str, &str, &str, Option<&str>); 6] = [
    ("", "Overview", "read", None),
    ("keys", "API keys", "read", Some("keys:read")),
    ("apps", "OAuth apps", "read", Some("apps:read")),
    ("members", "Members", "read", Some("members:read")),
    ("audit", "Audit log", "admin", Some("audit:read")),
    ("signing-keys", "Signing keys", "admin", None),
];

impl Shell {
    /// True when the person may do what `broad` or `resource` allows here:
    /// pages show a control only then, and the server checks it again.
    pub fn allows(&self, broad: &str, resource: &str) -> bool {
        self.principal.allows(broad, Some(resource))
    }

    /// The tabs this person sees.
    pub fn tabs(&self) -> Vec<Tab> {
        TABS.iter()
            .filter(|(_, _, broad, resource)| self.principal.allows(broad, *resource))
            .map(|(section, label, _, _)| Tab {
                href: self.href_in(&self.org_id, section),
                label,
                current: *section == self.section,
            })
            .collect()
    }

    /// The same section in another organization, for the switcher.
    pub fn switch_to(&self, org_id: &str) -> String {
        self.href_in(org_id, self.section)
    }

    /// A path under this organization's pages.
    pub fn href(&self, rest: &str) -> String {
        self.href_in(&self.org_id, rest)
    }

    fn href_in(&self, org_id: &str, rest: &str) -> String {
        if rest.is_empty() { format!("/dashboard/orgs/{org_id}") } else { format!("/dashboard/orgs/{org_id}/{rest}") }
    }

    pub fn role_name(&self) -> &'static str {
        self.role.map(|r| r.as_str()).unwrap_or("")
    }
}
