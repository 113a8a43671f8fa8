//! The messages portcullis sends, each a text and an HTML template under
//! `templates/email/`. Rendering is pure: the caller stores the result in
//! the outbox.

use askama::Template;

/// A message ready to be queued: to whom, the subject, both bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Declares the text and HTML templates of one message over the same
/// fields (plus `site`, `issuer` and `link`, which every message has).
macro_rules! email {
    ($text:ident = $text_file:literal, $html:ident = $html_file:literal, { $($field:ident : $ty:ty),* $(,)? }) => {
        #[derive(Template)]
        #[template(path = $text_file)]
        struct $text<'a> { site: &'a str, issuer: &'a str, link: &'a str, $($field: $ty),* }

        #[derive(Template)]
        #[template(path = $html_file)]
        struct $html<'a> { site: &'a str, issuer: &'a str, link: &'a str, $($field: $ty),* }
    };
}

email!(VerifyText = "email/verify.txt", VerifyHtml = "email/verify.html", {});
email!(ResetText = "email/reset.txt", ResetHtml = "email/reset.html", { minutes: i64 });
email!(InvitationText = "email/invitation.txt", InvitationHtml = "email/invitation.html", {
    organization: &'a str, role: &'a str, invited_by: Option<&'a str>, email: &'a str, days: i64,
});
email!(AttemptText = "email/signup_attempt.txt", AttemptHtml = "email/signup_attempt.html", { login: &'a str });

/// What a message is about; `Letters::compose` renders it.
pub enum Letter<'a> {
    /// The link that verifies an address (sign-up, "resend").
    Verify {
        link: &'a str,
    },
    /// A password-reset link ("Forgot your password?").
    Reset {
        link: &'a str,
        minutes: i64,
    },
    Invitation {
        link: &'a str,
        organization: &'a str,
        role: &'a str,
        invited_by: Option<&'a str>,
        days: i64,
    },
    /// Someone tried to sign up with an address that has an account.
    SignupAttempt {
        reset_link: &'a str,
        login: &'a str,
    },
}

/// Renders `letter` for `to`; `site` names the server in the message.
pub fn compose(site: &str, issuer: &str, to: &str, letter: &Letter<'_>) -> Result<Message, askama::Error> {
    let (subject, text, html) = match *letter {
        Letter::Verify { link } => (
            "Confirm your email address".to_owned(),
            VerifyText { site, issuer, link }.render()?,
            VerifyHtml { site, issuer, link }.render()?,
        ),
        Letter::Reset { link, minutes } => (
            "Reset your password".to_owned(),
            ResetText { site, issuer, link, minutes }.render()?,
            ResetHtml { site, issuer, link, minutes }.render()?,
        ),
        Letter::Invitation { link, organization, role, invited_by, days } => (
            format!("You are invited to {organization}"),
            InvitationText { site, issuer, link, organization, role, invited_by, email: to, days }.render()?,
            InvitationHtml { site, issuer, link, organization, role, invited_by, email: to, days }.render()?,
        ),
        Letter::SignupAttempt { reset_link, login } => (
            "Someone tried to sign up with your address".to_owned(),
            AttemptText { site, issuer, link: reset_link, login }.render()?,
            AttemptHtml { site, issuer, link: reset_link, login }.render()?,
        ),
    };
    Ok(Message { to: to.to_owned(), subject, text, html })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_bodies_carry_the_link_and_html_escapes_names() {
        let letter = Letter::Invitation {
            link: "http://x.test/invitations/abc",
            organization: "<Acme & Co>",
            role: "MEMBER",
            invited_by: Some("ada@example.com"),
            days: 7,
        };
        let m = compose("portcullis", "http://x.test", "bob@example.com", &letter).unwrap();
        assert_eq!(m.subject, "You are invited to <Acme & Co>");
        assert!(m.text.contains("http://x.test/invitations/abc"), "{}", m.text);
        assert!(m.text.contains("<Acme & Co>"), "text is not escaped: {}", m.text);
        assert!(m.html.contains("&lt;Acme &amp; Co&gt;"), "{}", m.html);
        assert!(!m.html.contains("<Acme"), "{}", m.html);
    }
}
