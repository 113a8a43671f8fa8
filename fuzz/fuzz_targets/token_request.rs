//! POST /oauth/token, /oauth/introspect and /oauth/revoke with a hostile
//! form: the whole path of a running server (body reading, form parsing,
//! client authentication, grant dispatch, the grants, the JSON answer).
//!
//! The input: a flags byte, then the form body. Bits 0-1 choose the client
//! authentication the fixture adds (the confidential client's real Basic
//! credentials, the public client's client_id in the body, an
//! `Authorization` header taken from the body's first line, or none); bit
//! 2 the content type (form or not); bits 4-5 the endpoint.

#![no_main]

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use portcullis_fuzz::{ERROR_CODES, ISSUER, with_world};
use serde_json::Value;

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fuzz_target!(init: with_world(|_| ()), |data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else { return };
    with_world(|world| {
        let path = match (flags >> 4) & 3 {
            2 => "/oauth/introspect",
            3 => "/oauth/revoke",
            _ => "/oauth/token",
        };
        let content_type = if flags & 4 == 0 { "application/x-www-form-urlencoded" } else { "text/plain" };
        let mut req = TestRequest::post().uri(path).insert_header(("content-type", content_type));
        let mut body = body.to_vec();
        let mut authenticated_as = None;
        match flags & 3 {
            0 => {
                let (id, secret) = (&world.confidential.client_id, &world.confidential_secret);
                let basic = STANDARD.encode(format!("{}:{}", urlencode(id), urlencode(secret)));
                req = req.insert_header(("authorization", format!("Basic {basic}")));
                authenticated_as = Some(id.clone());
            }
            1 => {
                let mut with_id = format!("client_id={}&", world.public.client_id).into_bytes();
                with_id.extend_from_slice(&body);
                body = with_id;
            }
            2 => {
                let split = body.iter().position(|b| *b == b'\n').unwrap_or(body.len());
                let header: Vec<u8> = body.drain(..split).collect();
                if let Ok(value) = actix_web::http::header::HeaderValue::from_bytes(&header) {
                    req = req.insert_header(("authorization", value));
                }
                body.drain(..body.len().min(1));
            }
            _ => {}
        }
        let answer = world.send(req.set_payload(body));

        // RFC 6749 §5.1, §5.2: never cached, JSON either way.
        assert_eq!(answer.headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"), "{path}");
        let json: Value = serde_json::from_slice(&answer.body).expect("a JSON answer");
        match answer.status {
            StatusCode::OK => {}
            StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::PAYLOAD_TOO_LARGE => {
                let error = json["error"].as_str().expect("an error code");
                assert!(ERROR_CODES.contains(&error), "{error}");
                if answer.status == StatusCode::UNAUTHORIZED {
                    assert_eq!(error, "invalid_client");
                }
                return;
            }
            other => panic!("{path} answered {other}: {json}"),
        }
        match path {
            "/oauth/token" => {
                // Only client_credentials can succeed without a code or a
                // refresh token the fuzzer cannot know: the confidential
                // client's, with a real signed token for it and a subset
                // of its scopes, never openid.
                let client_id = authenticated_as.unwrap_or_else(|| panic!("a token without authentication: {json}"));
                assert_eq!(json["token_type"], "Bearer");
                assert!(json.get("refresh_token").is_none() && json.get("id_token").is_none(), "{json}");
                let token = json["access_token"].as_str().expect("an access token");
                let keys = &world.state.oauth.keys;
                let claims = keys.verify_access_token(token, ISSUER, None, world.now).expect("a token that verifies");
                assert_eq!((claims.client_id.as_str(), claims.sub.as_str()), (client_id.as_str(), client_id.as_str()));
                let granted = json["scope"].as_str().unwrap_or_default();
                assert_eq!(claims.scope, granted);
                for scope in granted.split(' ').filter(|s| !s.is_empty()) {
                    assert!(scope != "openid" && world.confidential.scopes.contains(scope), "{scope:?} granted");
                }
            }
            // Nothing the fuzzer sends is a live token of ours.
            "/oauth/introspect" => assert_eq!(json, serde_json::json!({ "active": false })),
            _ => assert_eq!(json, serde_json::json!({})),
        }
    });
});
