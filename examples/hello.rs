//! The HTTP ceiling for `bench/kit.sh`: actix-web answering "hello" on
//! 127.0.0.1:$PORT with one worker per core, built with the same
//! dependencies and profile as the server, so that portcullis's figures can
//! be read as a share of what the framework itself does on this machine.

use actix_web::{App, HttpResponse, HttpServer, web};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8099);
    HttpServer::new(|| App::new().route("/", web::get().to(|| async { HttpResponse::Ok().body("hello") })))
        .bind(("127.0.0.1", port))?
        .run()
        .await
}
