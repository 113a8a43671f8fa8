//! Checks on what people type, with messages they can act on.

/// Lower-cased, trimmed: the form under which emails are unique.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A plausible email address (one `@`, something on each side, a dot in
/// the domain, no spaces), returned trimmed. Delivery proves the rest.
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
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
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
