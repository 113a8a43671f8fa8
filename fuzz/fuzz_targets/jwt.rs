//! JWT verification against the server's real keys (`tokens::signing`):
//! what every resource-server request, introspection, userinfo call and
//! id_token_hint runs on an attacker's token.
//!
//! The input: a mode byte, then its data.
//! - mode 0: the rest is a token; none may verify (the fuzzer has no key).
//! - mode 1: the rest is `typ \n claims-JSON`: the server signs those
//!   claims (ES256, RS256, EdDSA by bits 4-5), and verification must
//!   apply RFC 9068's checks to them exactly, whatever they hold.
//! - mode 2: a genuine access token, altered at the places and with the
//!   bytes the rest gives: any change to its text must be refused.

#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::oauth::oidc::hint::IdTokenHint;
use portcullis::tokens::signing::{ALGORITHMS, AccessTokenClaims, NBF_LEEWAY_SECS, VerifyError};
use portcullis_fuzz::{ISSUER, World, with_world};
use serde_json::Value;

/// RFC 9068 §2.1 with RFC 7515 §4.1.9's media type rules.
fn is_access_token_type(typ: &str) -> bool {
    let lower = typ.to_ascii_lowercase();
    lower == "at+jwt" || lower == "application/at+jwt"
}

fn has_float(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.is_f64(),
        Value::Array(items) => items.iter().any(has_float),
        Value::Object(members) => members.values().any(has_float),
        _ => false,
    }
}

fn forged(world: &World, token: &str) {
    let keys = &world.state.oauth.keys;
    let result = keys.verify_access_token(token, ISSUER, None, world.now);
    assert!(result.is_err(), "a forged token verified: {token:?}");
    assert!(keys.verify_jwt::<Value>(token, world.now).is_err(), "a forged JWT verified: {token:?}");
    assert!(IdTokenHint::read(&world.state.oauth, token).is_none(), "a forged hint was read: {token:?}");
}

fn signed(world: &World, selector: u8, data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (typ, claims) = text.split_once('\n').unwrap_or(("at+jwt", text));
    let Ok(claims) = serde_json::from_str::<Value>(claims) else { return };

    let keys = &world.state.oauth.keys;
    let algorithm = ALGORITHMS[usize::from(selector >> 4) % ALGORITHMS.len()];
    let token = keys.sign_jwt(algorithm, typ, &claims).expect("signing");
    // The signature is ours: the generic verification returns what was signed.
    let (read_typ, read) = keys.verify_jwt::<Value>(&token, world.now).expect("our own signature");
    // (A float may not survive serde_json's own text round trip: without
    // its `float_roundtrip` feature, parsing is not exact. Not ours.)
    assert_eq!(read_typ.as_deref(), Some(typ));
    if !has_float(&claims) {
        assert_eq!(read, claims);
    }
    // And the access-token checks are RFC 9068 §4's, no more, no less.
    let audience = (selector & 8 != 0).then_some("https://api.example");
    let expected = if !is_access_token_type(typ) {
        Err(VerifyError::WrongType)
    } else {
        match serde_json::from_value::<AccessTokenClaims>(claims.clone()) {
            Err(_) => Err(VerifyError::Malformed),
            Ok(c) if world.now >= c.exp => Err(VerifyError::Expired),
            Ok(c) if c.nbf > world.now.saturating_add(NBF_LEEWAY_SECS) => Err(VerifyError::NotYetValid),
            Ok(c) if c.iss != ISSUER => Err(VerifyError::WrongIssuer),
            Ok(c) if audience.is_some_and(|a| !c.aud.iter().any(|x| x == a)) => Err(VerifyError::WrongAudience),
            Ok(c) => Ok(c),
        }
    };
    assert_eq!(keys.verify_access_token(&token, ISSUER, audience, world.now), expected, "{typ:?} {claims}");
}

fn altered(world: &World, data: &[u8]) {
    let keys = &world.state.oauth.keys;
    let claims = AccessTokenClaims {
        iss: ISSUER.into(),
        sub: "user-1".into(),
        aud: vec!["https://api.example".into()],
        exp: world.now + 3600,
        iat: world.now,
        nbf: world.now,
        jti: "jti-1".into(),
        client_id: world.confidential.client_id.clone(),
        scope: "read write".into(),
        org_id: None,
        secret_id: None,
    };
    let token = keys.sign_access_token(&claims).expect("signing");
    assert_eq!(keys.verify_access_token(&token, ISSUER, Some("https://api.example"), world.now), Ok(claims));
    // Pairs of (position, byte): overwrite, or insert when the byte's top
    // bit is set; a lone last byte cuts the token at that position.
    let mut bytes = token.clone().into_bytes();
    for chunk in data.chunks(2) {
        let at = usize::from(chunk[0]) * bytes.len() / 256;
        match chunk {
            [_, b] if b & 0x80 != 0 => bytes.insert(at, b & 0x7f),
            [_, b] => {
                if let Some(slot) = bytes.get_mut(at) {
                    *slot = *b;
                }
            }
            _ => bytes.truncate(at),
        }
    }
    let Ok(changed) = String::from_utf8(bytes) else { return };
    if changed != token {
        forged(world, &changed);
    }
}

fuzz_target!(init: with_world(|_| ()), |data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    with_world(|world| match mode & 3 {
        0 => {
            if let Ok(token) = std::str::from_utf8(rest) {
                forged(world, token);
            }
        }
        1 => signed(world, mode, rest),
        _ => altered(world, rest),
    });
});
