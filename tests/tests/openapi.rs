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
fn every_path_and_operation_id_appears_once() {
    // A path declared by two API structs would be emitted twice: invalid for clients,
    // and the second copy would hide the first from the route table.
    let yaml = lead_inbox_http::openapi_yaml();
    let mut paths: Vec<&str> = yaml
        .lines()
        .filter(|line| line.starts_with("  /"))
        .collect();
    let count = paths.len();
    paths.sort_unstable();
    paths.dedup();
    assert_eq!(
        paths.len(),
        count,
        "a path appears twice in the YAML document"
    );
    let spec: serde_json::Value =
        serde_json::from_str(&lead_inbox_http::openapi_json()).expect("JSON");
    let mut ids: Vec<String> = spec["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|operations| operations.as_object().expect("operations").values())
        .map(|operation| operation["operationId"].as_str().expect("id").to_owned())
        .collect();
    let total = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), total, "an operationId appears twice");
    assert_eq!(count, spec["paths"].as_object().expect("paths").len());
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
        "/api/v1/leads/{leadReference}/history",
        "/api/v1/leads/{leadReference}/notes",
        "/api/v1/leads/export",
        "/api/v1/leads/stream",
        "/api/v1/contacts",
        "/api/v1/contacts/{id}",
        "/api/v1/stats",
        "/api/v1/subjects",
        "/api/v1/subjects/export",
        "/api/v1/erasures",
        "/health/live",
        "/health/ready",
    ] {
        assert!(paths.contains_key(required), "{required} is missing");
    }
    let schemas = spec["components"]["schemas"].as_object().expect("schemas");
    // A media type's schema, with a `$ref` followed.
    let schema_of = |media: &serde_json::Value| -> serde_json::Value {
        let schema = &media["schema"];
        match schema["$ref"].as_str() {
            Some(reference) => schemas[reference.rsplit('/').next().expect("name")].clone(),
            None => schema.clone(),
        }
    };
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().expect("operations") {
            let at = format!("{method} {path}");
            // Examples for every JSON request body and every JSON success response.
            let request = operation["requestBody"]["content"]["application/json"].clone();
            if request.is_object() {
                assert!(
                    schema_of(&request)["example"].is_object(),
                    "{at}: request example"
                );
            }
            for (status, response) in operation["responses"].as_object().expect("responses") {
                let json = &response["content"]["application/json; charset=utf-8"];
                if status.starts_with('2') && json.is_object() {
                    assert!(
                        !schema_of(json)["example"].is_null(),
                        "{at}: {status} response example"
                    );
                }
            }
            if path.starts_with("/api/v1") {
                assert!(operation["responses"]["401"].is_object(), "{at}: 401");
                assert!(operation["responses"]["403"].is_object(), "{at}: 403");
                assert_eq!(
                    operation["security"][0]["apiKey"],
                    serde_json::json!([]),
                    "{at}"
                );
            }
            assert!(operation["operationId"].is_string(), "{at}: operationId");
            assert!(operation["summary"].is_string(), "{at}: summary");
            assert!(operation["description"].is_string(), "{at}: description");
            assert!(
                operation["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{at}: tags"
            );
        }
    }
    let lead = &paths["/api/v1/leads/{leadReference}"];
    assert!(
        lead["get"].is_object() && lead["patch"].is_object(),
        "one path, both methods"
    );
    for status in ["200", "400", "401", "403", "404", "409", "412", "428"] {
        assert!(
            lead["patch"]["responses"][status].is_object(),
            "PATCH {status}"
        );
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
