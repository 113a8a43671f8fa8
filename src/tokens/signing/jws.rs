//! Compact JWS (RFC 7515): signing with a parsed current key, verification
//! with the parsed published keys; access tokens' claim checks.

use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, ParsedPublicKey, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::keys::{CurrentKey, KeySet};
use super::{
    ACCESS_TOKEN_TYPE, AccessTokenClaims, NBF_LEEWAY_SECS, SigningAlgorithm, SigningError, VerifyError, crypto_error,
};

/// The current key's private half, parsed once at load (aws-lc-rs:
/// constant-time, and the RSA key's precomputed CRT values are kept).
/// Deliberately not `Debug`; aws-lc frees (and zeroes) the key on drop.
pub(super) enum PrivateKey {
    /// With `ECDSA_P256_SHA256_FIXED_SIGNING`: 64-byte `r || s` signatures.
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

/// A published key, parsed once at load for the one algorithm it may verify,
/// with the tokens whose signature it has verified (shared by the copies of
/// this key in later sets; a key read again starts with none), and whether
/// it takes only low-S ECDSA signatures (its P-256 keys: `low_s`).
#[derive(Clone)]
pub(super) struct PublicKey(pub(super) ParsedPublicKey, Arc<VerifiedTokens>, bool);

/// Low-S ECDSA signatures. For any ECDSA signature `(r, s)`, `(r, n − s)`
/// verifies too, so without a rule every ES256 token has a second spelling
/// that a check keyed by the token string would take for another token
/// (round 4, finding 7). As Bitcoin's BIP 62 and libsecp256k1 do, we sign
/// with `s ≤ n/2` only and refuse a signature whose `s` is above it: each
/// token has one valid signature string.
pub(super) mod low_s {
    /// The order n of P-256's base point (SEC 2 §2.4.2, FIPS 186-4 D.1.2.3), big-endian.
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6,
        0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
    ];

    /// ⌊n/2⌋; n is odd, so `s > HALF_N` is `s > n/2`.
    const HALF_N: [u8; 32] = [
        0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xde, 0x73,
        0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
    ];

    /// Whether the 64-byte `r || s` has `s > n/2`; any other length is
    /// not ours to judge here (the verifier refuses it).
    pub(in crate::tokens::signing) fn is_high(signature: &[u8]) -> bool {
        signature.len() == 64 && signature[32..] > HALF_N[..]
    }

    /// `r || s` with `s` replaced by `n − s` when it is high.
    pub(in crate::tokens::signing) fn normalize(signature: &mut [u8]) {
        if is_high(signature) {
            flip(signature);
        }
    }

    /// `r || s` → `r || n − s`, for `0 < s < n` (what the signer makes).
    pub(super) fn flip(signature: &mut [u8]) {
        let s = &mut signature[32..];
        let mut borrow = 0u16;
        for i in (0..32).rev() {
            let (minuend, subtrahend) = (u16::from(N[i]), u16::from(s[i]) + borrow);
            borrow = u16::from(minuend < subtrahend);
            // The difference is below 256 once the borrow is added back.
            s[i] = (minuend + (borrow << 8) - subtrahend) as u8;
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn half_n_is_half_of_n() {
            // 2 × HALF_N + 1 = N, byte by byte from the right.
            let mut carry = 1u16;
            for i in (0..32).rev() {
                let sum = u16::from(HALF_N[i]) * 2 + carry;
                assert_eq!(sum as u8, N[i], "byte {i}");
                carry = sum >> 8;
            }
            assert_eq!(carry, 0);
        }

        #[test]
        fn a_high_s_becomes_n_minus_s_and_a_low_one_stays() {
            let mut top = [0u8; 64];
            top[32..].copy_from_slice(&N);
            top[63] -= 1; // s = n − 1
            assert!(is_high(&top));
            normalize(&mut top);
            let mut one = [0u8; 32];
            one[31] = 1;
            assert_eq!(top[32..], one, "n − (n − 1) = 1");
            let mut half = [0u8; 64];
            half[32..].copy_from_slice(&HALF_N);
            assert!(!is_high(&half));
            normalize(&mut half);
            assert_eq!(half[32..], HALF_N, "n/2 is low: left alone");
            half[63] += 1;
            assert!(is_high(&half), "⌊n/2⌋ + 1 is high");
            assert!(!is_high(&[0xff; 256]), "not an ES256 signature");
        }

        #[test]
        fn our_signatures_are_low_s_and_their_high_twins_verify_only_without_the_rule() {
            use aws_lc_rs::rand::SystemRandom;
            use aws_lc_rs::signature::{
                ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, ParsedPublicKey,
            };
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
            let parsed = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref()).unwrap();
            let public = super::super::PublicKey::new(parsed, true);
            let private = super::super::PrivateKey::Es256(pair);
            // Half of raw ECDSA signatures are high-S: 64 in a row low is the rule, not chance.
            for _ in 0..64 {
                let signature = private.sign(b"message").unwrap();
                assert!(!is_high(&signature));
                assert!(public.verify(b"message", &signature));
                let mut twin = signature.clone();
                flip(&mut twin);
                assert!(is_high(&twin));
                assert!(public.0.verify_sig(b"message", &twin).is_ok(), "ECDSA itself takes the twin");
                assert!(!public.verify(b"message", &twin), "we do not");
            }
        }
    }
}

/// SHA-256 digests of whole compact JWSs (header, payload and signature as
/// received) whose signature one key has verified. Verifying a signature is
/// most of the cost of checking a token (an ECDSA P-256 verification is
/// about 0.7 M instructions, a SHA-256 of a token about 10 k), and resource
/// servers present the same token again and again. Only the signature is
/// taken from here: the token's shape, its kid, the key's window, the
/// algorithm, then its claims, are checked on every call as before. Finding
/// a forged token here takes a second preimage of SHA-256, which would
/// forge the signature itself (ES256 and RS256 sign a SHA-256 of the
/// message). Bounded: full, it is emptied.
#[derive(Default)]
pub(super) struct VerifiedTokens(RwLock<HashSet<[u8; 32]>>);

impl VerifiedTokens {
    /// At 32 bytes a digest, some 200 KiB per key when full.
    pub(super) const MAX: usize = 4096;

    pub(super) fn contains(&self, digest: &[u8; 32]) -> bool {
        self.0.read().unwrap_or_else(PoisonError::into_inner).contains(digest)
    }

    pub(super) fn insert(&self, digest: [u8; 32]) {
        let mut set = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if set.len() >= Self::MAX {
            set.clear();
        }
        set.insert(digest);
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.0.read().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// The JOSE header of our tokens, members in this order (RFC 9068 §2.1).
#[derive(Serialize)]
struct JoseHeader<'a> {
    typ: &'a str,
    alg: &'a str,
    kid: &'a str,
}

/// `base64url(header)` for a token of media type `typ` signed by this key.
pub(super) fn encoded_header(typ: &str, kid: &str, algorithm: SigningAlgorithm) -> Result<String, SigningError> {
    let header = JoseHeader { typ, alg: algorithm.as_str(), kid };
    let header = serde_json::to_vec(&header).map_err(|e| crypto_error("header encoding", e))?;
    Ok(URL_SAFE_NO_PAD.encode(header))
}

/// `base64url(header) . base64url(claims) . base64url(signature)` (RFC 7515
/// §7.1), `header` already encoded.
pub(super) fn sign<T: Serialize>(current: &CurrentKey, header: &str, claims: &T) -> Result<String, SigningError> {
    let claims = serde_json::to_vec(claims).map_err(|e| crypto_error("claims encoding", e))?;
    let mut token = String::with_capacity(header.len() + claims.len() * 4 / 3 + 400);
    token.push_str(header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&claims, &mut token);
    let signature = current.private.sign(token.as_bytes())?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    Ok(token)
}

/// A token whose signature one of our keys made: its `typ` and its payload,
/// decoded from base64url but not parsed.
pub(super) struct Verified {
    pub(super) typ: Option<String>,
    pub(super) payload: Vec<u8>,
}

/// The signature checks, in this order: shape, `crit`, kid (a retired key
/// only within `keep_retired_for`), algorithm, signature.
pub(super) fn verify_signature(
    set: &KeySet,
    token: &str,
    now: i64,
    keep_retired_for: Duration,
) -> Result<Verified, VerifyError> {
    let (message, signature) = token.rsplit_once('.').ok_or(VerifyError::Malformed)?;
    let (_, payload) = message.split_once('.').ok_or(VerifyError::Malformed)?;
    if payload.contains('.') {
        return Err(VerifyError::Malformed);
    }
    let header = ReceivedHeader::parse(message)?;
    let key = header.kid.as_deref().and_then(|kid| set.find(kid)).ok_or(VerifyError::UnknownKey)?;
    // A retired key past its window is as unknown as one never published.
    if !key.is_published_at(unix_time(now), keep_retired_for) {
        return Err(VerifyError::UnknownKey);
    }
    // The key fixes the algorithm: a token cannot choose it (no alg confusion).
    if header.alg != key.algorithm.as_str() {
        return Err(VerifyError::BadSignature);
    }
    if !key.public.verify_token(token, message, signature) {
        return Err(VerifyError::BadSignature);
    }
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| VerifyError::Malformed)?;
    Ok(Verified { typ: header.typ, payload })
}

/// The checks of `SigningKeys::verify_access_token`: the signature's (see
/// `verify_signature`), then `typ`, claims, `exp`, `nbf`, `iss`, `aud`.
pub(super) fn verify(
    set: &KeySet,
    token: &str,
    issuer: &str,
    audience: Option<&str>,
    now: i64,
    keep_retired_for: Duration,
) -> Result<AccessTokenClaims, VerifyError> {
    let verified = verify_signature(set, token, now, keep_retired_for)?;
    if !is_access_token_type(verified.typ.as_deref()) {
        return Err(VerifyError::WrongType);
    }
    let claims: AccessTokenClaims = serde_json::from_slice(&verified.payload).map_err(|_| VerifyError::Malformed)?;
    if now >= claims.exp {
        return Err(VerifyError::Expired);
    }
    if claims.nbf > now.saturating_add(NBF_LEEWAY_SECS) {
        return Err(VerifyError::NotYetValid);
    }
    if claims.iss != issuer {
        return Err(VerifyError::WrongIssuer);
    }
    if let Some(audience) = audience
        && !claims.aud.iter().any(|a| a == audience)
    {
        return Err(VerifyError::WrongAudience);
    }
    Ok(claims)
}

/// `secs` since the epoch; clamped to chrono's range (only absurd input is outside).
fn unix_time(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or(if secs < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// RFC 7515 §4.1.9: media types compare case-insensitively, and the
/// `application/` prefix may be left out.
fn is_access_token_type(typ: Option<&str>) -> bool {
    let Some(typ) = typ else { return false };
    let typ = typ.get(..12).filter(|p| p.eq_ignore_ascii_case("application/")).map_or(typ, |_| &typ[12..]);
    typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE)
}

/// The members of a received JOSE header we read (RFC 7515 §4.1). Parsed
/// strictly: the segment must be canonical base64url of a JSON object, a
/// member we read must be a string and appear once (serde refuses a
/// duplicate), and `crit` must be absent: we understand no extension
/// (§4.1.11), and a JWS with unencoded payload (RFC 7797) must name `b64` there.
#[derive(Deserialize)]
struct ReceivedHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

/// True for any value, `null` included: the member is there.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

impl ReceivedHeader {
    /// The header of `message` (`header . payload`).
    fn parse(message: &str) -> Result<Self, VerifyError> {
        let (header, _) = message.split_once('.').ok_or(VerifyError::Malformed)?;
        let json = URL_SAFE_NO_PAD.decode(header).map_err(|_| VerifyError::Malformed)?;
        let header: Self = serde_json::from_slice(&json).map_err(|_| VerifyError::Malformed)?;
        if header.crit {
            return Err(VerifyError::Malformed);
        }
        Ok(header)
    }
}

impl PrivateKey {
    /// The JWS signature of `message` (RFC 7518 §3): ES256 as the 64-byte
    /// `r || s`, not DER; EdDSA the raw 64 bytes; RS256 PKCS#1 v1.5 over
    /// SHA-256 (aws-lc blinds the private-key operation itself).
    pub(super) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        let failed = |e: aws_lc_rs::error::Unspecified| crypto_error("signing failed", e);
        match self {
            // aws-lc-rs draws the nonce itself; the RNG argument is for ring's API.
            Self::Es256(key) => {
                let mut signature = key.sign(&SystemRandom::new(), message).map_err(failed)?.as_ref().to_vec();
                low_s::normalize(&mut signature);
                Ok(signature)
            }
            Self::Rs256(key) => {
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut signature).map_err(failed)?;
                Ok(signature)
            }
            Self::EdDsa(key) => Ok(key.try_sign(message).map_err(failed)?.as_ref().to_vec()),
        }
    }
}

impl PublicKey {
    pub(super) fn new(parsed: ParsedPublicKey, low_s_only: bool) -> Self {
        Self(parsed, Arc::default(), low_s_only)
    }

    /// True when `signature` (base64url) is this key's over `message`, the
    /// two parts of `token`; a token verified once is found by its digest.
    fn verify_token(&self, token: &str, message: &str, signature: &str) -> bool {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
        let Ok(digest) = <[u8; 32]>::try_from(digest.as_ref()) else { return false };
        if self.1.contains(&digest) {
            return true;
        }
        let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else { return false };
        let good = self.verify(message.as_bytes(), &signature);
        if good {
            self.1.insert(digest);
        }
        good
    }

    /// The tokens this key has verified.
    #[cfg(test)]
    pub(super) fn verified(&self) -> &VerifiedTokens {
        &self.1
    }

    /// False for a wrong signature and for a malformed one (an ES256
    /// signature not 64 bytes, `r` or `s` out of range, `s` above n/2; an
    /// RS256 one not the modulus' length).
    pub(super) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        !(self.2 && low_s::is_high(signature)) && self.0.verify_sig(message, signature).is_ok()
    }
}
