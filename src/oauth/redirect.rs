//! redirect_uri rules: registration checks and matching (RFC 6749 §3.1.2,
//! RFC 8252 §7.3, RFC 9700 §4.1.3).

use url::Url;

/// Checks a redirect URI for registration. Returns a message for people.
pub fn validate_for_registration(uri: &str, public_client: bool) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|_| format!("redirect URI {uri:?} is not an absolute URI"))?;
    if url.fragment().is_some() {
        return Err(format!("redirect URI {uri:?} must not contain a fragment"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(&url) || url.host_str() == Some("localhost") => Ok(()),
        "http" => Err(format!("redirect URI {uri:?} must use https (http only for loopback)")),
        // Private-use schemes for native apps (RFC 8252 §7.1): reverse domain names.
        scheme if public_client && scheme.contains('.') => Ok(()),
        scheme => Err(format!("redirect URI scheme {scheme:?} is not allowed")),
    }
}

fn is_loopback_host(url: &Url) -> bool {
    matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
}

/// Exact string match with a registered URI, except that a native (public)
/// client registered with an http loopback IP may use any port.
pub fn matches_registered(registered: &[String], requested: &str, public_client: bool) -> bool {
    if registered.iter().any(|r| r == requested) {
        return true;
    }
    if !public_client {
        return false;
    }
    let Ok(req) = Url::parse(requested) else { return false };
    if req.scheme() != "http" || !is_loopback_host(&req) {
        return false;
    }
    registered.iter().filter_map(|r| Url::parse(r).ok()).any(|reg| {
        reg.scheme() == "http"
            && is_loopback_host(&reg)
            && reg.host() == req.host()
            && reg.path() == req.path()
            && reg.query() == req.query()
            && reg.username() == req.username()
            && reg.password() == req.password()
            && req.fragment().is_none()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration() {
        assert!(validate_for_registration("https://app.example/cb", false).is_ok());
        assert!(validate_for_registration("http://127.0.0.1/cb", true).is_ok());
        assert!(validate_for_registration("http://localhost:3000/cb", false).is_ok());
        assert!(validate_for_registration("com.example.app:/cb", true).is_ok());
        // Each refusal names the rule that fired.
        for (uri, public_client, rule) in [
            ("http://app.example/cb", false, r#""http://app.example/cb" must use https (http only for loopback)"#),
            ("https://app.example/cb#x", false, r#""https://app.example/cb#x" must not contain a fragment"#),
            ("com.example.app:/cb", false, r#"scheme "com.example.app" is not allowed"#),
            ("javascript:alert(1)", true, r#"scheme "javascript" is not allowed"#),
            ("/relative", false, r#""/relative" is not an absolute URI"#),
        ] {
            let refused = validate_for_registration(uri, public_client).unwrap_err();
            assert_eq!(refused, format!("redirect URI {rule}"), "{uri}");
        }
    }

    #[test]
    fn matching() {
        let reg = vec!["https://app.example/cb".to_owned(), "http://127.0.0.1/native".to_owned()];
        assert!(matches_registered(&reg, "https://app.example/cb", false));
        for bad in
            ["https://app.example/cb/", "https://app.example/cb?x=1", "https://APP.example/cb", "https://app.example/c"]
        {
            assert!(!matches_registered(&reg, bad, false), "{bad}");
        }
        // RFC 8252 §7.3: any port on loopback, for native (public) clients only.
        assert!(matches_registered(&reg, "http://127.0.0.1:53121/native", true));
        assert!(!matches_registered(&reg, "http://127.0.0.1:53121/native", false));
        assert!(!matches_registered(&reg, "http://127.0.0.1:53121/other", true));
        assert!(!matches_registered(&reg, "http://localhost:53121/native", true));
    }
}
