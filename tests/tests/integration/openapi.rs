//! The API document as served: `/openapi.json` and the `/docs` page, both
//! without a token, the page's assets from inside the binary.

use idstore_tests::TestApp;
use serde_json::Value;

/// The committed snapshot, which the API crate's own test keeps equal to
/// the generated document.
const SNAPSHOT: &str = include_str!("../../../openapi/idstore.json");

#[actix_web::test]
async fn the_document_is_served_without_a_token_and_is_the_snapshot() {
    let app = TestApp::spawn().await;
    let res = app.get("/openapi.json").await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(
        res.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let snapshot: Value = serde_json::from_str(SNAPSHOT).unwrap();
    assert_eq!(res.json(), snapshot);
    assert_eq!(res.json()["openapi"], "3.1.0");
}

#[actix_web::test]
async fn the_docs_page_and_its_assets_load_with_their_content_types() {
    let app = TestApp::spawn().await;

    let res = app.get("/docs").await;
    assert_eq!(res.status, 308, "{}", res.text);
    assert_eq!(res.header("location"), Some("/docs/"));

    let page = app.get("/docs/").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    // Every asset the page names is served, from the binary.
    let assets: Vec<&str> = [
        "./swagger-ui.css",
        "./swagger-ui-bundle.js",
        "./swagger-initializer.js",
    ]
    .into_iter()
    .filter(|a| page.text.contains(a))
    .collect();
    assert_eq!(
        assets.len(),
        3,
        "the page names other assets: {}",
        page.text
    );
    for (asset, content_type) in [
        ("swagger-ui.css", "text/css; charset=utf-8"),
        ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        ("swagger-initializer.js", "text/javascript; charset=utf-8"),
    ] {
        let res = app.get(&format!("/docs/{asset}")).await;
        assert_eq!(res.status, 200, "{asset}: {}", res.text);
        assert_eq!(res.header("content-type"), Some(content_type), "{asset}");
        assert!(res.text.len() > 100, "{asset} is empty");
    }
    // The page reads this server's document.
    let initializer = app.get("/docs/swagger-initializer.js").await;
    assert!(
        initializer.text.contains("\"/openapi.json\""),
        "{}",
        initializer.text
    );

    let missing = app.get("/docs/nothing-here.js").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error_code"], 404, "{}", missing.text);
}
