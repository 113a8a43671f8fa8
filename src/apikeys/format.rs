//! The key format: `{word}_{live|test}_{32 base62 random}{6 base62 CRC32}`.
//!
//! `word` is `sk` for secret keys (configurable, e.g. `pk`) and `rk` for
//! restricted keys. The checksum covers everything before it, so a mistyped
//! or truncated key is refused without a database call, and secret
//! scanners can tell a real key from random text.

use rand::Rng;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const RANDOM_LEN: usize = 32;
pub const CHECKSUM_LEN: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Live,
    Test,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Test => "test",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "live" => Some(Self::Live),
            "test" => Some(Self::Test),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Full keys, within the creator's role.
    Secret,
    /// Limited to resource scopes such as `apps:read`.
    Restricted,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::Restricted => "restricted",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "secret" => Some(Self::Secret),
            "restricted" => Some(Self::Restricted),
            _ => None,
        }
    }
}

/// The prefix words of a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyWords {
    pub secret: String,
    pub restricted: String,
}

impl Default for KeyWords {
    fn default() -> Self {
        Self { secret: "sk".into(), restricted: "rk".into() }
    }
}

impl KeyWords {
    fn word(&self, kind: KeyKind) -> &str {
        match kind {
            KeyKind::Secret => &self.secret,
            KeyKind::Restricted => &self.restricted,
        }
    }
}

/// A key that passed the format and checksum checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    pub kind: KeyKind,
    pub environment: Environment,
    pub full: &'a str,
}

fn encode_base62(mut n: u64, width: usize) -> String {
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    // Only ASCII from BASE62.
    String::from_utf8(out).unwrap_or_default()
}

fn checksum(body: &str) -> String {
    encode_base62(u64::from(crc32fast::hash(body.as_bytes())), CHECKSUM_LEN)
}

/// A new key: 190 bits of randomness (32 base62 characters) plus checksum.
pub fn generate(words: &KeyWords, kind: KeyKind, environment: Environment) -> String {
    let mut rng = rand::rngs::OsRng;
    let random: String = (0..RANDOM_LEN).map(|_| BASE62[rng.gen_range(0..62)] as char).collect();
    let body = format!("{}_{}_{random}", words.word(kind), environment.as_str());
    let sum = checksum(&body);
    format!("{body}{sum}")
}

/// Checks shape and checksum; `None` for anything that is not one of our keys.
pub fn parse<'a>(words: &KeyWords, key: &'a str) -> Option<ParsedKey<'a>> {
    let mut parts = key.splitn(3, '_');
    let (word, env, tail) = (parts.next()?, parts.next()?, parts.next()?);
    let kind = if word == words.secret {
        KeyKind::Secret
    } else if word == words.restricted {
        KeyKind::Restricted
    } else {
        return None;
    };
    let environment = Environment::parse(env)?;
    if tail.len() != RANDOM_LEN + CHECKSUM_LEN || !tail.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let (body, sum) = key.split_at(key.len() - CHECKSUM_LEN);
    (checksum(body) == sum).then_some(ParsedKey { kind, environment, full: key })
}

/// What lists show: the prefix and the last four characters.
pub fn masked(key: &str) -> (String, String) {
    let prefix_end = key.rfind('_').map_or(0, |i| i + 1);
    let last4 = key.get(key.len().saturating_sub(4)..).unwrap_or_default();
    (key[..prefix_end].to_owned(), last4.to_owned())
}

/// True when the text looks like a key of any deployment (for error hints).
pub fn looks_like_key(s: &str) -> bool {
    let mut parts = s.splitn(3, '_');
    matches!((parts.next(), parts.next(), parts.next()), (Some(w), Some("live" | "test"), Some(_)) if !w.is_empty() && w.len() <= 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_look_right() {
        let words = KeyWords::default();
        let k = generate(&words, KeyKind::Secret, Environment::Live);
        assert!(k.starts_with("sk_live_") && k.len() == 8 + 38, "{k}");
        let p = parse(&words, &k).unwrap();
        assert_eq!((p.kind, p.environment), (KeyKind::Secret, Environment::Live));
        let r = generate(&words, KeyKind::Restricted, Environment::Test);
        assert!(r.starts_with("rk_test_"));
        assert_eq!(parse(&words, &r).unwrap().kind, KeyKind::Restricted);
        assert_ne!(generate(&words, KeyKind::Secret, Environment::Live), k);
    }

    #[test]
    fn a_single_changed_character_fails_the_checksum() {
        let words = KeyWords::default();
        let k = generate(&words, KeyKind::Secret, Environment::Test);
        for i in 8..k.len() {
            let mut bytes = k.clone().into_bytes();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(bytes).unwrap();
            assert!(parse(&words, &typo).is_none(), "typo at {i} accepted");
        }
        // The prefix is covered too: a test key cannot be relabelled live.
        assert!(parse(&words, &k.replacen("sk_test_", "sk_live_", 1)).is_none());
        assert!(parse(&words, &k[..k.len() - 1]).is_none());
        for junk in
            ["", "sk_live_", "sk_live_short", "Bearer x", "sk__x", "xx_live_0123456789012345678901234567890123456"]
        {
            assert!(parse(&words, junk).is_none(), "{junk}");
        }
    }

    #[test]
    fn configurable_prefix_word() {
        let words = KeyWords { secret: "pk".into(), restricted: "rk".into() };
        let k = generate(&words, KeyKind::Secret, Environment::Live);
        assert!(k.starts_with("pk_live_"));
        assert!(parse(&words, &k).is_some());
        assert!(parse(&KeyWords::default(), &k).is_none());
    }

    #[test]
    fn masking_keeps_prefix_and_last_four() {
        assert_eq!(masked("sk_live_abcdefgh1234"), ("sk_live_".into(), "1234".into()));
        assert!(looks_like_key("sk_live_whatever") && !looks_like_key("eyJhbGciOi.x.y"));
    }
}
