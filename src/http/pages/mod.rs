//! Server-rendered pages (askama). Usable without JavaScript.

pub mod account;
pub mod apps;
pub mod audit;
pub mod auth;
pub mod authorized_apps;
pub mod dashboard;
pub mod email;
pub mod invitations;
pub mod keys;
pub mod org;
pub mod people;
pub mod reset;
pub mod signing_keys;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, HttpResponseBuilder};
use askama::Template;

use super::errors::PageError;
use super::session::FormToken;
use crate::problem::{Link, Problem};

/// Renders a page with a status; sets the anonymous CSRF cookie when the
/// form token came with one.
pub fn render(status: StatusCode, page: &impl Template, token: Option<FormToken>) -> Result<HttpResponse, PageError> {
    let body = page.render()?;
    let mut res = HttpResponseBuilder::new(status);
    res.insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"));
    // Pages show per-user data and carry CSRF tokens: never cache them.
    res.insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(cookie) = token.and_then(|t| t.set_cookie) {
        res.cookie(cookie);
    }
    Ok(res.body(body))
}

pub fn see_other(location: &str) -> HttpResponseBuilder {
    let mut res = HttpResponse::SeeOther();
    res.insert_header((header::LOCATION, location.to_owned()));
    res
}

/// A time as the pages show it: to the minute, in UTC.
pub fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The audit origin of a change a signed-in person makes on a page.
pub fn user_origin(req: &actix_web::HttpRequest, state: &super::AppState, user_id: &str) -> crate::audit::Origin {
    crate::audit::Origin { actor: format!("user:{user_id}"), request_id: None, ip: Some(super::client_ip(req, state)) }
}

/// A scope as the consent and authorized-apps pages show it.
pub struct ScopeLine {
    pub name: String,
    pub description: String,
}

/// Each scope with its description (the name when it has none).
pub fn scope_lines<'a>(state: &super::AppState, scopes: impl IntoIterator<Item = &'a String>) -> Vec<ScopeLine> {
    scopes
        .into_iter()
        .map(|s| ScopeLine { name: s.clone(), description: state.oauth.scopes.describe(s).unwrap_or(s).to_owned() })
        .collect()
}

/// The host of an app's homepage, to name the link.
pub fn homepage_host(homepage_url: Option<&str>) -> Option<String> {
    homepage_url.and_then(|u| url::Url::parse(u).ok()).and_then(|u| u.host_str().map(str::to_owned))
}

/// An app's logo as pages show it: an image from anywhere but https is not.
pub fn shown_logo(logo_url: Option<&str>) -> Option<String> {
    logo_url.filter(|u| u.starts_with("https://")).map(str::to_owned)
}

/// The hidden field of a creation form's single-use token
/// ([`crate::form_submissions`]).
pub const ONCE_FIELD: &str = "form_once";

/// What a creation form's POST may do, by its single-use token.
pub enum Posted {
    /// Go on; the claimed token (none when the form had none: a client
    /// that leaves the field out has chosen to post twice), to
    /// [`Posted::release`] when nothing was made.
    First(Option<String>),
    /// This form was sent before: answer [`already_made`].
    Again,
    /// The form was open too long: show it again, with this message.
    Expired(&'static str),
}

impl Posted {
    /// Claims the token a form sent.
    pub async fn claim(state: &super::AppState, user_id: &str, token: Option<&str>) -> Result<Self, PageError> {
        use crate::form_submissions::{Claim, claim};
        let Some(token) = token.filter(|t| !t.is_empty()) else { return Ok(Self::First(None)) };
        Ok(match claim(&state.store, user_id, token, state.clock.now()).await? {
            Claim::First => Self::First(Some(token.to_owned())),
            Claim::Again => Self::Again,
            Claim::Expired => Self::Expired("This form was open too long. Check it and send it again."),
        })
    }

    /// After a refusal: the same form may be sent again.
    pub async fn release(claimed: Option<String>, state: &super::AppState, user_id: &str) -> Result<(), PageError> {
        match claimed {
            Some(token) => Ok(crate::form_submissions::release(&state.store, user_id, &token).await?),
            None => Ok(()),
        }
    }
}

/// A new single-use token for a creation form shown now.
pub fn once_token(state: &super::AppState) -> String {
    crate::form_submissions::new_token(state.clock.now())
}

/// What a re-posted creation form made the first time.
pub enum Made {
    Key,
    /// A rolled key's successor.
    Roll,
    App,
    /// An app's new secret.
    Rotation,
    Invitation,
}

#[derive(Template)]
#[template(path = "already_made.html")]
struct AlreadyMadePage {
    shell: org::Shell,
    title: &'static str,
    what: &'static str,
    list_href: String,
    list_label: &'static str,
}

/// The answer to a creation form sent again (a reload of the page that
/// showed what it made): 409, nothing made, the secret not shown again.
pub fn already_made(in_org: &org::InOrg, made: Made) -> Result<HttpResponse, PageError> {
    let (section, title, what, list_label) = match made {
        Made::Key => (
            "keys",
            "This key was already created",
            "This form was sent before, and its key was made then. A key's secret is shown only once, on the \
             page that created it, so it is not shown again. Find the key in the list; if you lost its secret, \
             roll it or revoke it.",
            "Back to the API keys",
        ),
        Made::Roll => (
            "keys",
            "This key was already rolled",
            "This form was sent before, and the key was rolled then. The new key's secret is shown only once, \
             on the page that made it, so it is not shown again. Find the new key in the list; if you lost its \
             secret, roll it or revoke it.",
            "Back to the API keys",
        ),
        Made::Rotation => (
            "apps",
            "This secret was already rotated",
            "This form was sent before, and the app's secret was rotated then. The new secret is shown only \
             once, so it is not shown again. If you lost it, rotate the secret again on the app's page.",
            "Back to the apps",
        ),
        Made::App => (
            "apps",
            "This app was already registered",
            "This form was sent before, and its app was registered then. A client secret is shown only once, \
             so it is not shown again. Find the app in the list; if you lost its secret, rotate it on the \
             app's page.",
            "Back to the apps",
        ),
        Made::Invitation => (
            "members",
            "This invitation was already sent",
            "This form was sent before, and its invitation was made and emailed then. Its link is shown only \
             once. Find it under pending invitations; to send a new link, revoke it and invite again.",
            "Back to the members",
        ),
    };
    let shell = in_org.shell(section);
    let page = AlreadyMadePage { list_href: shell.href(section), shell, title, what, list_label };
    render(StatusCode::CONFLICT, &page, None)
}

/// A domain message as a sentence: capital first letter, final period.
pub fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let mut s: String = chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

/// A problem the domain found with a request, as a page tells it to a
/// person: the forms have radio buttons and checkboxes, not the `/v1`
/// fields, grant identifiers and endpoints its message names (`/v1` keeps
/// the domain's message). Every code is worded here, so a new one does not
/// compile until it is; only a problem without a code is its message as a
/// sentence.
pub fn for_people(problem: &Problem) -> String {
    let worded = match problem {
        Problem::Name => "Enter a name of 1 to 100 characters.",
        Problem::NoScope => "Tick at least one scope.",
        Problem::KeyType(_) => "Choose secret or restricted.",
        Problem::Environment(_) => "Choose live or test.",
        Problem::RestrictedScope(scope) => {
            return format!(
                "A restricted key takes only scopes for one resource, such as apps:read; “{scope}” is not one."
            );
        }
        Problem::Overlap => "Choose how long the old key keeps working (30 days at most).",
        Problem::NoGrant => "Tick at least one grant.",
        Problem::PublicClientCredentials => "A public app cannot use client credentials: it keeps no secret.",
        Problem::NoRedirectUri => "Add a redirect URI: the authorization code grant sends people back to one.",
        Problem::ManagementNotMachine => "A management app must be confidential and use client credentials.",
        Problem::NotWebUrl(Link::Homepage) => "Enter the homepage as a web address starting with https://.",
        Problem::NotWebUrl(Link::Logo) => "Enter the logo as a web address starting with https://.",
        Problem::NegativeGrace | Problem::GraceRange => "Choose one of the grace periods offered.",
        Problem::ManagementAppOfAnother => {
            "This management app acts for another member. Rotate its secret with no grace period first: \
             then it acts for you, and only the new secret works."
        }
        Problem::TakeoverWithGrace => {
            "Rotating another member's app makes it act for you, so its old secret cannot keep working: \
             choose no grace period."
        }
        Problem::Other(message) => return sentence(message),
    };
    worded.to_owned()
}

#[cfg(test)]
mod tests {
    use super::{for_people, sentence};
    use crate::problem::{Link, Problem};

    /// One of each code, which a person must see worded for the form.
    fn every_code() -> Vec<Problem> {
        let every = vec![
            Problem::Name,
            Problem::NoScope,
            Problem::KeyType("x".into()),
            Problem::Environment("prod".into()),
            Problem::RestrictedScope("read".into()),
            Problem::Overlap,
            Problem::NoGrant,
            Problem::PublicClientCredentials,
            Problem::NoRedirectUri,
            Problem::ManagementNotMachine,
            Problem::NotWebUrl(Link::Homepage),
            Problem::NotWebUrl(Link::Logo),
            Problem::NegativeGrace,
            Problem::GraceRange,
            Problem::ManagementAppOfAnother,
            Problem::TakeoverWithGrace,
        ];
        for problem in &every {
            // A new code stops this from compiling: list it above too.
            match problem {
                Problem::Name
                | Problem::NoScope
                | Problem::KeyType(_)
                | Problem::Environment(_)
                | Problem::RestrictedScope(_)
                | Problem::Overlap
                | Problem::NoGrant
                | Problem::PublicClientCredentials
                | Problem::NoRedirectUri
                | Problem::ManagementNotMachine
                | Problem::NotWebUrl(_)
                | Problem::NegativeGrace
                | Problem::GraceRange
                | Problem::ManagementAppOfAnother
                | Problem::TakeoverWithGrace => {}
                Problem::Other(_) => unreachable!("a problem without a code has no wording of its own"),
            }
        }
        every
    }

    #[test]
    fn a_code_is_worded_for_people_and_a_problem_without_one_becomes_a_sentence() {
        assert_eq!(for_people(&Problem::GraceRange), "Choose one of the grace periods offered.");
        assert_eq!(for_people(&Problem::KeyType("x".into())), "Choose secret or restricted.");
        assert_eq!(
            for_people(&Problem::RestrictedScope("read".into())),
            "A restricted key takes only scopes for one resource, such as apps:read; “read” is not one."
        );
        assert_eq!(for_people(&Problem::other("unknown scope \"x\"")), "Unknown scope \"x\".");
    }

    #[test]
    fn every_code_keeps_its_people_wording() {
        for problem in every_code() {
            let worded = for_people(&problem);
            // The fallback would show the /v1 message as a sentence.
            assert_ne!(worded, sentence(&problem.to_string()), "{problem:?} lost its wording");
            for api in ["_", "/v1", "POST", "{"] {
                assert!(!worded.contains(api), "{problem:?}: {worded}");
            }
            assert!(worded.ends_with('.'), "{problem:?}: {worded}");
        }
    }
}
