use crate::support::TestApp;

#[actix_web::test]
async fn healthz_and_readyz_answer() {
    let app = TestApp::spawn().await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap(), serde_json::json!({"status": "ok"}));
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["status"], "ready");
}

#[actix_web::test]
async fn every_response_has_a_request_id_kept_only_when_well_formed() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/login", "/no/such/page", "/dashboard"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        let id = res.headers()["x-request-id"].to_str().unwrap();
        assert!(id.starts_with("req_") && id.len() == 28, "{path}: {id}");
    }
    let res = app.client.get(app.url("/healthz")).header("X-Request-Id", "upstream-42.a_b").send().await.unwrap();
    assert_eq!(res.headers()["x-request-id"], "upstream-42.a_b");
    for bad in ["has space", "<script>", &"x".repeat(200)] {
        let res = app.client.get(app.url("/healthz")).header("X-Request-Id", bad).send().await.unwrap();
        let id = res.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(id, bad);
        assert!(id.starts_with("req_"), "{id}");
    }
}

#[actix_web::test]
async fn unknown_path_is_a_404_page() {
    let app = TestApp::spawn().await;
    let res = app.client.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(res.text().await.unwrap().contains("404 · Not Found"));
}

#[actix_web::test]
async fn stylesheet_is_served_by_the_binary() {
    let app = TestApp::spawn().await;
    let res = app.client.get(app.url("/static/app.css")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/css; charset=utf-8");
    assert!(res.text().await.unwrap().contains(".card"));
}
