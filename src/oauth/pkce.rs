//! PKCE (RFC 7636).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::error::OAuthError;
use crate::tokens::opaque::constant_time_eq;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    S256,
    Plain,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S256 => "S256",
            Self::Plain => "plain",
        }
    }
}

/// §4.1: 43–128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
/// The S256 challenge (43 characters of base64url) has the same alphabet.
fn well_formed(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Checks the challenge sent to /authorize. `plain` only when allowed.
pub fn parse_challenge(
    challenge: Option<&str>,
    method: Option<&str>,
    allow_plain: bool,
) -> Result<Option<(String, Method)>, OAuthError> {
    let Some(challenge) = challenge.filter(|c| !c.is_empty()) else {
        if method.is_some_and(|m| !m.is_empty()) {
            return Err(OAuthError::invalid_request("code_challenge_method without code_challenge"));
        }
        return Ok(None);
    };
    let method = match method.unwrap_or("plain") {
        "S256" => Method::S256,
        "plain" if allow_plain => Method::Plain,
        "plain" => return Err(OAuthError::invalid_request("code_challenge_method plain is not allowed; use S256")),
        other => return Err(OAuthError::invalid_request(format!("unsupported code_challenge_method {other:?}"))),
    };
    if !well_formed(challenge) {
        return Err(OAuthError::invalid_request("code_challenge must be 43-128 characters of [A-Za-z0-9-._~]"));
    }
    // An S256 challenge is BASE64URL(SHA256(verifier)), always 43 characters
    // (§4.2): any other could never be redeemed, so it is refused here, not
    // at the token endpoint.
    let base64url = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if method == Method::S256 && (challenge.len() != 43 || !challenge.chars().all(base64url)) {
        return Err(OAuthError::invalid_request(
            "an S256 code_challenge is the 43-character base64url SHA-256 of the verifier",
        ));
    }
    Ok(Some((challenge.to_owned(), method)))
}

/// §4.6: the verifier must transform to the stored challenge.
pub fn verify(challenge: &str, method: Method, verifier: &str) -> bool {
    if !well_formed(verifier) {
        return false;
    }
    match method {
        Method::S256 => constant_time_eq(&URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())), challenge),
        Method::Plain => constant_time_eq(verifier, challenge),
    }
}

pub fn method_from_str(s: &str) -> Option<Method> {
    match s {
        "S256" => Some(Method::S256),
        "plain" => Some(Method::Plain),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc_7636_example() {
        assert!(verify(CHALLENGE, Method::S256, VERIFIER));
        assert!(!verify(CHALLENGE, Method::S256, &VERIFIER.replace('d', "e")));
        assert!(!verify(CHALLENGE, Method::S256, "short"));
    }

    /// Which rule refused a challenge.
    fn refusal(challenge: Option<&str>, method: Option<&str>) -> String {
        let e = parse_challenge(challenge, method, false).unwrap_err();
        assert_eq!(e.code, crate::oauth::error::ErrorCode::InvalidRequest, "{e:?}");
        e.description
    }

    #[test]
    fn challenge_rules() {
        assert_eq!(parse_challenge(Some(CHALLENGE), Some("S256"), false).unwrap().unwrap().1, Method::S256);
        let plain_refused = "code_challenge_method plain is not allowed; use S256";
        assert_eq!(refusal(Some(CHALLENGE), Some("plain")), plain_refused);
        assert_eq!(refusal(Some(CHALLENGE), None), plain_refused, "method defaults to plain");
        assert_eq!(parse_challenge(Some(CHALLENGE), None, true).unwrap().unwrap().1, Method::Plain);
        let malformed = "code_challenge must be 43-128 characters of [A-Za-z0-9-._~]";
        assert_eq!(refusal(Some("abc"), Some("S256")), malformed);
        assert_eq!(refusal(Some(&format!("{CHALLENGE}!")), Some("S256")), malformed);
        assert_eq!(refusal(Some(&"a".repeat(129)), Some("S256")), malformed);
        assert_eq!(refusal(Some(CHALLENGE), Some("S512")), "unsupported code_challenge_method \"S512\"");
        assert_eq!(refusal(None, Some("S256")), "code_challenge_method without code_challenge");
        assert_eq!(parse_challenge(None, None, false).unwrap(), None);
        // Well formed, but no SHA-256 in base64url: 44 characters, or a '.'.
        let not_s256 = "an S256 code_challenge is the 43-character base64url SHA-256 of the verifier";
        assert_eq!(refusal(Some(&format!("{CHALLENGE}A")), Some("S256")), not_s256);
        assert_eq!(refusal(Some(&CHALLENGE.replace('-', ".")), Some("S256")), not_s256);
        // The same strings are fine plain challenges where plain is allowed.
        assert!(parse_challenge(Some(&format!("{CHALLENGE}A")), Some("plain"), true).is_ok());
    }
}

/// Properties over random verifiers (issue 11). The S256 challenge is
/// computed here from sha2 and base64 directly, not through `verify`.
#[cfg(test)]
mod properties {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use proptest::prelude::*;
    use sha2::{Digest, Sha256};

    use super::*;

    const UNRESERVED: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    const MALFORMED: &str = "code_challenge must be 43-128 characters of [A-Za-z0-9-._~]";

    fn s256(verifier: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(verifier.as_bytes());
        URL_SAFE_NO_PAD.encode(hasher.finalize())
    }

    fn unreserved(len: impl Into<proptest::sample::SizeRange>) -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(UNRESERVED.chars().collect::<Vec<_>>()), len)
            .prop_map(|chars| chars.into_iter().collect())
    }

    /// A character RFC 7636 §4.1 does not allow in a verifier.
    fn reserved_char() -> impl Strategy<Value = char> {
        any::<char>().prop_filter("outside the unreserved set", |c| !UNRESERVED.contains(*c))
    }

    /// The refusal `parse_challenge` gives for a malformed challenge.
    fn refused_as_malformed(challenge: &str) -> bool {
        matches!(parse_challenge(Some(challenge), Some("S256"), false),
            Err(e) if e.code == crate::oauth::error::ErrorCode::InvalidRequest && e.description == MALFORMED)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn a_well_formed_verifier_verifies_against_its_s256_challenge(verifier in unreserved(43..=128)) {
            let challenge = s256(&verifier);
            let parsed = parse_challenge(Some(&challenge), Some("S256"), false).unwrap();
            prop_assert_eq!(parsed, Some((challenge.clone(), Method::S256)));
            prop_assert!(verify(&challenge, Method::S256, &verifier));
        }

        #[test]
        fn a_verifier_changed_in_one_character_does_not_verify(
            verifier in unreserved(43..=128),
            at in any::<proptest::sample::Index>(),
            replacement in proptest::sample::select(UNRESERVED.chars().collect::<Vec<_>>()),
        ) {
            let i = at.index(verifier.len());
            prop_assume!(verifier.as_bytes()[i] != replacement as u8);
            let mut changed = verifier.clone();
            changed.replace_range(i..=i, &replacement.to_string());
            prop_assert!(!verify(&s256(&verifier), Method::S256, &changed));
            prop_assert!(!verify(&verifier, Method::Plain, &changed));
        }

        #[test]
        fn a_verifier_of_the_wrong_length_is_refused_even_when_it_hashes_right(
            verifier in prop_oneof![unreserved(0..43), unreserved(129..=300)],
        ) {
            prop_assert!(!verify(&s256(&verifier), Method::S256, &verifier));
            prop_assert!(!verify(&verifier, Method::Plain, &verifier));
            if !verifier.is_empty() {
                prop_assert!(refused_as_malformed(&verifier));
            }
        }

        #[test]
        fn a_verifier_with_a_reserved_character_is_refused_even_when_it_hashes_right(
            verifier in unreserved(43..=124),
            at in any::<proptest::sample::Index>(),
            bad in reserved_char(),
        ) {
            // At most 124 + 4 bytes: the length stays legal, only the character is wrong.
            let i = at.index(verifier.len());
            let mut tainted = verifier.clone();
            tainted.replace_range(i..=i, &bad.to_string());
            prop_assert!(!verify(&s256(&tainted), Method::S256, &tainted));
            prop_assert!(!verify(&tainted, Method::Plain, &tainted));
            prop_assert!(refused_as_malformed(&tainted));
        }
    }
}
