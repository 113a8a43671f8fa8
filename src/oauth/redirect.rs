//! redirect_uri rules: registration checks and matching (RFC 6749 §3.1.2,
//! RFC 8252 §7.3, RFC 9700 §4.1.3).

use url::Url;

/// Checks a redirect URI for registration. Returns a message for people.
pub fn validate_for_registration(uri: &str, public_client: bool) -> Result<(), String> {
    validate_labelled("redirect URI", uri, public_client)
}

/// The redirect-URI rules for another URI the browser is sent to (a
/// post_logout_redirect_uri); `label` names it in the message.
pub fn validate_labelled(label: &str, uri: &str, public_client: bool) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|_| format!("{label} {uri:?} is not an absolute URI"))?;
    if url.fragment().is_some() {
        return Err(format!("{label} {uri:?} must not contain a fragment"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(format!("{label} {uri:?} must use https (http only for loopback)")),
        // Private-use schemes for native apps (RFC 8252 §7.1): reverse domain names.
        scheme if public_client && scheme.contains('.') => Ok(()),
        scheme => Err(format!("{label} scheme {scheme:?} is not allowed")),
    }
}

/// A loopback IP literal, or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    is_loopback_host(url) || url.host_str() == Some("localhost")
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

/// Properties of `matches_registered` (issue 11): an exact string match,
/// plus RFC 8252 §7.3's any-port rule for public clients on http loopback IPs.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// A path with at least one letter in it, and maybe a query.
    fn path_and_query() -> impl Strategy<Value = String> {
        (proptest::collection::vec("[a-z][a-z0-9_-]{0,7}", 1..4), proptest::option::of("[a-z]{1,5}=[a-z0-9]{0,5}"))
            .prop_map(|(segments, query)| {
                let query = query.map(|q| format!("?{q}")).unwrap_or_default();
                format!("/{}{query}", segments.join("/"))
            })
    }

    /// An https redirect URI as a client would register it.
    fn https_uri() -> impl Strategy<Value = (String, Option<u16>, String)> {
        let host = proptest::collection::vec("[a-z][a-z0-9]{0,9}", 2..4).prop_map(|labels| labels.join("."));
        let port = proptest::option::of(1u16..).prop_filter("not the default port", |p| *p != Some(443));
        (host, port, path_and_query())
    }

    fn https(host: &str, port: Option<u16>, rest: &str) -> String {
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        format!("https://{host}{port}{rest}")
    }

    fn loopback_host() -> impl Strategy<Value = &'static str> {
        prop_oneof![Just("127.0.0.1"), Just("[::1]")]
    }

    fn http(host: &str, port: Option<u16>, rest: &str) -> String {
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        format!("http://{host}{port}{rest}")
    }

    /// Variants that may look alike to a person or a lax parser, but are not
    /// the registered string: none may match, for any kind of client.
    fn tricks(host: &str, port: Option<u16>, rest: &str, make: fn(&str, Option<u16>, &str) -> String) -> Vec<String> {
        let registered = make(host, port, rest);
        let letter = rest.find(|c: char| c.is_ascii_lowercase()).expect("paths start with a letter");
        let mut upper = rest.to_owned();
        upper.replace_range(letter..=letter, &rest[letter..=letter].to_ascii_uppercase());
        let mut encoded = rest.to_owned();
        encoded.replace_range(letter..=letter, &format!("%{:02X}", rest.as_bytes()[letter]));
        let mut encoded_lower = rest.to_owned();
        encoded_lower.replace_range(letter..=letter, &format!("%{:02x}", rest.as_bytes()[letter]));
        let scheme_end = registered.find("://").expect("an absolute URI") + 3;
        vec![
            make(host, port, &upper),
            make(host, port, &encoded),
            make(host, port, &encoded_lower),
            format!("{registered}#frag"),
            format!("{registered}#"),
            format!("{}user@{}", &registered[..scheme_end], &registered[scheme_end..]),
            format!("{}user:pw@{}", &registered[..scheme_end], &registered[scheme_end..]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn a_registered_https_uri_matches_itself_and_nothing_else(
            (host, port, rest) in https_uri(),
            other_port in 1u16..,
            prefix in ".{1,12}",
            suffix in ".{1,12}",
            public_client in any::<bool>(),
        ) {
            let registered = https(&host, port, &rest);
            prop_assert_eq!(validate_for_registration(&registered, public_client), Ok(()));
            let list = vec![registered.clone()];
            prop_assert!(matches_registered(&list, &registered, public_client));

            let mut variants = tricks(&host, port, &rest, https);
            variants.push(format!("{prefix}{registered}"));
            variants.push(format!("{registered}{suffix}"));
            variants.push(https(&host.to_ascii_uppercase(), port, &rest));
            variants.push(http(&host, port, &rest));
            if port != Some(other_port) {
                variants.push(https(&host, Some(other_port), &rest));
            }
            for variant in variants {
                prop_assert!(!matches_registered(&list, &variant, public_client), "{variant} matched {registered}");
            }
        }

        /// For a confidential client, or any client registered with a
        /// non-loopback URI, matching is string equality and nothing more.
        #[test]
        fn a_confidential_client_matches_by_string_equality_only(
            registered in proptest::collection::vec(".{0,40}", 1..4),
            random in ".{0,40}",
            pick in any::<Option<proptest::sample::Index>>(),
        ) {
            let requested = pick.map_or(random, |i| registered[i.index(registered.len())].clone());
            let expected = registered.contains(&requested);
            prop_assert_eq!(matches_registered(&registered, &requested, false), expected);
        }

        /// Whatever a matching request looks like as a string (the loopback
        /// rule compares parsed URLs, so `\\`, tabs, `127.1` or dot segments
        /// may pass), it leads to the registered place: same scheme, host,
        /// path and query, no userinfo or fragment; only a loopback port may differ.
        #[test]
        fn a_matching_uri_leads_where_the_registered_one_does(
            host in prop_oneof![Just("127.0.0.1"), Just("[::1]"), Just("app.example")],
            port in proptest::option::of(1u16..),
            rest in path_and_query(),
            insertions in proptest::collection::vec(
                (any::<proptest::sample::Index>(), proptest::sample::select(
                    ['\\', '/', '.', '@', ':', '%', '#', '?', '\t', '\n', ' ', 'A', '0', '1', '[', ']'].to_vec())),
                1..4,
            ),
        ) {
            let registered = if host == "app.example" { https(host, port, &rest) } else { http(host, port, &rest) };
            let mut requested = registered.clone();
            for (at, c) in insertions {
                let boundaries: Vec<usize> = (0..=requested.len()).filter(|i| requested.is_char_boundary(*i)).collect();
                requested.insert(boundaries[at.index(boundaries.len())], c);
            }
            if matches_registered(std::slice::from_ref(&registered), &requested, true) {
                let (reg, req) = (Url::parse(&registered).unwrap(), Url::parse(&requested).unwrap());
                prop_assert_eq!(reg.scheme(), req.scheme());
                prop_assert_eq!(reg.host(), req.host());
                prop_assert_eq!(reg.path(), req.path());
                prop_assert_eq!(reg.query(), req.query());
                prop_assert_eq!((req.username(), req.password(), req.fragment()), ("", None, None));
                prop_assert!(is_loopback_host(&req) || reg.port() == req.port(), "{requested} for {registered}");
            }
        }

        /// RFC 8252 §7.3: a native (public) client registered with an http
        /// loopback IP may use any port; path, query, host, scheme and
        /// userinfo must still be the registered ones, with no fragment.
        #[test]
        fn a_public_client_on_a_loopback_ip_may_use_any_port_and_nothing_more(
            host in loopback_host(),
            registered_port in proptest::option::of(1u16..),
            requested_port in proptest::option::of(1u16..),
            rest in path_and_query(),
            other_rest in path_and_query(),
        ) {
            let registered = http(host, registered_port, &rest);
            prop_assert_eq!(validate_for_registration(&registered, true), Ok(()));
            let list = vec![registered.clone()];
            let requested = http(host, requested_port, &rest);
            prop_assert!(matches_registered(&list, &requested, true), "{requested} refused for {registered}");
            prop_assert_eq!(matches_registered(&list, &requested, false), requested == registered);

            let other_host = if host == "127.0.0.1" { "[::1]" } else { "127.0.0.1" };
            let mut variants = tricks(host, requested_port, &rest, http);
            variants.push(http(other_host, requested_port, &rest));
            variants.push(http("localhost", requested_port, &rest));
            variants.push(https(host, requested_port, &rest));
            if other_rest != rest {
                variants.push(http(host, requested_port, &other_rest));
            }
            for variant in variants {
                prop_assert!(!matches_registered(&list, &variant, true), "{variant} matched {registered}");
            }
        }
    }
}
