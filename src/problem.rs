//! What is wrong with a request to change keys or apps, as a code the
//! domain returns (inside `KeyError::Validation`, `ClientError::Validation`
//! and `AppsError::Invalid`) and each layer words its own way:
//!
//! - `Display` is the domain's message: `/v1` sends it as the
//!   `VALIDATION_ERROR` message and the CLI prints it. Clients read these
//!   messages: change none.
//! - `http::pages::for_people` words each code for a person at a form. It
//!   matches every variant, so a new problem does not compile until the
//!   pages word it; only [`Problem::Other`] falls back to the message as a
//!   sentence.

/// A web address an app may give about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Homepage,
    Logo,
}

impl std::fmt::Display for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Homepage => "homepage",
            Self::Logo => "logo URL",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A key's or an app's name: empty, too long, or with control characters.
    #[error("name must be 1-100 characters")]
    Name,
    /// A key with no scope.
    #[error("at least one scope is required")]
    NoScope,
    /// A key type other than `secret` or `restricted` (as asked).
    #[error("type {0:?} is not secret or restricted")]
    KeyType(String),
    /// A key environment other than `live` or `test` (as asked).
    #[error("environment {0:?} is not live or test")]
    Environment(String),
    /// A broad scope asked for a restricted key.
    #[error("restricted keys take resource scopes such as apps:read, not {0:?}")]
    RestrictedScope(String),
    /// How long a rolled key keeps working: beyond 0 to 30 days.
    #[error("expires_in must be between 0 and 2592000 seconds (30 days)")]
    Overlap,
    /// An app with no grant.
    #[error("at least one grant type is required")]
    NoGrant,
    #[error("public clients cannot use client_credentials")]
    PublicClientCredentials,
    /// The authorization code grant with nowhere to send people back.
    #[error("authorization_code needs at least one redirect URI")]
    NoRedirectUri,
    #[error("a management app must be confidential and use client_credentials")]
    ManagementNotMachine,
    /// An app's homepage or logo that is no http(s) URL.
    #[error("{0} must be an http(s) URL")]
    NotWebUrl(Link),
    #[error("the grace period cannot be negative")]
    NegativeGrace,
    /// How long a rotated-out secret keeps working: beyond 0 to 30 days.
    #[error("grace_period must be between 0 and 2592000 seconds")]
    GraceRange,
    /// A change to another member's management app, which would hand their
    /// power on while its secret stays where it was.
    #[error(
        "This management app acts for another member. Rotate its secret without a grace period first \
         (POST /v1/apps/{{id}}/rotate-secret): then it acts for you, and only the new secret works."
    )]
    ManagementAppOfAnother,
    /// Another member's app taken over with its old secret kept alive.
    #[error("Rotating another member's app makes it act for you: the old secret cannot keep working (grace_period 0).")]
    TakeoverWithGrace,
    /// Any other problem, in the domain's words only: the pages show it as
    /// a sentence.
    #[error("{0}")]
    Other(String),
}

impl Problem {
    pub fn other(message: impl Into<String>) -> Self {
        Self::Other(message.into())
    }
}

/// A key's or an app's name, trimmed: 1 to 100 characters, no control
/// characters.
pub fn check_name(name: &str) -> Result<String, Problem> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Problem::Name);
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_problem_says_the_message_v1_has_always_sent() {
        let messages = [
            (Problem::Name, "name must be 1-100 characters"),
            (Problem::NoScope, "at least one scope is required"),
            (Problem::KeyType("x".into()), "type \"x\" is not secret or restricted"),
            (Problem::Environment("prod".into()), "environment \"prod\" is not live or test"),
            (
                Problem::RestrictedScope("read".into()),
                "restricted keys take resource scopes such as apps:read, not \"read\"",
            ),
            (Problem::Overlap, "expires_in must be between 0 and 2592000 seconds (30 days)"),
            (Problem::NoGrant, "at least one grant type is required"),
            (Problem::PublicClientCredentials, "public clients cannot use client_credentials"),
            (Problem::NoRedirectUri, "authorization_code needs at least one redirect URI"),
            (Problem::ManagementNotMachine, "a management app must be confidential and use client_credentials"),
            (Problem::NotWebUrl(Link::Homepage), "homepage must be an http(s) URL"),
            (Problem::NotWebUrl(Link::Logo), "logo URL must be an http(s) URL"),
            (Problem::NegativeGrace, "the grace period cannot be negative"),
            (Problem::GraceRange, "grace_period must be between 0 and 2592000 seconds"),
            (
                Problem::ManagementAppOfAnother,
                "This management app acts for another member. Rotate its secret without a grace period first \
                 (POST /v1/apps/{id}/rotate-secret): then it acts for you, and only the new secret works.",
            ),
            (
                Problem::TakeoverWithGrace,
                "Rotating another member's app makes it act for you: the old secret cannot keep working \
                 (grace_period 0).",
            ),
            (Problem::other("unknown scope \"x\""), "unknown scope \"x\""),
        ];
        for (problem, message) in messages {
            assert_eq!(problem.to_string(), message);
        }
    }

    #[test]
    fn a_name_is_trimmed_and_bounded() {
        assert_eq!(check_name("  ci deploys "), Ok("ci deploys".into()));
        assert_eq!(check_name(&"n".repeat(100)), Ok("n".repeat(100)));
        for bad in ["", "   ", "a\u{7}b"] {
            assert_eq!(check_name(bad), Err(Problem::Name));
        }
        assert_eq!(check_name(&"n".repeat(101)), Err(Problem::Name));
    }
}
