//! What /oauth/authorize does with a valid request: send the user to sign
//! in, show the consent page, issue a code, or answer with an error. A pure
//! function over plain inputs (no I/O), so every branch is a unit test.

use chrono::{DateTime, Utc};

use crate::oauth::clients::ClientType;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::scopes::ScopeSet;

/// The `prompt` parameter (OpenID Connect Core §3.1.2.1): a set of values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    /// Never show a page; fail instead.
    pub none: bool,
    /// Ask the user to sign in again, even when signed in.
    pub login: bool,
    /// Show the consent page even when consent was remembered.
    pub consent: bool,
    /// Let the user choose the account (or sign in with another one).
    pub select_account: bool,
}

impl Prompt {
    pub const NONE: Self = Self { none: true, login: false, consent: false, select_account: false };
    pub const LOGIN: Self = Self { none: false, login: true, consent: false, select_account: false };
    pub const CONSENT: Self = Self { none: false, login: false, consent: true, select_account: false };
    pub const SELECT_ACCOUNT: Self = Self { none: false, login: false, consent: false, select_account: true };

    /// A space-delimited list; `none` with any other value, or a value not
    /// defined by OIDC Core §3.1.2.1, is `invalid_request`.
    pub fn parse(value: &str) -> Result<Self, OAuthError> {
        let mut p = Self::default();
        for v in value.split(' ').filter(|v| !v.is_empty()) {
            match v {
                "none" => p.none = true,
                "login" => p.login = true,
                "consent" => p.consent = true,
                "select_account" => p.select_account = true,
                other => return Err(OAuthError::invalid_request(format!("unsupported prompt {other:?}"))),
            }
        }
        if p.none && (p.login || p.consent || p.select_account) {
            return Err(OAuthError::invalid_request("prompt=none cannot be combined with other prompt values"));
        }
        Ok(p)
    }
}

/// Whether the browser's sign-in serves this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authentication {
    /// Nobody is signed in.
    Missing,
    /// Signed in, and that is enough for this request.
    Valid,
    /// Signed in anew for this very request (see `oidc::reauth`): satisfies
    /// `prompt=login`, `max_age` and `select_account`.
    Fresh,
    /// Signed in, but this request wants a new sign-in: `prompt=login`, a
    /// session older than `max_age`, or an `id_token_hint` naming another user.
    Stale,
    /// Signed in anew for this request, but as another user than the one
    /// its `id_token_hint` names.
    OtherUser,
}

/// What the sign-in check depends on.
#[derive(Debug, Clone, Copy)]
pub struct SignInFacts {
    pub prompt: Prompt,
    /// OIDC Core §3.1.2.1, seconds.
    pub max_age: Option<i64>,
    /// When the request's re-authentication ticket was made, if it carries
    /// a valid one.
    pub reauth_since: Option<DateTime<Utc>>,
    /// When the signed-in user authenticated; `None` when nobody is.
    pub authenticated_at: Option<DateTime<Utc>>,
    /// `Some(false)` when an `id_token_hint` names another user.
    pub hint_matches: Option<bool>,
    pub now: DateTime<Utc>,
}

pub fn authentication(f: SignInFacts) -> Authentication {
    let Some(auth_time) = f.authenticated_at else { return Authentication::Missing };
    if f.reauth_since.is_some_and(|since| auth_time >= since) {
        return if f.hint_matches == Some(false) { Authentication::OtherUser } else { Authentication::Fresh };
    }
    // OIDC Core §3.1.2.1: re-authenticate when more than max_age seconds
    // have passed; max_age=0 is prompt=login (errata set 2).
    let too_old = f.max_age.is_some_and(|max| max == 0 || (f.now - auth_time).num_seconds() > max);
    if f.prompt.login || too_old || f.hint_matches == Some(false) {
        Authentication::Stale
    } else {
        Authentication::Valid
    }
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
    pub authentication: Authentication,
    /// The user chose the account on the select-account page.
    pub account_chosen: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send the browser to the login page, which comes back here.
    Login,
    /// Show who is signed in: continue, or sign in with another account.
    SelectAccount,
    /// Show the consent page. `remembered` says the user approved these
    /// scopes before and is asked again only because the client cannot be
    /// identified (a public client).
    Consent { remembered: bool },
    /// Issue a code without a page.
    Issue,
    /// Redirect back to the client with this error.
    Refuse(OAuthError),
}

fn login_required(description: &str) -> OAuthError {
    OAuthError::new(ErrorCode::LoginRequired, description)
}

fn consent_required(description: &str) -> OAuthError {
    OAuthError::new(ErrorCode::ConsentRequired, description)
}

pub fn decide(cx: PromptContext<'_>) -> Decision {
    // OIDC Core §3.1.2.1: prompt=none never shows a page.
    match cx.authentication {
        Authentication::Missing if cx.prompt.none => {
            return Decision::Refuse(login_required("The user is not signed in."));
        }
        Authentication::Stale if cx.prompt.none => {
            return Decision::Refuse(login_required("The user must sign in again for this request."));
        }
        Authentication::Missing | Authentication::Stale => return Decision::Login,
        // OIDC Core §3.1.2.1 (id_token_hint): the user the hint names is
        // neither signed in nor signed in by the request; signing in again
        // would only loop, so the client hears of it.
        Authentication::OtherUser => {
            return Decision::Refuse(login_required("The user who signed in is not the one the id_token_hint names."));
        }
        Authentication::Valid if cx.prompt.select_account && !cx.account_chosen => return Decision::SelectAccount,
        Authentication::Valid | Authentication::Fresh => {}
    }
    let covered = cx.remembered.is_some_and(|r| cx.requested.is_subset(r));
    // RFC 6749 §10.2, RFC 8252 §8.6: repeated requests are approved
    // without the user only for a client whose identity is proven. A public
    // client's client_id and redirect URI prove nothing (any app can listen
    // on a loopback port or claim a private-use scheme), so its remembered
    // consent is never reused: the user sees the page every time.
    let identified = cx.client_type == ClientType::Confidential;
    if cx.prompt.consent {
        Decision::Consent { remembered: covered }
    } else if covered && identified {
        Decision::Issue
    } else if cx.prompt.none && covered {
        Decision::Refuse(consent_required(
            "This application has no credentials to prove who it is; the user must approve each request.",
        ))
    } else if cx.prompt.none {
        Decision::Refuse(consent_required("The user has not consented to this request."))
    } else {
        Decision::Consent { remembered: covered }
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
        let authentication = if signed_in { Authentication::Valid } else { Authentication::Missing };
        decide(PromptContext {
            client_type,
            requested: &requested,
            remembered: remembered.as_ref(),
            prompt,
            authentication,
            account_chosen: false,
        })
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
            assert_eq!(decide_for(t, &["read"], None, Prompt::default(), false), Decision::Login);
            assert_eq!(decide_for(t, &["read"], None, Prompt::CONSENT, false), Decision::Login);
            let d = decide_for(t, &["read"], None, Prompt::NONE, false);
            assert_eq!(code(&d), Some(ErrorCode::LoginRequired));
        }
    }

    #[test]
    fn confidential_clients_reuse_remembered_consent_that_covers_the_request() {
        let remembered: &[&str] = &["read", "write"];
        assert_eq!(decide_for(CONFIDENTIAL, &["read"], Some(remembered), Prompt::default(), true), Decision::Issue);
        assert_eq!(decide_for(CONFIDENTIAL, &["read", "write"], Some(remembered), Prompt::NONE, true), Decision::Issue);
        assert_eq!(decide_for(CONFIDENTIAL, &[], Some(remembered), Prompt::default(), true), Decision::Issue);
    }

    #[test]
    fn prompt_consent_always_shows_the_page() {
        for t in [CONFIDENTIAL, PUBLIC] {
            assert_eq!(decide_for(t, &["read"], Some(&["read"]), Prompt::CONSENT, true), ASKED_BEFORE);
            assert_eq!(decide_for(t, &["read"], None, Prompt::CONSENT, true), NEVER_ASKED);
        }
    }

    #[test]
    fn a_request_wider_than_the_remembered_consent_asks_again() {
        for t in [CONFIDENTIAL, PUBLIC] {
            let d = decide_for(t, &["read", "delete"], Some(&["read"]), Prompt::default(), true);
            assert_eq!(d, NEVER_ASKED);
            let d = decide_for(t, &["read", "delete"], Some(&["read"]), Prompt::NONE, true);
            assert_eq!(code(&d), Some(ErrorCode::ConsentRequired));
            assert_eq!(decide_for(t, &["read"], None, Prompt::default(), true), NEVER_ASKED);
            let d = decide_for(t, &["read"], None, Prompt::NONE, true);
            assert_eq!(code(&d), Some(ErrorCode::ConsentRequired));
        }
    }

    #[test]
    fn public_clients_never_skip_the_consent_page() {
        // RFC 8252 §8.6: remembered consent is not proof of who is asking.
        assert_eq!(decide_for(PUBLIC, &["read"], Some(&["read", "write"]), Prompt::default(), true), ASKED_BEFORE);
        let d = decide_for(PUBLIC, &["read"], Some(&["read"]), Prompt::NONE, true);
        assert_eq!(code(&d), Some(ErrorCode::ConsentRequired));
        let Decision::Refuse(e) = d else { unreachable!() };
        assert!(e.description.contains("no credentials"), "{}", e.description);
    }

    fn at(secs: i64) -> DateTime<Utc> {
        use chrono::TimeZone;
        Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap() + chrono::Duration::seconds(secs)
    }

    /// A user who signed in at 0, asked at `now`.
    fn facts(prompt: Prompt, max_age: Option<i64>, now: i64) -> SignInFacts {
        SignInFacts {
            prompt,
            max_age,
            reauth_since: None,
            authenticated_at: Some(at(0)),
            hint_matches: None,
            now: at(now),
        }
    }

    #[test]
    fn prompt_is_a_set_and_none_stands_alone() {
        assert_eq!(Prompt::parse("").unwrap(), Prompt::default());
        let both = Prompt::parse("login consent").unwrap();
        assert!(both.login && both.consent && !both.none && !both.select_account);
        assert_eq!(Prompt::parse("select_account").unwrap(), Prompt::SELECT_ACCOUNT);
        for bad in ["none login", "consent none", "create", "LOGIN"] {
            let e = Prompt::parse(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidRequest, "{bad}");
        }
        assert_eq!(
            Prompt::parse("none login").unwrap_err().description,
            "prompt=none cannot be combined with other prompt values"
        );
    }

    #[test]
    fn max_age_and_prompt_login_ask_for_a_new_sign_in() {
        assert_eq!(authentication(facts(Prompt::default(), None, 10_000)), Authentication::Valid);
        assert_eq!(authentication(facts(Prompt::default(), Some(60), 60)), Authentication::Valid);
        assert_eq!(authentication(facts(Prompt::default(), Some(60), 61)), Authentication::Stale);
        assert_eq!(authentication(facts(Prompt::default(), Some(0), 0)), Authentication::Stale, "max_age=0");
        assert_eq!(authentication(facts(Prompt::LOGIN, None, 1)), Authentication::Stale);
        let other_user = SignInFacts { hint_matches: Some(false), ..facts(Prompt::default(), None, 1) };
        assert_eq!(authentication(other_user), Authentication::Stale);
        let nobody = SignInFacts { authenticated_at: None, ..facts(Prompt::LOGIN, Some(0), 1) };
        assert_eq!(authentication(nobody), Authentication::Missing);
    }

    #[test]
    fn only_a_sign_in_after_the_ticket_counts_as_fresh() {
        // Sent to sign in at 100: a session from 0 is not fresh, one from 100 on is.
        let stale = SignInFacts { reauth_since: Some(at(100)), ..facts(Prompt::LOGIN, Some(0), 120) };
        assert_eq!(authentication(stale), Authentication::Stale);
        let fresh = SignInFacts { authenticated_at: Some(at(100)), ..stale };
        assert_eq!(authentication(fresh), Authentication::Fresh);
        // Signed in anew, but not as the hinted user: the client is told.
        let fresh_other_user = SignInFacts { hint_matches: Some(false), ..fresh };
        assert_eq!(authentication(fresh_other_user), Authentication::OtherUser);
        let requested = set(&["openid"]);
        let decision = decide(PromptContext {
            client_type: CONFIDENTIAL,
            requested: &requested,
            remembered: Some(&requested),
            prompt: Prompt::default(),
            authentication: Authentication::OtherUser,
            account_chosen: true,
        });
        assert_eq!(code(&decision), Some(ErrorCode::LoginRequired));
    }

    #[test]
    fn a_stale_sign_in_goes_to_login_or_fails_with_prompt_none() {
        let requested = set(&["openid"]);
        let cx = |prompt, authentication| PromptContext {
            client_type: CONFIDENTIAL,
            requested: &requested,
            remembered: Some(&requested),
            prompt,
            authentication,
            account_chosen: false,
        };
        assert_eq!(decide(cx(Prompt::LOGIN, Authentication::Stale)), Decision::Login);
        let d = decide(cx(Prompt::NONE, Authentication::Stale));
        assert_eq!(code(&d), Some(ErrorCode::LoginRequired));
        assert_eq!(decide(cx(Prompt::LOGIN, Authentication::Fresh)), Decision::Issue);
    }

    #[test]
    fn select_account_shows_the_chooser_until_the_user_chose() {
        let requested = set(&["openid"]);
        let cx = |authentication, account_chosen| PromptContext {
            client_type: CONFIDENTIAL,
            requested: &requested,
            remembered: Some(&requested),
            prompt: Prompt::SELECT_ACCOUNT,
            authentication,
            account_chosen,
        };
        assert_eq!(decide(cx(Authentication::Valid, false)), Decision::SelectAccount);
        assert_eq!(decide(cx(Authentication::Valid, true)), Decision::Issue);
        // Signing in (with this account or another) is choosing one.
        assert_eq!(decide(cx(Authentication::Fresh, false)), Decision::Issue);
        assert_eq!(decide(cx(Authentication::Missing, false)), Decision::Login);
    }
}
