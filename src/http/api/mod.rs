//! The JSON management API under /v1. Answers are
//! `{"success":true,"data":…}`; errors use the envelope in `error`.

mod apps;
mod audit_events;
pub mod auth;
mod authorized_apps;
mod body;
pub mod error;
mod invitations;
mod keys;
mod members;
pub mod openapi;
pub mod rate_limit;
mod schemas;
mod session;

// The JSON of a key and of an app, for the command line's `--json` lists:
// the same field names as /v1.
pub use apps::app_json;
pub use keys::key_json;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpMessage, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use self::error::ApiError;
use self::rate_limit::RateInfo;

/// Registers routes on the /v1 scope and remembers each (method, path), so
/// tests can hold the OpenAPI document against the real router.
struct Routes {
    scope: Option<actix_web::Scope>,
    table: Vec<(&'static str, &'static str)>,
}

impl Routes {
    fn add<F, Args>(mut self, method: &'static str, path: &'static str, handler: F) -> Self
    where
        F: actix_web::Handler<Args>,
        Args: actix_web::FromRequest + 'static,
        F::Output: actix_web::Responder + 'static,
    {
        self.table.push((method, path));
        let m = actix_web::http::Method::from_bytes(method.as_bytes()).unwrap_or(actix_web::http::Method::GET);
        self.scope = self.scope.map(|s| s.route(path, web::method(m).to(handler)));
        self
    }
}

fn build(scope: Option<actix_web::Scope>) -> Routes {
    Routes { scope, table: Vec::new() }
        .add("GET", "/openapi.json", openapi::document)
        .add("GET", "/auth/validate", keys::validate)
        .add("POST", "/auth/login", session::login)
        .add("POST", "/auth/refresh", session::refresh)
        .add("POST", "/auth/logout", session::logout)
        .add("GET", "/auth/me", session::me)
        .add("GET", "/audit-events", audit_events::list)
        .add("GET", "/members", members::list)
        .add("POST", "/invitations", invitations::create)
        .add("GET", "/invitations", invitations::list)
        .add("DELETE", "/invitations/{id}", invitations::revoke)
        .add("PATCH", "/members/{id}", members::update)
        .add("DELETE", "/members/{id}", members::remove)
        .add("GET", "/apps", apps::list)
        .add("POST", "/apps", apps::create)
        .add("GET", "/apps/{id}", apps::get)
        .add("PATCH", "/apps/{id}", apps::update)
        .add("DELETE", "/apps/{id}", apps::delete)
        .add("POST", "/apps/{id}/rotate-secret", apps::rotate_secret)
        .add("GET", "/api-keys", keys::list)
        .add("POST", "/api-keys", keys::create)
        .add("GET", "/api-keys/{id}", keys::get)
        .add("PATCH", "/api-keys/{id}", keys::update)
        .add("DELETE", "/api-keys/{id}", keys::revoke)
        .add("POST", "/api-keys/{id}/roll", keys::roll)
        .add("GET", "/authorized-apps", authorized_apps::list)
        .add("DELETE", "/authorized-apps/{client_id}", authorized_apps::revoke)
}

/// Every /v1 route as (method, full path), from the same code that
/// registers them.
pub fn route_table() -> Vec<(&'static str, String)> {
    build(None).table.into_iter().map(|(m, p)| (m, format!("/v1{p}"))).collect()
}

/// The /v1 routes. `max_body_bytes` bounds JSON bodies here too (the
/// request middleware already refuses larger ones; this keeps actix's own
/// 2 MB default from ever being the limit).
pub fn routes(cfg: &mut web::ServiceConfig, max_body_bytes: usize) {
    use actix_web::error::JsonPayloadError;
    let scope = web::scope("/v1")
        .app_data(web::JsonConfig::default().limit(max_body_bytes).error_handler(move |e, _| {
            let err = match e {
                JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => ApiError::new(
                    error::Code::PayloadTooLarge,
                    format!("The request body is larger than {max_body_bytes} bytes."),
                ),
                e => ApiError::validation(format!("Invalid JSON body: {e}")),
            };
            err.into()
        }))
        // What `body::OptionalBody` reads: the same bound as JSON bodies.
        .app_data(web::PayloadConfig::default().limit(max_body_bytes))
        .app_data(
            web::QueryConfig::default()
                .error_handler(|e, _| ApiError::validation(format!("Invalid query: {e}")).into()),
        )
        .app_data(
            web::PathConfig::default().error_handler(|e, _| ApiError::validation(format!("Invalid path: {e}")).into()),
        );
    let routes = build(Some(scope));
    let table = std::sync::Arc::new(routes.table);
    if let Some(scope) = routes.scope {
        cfg.service(
            scope
                .default_service(web::to(move |req: actix_web::HttpRequest| {
                    let table = table.clone();
                    async move { unrouted(&table, req.path()) }
                }))
                .wrap(from_fn(rate_headers)),
        );
    }
}

/// What no route answered: a known path asked with another method gets 405
/// and the methods it takes (RFC 9110 §15.5.6); anything else 404.
fn unrouted(table: &[(&'static str, &'static str)], path: &str) -> HttpResponse {
    let path = path.strip_prefix("/v1").unwrap_or(path);
    let allowed: Vec<&str> = table.iter().filter(|(_, p)| path_matches(p, path)).map(|(m, _)| *m).collect();
    if allowed.is_empty() {
        return actix_web::ResponseError::error_response(&ApiError::not_found("endpoint"));
    }
    let allow = allowed.join(", ");
    let mut res = actix_web::ResponseError::error_response(&ApiError::new(
        error::Code::MethodNotAllowed,
        format!("This endpoint takes {allow}."),
    ));
    if let Ok(value) = HeaderValue::from_str(&allow) {
        res.headers_mut().insert(actix_web::http::header::ALLOW, value);
    }
    res
}

/// True when `path` fits `pattern`, whose `{name}` segments match any one
/// non-empty segment.
fn path_matches(pattern: &str, path: &str) -> bool {
    let (mut want, mut got) = (pattern.split('/'), path.split('/'));
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w.starts_with('{') && !g.is_empty() => {}
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

impl actix_web::Responder for ApiError {
    type Body = actix_web::body::BoxBody;
    fn respond_to(self, _: &actix_web::HttpRequest) -> HttpResponse {
        actix_web::ResponseError::error_response(&self)
    }
}

/// `X-RateLimit-Limit`, `-Remaining`, `-Reset` on every /v1 response that
/// was counted.
async fn rate_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let info = res.request().extensions().get::<RateInfo>().copied();
    if let Some(info) = info {
        let h = res.headers_mut();
        h.insert(HeaderName::from_static("x-ratelimit-limit"), HeaderValue::from(info.limit));
        h.insert(HeaderName::from_static("x-ratelimit-remaining"), HeaderValue::from(info.remaining));
        h.insert(HeaderName::from_static("x-ratelimit-reset"), HeaderValue::from(info.reset_secs));
    }
    Ok(res)
}

pub fn ok(status: StatusCode, data: Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "success": true, "data": data }))
}

/// Cursor pagination: `limit` (1–100, default 20) and `starting_after`
/// (the id of the last item of the previous page).
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// How many items, 1-100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// The id of the last item of the previous page (`next_cursor`): one
    /// of this list's items.
    #[param(min_length = 1)]
    pub starting_after: Option<String>,
}

impl Page {
    pub fn limit(&self) -> Result<i64, ApiError> {
        match self.limit {
            None => Ok(20),
            Some(n @ 1..=100) => Ok(n),
            Some(_) => Err(ApiError::validation("limit must be between 1 and 100")),
        }
    }
}

/// A page from `limit + 1` fetched items: `has_more` and the next cursor.
pub fn page(mut items: Vec<Value>, limit: i64) -> HttpResponse {
    let has_more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next = if has_more { items.last().and_then(|i| i["id"].as_str()).map(str::to_owned) } else { None };
    HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(json!({
        "success": true,
        "data": items,
        "has_more": has_more,
        "next_cursor": next,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_path_with_another_method_is_405_with_allow_and_anything_else_404() {
        let table = build(None).table;
        let res = unrouted(&table, "/v1/api-keys/key_123");
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(res.headers().get("allow").unwrap(), "GET, PATCH, DELETE");
        assert_eq!(unrouted(&table, "/v1/api-keys").headers().get("allow").unwrap(), "GET, POST");
        for missing in ["/v1/api-keys/", "/v1/api-keys/a/b", "/v1/nothing", "/v1/api-keys/x/roll/y", "/v1"] {
            assert_eq!(unrouted(&table, missing).status(), StatusCode::NOT_FOUND, "{missing}");
        }
        assert!(path_matches("/apps/{id}/rotate-secret", "/apps/pc_1/rotate-secret"));
        assert!(!path_matches("/apps/{id}/rotate-secret", "/apps//rotate-secret"));
    }
}
