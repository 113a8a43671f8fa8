//! API-key parsing and checksum (`apikeys::format`): what every request
//! with an `Authorization: Bearer sk_…` header and every introspection of
//! a key runs first, before any database call.

#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::apikeys::format::{self, CHECKSUM_LEN, Environment, KeyKind, KeyWords, RANDOM_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // The default words, and a deployment's own (one of them fuzzed too:
    // the words come from the configuration, not from attackers, but a
    // word with `_` in it must not make a key parse as another kind).
    let (word, key) = text.split_once('\n').unwrap_or(("pk", text));
    let deployments = [KeyWords::default(), KeyWords { secret: "pk".into(), restricted: word.into() }];
    for words in &deployments {
        let Some(parsed) = format::parse(words, key) else {
            continue;
        };
        // A parsed key is the text it was parsed from, and re-formats to it:
        // its word and environment, then 32 + 6 base62 characters.
        assert_eq!(parsed.full, key);
        let word = match parsed.kind {
            KeyKind::Secret => &words.secret,
            KeyKind::Restricted => &words.restricted,
        };
        let prefix = format!("{word}_{}_", parsed.environment.as_str());
        assert!(key.starts_with(&prefix), "{key:?} parsed as {parsed:?}");
        let tail = &key[prefix.len()..];
        assert_eq!(tail.len(), RANDOM_LEN + CHECKSUM_LEN, "{key:?}");
        assert!(tail.bytes().all(|b| b.is_ascii_alphanumeric()), "{key:?}");
        assert_eq!(Environment::parse(parsed.environment.as_str()), Some(parsed.environment));
        assert_eq!(KeyKind::parse(parsed.kind.as_str()), Some(parsed.kind));
        // The checksum covers every character: changing any one of the
        // random part or of the checksum breaks it (CRC32 catches every
        // error burst of up to 32 bits; the base62 encoding is injective).
        for i in prefix.len()..key.len() {
            let mut bytes = key.as_bytes().to_vec();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(bytes).expect("ASCII in, ASCII out");
            assert!(format::parse(words, &typo).is_none(), "{typo:?} accepted after {key:?}");
        }
        // The environment is covered too: a test key is not a live one.
        let other = match parsed.environment {
            Environment::Live => "test",
            Environment::Test => "live",
        };
        let relabelled = format!("{word}_{other}_{tail}");
        assert!(format::parse(words, &relabelled).is_none(), "{relabelled:?} accepted after {key:?}");
        // Lists mask it to its prefix and last four characters.
        let (shown, last4) = format::masked(key);
        assert!(key.starts_with(&shown) && key.ends_with(&last4) && last4.len() == 4, "{key:?}");
        if word.len() <= 8 && !word.is_empty() {
            assert!(format::looks_like_key(key), "{key:?}");
        }
    }
    // Never a panic on anything, parsed or not.
    let _ = format::masked(key);
    let _ = format::looks_like_key(key);
});
