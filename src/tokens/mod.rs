//! Tokens and secrets: the master key that seals signing keys at rest,
//! opaque random secrets (stored as digests), and the signing keys behind
//! RFC 9068 JWT access tokens and the JWKS.

pub mod master_key;
pub mod opaque;
pub mod signing;
