use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use jsonwebtoken::jwk::{JwkSet, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode_header};
use serde_json::json;

use super::*;
use crate::tokens::signing::{NBF_LEEWAY_SECS, UnknownAlgorithm, VerifyError};

for_each_algorithm!(
    signs_and_verifies,
    refuses_what_fails_a_check,
    other_token_types_are_refused,
    malformed_signatures_and_headers_are_refused,
    jwks_alone_verifies_and_holds_no_private_member,
    other_jwts_are_signed_with_the_key_of_their_algorithm,
    a_verified_signature_is_remembered_and_nothing_else,
);

/// A token verified once is found by its digest the next time: only its
/// signature is taken from memory, every other check runs again, and a
/// token that fails is never remembered.
fn a_verified_signature_is_remembered_and_nothing_else(alg: SigningAlgorithm) {
    let f = fixture();
    let keys = create(&f, alg);
    let now = t0().timestamp();
    let claims = claims_at(now);
    let token = keys.sign_access_token(&claims).unwrap();
    let set = keys.snapshot();
    let remembered = || set.find(&keys.current_kid()).unwrap().public.verified().len();
    let verify = |token: &str, now| keys.verify_access_token(token, ISS, Some(API), now);
    assert_eq!(remembered(), 0);
    assert!(verify(&token, now).is_ok());
    assert_eq!(remembered(), 1);
    assert!(verify(&token, now).is_ok());
    assert_eq!(remembered(), 1, "found, not added again");
    assert_eq!(verify(&token, claims.exp), Err(VerifyError::Expired));
    assert_eq!(
        keys.verify_access_token(&token, ISS, Some("https://other.example.com"), now),
        Err(VerifyError::WrongAudience)
    );

    let parts: Vec<&str> = token.split('.').collect();
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[5] ^= 1;
    let tampered = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(signature));
    assert_eq!(verify(&tampered, now), Err(VerifyError::BadSignature));
    assert_eq!(verify(&tampered, now), Err(VerifyError::BadSignature));
    assert_eq!(remembered(), 1, "a bad signature is not remembered");

    let bounded = crate::tokens::signing::jws::VerifiedTokens::default();
    for i in 0..=crate::tokens::signing::jws::VerifiedTokens::MAX as u32 {
        let mut digest = [0u8; 32];
        digest[..4].copy_from_slice(&i.to_be_bytes());
        bounded.insert(digest);
        assert!(bounded.len() <= crate::tokens::signing::jws::VerifiedTokens::MAX);
    }
    assert!(bounded.contains(&{
        let mut last = [0u8; 32];
        last[..4].copy_from_slice(&(crate::tokens::signing::jws::VerifiedTokens::MAX as u32).to_be_bytes());
        last
    }));
}

/// ID and logout tokens: any algorithm, whatever signs access tokens, with
/// their own `typ`; `verify_jwt` checks the signature only, and none of
/// them passes for an access token.
fn other_jwts_are_signed_with_the_key_of_their_algorithm(access: SigningAlgorithm) {
    let f = fixture();
    let keys = create(&f, access);
    let now = t0().timestamp();
    let claims = json!({ "iss": ISS, "sub": "user_1", "aud": "app_1", "exp": now + 60, "iat": now });
    for alg in ALGORITHMS {
        let token = keys.sign_jwt(alg, "JWT", &claims).unwrap();
        let header = decode_header(&token).unwrap();
        assert_eq!(header.alg, jwt_alg(alg));
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert_eq!(header.kid, Some(keys.current_kid_of(alg)));
        let (typ, verified): (Option<String>, serde_json::Value) = keys.verify_jwt(&token, now).unwrap();
        assert_eq!((typ.as_deref(), verified), (Some("JWT"), claims.clone()));
        // The signature is checked: any change to the payload is refused.
        let (head, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode(json!({ "sub": "admin" }).to_string());
        let forged = format!("{head}.{forged}.{signature}");
        assert_eq!(keys.verify_jwt::<serde_json::Value>(&forged, now), Err(VerifyError::BadSignature));
        assert_eq!(keys.verify_access_token(&token, ISS, None, now), Err(VerifyError::WrongType));
    }
    let logout = keys.sign_jwt(access, "logout+jwt", &claims).unwrap();
    let (typ, _): (Option<String>, serde_json::Value) = keys.verify_jwt(&logout, now).unwrap();
    assert_eq!(typ.as_deref(), Some("logout+jwt"));
    assert_eq!(keys.verify_jwt::<serde_json::Value>("a.b.c", now), Err(VerifyError::Malformed));
}

fn signs_and_verifies(alg: SigningAlgorithm) {
    let f = fixture();
    let keys = create(&f, alg);
    assert_eq!(keys.algorithm(), alg);
    let now = t0().timestamp();
    let claims = claims_at(now);
    let token = keys.sign_access_token(&claims).unwrap();

    let header = decode_header(&token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, jwt_alg(alg));
    assert_eq!(header.kid, Some(keys.current_kid()));

    assert_eq!(keys.verify_access_token(&token, ISS, Some(API), now), Ok(claims.clone()));
    assert_eq!(keys.verify_access_token(&token, ISS, None, now), Ok(claims.clone()));

    // The same header and payload bytes jsonwebtoken produces (members in
    // the same order); the same signature too where it is deterministic
    // (RS256, EdDSA; aws-lc draws ECDSA nonces at random).
    let mut header = Header::new(jwt_alg(alg));
    header.typ = Some(ACCESS_TOKEN_TYPE.into());
    header.kid = Some(keys.current_kid());
    let same = sign_with_header(&keys, |h| *h = header);
    let (message, _) = token.rsplit_once('.').unwrap();
    assert!(same.starts_with(&format!("{message}.")), "{same} {token}");
    if alg != SigningAlgorithm::ES256 {
        assert_eq!(same, token);
    }

    let many = AccessTokenClaims { aud: vec![API.into(), "https://other.example.com".into()], ..claims_at(now) };
    let token = keys.sign_access_token(&many).unwrap();
    assert_eq!(keys.verify_access_token(&token, ISS, Some("https://other.example.com"), now), Ok(many));
}

fn refuses_what_fails_a_check(alg: SigningAlgorithm) {
    let f = fixture();
    let keys = create(&f, alg);
    let now = t0().timestamp();
    let claims = claims_at(now);
    let token = keys.sign_access_token(&claims).unwrap();
    let verify = |token: &str, now| keys.verify_access_token(token, ISS, Some(API), now);

    // Payload swapped for another one: the signature no longer matches.
    let parts: Vec<&str> = token.split('.').collect();
    let forged = serde_json::to_vec(&AccessTokenClaims { sub: "admin".into(), ..claims.clone() }).unwrap();
    let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(forged), parts[2]);
    assert_eq!(verify(&tampered, now), Err(VerifyError::BadSignature));
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[5] ^= 1;
    let tampered = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(signature));
    assert_eq!(verify(&tampered, now), Err(VerifyError::BadSignature));

    // Dead at exp exactly; nbf forgiven up to NBF_LEEWAY_SECS.
    assert!(verify(&token, claims.exp - 1).is_ok());
    assert_eq!(verify(&token, claims.exp), Err(VerifyError::Expired));
    assert!(verify(&token, now - NBF_LEEWAY_SECS).is_ok());
    assert_eq!(verify(&token, now - NBF_LEEWAY_SECS - 1), Err(VerifyError::NotYetValid));

    assert_eq!(
        keys.verify_access_token(&token, "https://evil.example.com", Some(API), now),
        Err(VerifyError::WrongIssuer)
    );
    assert_eq!(
        keys.verify_access_token(&token, ISS, Some("https://other.example.com"), now),
        Err(VerifyError::WrongAudience)
    );
}

fn other_token_types_are_refused(alg: SigningAlgorithm) {
    let f = fixture();
    let keys = create(&f, alg);
    let now = t0().timestamp();
    let verify = |token: &str| keys.verify_access_token(token, ISS, Some(API), now);

    // Validly signed by our key, but an ID token or a bare JWT is no access token.
    assert_eq!(verify(&sign_with_header(&keys, |h| h.typ = Some("JWT".into()))), Err(VerifyError::WrongType));
    assert_eq!(verify(&sign_with_header(&keys, |h| h.typ = None)), Err(VerifyError::WrongType));
    // RFC 7515 §4.1.9: case-insensitive, "application/" optional.
    assert!(verify(&sign_with_header(&keys, |h| h.typ = Some("application/at+jwt".into()))).is_ok());
    assert!(verify(&sign_with_header(&keys, |h| h.typ = Some("AT+JWT".into()))).is_ok());
}

/// A signature of the wrong shape is refused as a bad one (never a panic):
/// empty, cut, lengthened, DER instead of `r || s`, out-of-range values.
/// A header is read strictly: canonical base64url of one JSON object,
/// members once, no `crit`.
fn malformed_signatures_and_headers_are_refused(alg: SigningAlgorithm) {
    let f = fixture();
    let keys = create(&f, alg);
    let now = t0().timestamp();
    let verify = |token: &str| keys.verify_access_token(token, ISS, Some(API), now);
    let token = keys.sign_access_token(&claims_at(now)).unwrap();
    let (message, signature) = token.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let with = |sig: &[u8]| format!("{message}.{}", URL_SAFE_NO_PAD.encode(sig));
    assert!(verify(&with(&signature)).is_ok());

    let len = signature.len();
    let order_p256 = hex::decode("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551").unwrap();
    let mut der = vec![0x30, 0x44, 0x02, 0x20];
    der.extend_from_slice(&signature[..len / 2]);
    der.extend_from_slice(&[0x02, 0x20]);
    der.extend_from_slice(&signature[len / 2..]);
    let bad: Vec<Vec<u8>> = vec![
        vec![],
        signature[..len - 1].to_vec(),
        [&signature[..], &[0]].concat(),
        [&[0], &signature[..]].concat(),
        vec![0; len],
        vec![0xff; len],
        der,
        // r = n (the group order): out of range, whatever s is.
        [&order_p256[..], &signature[len / 2..]].concat(),
    ];
    for sig in bad {
        assert_eq!(verify(&with(&sig)), Err(VerifyError::BadSignature), "{sig:02x?}");
    }
    // A signature segment that is not base64url.
    assert_eq!(verify(&format!("{message}.{}=", URL_SAFE_NO_PAD.encode(&signature))), Err(VerifyError::BadSignature));
    assert_eq!(verify(&format!("{message}.!!")), Err(VerifyError::BadSignature));

    let (_, payload) = message.split_once('.').unwrap();
    let header = |json: &str| sign_message(&keys, alg, &format!("{}.{payload}", URL_SAFE_NO_PAD.encode(json)));
    let (a, k) = (alg.as_str(), keys.current_kid());
    assert!(verify(&header(&format!(r#"{{"typ":"at+jwt","alg":"{a}","kid":"{k}"}}"#))).is_ok());
    for json in [
        format!(r#"{{"typ":"at+jwt","alg":"{a}","alg":"{a}","kid":"{k}"}}"#),
        format!(r#"{{"typ":"at+jwt","alg":"{a}","kid":"{k}","crit":null}}"#),
        format!(r#"{{"typ":"at+jwt","alg":"{a}","kid":"{k}","crit":["b64"],"b64":false}}"#),
        format!(r#"{{"typ":"at+jwt","kid":"{k}"}}"#),
        format!(r#"{{"typ":"at+jwt","alg":7,"kid":"{k}"}}"#),
        format!(r#"[{{"typ":"at+jwt","alg":"{a}","kid":"{k}"}}]"#),
        format!(r#"{{"typ":"at+jwt","alg":"{a}","kid":"{k}"}} x"#),
    ] {
        assert_eq!(verify(&header(&json)), Err(VerifyError::Malformed), "{json}");
    }
    // The kid picks the key, and the key its one algorithm.
    for other in ["none", "HS256", &a.to_lowercase()] {
        let json = format!(r#"{{"typ":"at+jwt","alg":"{other}","kid":"{k}"}}"#);
        assert_eq!(verify(&header(&json)), Err(VerifyError::BadSignature), "{json}");
    }
    // Padding on the header segment is not base64url (RFC 7515 §2).
    let padded = URL_SAFE_NO_PAD.encode(format!(r#"{{"typ":"at+jwt","alg":"{a}","kid":"{k}"}} "#)) + "=";
    assert_eq!(verify(&sign_message(&keys, alg, &format!("{padded}.{payload}"))), Err(VerifyError::Malformed));
}

fn jwks_alone_verifies_and_holds_no_private_member(alg: SigningAlgorithm) {
    let f = fixture();
    let keys = create(&f, alg);
    let jwks = keys.jwks(t0(), Duration::hours(1));

    let allowed = ["kty", "crv", "x", "y", "n", "e", "kid", "use", "alg"];
    let published = jwks["keys"].as_array().unwrap();
    // One current key per algorithm, whichever signs access tokens.
    let mut algs: Vec<&str> = published.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    algs.sort_unstable();
    assert_eq!(algs, ["ES256", "EdDSA", "RS256"]);
    for key in published {
        for member in key.as_object().unwrap().keys() {
            assert!(allowed.contains(&member.as_str()), "unexpected JWK member {member}: {key}");
        }
        assert_eq!(key["use"], "sig");
    }
    let key = published.iter().find(|k| k["kid"] == keys.current_kid().as_str()).unwrap();
    assert_eq!(key["alg"], alg.as_str());
    match alg {
        SigningAlgorithm::ES256 => assert_eq!((&key["kty"], &key["crv"]), (&json!("EC"), &json!("P-256"))),
        SigningAlgorithm::RS256 => {
            assert_eq!((&key["kty"], &key["e"]), (&json!("RSA"), &json!("AQAB")));
            assert_eq!(URL_SAFE_NO_PAD.decode(key["n"].as_str().unwrap()).unwrap().len() * 8, 2048);
        }
        SigningAlgorithm::EdDSA => assert_eq!((&key["kty"], &key["crv"]), (&json!("OKP"), &json!("Ed25519"))),
    }

    // RFC 9068: a resource server needs nothing but the JWKS. This one
    // is plain jsonwebtoken, checking time against the real clock.
    let set: JwkSet = serde_json::from_value(jwks).unwrap();
    let jwk = set.find(&keys.current_kid()).unwrap();
    assert_eq!(jwk.thumbprint(ThumbprintHash::SHA256).unwrap(), keys.current_kid(), "kid is the RFC 7638 thumbprint");
    let now = jsonwebtoken::get_current_timestamp() as i64;
    let claims = claims_at(now);
    let token = keys.sign_access_token(&claims).unwrap();
    let mut validation = Validation::new(jwt_alg(alg));
    validation.set_issuer(&[ISS]);
    validation.set_audience(&[API]);
    let decoded =
        jsonwebtoken::decode::<AccessTokenClaims>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &validation).unwrap();
    assert_eq!(decoded.claims, claims);
}

#[test]
fn audience_is_a_string_when_single_and_an_array_otherwise() {
    let one = claims_at(0);
    let json = serde_json::to_value(&one).unwrap();
    assert_eq!(json["aud"], json!(API));
    assert_eq!(serde_json::from_value::<AccessTokenClaims>(json).unwrap(), one);

    let many = AccessTokenClaims { aud: vec!["a".into(), "b".into()], org_id: None, ..claims_at(0) };
    let json = serde_json::to_value(&many).unwrap();
    assert_eq!(json["aud"], json!(["a", "b"]));
    assert!(json.get("org_id").is_none());
    assert_eq!(serde_json::from_value::<AccessTokenClaims>(json).unwrap(), many);

    let mut json = serde_json::to_value(&one).unwrap();
    json["aud"] = json!([API]);
    assert_eq!(serde_json::from_value::<AccessTokenClaims>(json).unwrap(), one);
}

#[test]
fn algorithm_names_round_trip() {
    for alg in [SigningAlgorithm::ES256, SigningAlgorithm::RS256, SigningAlgorithm::EdDSA] {
        assert_eq!(alg.to_string().parse::<SigningAlgorithm>(), Ok(alg));
        assert_eq!(serde_json::to_value(alg).unwrap(), json!(alg.as_str()));
        assert_eq!(serde_json::from_value::<SigningAlgorithm>(json!(alg.as_str())).unwrap(), alg);
    }
    assert_eq!("HS256".parse::<SigningAlgorithm>(), Err(UnknownAlgorithm("HS256".into())));
}

#[test]
fn tokens_that_are_not_ours_are_refused() {
    let f = fixture();
    let keys = create(&f, SigningAlgorithm::ES256);
    let now = t0().timestamp();
    let verify = |token: &str| keys.verify_access_token(token, ISS, Some(API), now);

    for junk in ["", "abc", "a.b", "a.b.c.d", "!!.??.**"] {
        assert_eq!(verify(junk), Err(VerifyError::Malformed), "{junk:?}");
    }
    assert_eq!(verify(&sign_with_header(&keys, |h| h.kid = None)), Err(VerifyError::UnknownKey));
    assert_eq!(verify(&sign_with_header(&keys, |h| h.kid = Some("nope".into()))), Err(VerifyError::UnknownKey));
    let crit = sign_with_header(&keys, |h| h.crit = Some(vec!["exp".into()]));
    assert_eq!(verify(&crit), Err(VerifyError::Malformed));

    // A correctly signed payload that is not our claims.
    let header =
        URL_SAFE_NO_PAD.encode(json!({ "alg": "ES256", "typ": "at+jwt", "kid": keys.current_kid() }).to_string());
    let message = format!("{header}.{}", URL_SAFE_NO_PAD.encode(r#"{"sub":"x"}"#));
    assert_eq!(verify(&sign_message(&keys, SigningAlgorithm::ES256, &message)), Err(VerifyError::Malformed));

    // Algorithm confusion: HS256 "signed" with the public key as secret.
    let jwks = keys.jwks(t0(), Duration::zero());
    let published = jwks["keys"].as_array().unwrap();
    let secret = published.iter().find(|k| k["kid"] == keys.current_kid().as_str()).unwrap()["x"].as_str().unwrap();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(keys.current_kid());
    header.typ = Some(ACCESS_TOKEN_TYPE.into());
    let hs = jsonwebtoken::encode(&header, &claims_at(now), &EncodingKey::from_secret(secret.as_bytes())).unwrap();
    assert_eq!(verify(&hs), Err(VerifyError::BadSignature));
}
