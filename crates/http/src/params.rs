//! What a `400` says when poem-openapi cannot parse a parameter or a JSON body.
//!
//! poem-openapi's own messages name its internal type names (`failed to parse
//! "optional_LeadStatusView"`). The answer here names the parameter, says what was
//! wrong (missing, or not valid) and what is accepted, read from the OpenAPI document
//! the code generates: the accepted values are those of the parameter's type (an
//! enum's variants, a date-time, an integer's bounds), never a list kept by hand.

use std::{collections::HashMap, sync::Arc};

use poem::{
    Request,
    http::{Method, Uri},
};
use poem_openapi::error::{
    ContentTypeError, ParseParamError, ParsePathError, ParseRequestPayloadError,
};
use serde_json::Value;

use crate::allow::Routes;

/// One documented parameter: where it goes and what it accepts.
#[derive(Debug, Clone)]
struct Param {
    location: String,
    expected: String,
}

/// The parameters and bodies of every documented operation.
pub(crate) struct ParamRules {
    routes: Arc<Routes>,
    /// `(template, METHOD, name)` → the parameter.
    params: HashMap<(String, String, String), Param>,
    /// `(template, METHOD)` → what the JSON body accepts, and its media types.
    bodies: HashMap<(String, String), (String, Vec<String>)>,
    /// The names of the documented header parameters, lower-case: at most 64, one bit
    /// each in [`Asked`].
    header_params: Vec<String>,
}

/// What a failed parse becomes: the message of an `invalid_request` (400) or of an
/// `unsupported_media_type` (415). `None`: not a parse error of a parameter or body.
pub(crate) enum Explained {
    BadRequest(String),
    UnsupportedMediaType(String),
}

/// What the error handler needs of the request, taken before it is handed on. It is
/// taken for every request, and read only when one fails to parse, so it copies
/// nothing: the URI (shared, not copied), the method, and one bit per documented
/// header parameter the request carries.
pub(crate) struct Asked {
    uri: Uri,
    method: Method,
    headers: u64,
}

impl Asked {
    pub(crate) fn of(request: &Request, rules: &ParamRules) -> Asked {
        let headers = rules
            .header_params
            .iter()
            .enumerate()
            .filter(|(_, name)| request.headers().contains_key(name.as_str()))
            .fold(0, |bits, (bit, _)| bits | 1 << bit);
        Asked {
            uri: request.uri().clone(),
            method: request.method().clone(),
            headers,
        }
    }

    fn has(&self, rules: &ParamRules, location: &str, name: &str) -> bool {
        match location {
            "query" => self
                .uri
                .query()
                .unwrap_or_default()
                .split('&')
                .any(|pair| pair.split_once('=').map_or(pair, |(key, _)| key) == name),
            "header" => rules
                .header_params
                .iter()
                .position(|known| known.eq_ignore_ascii_case(name))
                .is_some_and(|bit| self.headers & 1 << bit != 0),
            _ => true,
        }
    }
}

impl ParamRules {
    pub(crate) fn from_spec(spec: &str, routes: Arc<Routes>) -> Arc<ParamRules> {
        let spec: Value = serde_json::from_str(spec).unwrap_or_default();
        let mut params = HashMap::new();
        let mut bodies = HashMap::new();
        for (template, operations) in spec["paths"].as_object().into_iter().flatten() {
            for (method, operation) in operations.as_object().into_iter().flatten() {
                let method = method.to_ascii_uppercase();
                for param in operation["parameters"].as_array().into_iter().flatten() {
                    let (Some(name), Some(location)) =
                        (param["name"].as_str(), param["in"].as_str())
                    else {
                        continue;
                    };
                    params.insert(
                        (template.clone(), method.clone(), name.to_owned()),
                        Param {
                            location: location.to_owned(),
                            expected: expected(&spec, &param["schema"]),
                        },
                    );
                }
                if let Some(content) = operation["requestBody"]["content"].as_object() {
                    // `application/json; charset=utf-8` is sent as `application/json`.
                    let types: Vec<String> = content
                        .keys()
                        .map(|media| media.split(';').next().unwrap_or(media).trim().to_owned())
                        .collect();
                    let schema = content
                        .values()
                        .next()
                        .map(|media| resolve(&spec, &media["schema"]))
                        .unwrap_or(&Value::Null);
                    bodies.insert(
                        (template.clone(), method.clone()),
                        (body_fields(&spec, schema), types),
                    );
                }
            }
        }
        let mut header_params: Vec<String> = params
            .iter()
            .filter(|(_, param)| param.location == "header")
            .map(|((_, _, name), _)| name.to_ascii_lowercase())
            .collect();
        header_params.sort();
        header_params.dedup();
        header_params.truncate(64);
        Arc::new(ParamRules {
            routes,
            params,
            bodies,
            header_params,
        })
    }

    /// The message for `error` when it is a parse error of a parameter or body of the
    /// operation `asked` called.
    pub(crate) fn explain(&self, error: &poem::Error, asked: &Asked) -> Option<Explained> {
        let template = self.routes.template(asked.uri.path())?;
        let method = asked.method.as_str().to_owned();
        let operation = |name: &str| {
            self.params
                .get(&(template.to_owned(), method.clone(), name.to_owned()))
        };
        let describe = |name: &str| {
            let param = operation(name)?;
            let what = if asked.has(self, &param.location, name) {
                "is not valid"
            } else {
                "is required"
            };
            Some(Explained::BadRequest(format!(
                "the {} parameter `{name}` {what}: it must be {}",
                param.location, param.expected
            )))
        };
        if let Some(error) = error.downcast_ref::<ParseParamError>() {
            return describe(error.name);
        }
        if let Some(error) = error.downcast_ref::<ParsePathError>() {
            // poem-openapi routes the n-th variable of a path as `param<n>`.
            let name = error
                .name
                .strip_prefix("param")
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| {
                    template
                        .split('/')
                        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
                        .nth(n)
                })
                .unwrap_or(error.name);
            return describe(name);
        }
        let body = self.bodies.get(&(template.to_owned(), method.clone()));
        if error.is::<ParseRequestPayloadError>() {
            let (fields, _) = body?;
            return Some(Explained::BadRequest(format!(
                "the JSON body is not valid: it must be an object of {fields}"
            )));
        }
        if let Some(error) = error.downcast_ref::<ContentTypeError>() {
            let (_, types) = body?;
            let sent = match error {
                ContentTypeError::NotSupported { content_type } => {
                    format!("`Content-Type: {content_type}` is not accepted")
                }
                ContentTypeError::ExpectContentType => {
                    "the `Content-Type` header is missing".into()
                }
            };
            return Some(Explained::UnsupportedMediaType(format!(
                "{sent}: send the body as {}",
                quoted(types)
            )));
        }
        None
    }
}

/// A `$ref` to a component schema, followed; anything else as it is.
fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
    {
        Some(name) => &spec["components"]["schemas"][name],
        None => schema,
    }
}

fn quoted<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> String {
    values
        .into_iter()
        .map(|value| format!("`{}`", value.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a value of `schema` must be, in words, with an example where it helps.
fn expected(spec: &Value, schema: &Value) -> String {
    let schema = resolve(spec, schema);
    if let Some(values) = schema["enum"].as_array() {
        let values = values.iter().filter_map(Value::as_str);
        return format!("one of {}", quoted(values));
    }
    let bound = |key: &str| schema[key].as_f64().map(|n| n as i64);
    let text_limits = || {
        let mut limits = Vec::new();
        if let Some(pattern) = schema["pattern"].as_str() {
            limits.push(format!("matching the pattern `{pattern}`"));
        }
        if let Some(max) = bound("maxLength") {
            limits.push(format!("at most {max} characters"));
        }
        limits
    };
    match (schema["type"].as_str(), schema["format"].as_str()) {
        (Some("string"), Some("date-time")) => {
            "an RFC 3339 date-time with its offset, such as `2026-12-01T00:00:00Z`".into()
        }
        (Some("integer"), _) => match (bound("minimum"), bound("maximum")) {
            (Some(min), Some(max)) => format!("an integer from {min} to {max}"),
            (Some(min), None) => format!("an integer of at least {min}"),
            (None, Some(max)) => format!("an integer of at most {max}"),
            (None, None) => "an integer".into(),
        },
        (Some("number"), _) => "a number".into(),
        (Some("boolean"), _) => "`true` or `false`".into(),
        (Some("array"), _) => format!("a list of {}", expected(spec, &schema["items"])),
        _ => {
            let limits = text_limits();
            if limits.is_empty() {
                "text".into()
            } else {
                format!("text {}", limits.join(", "))
            }
        }
    }
}

/// The fields of a body's object schema, each with what it accepts.
fn body_fields(spec: &Value, schema: &Value) -> String {
    let fields: Vec<String> = schema["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, field)| format!("`{name}` ({})", expected(spec, field)))
        .collect();
    if fields.is_empty() {
        "the documented fields".into()
    } else {
        format!("these fields: {}", fields.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations_come_from_the_schema() {
        let spec = serde_json::json!({
            "components": {"schemas": {"Colour": {"type": "string", "enum": ["red", "blue"]}}}
        });
        let cases = [
            (
                serde_json::json!({"$ref": "#/components/schemas/Colour"}),
                "one of `red`, `blue`",
            ),
            (
                serde_json::json!({"type": "integer", "minimum": 1.0, "maximum": 500.0}),
                "an integer from 1 to 500",
            ),
            (serde_json::json!({"type": "boolean"}), "`true` or `false`"),
            (
                serde_json::json!({"type": "string", "format": "date-time"}),
                "an RFC 3339 date-time with its offset, such as `2026-12-01T00:00:00Z`",
            ),
            (
                serde_json::json!({"type": "string", "pattern": "^[0-9]+$", "maxLength": 9}),
                "text matching the pattern `^[0-9]+$`, at most 9 characters",
            ),
        ];
        for (schema, words) in cases {
            assert_eq!(expected(&spec, &schema), words);
        }
    }

    #[test]
    fn a_request_is_asked_for_what_it_carries_without_copies() {
        let spec = serde_json::json!({"paths": {"/things/{id}": {"get": {"parameters": [
            {"name": "id", "in": "path", "schema": {"type": "integer"}},
            {"name": "limit", "in": "query", "schema": {"type": "integer"}},
            {"name": "If-Match", "in": "header", "schema": {"type": "string"}},
            {"name": "X-Other", "in": "header", "schema": {"type": "string"}}
        ]}}}})
        .to_string();
        let rules = ParamRules::from_spec(&spec, Routes::from_spec(&spec));
        assert_eq!(rules.header_params, ["if-match", "x-other"]);
        let request = Request::builder()
            .uri(Uri::from_static("/things/7?limit=x&b=1"))
            .header("IF-MATCH", "\"1\"")
            .finish();
        let asked = Asked::of(&request, &rules);
        assert_eq!(asked.headers, 0b01, "If-Match is carried, X-Other is not");
        assert!(asked.has(&rules, "header", "If-Match"));
        assert!(!asked.has(&rules, "header", "X-Other"));
        assert!(asked.has(&rules, "query", "limit"));
        assert!(!asked.has(&rules, "query", "cursor"));
        assert!(asked.has(&rules, "path", "id"));
    }
}
