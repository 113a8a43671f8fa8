//! deploy/config.example.toml: it loads as shipped, every setting it shows
//! commented out loads too, and it names every setting `Config` has, so it
//! cannot fall behind the code.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::Path;

use portcullis::config::Config;
use serde::Deserialize;
use serde::de::value::{Error, MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/config.example.toml");

/// A line that sets something or opens a section, once its `# ` is taken
/// off: `# key = value`, `# [section]`. Prose never has that shape.
fn uncommented(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("# ")?;
    let is_setting = rest.split_once(" = ").is_some_and(|(key, _)| {
        !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    });
    let is_section = rest.starts_with('[') && rest.ends_with(']') && !rest.contains(' ');
    (is_setting || is_section).then_some(rest)
}

/// The example with every setting it shows switched on.
fn everything_on(example: &str) -> String {
    example.lines().map(|l| uncommented(l).unwrap_or(l)).collect::<Vec<_>>().join("\n")
}

/// The dotted names the example sets or shows (`oauth.scopes`), and its
/// sections (`oauth`).
fn names_in(example: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut section = String::new();
    for line in everything_on(example).lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            names.insert(section.clone());
        } else if let Some((key, _)) = line.split_once(" = ").filter(|_| !line.starts_with('#')) {
            names.insert(if section.is_empty() { key.to_owned() } else { format!("{section}.{key}") });
        }
    }
    names
}

#[test]
fn the_example_configuration_loads_as_shipped_and_with_everything_on() {
    let shipped = Config::load(Some(Path::new(EXAMPLE))).unwrap_or_else(|e| panic!("{EXAMPLE}: {e}"));
    assert_eq!(shipped.issuer, "https://auth.example.com");
    assert_eq!(shipped.tls, None, "TLS is an opt-in");
    assert_eq!(shipped.oauth, Config::default().oauth, "sections show defaults");

    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all.toml");
    std::fs::write(&all, everything_on(&std::fs::read_to_string(EXAMPLE).unwrap())).unwrap();
    let on = Config::load(Some(&all)).unwrap_or_else(|e| panic!("{EXAMPLE} with every setting on: {e}"));
    let tls = on.tls.expect("[tls] shown");
    assert_eq!(tls.cert_file, Path::new("/etc/portcullis/tls/fullchain.pem"));
    assert_eq!(on.oauth.scopes.len(), 1);
    assert_eq!(on.api.rate_limit_redis_url.as_deref(), Some("redis://127.0.0.1:6379"));
}

#[test]
fn the_example_configuration_names_every_setting() {
    let wanted = settings_of_config();
    assert!(wanted.contains("tls.key_file") && wanted.contains("api.rate_limit_redis_url"), "{wanted:?}");
    let shown = names_in(&std::fs::read_to_string(EXAMPLE).unwrap());
    let missing: Vec<_> = wanted.difference(&shown).collect();
    assert!(missing.is_empty(), "deploy/config.example.toml lacks {missing:?}");
    let unknown: Vec<_> = shown.difference(&wanted).collect();
    assert!(unknown.is_empty(), "deploy/config.example.toml shows settings Config lacks: {unknown:?}");
}

/// Every setting's dotted name, optional ones and sections included, read
/// from `Config`'s own `Deserialize`: a deserializer that answers each
/// struct with all of its fields and every other value with the simplest of
/// its kind (zero, "", none-yet-explored `Some`, an empty list).
fn settings_of_config() -> BTreeSet<String> {
    let found = RefCell::new(BTreeSet::new());
    Config::deserialize(Names { prefix: String::new(), found: &found }).unwrap_or_else(|e| panic!("{e}"));
    found.into_inner()
}

struct Names<'a> {
    prefix: String,
    found: &'a RefCell<BTreeSet<String>>,
}

macro_rules! answer {
    ($($method:ident => $visit:ident($($value:expr)?)),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            visitor.$visit($($value)?)
        })*
    };
}

impl<'de> de::Deserializer<'de> for Names<'_> {
    type Error = Error;

    answer! {
        deserialize_any => visit_unit(),
        deserialize_bool => visit_bool(false),
        deserialize_i8 => visit_u64(0), deserialize_i16 => visit_u64(0),
        deserialize_i32 => visit_u64(0), deserialize_i64 => visit_u64(0),
        deserialize_u8 => visit_u64(0), deserialize_u16 => visit_u64(0),
        deserialize_u32 => visit_u64(0), deserialize_u64 => visit_u64(0),
        deserialize_f32 => visit_f64(0.0), deserialize_f64 => visit_f64(0.0),
        deserialize_char => visit_char('x'),
        deserialize_str => visit_str(""), deserialize_string => visit_str(""),
        deserialize_bytes => visit_bytes(&[]), deserialize_byte_buf => visit_bytes(&[]),
        deserialize_unit => visit_unit(),
        deserialize_seq => visit_seq(SeqDeserializer::<_, Error>::new(std::iter::empty::<u8>())),
        deserialize_map => visit_map(MapDeserializer::<_, Error>::new(std::iter::empty::<(u8, u8)>())),
        deserialize_identifier => visit_str(""),
        deserialize_ignored_any => visit_unit(),
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_map(Fields { fields, next: 0, prefix: self.prefix, found: self.found })
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_enum(variants[0].into_deserializer())
    }
}

/// A struct's fields, each named and explored in turn.
struct Fields<'a> {
    fields: &'static [&'static str],
    next: usize,
    prefix: String,
    found: &'a RefCell<BTreeSet<String>>,
}

impl<'de> MapAccess<'de> for Fields<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        let Some(field) = self.fields.get(self.next) else { return Ok(None) };
        seed.deserialize(field.into_deserializer()).map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Error> {
        let field = self.fields[self.next];
        self.next += 1;
        let name = if self.prefix.is_empty() { field.to_owned() } else { format!("{}.{field}", self.prefix) };
        self.found.borrow_mut().insert(name.clone());
        seed.deserialize(Names { prefix: name, found: self.found })
    }
}
