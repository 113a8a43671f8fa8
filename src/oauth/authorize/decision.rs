//! What /oauth/authorize does with a valid request: send the user to sign
//! in, show the consent page, issue a code, or answer with an error. A pure
//! function over plain inputs (no I/O), so every branch is a unit test.

use crate::oauth::clients::ClientType;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::scopes::ScopeSet;

/// The `prompt` parameter (OpenID Connect Core §3.1.2.1), as far as it is
/// supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// Absent: ask only what is needed.
    Default,
    /// Never show a page; fail instead.
    None,
    /// Show the consent page even when consent was remembered.
    Consent,
}

/// Everything the decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct PromptContext<'a> {
    pub client_type: ClientType,
    /// The scopes the request will be granted if approved.
    pub requested: &'a ScopeSet,
    /// What this user approved for this client before (`None` when never,
    /// or when no one is signed in).
    pub remembered: Option<&'a ScopeSet>,
    pub prompt: Prompt,
    pub signed_in: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send the browser to the login page, which comes back here.
    Login,
    /// Show the consent page. `remembered` says the user approved these
    /// scopes before and is asked again only because the client cannot be
    /// identified (a public client).
    Consent { remembered: bool },
    /// Issue a code without a page.
    Issue,
    /// Redirect back to the client with this error.
    Refuse(OAuthError),
}

fn login_required() -> OAuthError {
    OAuthError::new(ErrorCode::LoginRequired, "The user is not signed in.")
}

fn consent_required(description: &str) -> OAuthError {
    OAuthError::new(ErrorCode::ConsentRequired, description)
}

pub fn decide(cx: PromptContext<'_>) -> Decision {
    if !cx.signed_in {
        // OIDC Core §3.1.2.1: prompt=none never shows a page.
        return match cx.prompt {
            Prompt::None => Decision::Refuse(login_required()),
            Prompt::Default | Prompt::Consent => Decision::Login,
        };
    }
    let covered = cx.remembered.is_some_and(|r| cx.requested.is_subset(r));
    // RFC 6749 §10.2, RFC 8252 §8.6: repeated requests are approved
    // without the user only for a client whose identity is proven. A public
    // client's client_id and redirect URI prove nothing (any app can listen
    // on a loopback port or claim a private-use scheme), so its remembered
    // consent is never reused: the user sees the page every time.
    let identified = cx.client_type == ClientType::Confidential;
    match cx.prompt {
        Prompt::Consent => Decision::Consent { remembered: covered },
        Prompt::Default | Prompt::None if covered && identified => Decision::Issue,
        Prompt::None if covered => Decision::Refuse(consent_required(
            "This application has no credentials to prove who it is; the user must approve each request.",
        )),
        Prompt::None => Decision::Refuse(consent_required("The user has not consented to this request.")),
        Prompt::Default => Decision::Consent { remembered: covered },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &[&str]) -> ScopeSet {
        s.iter().map(|x| x.to_string()).collect()
    }

    fn decide_for(
        client_type: ClientType,
        requested: &[&str],
        remembered: Option<&[&str]>,
        prompt: Prompt,
        signed_in: bool,
    ) -> Decision {
        let requested = set(requested);
        let remembered = remembered.map(set);
        decide(PromptContext { client_type, requested: &requested, remembered: remembered.as_ref(), prompt, signed_in })
    }

    fn code(d: &Decision) -> Option<ErrorCode> {
        match d {
            Decision::Refuse(e) => Some(e.code),
            _ => None,
        }
    }

    const CONFIDENTIAL: ClientType = ClientType::Confidential;
    const PUBLIC: ClientType = ClientType::Public;
    const ASKED_BEFORE: Decision = Decision::Consent { remembered: true };
    const NEVER_ASKED: Decision = Decision::Consent { remembered: false };

    #[test]
    fn signed_out_goes_to_login_unless_prompt_is_none() {
        for t in [CONFIDENTIAL, PUBLIC] {
            assert_eq!(decide_for(t, &["read"], None, Prompt::Default, false), Decision::Login);
            assert_eq!(decide_for(t, &["read"], None, Prompt::Consent, false), Decision::Login);
            let d = decide_for(t, &["read"], None, Prompt::None, false);
            assert_eq!(code(&d), Some(ErrorCode::LoginRequired));
        }
    }

    #[test]
    fn confidential_clients_reuse_remembered_consent_that_covers_the_request() {
        let remembered: &[&str] = &["read", "write"];
        assert_eq!(decide_for(CONFIDENTIAL, &["read"], Some(remembered), Prompt::Default, true), Decision::Issue);
        assert_eq!(decide_for(CONFIDENTIAL, &["read", "write"], Some(remembered), Prompt::None, true), Decision::Issue);
        assert_eq!(decide_for(CONFIDENTIAL, &[], Some(remembered), Prompt::Default, true), Decision::Issue);
    }

    #[test]
    fn prompt_consent_always_shows_the_page() {
        for t in [CONFIDENTIAL, PUBLIC] {
            assert_eq!(decide_for(t, &["read"], Some(&["read"]), Prompt::Consent, true), ASKED_BEFORE);
            assert_eq!(decide_for(t, &["read"], None, Prompt::Consent, true), NEVER_ASKED);
        }
    }

    #[test]
    fn a_request_wider_than_the_remembered_consent_asks_again() {
        for t in [CONFIDENTIAL, PUBLIC] {
            let d = decide_for(t, &["read", "delete"], Some(&["read"]), Prompt::Default, true);
            assert_eq!(d, NEVER_ASKED);
            let d = decide_for(t, &["read", "delete"], Some(&["read"]), Prompt::None, true);
            assert_eq!(code(&d), Some(ErrorCode::ConsentRequired));
            assert_eq!(decide_for(t, &["read"], None, Prompt::Default, true), NEVER_ASKED);
            let d = decide_for(t, &["read"], None, Prompt::None, true);
            assert_eq!(code(&d), Some(ErrorCode::ConsentRequired));
        }
    }

    #[test]
    fn public_clients_never_skip_the_consent_page() {
        // RFC 8252 §8.6: remembered consent is not proof of who is asking.
        assert_eq!(decide_for(PUBLIC, &["read"], Some(&["read", "write"]), Prompt::Default, true), ASKED_BEFORE);
        let d = decide_for(PUBLIC, &["read"], Some(&["read"]), Prompt::None, true);
        assert_eq!(code(&d), Some(ErrorCode::ConsentRequired));
        let Decision::Refuse(e) = d else { unreachable!() };
        assert!(e.description.contains("no credentials"), "{}", e.description);
    }
}
