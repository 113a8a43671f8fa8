//! redirect_uri rules (`oauth::redirect`): registration checks, and the
//! matching /oauth/authorize and the token endpoint apply to what a
//! request names. The input: a flags byte, then lines; the last line is
//! the requested URI, the others the registered ones.

#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::oauth::redirect;
use url::Url;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let public_client = flags & 1 == 1;
    let mut lines: Vec<&str> = text.split('\n').collect();
    let Some(requested) = lines.pop() else { return };
    for uri in lines.iter().copied().chain([requested]) {
        // What registration accepts is an absolute URI without a fragment,
        // https, http on loopback, or (public clients) a private-use scheme.
        if redirect::validate_for_registration(uri, public_client).is_ok() {
            let url = Url::parse(uri).expect("accepted, so it parses");
            assert!(url.fragment().is_none(), "{uri:?}");
            match url.scheme() {
                "https" => {}
                "http" => assert!(redirect::is_loopback(&url), "{uri:?}"),
                scheme => assert!(public_client && scheme.contains('.'), "{uri:?}"),
            }
        }
    }

    // A client's list holds only URIs registration accepted.
    let registered: Vec<String> = lines
        .iter()
        .filter(|uri| redirect::validate_for_registration(uri, public_client).is_ok())
        .map(|s| (*s).to_owned())
        .collect();
    let matched = redirect::matches_registered(&registered, requested, public_client);
    if registered.iter().any(|r| r == requested) {
        assert!(matched, "{requested:?} is registered");
    }
    // A confidential client: string equality and nothing else.
    if !public_client {
        assert_eq!(matched, registered.iter().any(|r| r == requested), "{requested:?}");
    }
    if matched && !registered.iter().any(|r| r == requested) {
        // Only RFC 8252 §7.3's rule matches another string: a public
        // client, http, a loopback IP literal, the registered host, path,
        // query and userinfo, no fragment; only the port may differ.
        let req = Url::parse(requested).expect("matched, so it parses");
        assert!(public_client && req.scheme() == "http", "{requested:?}");
        assert!(req.fragment().is_none(), "{requested:?}");
        let ip = matches!(req.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
            || matches!(req.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
        assert!(ip, "{requested:?}: not a loopback IP");
        let same_place = registered.iter().filter_map(|r| Url::parse(r).ok()).any(|reg| {
            reg.scheme() == "http"
                && reg.host() == req.host()
                && reg.path() == req.path()
                && reg.query() == req.query()
                && reg.username() == req.username()
                && reg.password() == req.password()
                && reg.fragment().is_none()
        });
        assert!(same_place, "{requested:?} matched none of {registered:?}");
    }
});
