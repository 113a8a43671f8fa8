//! Liveness and readiness.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AppState;

/// The process is up and serving.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(json!({"status": "ok"}))
}

/// The database answers. 503 while it does not; back to 200 when it
/// returns, since the pool reconnects on its own.
///
/// With shared rate limits, `"redis": "up"` or `"down"` (PING within
/// `api.rate_limit_redis_timeout_ms`). A Redis that is down makes the
/// instance unready only when it fails closed, since then every /v1
/// request would get 503; failing open it still serves, limiting alone.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if !state.store.ping(Duration::from_secs(2)).await {
        return unavailable("database not answering");
    }
    match state.rate_limits.redis_answers().await {
        None => ready(json!({"status": "ready"})),
        Some(true) => ready(json!({"status": "ready", "redis": "up"})),
        Some(false) if state.rate_limits.fails_closed() => unavailable("redis not answering"),
        Some(false) => ready(json!({"status": "ready", "redis": "down"})),
    }
}

fn ready(body: serde_json::Value) -> HttpResponse {
    HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(body)
}

fn unavailable(reason: &str) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Retry-After", "5"))
        .json(json!({"status": "unavailable", "reason": reason}))
}
