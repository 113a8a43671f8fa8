//! Checks on what people type, with messages they can act on.

/// Lower-cased, trimmed: the form under which emails are unique.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A plausible email address, returned trimmed: a bare addr-spec
/// (RFC 5322 §3.4.1) as the mailer parses it, one `@`, a dot in the domain,
/// no spaces. Delivery proves the rest. A display name or angle brackets
/// (`n0<ada@x.io>`) are refused: the mailer would deliver such a string to
/// the inner address, so one mailbox could hold any number of accounts
/// (attacker round 12, finding 4). So are quoted local parts (`"a<b"@x.io`):
/// legal but shown as if they were markup, and nobody signs up with one.
pub fn email(email: &str) -> Result<String, String> {
    let email = email.trim();
    if email.is_empty() {
        return Err("Email is required.".into());
    }
    if email.chars().count() > 254 {
        return Err("Email must be at most 254 characters.".into());
    }
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"')
                && email.parse::<lettre::Address>().is_ok()
        }
        None => false,
    };
    if valid { Ok(email.to_owned()) } else { Err("Email must look like name@example.com.".into()) }
}

pub fn organization_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("Organization name is required.".into());
    }
    if name.chars().count() > 100 {
        return Err("Organization name must be at most 100 characters.".into());
    }
    if name.chars().any(char::is_control) {
        return Err("Organization name must not contain control characters.".into());
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(email("  Ada@Example.com ").unwrap(), "Ada@Example.com");
        assert_eq!(normalize_email(" Ada@Example.COM"), "ada@example.com");
        let display_forms = ["n0<ada@x.io>", "a@b.test>", "<ada@x.io>", "Ada <ada@x.io>", "ada@x.io (Ada)"];
        let not_addr_specs = ["\"a<b\"@x.io", "a%0d%0aBcc:e@x.io", "a,b@x.io", "a;b@x.io"];
        for bad in display_forms.into_iter().chain(not_addr_specs) {
            assert_eq!(email(bad), Err("Email must look like name@example.com.".into()), "{bad:?} accepted");
        }
        for good in ["ada+tag@x.io", "o'brien@x.co.uk", "a.b-c_d@sub.x-y.io", "ada@bücher.example"] {
            assert_eq!(email(good).as_deref(), Ok(good), "{good:?} refused");
        }
        for bad in ["", "ada", "ada@", "@x.io", "a@b@c.io", "a b@c.io", "a@nodot", "a@.io", "a@io."] {
            assert!(email(bad).is_err(), "{bad:?} accepted");
        }
        assert!(email(&format!("{}@x.io", "a".repeat(260))).is_err());
    }

    #[test]
    fn organization_names() {
        assert_eq!(organization_name(" Acme ").unwrap(), "Acme");
        assert_eq!(organization_name("<script>alert(1)</script>").unwrap(), "<script>alert(1)</script>");
        assert!(organization_name("   ").is_err());
        assert!(organization_name("a\u{0}b").is_err());
        assert!(organization_name(&"x".repeat(101)).is_err());
    }
}
