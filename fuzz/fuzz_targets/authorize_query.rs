//! GET /oauth/authorize with a hostile query, no one signed in: the query
//! parsing, client lookup, redirect-URI check, response_type, scope, PKCE,
//! prompt, nonce, max_age and id_token_hint validation of a running server.
//!
//! The input: a flags byte, then the query string. Bits 0-1: the fixture
//! puts the confidential client's id first (0), the public client's (1),
//! or nothing (the query names its own client or none).
//!
//! The property that matters (RFC 6749 §4.1.2.1, RFC 9700 §4.11): the
//! server never sends the browser anywhere but to itself or to a redirect
//! URI registered for the client; what goes there is an error (no one is
//! signed in, so never a code) with `iss` (RFC 9207) and the request's `state`.

#![no_main]

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use libfuzzer_sys::fuzz_target;
use portcullis::oauth::redirect;
use portcullis_fuzz::{ERROR_CODES, ISSUER, with_world};
use url::Url;

fuzz_target!(init: with_world(|_| ()), |data: &[u8]| {
    let Some((&flags, query)) = data.split_first() else { return };
    let Ok(query) = std::str::from_utf8(query) else { return };
    with_world(|world| {
        let query = match flags & 3 {
            0 => format!("client_id={}&{query}", world.confidential.client_id),
            1 => format!("client_id={}&{query}", world.public.client_id),
            _ => query.to_owned(),
        };
        // What actix accepts as a request target: the fuzzer's bytes,
        // percent-encoded where a URI may not carry them raw.
        let query: String = query
            .bytes()
            .map(|b| if b.is_ascii_graphic() && b != b'#' { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect();
        // A target the server could not parse never reaches a handler.
        let uri = format!("/oauth/authorize?{query}");
        if actix_web::http::Uri::try_from(uri.as_str()).is_err() {
            return;
        }
        let answer = world.send(TestRequest::get().uri(&uri));
        match answer.status {
            StatusCode::OK | StatusCode::BAD_REQUEST => return,
            StatusCode::FOUND | StatusCode::SEE_OTHER => {}
            other => panic!("/oauth/authorize?{query} answered {other}"),
        }
        let location = answer.location().expect("a redirect has a Location");
        if location.starts_with('/') {
            // Our own login page, never another host (`//evil`, `/\evil`).
            assert!(location.starts_with("/login?"), "{location:?}");
            return;
        }
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let client_ids: Vec<&str> = pairs.iter().filter(|(k, _)| k == "client_id").map(|(_, v)| v.as_str()).collect();
        let client = match client_ids[..] {
            [id] if id == world.confidential.client_id => &world.confidential,
            [id] if id == world.public.client_id => &world.public,
            _ => panic!("redirected to {location:?} without one known client: {query}"),
        };
        let to = Url::parse(location).expect("an absolute Location");
        let registered = client.redirect_uris.iter().filter_map(|r| Url::parse(r).ok()).any(|reg| {
            reg.scheme() == to.scheme()
                && reg.host() == to.host()
                && reg.path() == to.path()
                && reg.username() == to.username()
                && reg.password() == to.password()
                && to.fragment().is_none()
                && (reg.port() == to.port() || (client.is_public() && reg.scheme() == "http" && redirect::is_loopback(&reg)))
                && to.query().unwrap_or_default().starts_with(reg.query().unwrap_or_default())
        });
        assert!(registered, "{location:?} is not registered for {}", client.client_id);
        let given: Vec<&str> = pairs.iter().filter(|(k, _)| k == "redirect_uri").map(|(_, v)| v.as_str()).collect();
        // RFC 6749 §3.1: a parameter without a value is as if omitted.
        if let [uri] = given[..]
            && !uri.is_empty()
        {
            assert!(
                redirect::matches_registered(&client.redirect_uris, uri, client.is_public()),
                "redirected for {uri:?}"
            );
        }
        let answer: Vec<(String, String)> = to.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let get = |name: &str| answer.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect::<Vec<_>>();
        assert!(get("code").is_empty(), "a code without a sign-in: {location:?}");
        let [error] = get("error")[..] else { panic!("no single error in {location:?}") };
        assert!(ERROR_CODES.contains(&error), "{error}");
        assert_eq!(get("iss"), [ISSUER], "{location:?}");
        let states: Vec<&str> = pairs.iter().filter(|(k, _)| k == "state").map(|(_, v)| v.as_str()).collect();
        if let [state] = states[..]
            && !state.is_empty()
        {
            assert_eq!(get("state"), [state], "{location:?}");
        }
    });
});
