//! The JSON management API under /v1. Answers are
//! `{"success":true,"data":…}`; errors use the envelope in `error`.

mod apps;
mod audit_events;
pub mod auth;
pub mod error;
mod keys;
mod members;
pub mod rate_limit;
mod session;

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

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1")
            .wrap(from_fn(rate_headers))
            .app_data(
                web::JsonConfig::default()
                    .error_handler(|e, _| ApiError::validation(format!("Invalid JSON body: {e}")).into()),
            )
            .app_data(
                web::QueryConfig::default()
                    .error_handler(|e, _| ApiError::validation(format!("Invalid query: {e}")).into()),
            )
            .app_data(
                web::PathConfig::default()
                    .error_handler(|e, _| ApiError::validation(format!("Invalid path: {e}")).into()),
            )
            .route("/auth/validate", web::get().to(keys::validate))
            .route("/auth/login", web::post().to(session::login))
            .route("/auth/refresh", web::post().to(session::refresh))
            .route("/auth/logout", web::post().to(session::logout))
            .route("/auth/me", web::get().to(session::me))
            .route("/audit-events", web::get().to(audit_events::list))
            .route("/members", web::get().to(members::list))
            .route("/members/{id}", web::patch().to(members::update))
            .route("/members/{id}", web::delete().to(members::remove))
            .route("/apps", web::get().to(apps::list))
            .route("/apps", web::post().to(apps::create))
            .route("/apps/{id}", web::get().to(apps::get))
            .route("/apps/{id}", web::patch().to(apps::update))
            .route("/apps/{id}", web::delete().to(apps::delete))
            .route("/apps/{id}/rotate-secret", web::post().to(apps::rotate_secret))
            .route("/api-keys", web::get().to(keys::list))
            .route("/api-keys", web::post().to(keys::create))
            .route("/api-keys/{id}", web::get().to(keys::get))
            .route("/api-keys/{id}", web::patch().to(keys::update))
            .route("/api-keys/{id}", web::delete().to(keys::revoke))
            .route("/api-keys/{id}/roll", web::post().to(keys::roll))
            .default_service(web::to(|| async { ApiError::not_found("endpoint") })),
    );
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
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    pub limit: Option<i64>,
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
