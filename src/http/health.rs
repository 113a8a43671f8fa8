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
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.store.ping(Duration::from_secs(2)).await {
        HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(json!({"status": "ready"}))
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Cache-Control", "no-store"))
            .insert_header(("Retry-After", "5"))
            .json(json!({"status": "unavailable", "reason": "database not answering"}))
    }
}
