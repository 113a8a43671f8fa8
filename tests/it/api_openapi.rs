//! The OpenAPI document: a valid 3.1 document that describes every /v1
//! route the router serves, and nothing it does not.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::TestApp;

#[actix_web::test]
async fn openapi_document_is_valid_and_covers_every_route() {
    let app = TestApp::spawn().await;
    let res = reqwest::get(app.url("/v1/openapi.json")).await.unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    // A 3.1 parser accepts it.
    let parsed = oas3::from_json(&text).expect("a valid OpenAPI 3.1 document");
    assert!(parsed.paths.as_ref().is_some_and(|p| !p.is_empty()));

    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| ops.as_object().unwrap().keys().map(move |m| (m.to_uppercase(), path.clone())))
        .collect();
    let routed: BTreeSet<(String, String)> = portcullis::http::api::route_table()
        .into_iter()
        .filter(|(_, p)| p != "/v1/openapi.json")
        .map(|(m, p)| (m.to_owned(), p))
        .collect();
    assert_eq!(documented, routed, "the document and the router disagree");
    // OpenAPI 3.1 §4.8.10.1: operationIds are unique; client generators name
    // their methods after them.
    let ids: Vec<&str> = routed
        .iter()
        .map(|(method, path)| doc["paths"][path][method.to_lowercase()]["operationId"].as_str().unwrap_or_default())
        .collect();
    let unique: BTreeSet<&str> = ids.iter().copied().filter(|id| !id.is_empty()).collect();
    assert_eq!(unique.len(), ids.len(), "operationIds missing or repeated: {ids:?}");
    // Every link (the contract run follows them) names an operation of the
    // document, and the key made is the one the linked operations act on.
    let mut links = 0;
    for (method, path) in &routed {
        for response in doc["paths"][path][method.to_lowercase()]["responses"].as_object().unwrap().values() {
            for link in response["links"].as_object().into_iter().flat_map(|l| l.values()) {
                assert!(unique.contains(link["operationId"].as_str().unwrap_or_default()), "{method} {path}: {link}");
                assert_eq!(link["parameters"]["id"], "$response.body#/data/id", "{method} {path}");
                links += 1;
            }
        }
    }
    assert_eq!(links, 4, "POST /v1/api-keys links to the key's read, change, roll and revocation");
    for (method, path) in &routed {
        let op = &doc["paths"][path][method.to_lowercase()];
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path} has no responses");
        let public = path == "/v1/auth/login" || path == "/v1/auth/refresh";
        assert_eq!(op.get("security").is_some(), !public, "{method} {path} security");
        if !public {
            for status in ["401", "403", "429"] {
                assert!(op["responses"].get(status).is_some(), "{method} {path} lacks {status}");
            }
        }
    }

    // Walk the router: every route in the table is served (the fallback's
    // "No such endpoint." would mean the table lies).
    let http = reqwest::Client::new();
    for (method, path) in portcullis::http::api::route_table() {
        let url = app.url(&path.replace("{id}", "x"));
        let res = http.request(method.parse().unwrap(), url).send().await.unwrap();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert_ne!(body["error"]["message"], "No such endpoint.", "{method} {path} is not routed");
    }
    let res = http.get(app.url("/v1/not-a-route")).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["message"], "No such endpoint.");
}
