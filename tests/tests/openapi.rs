//! The committed OpenAPI documents must equal what the code generates.

use std::path::PathBuf;

fn committed(name: &str) -> (PathBuf, String) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../openapi")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    (path, text)
}

fn check(name: &str, generated: String) {
    let (path, text) = committed(name);
    if std::env::var_os("LEAD_INBOX_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).expect("the openapi folder is writable");
        return;
    }
    assert!(
        text == generated,
        "{} differs from what the code generates.\n\
         Regenerate it with:\n  LEAD_INBOX_UPDATE_OPENAPI=1 cargo test -p lead-inbox-tests --test openapi\n\
         (or: cargo run -p lead-inbox-server -- openapi --format json|yaml > openapi/lead-inbox.json|yaml)\n\
         and commit the result.",
        path.display()
    );
}

#[test]
fn the_committed_json_document_is_current() {
    check(
        "lead-inbox.json",
        format!("{}\n", lead_inbox_http::openapi_json()),
    );
}

#[test]
fn the_committed_yaml_document_is_current() {
    check(
        "lead-inbox.yaml",
        format!("{}\n", lead_inbox_http::openapi_yaml()),
    );
}

#[test]
fn every_operation_is_documented() {
    let spec: serde_json::Value =
        serde_json::from_str(&lead_inbox_http::openapi_json()).expect("JSON");
    let paths = spec["paths"].as_object().expect("paths");
    for required in [
        "/webhooks/casayes/leads",
        "/api/v1/leads",
        "/api/v1/leads/{leadReference}",
        "/api/v1/quarantine",
        "/api/v1/quarantine/{id}",
        "/api/v1/quarantine/{id}/replay",
        "/api/v1/leads/{leadReference}/raw",
        "/health/live",
        "/health/ready",
    ] {
        assert!(paths.contains_key(required), "{required} is missing");
    }
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().expect("operations") {
            let at = format!("{method} {path}");
            assert!(operation["operationId"].is_string(), "{at}: operationId");
            assert!(operation["summary"].is_string(), "{at}: summary");
            assert!(operation["description"].is_string(), "{at}: description");
            assert!(
                operation["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{at}: tags"
            );
        }
    }
    let webhook = &paths["/webhooks/casayes/leads"]["post"];
    for status in ["200", "400", "401", "413", "503"] {
        assert!(webhook["responses"][status].is_object(), "webhook {status}");
    }
    let payload = &spec["components"]["schemas"]["CasaYesLeadPayload"];
    let properties = payload["properties"].as_object().expect("properties");
    assert_eq!(properties.len(), 15, "the 15 documented fields");
    assert_eq!(
        payload["example"]["LeadReference"],
        "CY-Listing-A3bT7Y2xL6w-b24e6f80-17c9-4a8f-92b3-7e123d4bcf90"
    );
    assert_eq!(
        spec["components"]["securitySchemes"]["webhookToken"]["name"],
        "token"
    );
    assert_eq!(
        spec["components"]["securitySchemes"]["apiKey"]["scheme"],
        "bearer"
    );
}
