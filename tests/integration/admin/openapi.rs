//! docs/admin-api.openapi.json is the admin API as it is: it names every
//! route the listener has (and no other), and each documented operation
//! answers one of the statuses documented for it.

use serde_json::Value;

use super::http::*;

const DOC: &str = include_str!("../../../docs/admin-api.openapi.json");

#[tokio::test]
async fn the_openapi_description_matches_the_routes() {
    let doc: Value = serde_json::from_str(DOC).expect("the OpenAPI description is JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    let daemon = daemon(None);
    let admin = daemon.admin();
    // The 404 lists the routes the listener has.
    let listed = get(admin, "/no-such-route").await.body;
    let routes = listed
        .split("(routes: ")
        .nth(1)
        .and_then(|rest| rest.strip_suffix(")\n"))
        .unwrap_or_else(|| panic!("no route list in `{listed}`"));
    let mut routes: Vec<&str> = routes.split(", ").collect();
    routes.sort_unstable();
    let documented: Vec<&str> = paths.keys().map(String::as_str).collect();
    assert_eq!(documented, routes, "documented paths vs the listener's");

    for (path, operations) in paths {
        let target = path
            .replace("{name}", "x")
            .replace("{call_id}", "x")
            .replace("{scope}", "x");
        for (method, operation) in operations.as_object().expect("operations") {
            let method = method.to_ascii_uppercase();
            let target = if path == "/requests/wait" {
                format!("{target}?timeout_ms=50")
            } else {
                target.clone()
            };
            let reply = match method.as_str() {
                "POST" | "PUT" if path.starts_with("/rules") => {
                    http_body(
                        admin,
                        &method,
                        &target,
                        &[],
                        "[[rule]]\nname = \"x\"\naccept = {}\n",
                    )
                    .await
                }
                _ => http(admin, &method, &target, &[]).await,
            };
            let status = reply.status.to_string();
            assert!(
                operation["responses"].get(&status).is_some(),
                "{method} {target} answered {status}, which the description does not list: {}",
                reply.body
            );
        }
    }
}
