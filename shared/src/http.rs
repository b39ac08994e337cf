//! The request and response every handler sees, whatever platform delivered
//! them, and the body and query parsing that turns bad input into field errors.

use std::net::IpAddr;

use http::{HeaderMap, Method};
use serde::de::DeserializeOwned;

use crate::error::Code;
use crate::error::{ApiError, FieldError};
pub use crate::response::ApiResponse;

/// Largest request body accepted by every function.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A platform-neutral request, built by the runtime adapter.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    pub path: String,
    /// Values of the route pattern's `{name}` segments, percent-decoded.
    pub path_params: Vec<(String, String)>,
    /// Query pairs in order, repeated keys kept, percent-decoded.
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The peer address as the platform saw it (never `X-Forwarded-For`).
    pub client_ip: Option<IpAddr>,
    pub request_id: String,
    /// Set by the adapter when the body was over [`MAX_BODY_BYTES`] and not read.
    pub(crate) oversize: bool,
}

impl ApiRequest {
    pub fn new(method: Method, path: &str) -> Self {
        Self {
            method,
            path: path.to_string(),
            path_params: vec![],
            query: vec![],
            headers: HeaderMap::new(),
            body: vec![],
            client_ip: None,
            request_id: String::new(),
            oversize: false,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.path_params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the body went over the adapters' limit (and was cut).
    pub fn is_oversize(&self) -> bool {
        self.oversize
    }

    pub fn user_agent(&self) -> Option<String> {
        self.header("user-agent")
            .map(|s| s.chars().take(512).collect())
    }

    /// The value of one cookie, if the request carries it.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }

    /// Parses the JSON body into `T`. Malformed JSON is a 400; a well-formed
    /// body of the wrong shape (unknown, missing or mistyped fields) is a 422
    /// naming the field.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let declared = self.header("content-type");
        let mime = self.mime();
        let json = mime == "application/json" || mime.ends_with("+json");
        // Another type is refused; so is a body of no type at all (a body
        // is never guessed at). No body and no type is the 400 below.
        let empty = self.body.iter().all(u8::is_ascii_whitespace);
        if (declared.is_some() && !json) || (declared.is_none() && !empty) {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse_json(&self.body)
    }

    /// The body's media type, lower-cased, without parameters (`""` when
    /// there is no `Content-Type`).
    pub fn mime(&self) -> String {
        self.header("content-type")
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    /// Like [`Self::json`], but an empty body reads as `{}`.
    pub fn json_or_empty<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return parse_json(b"{}");
        }
        self.json()
    }
}

pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            Code::MalformedJson,
            "The request body is empty; send a JSON object",
        ));
    }
    // Syntax first: a body that is not JSON at all is a 400 even when the
    // typed parse would have stopped earlier, at an unknown field.
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        return Err(ApiError::bad_request(
            Code::MalformedJson,
            format!("The request body is not valid JSON: {e}"),
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Ok(v),
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            match inner.classify() {
                serde_json::error::Category::Data => Err(ApiError::Validation {
                    errors: vec![data_error(&path, &inner.to_string())],
                }),
                _ => Err(ApiError::bad_request(
                    Code::MalformedJson,
                    format!("The request body is not valid JSON: {inner}"),
                )),
            }
        }
    }
}

/// Turns serde's message into a field error: unknown and missing fields name
/// themselves in backticks; type errors are reported at their path.
fn data_error(path: &str, message: &str) -> FieldError {
    let message = message.split(" at line ").next().unwrap_or(message);
    let prefix = if path == "." { "" } else { path };
    for (marker, text) in [
        ("unknown field `", "is not a known field"),
        ("missing field `", "is required"),
    ] {
        if let Some(rest) = message.strip_prefix(marker) {
            let name = rest.split('`').next().unwrap_or("");
            let field = if prefix.is_empty() || prefix.ends_with(name) {
                if prefix.is_empty() {
                    name.to_string()
                } else {
                    prefix.to_string()
                }
            } else {
                format!("{prefix}.{name}")
            };
            return FieldError::new(field, text);
        }
    }
    let field = if prefix.is_empty() { "body" } else { prefix };
    FieldError::new(field, message.to_string())
}

/// Decodes `application/x-www-form-urlencoded` pairs (`+` is a space).
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// Percent-decodes `s`; invalid escapes are kept literally, invalid UTF-8 is replaced.
pub fn percent_decode(s: &str, plus_as_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_as_space => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Input {
        name: String,
        address: Option<Address>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Address {
        city: Option<String>,
    }

    fn field_of(body: &str) -> (u16, String) {
        let err = parse_json::<Input>(body.as_bytes()).unwrap_err();
        let r = err.to_response("t");
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        (
            r.status.as_u16(),
            v["errors"][0]["field"].as_str().unwrap_or("").to_string(),
        )
    }

    #[test]
    fn an_operator_object_in_a_string_field_is_a_type_error_on_that_field() {
        assert_eq!(field_of(r#"{"name": {"$gt": ""}}"#), (422, "name".into()));
    }

    #[test]
    fn an_unknown_field_is_named() {
        assert_eq!(
            field_of(r#"{"name": "a", "role": "x"}"#),
            (422, "role".into())
        );
        assert_eq!(
            field_of(r#"{"name": "a", "address": {"town": "x"}}"#),
            (422, "address.town".into())
        );
    }

    #[test]
    fn a_missing_field_is_named() {
        assert_eq!(field_of(r#"{}"#), (422, "name".into()));
    }

    #[test]
    fn malformed_json_is_a_400() {
        assert_eq!(field_of(r#"{"name": "#).0, 400);
        assert_eq!(field_of("").0, 400);
        assert_eq!(field_of(r#"{"unknown": "#).0, 400);
    }

    #[test]
    fn query_strings_decode_percent_escapes_plus_and_repeated_keys() {
        assert_eq!(
            parse_query("q=a+b%2Fc&tag=x&tag=y&bad=%zz"),
            vec![
                ("q".into(), "a b/c".into()),
                ("tag".into(), "x".into()),
                ("tag".into(), "y".into()),
                ("bad".into(), "%zz".into())
            ]
        );
    }
}
