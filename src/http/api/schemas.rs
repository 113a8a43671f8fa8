//! The schemas of /v1 request fields that a Rust type does not say: the
//! enums, bounds and patterns the server enforces, for the OpenAPI document
//! (`schema_with`). Built from the same constants the checks use where
//! there are some, so the two cannot drift.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type};

use crate::accounts::Role;
use crate::apikeys::policy::{BROAD_SCOPES, RESOURCE_SCOPES};
use crate::oauth::clients::GrantType;
use crate::oauth::scopes::ScopeRegistry;

/// Characters the names refuse (`char::is_control`: Unicode Cc).
const CONTROL: &str = r"\u0000-\u001F\u007F-\u009F";

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn one_of<I: Into<String>>(values: impl IntoIterator<Item = I>) -> Schema {
    string().enum_values(Some(values.into_iter().map(Into::into).collect::<Vec<String>>())).into()
}

fn array_of(items: Schema) -> Schema {
    ArrayBuilder::new().items(RefOr::T(items)).min_items(Some(1)).into()
}

/// `null`, which serde reads as an absent optional field, or `schema`.
fn or_null(schema: Schema) -> Schema {
    let null: Schema = ObjectBuilder::new().schema_type(Type::Null).into();
    OneOfBuilder::new().item(RefOr::T(schema)).item(RefOr::T(null)).into()
}

/// A key's or an app's name: 1-100 characters once trimmed, no control
/// character.
pub fn name() -> Schema {
    string()
        .min_length(Some(1))
        .max_length(Some(100))
        .pattern(Some(format!("^[^{CONTROL}]*[^\\s{CONTROL}][^{CONTROL}]*$")))
        .into()
}

pub fn optional_name() -> Schema {
    or_null(name())
}

/// OWNER, ADMIN, DEVELOPER or VIEWER (the server also takes them in lower
/// case; these are the names it answers with).
pub fn role() -> Schema {
    one_of(Role::ALL.iter().map(|r| r.as_str()))
}

pub fn email() -> Schema {
    string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Email))).max_length(Some(254)).into()
}

/// A day (`YYYY-MM-DD`), or blank for no filter: the audit page's form
/// sends its empty fields, and the API reads them alike.
pub fn day_filter() -> Schema {
    let day: Schema = string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Date))).into();
    let blank: Schema = string().pattern(Some(r"^\s*$")).into();
    OneOfBuilder::new().item(RefOr::T(day)).item(RefOr::T(blank)).into()
}

pub fn optional_key_type() -> Schema {
    or_null(one_of(["secret", "restricted"]))
}

pub fn optional_environment() -> Schema {
    or_null(one_of(["live", "test"]))
}

/// The built-in scopes a key may hold (the operator's own too, when the
/// configuration adds some).
pub fn key_scopes() -> Schema {
    array_of(one_of(BROAD_SCOPES.iter().chain(RESOURCE_SCOPES.iter()).copied()))
}

pub fn optional_key_scopes() -> Schema {
    or_null(key_scopes())
}

/// The scopes an app may ask for: the built-in ones (and the operator's
/// own, when the configuration adds some).
pub fn app_scopes() -> Schema {
    // Built-ins alone cannot clash: never empty (a test below checks).
    let built_in: Vec<String> =
        ScopeRegistry::new(&[]).map(|r| r.all().iter().map(|s| s.name.clone()).collect()).unwrap_or_default();
    ArrayBuilder::new().items(RefOr::T(one_of(built_in))).into()
}

pub fn optional_app_scopes() -> Schema {
    or_null(app_scopes())
}

pub fn grant_types() -> Schema {
    array_of(one_of(GrantType::ALL.iter().map(|g| g.as_str())))
}

pub fn optional_grant_types() -> Schema {
    or_null(grant_types())
}

pub fn optional_client_type() -> Schema {
    or_null(one_of(["confidential", "public"]))
}

pub fn optional_subject_type() -> Schema {
    or_null(one_of(["public", "pairwise"]))
}

pub fn optional_id_token_alg() -> Schema {
    or_null(one_of(["RS256", "ES256", "EdDSA"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_enums_are_the_values_the_checks_take() {
        let json = |s: Schema| serde_json::to_value(s).unwrap();
        assert_eq!(json(role())["enum"], serde_json::json!(["OWNER", "ADMIN", "DEVELOPER", "VIEWER"]));
        let app = json(app_scopes());
        assert!(app["items"]["enum"].as_array().unwrap().iter().any(|s| s == "openid"), "{app}");
        for scope in ["read", "apps:read"] {
            assert!(json(key_scopes())["items"]["enum"].as_array().unwrap().iter().any(|s| s == scope));
        }
    }
}
