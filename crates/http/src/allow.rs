//! `405 Method Not Allowed` answers carry an `Allow` header (RFC 9110 §15.5.6), built
//! from the operations the OpenAPI document declares for the path.

use std::sync::Arc;

use poem::{Endpoint, IntoResponse, Request, Response, http::StatusCode};

/// Each documented path template, split in segments, with its methods.
pub(crate) struct Routes(Vec<Route>);

struct Route {
    template: String,
    segments: Vec<String>,
    methods: String,
}

impl Routes {
    pub(crate) fn from_spec(spec: &str) -> Arc<Self> {
        let spec: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
        let mut routes = Vec::new();
        if let Some(paths) = spec["paths"].as_object() {
            for (path, operations) in paths {
                let mut methods: Vec<String> = operations
                    .as_object()
                    .map(|ops| ops.keys().map(|m| m.to_ascii_uppercase()).collect())
                    .unwrap_or_default();
                if methods.iter().any(|m| m == "GET") {
                    methods.push("HEAD".into());
                }
                routes.push(Route {
                    template: path.clone(),
                    segments: path.split('/').map(str::to_owned).collect(),
                    methods: methods.join(", "),
                });
            }
        }
        Arc::new(Routes(routes))
    }

    fn route(&self, path: &str) -> Option<&Route> {
        let segments: Vec<&str> = path.split('/').collect();
        self.0.iter().find(|route| {
            route.segments.len() == segments.len()
                && route
                    .segments
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
        })
    }

    /// The documented template `path` matches (`/api/v1/leads/{leadReference}`).
    pub(crate) fn template(&self, path: &str) -> Option<&str> {
        self.route(path).map(|route| route.template.as_str())
    }

    fn methods(&self, path: &str) -> Option<&str> {
        self.route(path).map(|route| route.methods.as_str())
    }
}

pub(crate) async fn add_allow_header<E: Endpoint>(
    routes: Arc<Routes>,
    next: E,
    request: Request,
) -> poem::Result<Response> {
    let path = request.uri().path().to_owned();
    let mut response = crate::call_boxed(&next, request).await?.into_response();
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && let Some(methods) = routes.methods(&path)
        && let Ok(value) = methods.parse()
    {
        response.headers_mut().insert("allow", value);
    }
    Ok(response)
}
