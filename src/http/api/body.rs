//! JSON request bodies of /v1, as the OpenAPI document describes them: one
//! JSON object. `web::Json` alone is looser on two counts: serde reads a
//! struct from an array of its fields in order (`[null, null]` was a valid
//! PATCH), and `Option<web::Json<T>>` turns any bad body into "no body",
//! so a roll with `{"expires_in": 0, "typo": 1}` kept the old key a day
//! and a logout with a misspelt field left the refresh token alive.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{ApiError, Code};

/// A body that must be a JSON object of `T`'s fields. Size and syntax are
/// checked by `web::Json` (the /v1 `JsonConfig`: 413, or 400 with the
/// parser's message).
pub struct Body<T>(pub T);

impl<T> Body<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Body<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

fn object<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    if !value.is_object() {
        return Err(ApiError::validation("Invalid JSON body: expected a JSON object"));
    }
    serde_json::from_value(value).map_err(|e| ApiError::validation(format!("Invalid JSON body: {e}")))
}

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = web::Json::<Value>::from_request(req, payload);
        Box::pin(async move { Ok(Body(object(json.await?.into_inner())?)) })
    }
}

/// A body that may be left out (empty, or JSON `null`); one that is sent is
/// held to `Body`'s rules: JSON by its content type, one object of `T`'s
/// fields.
pub struct OptionalBody<T>(pub Option<T>);

fn is_json(req: &HttpRequest) -> bool {
    match req.mime_type() {
        Ok(Some(mime)) => mime.subtype() == actix_web::mime::JSON || mime.suffix() == Some(actix_web::mime::JSON),
        _ => false,
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for OptionalBody<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let read = web::Bytes::from_request(req, payload);
        let json = is_json(req);
        Box::pin(async move {
            let bytes = read.await.map_err(|e| match e.as_response_error().status_code() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(Code::PayloadTooLarge, "The request body is too large."),
                _ => ApiError::validation("The request body could not be read."),
            })?;
            if bytes.is_empty() {
                return Ok(OptionalBody(None));
            }
            if !json {
                return Err(ApiError::validation("Invalid JSON body: Content type error").into());
            }
            let value: Value = serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::validation(format!("Invalid JSON body: Json deserialize error: {e}")))?;
            // `null` is how a generated client sends an unset optional body.
            if value.is_null() {
                return Ok(OptionalBody(None));
            }
            Ok(OptionalBody(Some(object(value)?)))
        })
    }
}

/// An optional integer field as JSON Schema reads `integer`: `60` or `60.0`
/// (RFC 8259 has one number type, and Python's `json` writes a float with
/// its `.0`); a fraction, or a value out of `T`'s range, is refused.
pub fn integer<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    use serde::Deserialize;
    use serde::de::{Error, Unexpected};
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    let whole = n.as_i64().or_else(|| {
        // Within ±2^53 a float holds every integer exactly.
        n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0).map(|f| f as i64)
    });
    match whole.map(T::try_from) {
        Some(Ok(v)) => Ok(Some(v)),
        _ => Err(D::Error::invalid_value(Unexpected::Other(&n.to_string()), &"an integer within range")),
    }
}
