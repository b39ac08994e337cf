//! The API's OpenAPI 3.1 document, generated from the route table.
//!
//! Nobody maintains the document by hand: every method of every route
//! carries a [`Doc`]. An entity's routes describe themselves from its
//! declaration (fields, list spec, numbering); any other route declares
//! its [`Op`] next to its handler, in the same vocabulary ([`Schema`]) the
//! field engine uses. What every operation shares comes from the pipeline
//! itself: the security scheme from the route's [`Access`], the problem
//! documents and their `code` values, `Idempotency-Key` on POST,
//! `If-None-Match` and `ETag` on GET, the RateLimit headers.
//!
//! [`document`] refuses a route method without a [`Doc`], so a new route
//! cannot be left out of the contract.

use serde_json::{json, Map, Value};

use super::route::Route;
use crate::codes::Code;
use crate::fields::{Field, Kind};
use crate::rbac::Access;
use crate::records::{Entity, FilterKind, ListSpec, MAX_LIMIT};

/// A JSON value's shape, declared as data so that a route can name it in a
/// `static`.
pub enum Schema {
    /// Anything.
    Any,
    /// A string of `min..=max` characters.
    Text {
        min: usize,
        max: usize,
    },
    /// A string of a JSON Schema format: `email`, `uri`, `date-time`, `date`.
    Format(&'static str),
    /// A string matching the pattern.
    Pattern(&'static str),
    Int {
        min: i64,
        max: i64,
    },
    Number,
    Bool,
    /// One of these strings.
    Enum(&'static [&'static str]),
    /// One of the strings a registry gives (the entities' collections):
    /// derived where the document is generated, never copied.
    Names(fn() -> Vec<&'static str>),
    /// A record id (24 hex digits).
    Id,
    Array(&'static Schema),
    /// An object with these properties (others may follow in a response;
    /// a request body refuses them).
    Object(&'static [Prop]),
    /// An object whose values all have this shape.
    Map(&'static Schema),
    /// This or `null`.
    Nullable(&'static Schema),
    /// A body of declared fields, as a create takes it.
    Fields(&'static [Field]),
    /// A body of declared fields, as a PATCH takes it (nothing required).
    Patch(&'static [Field]),
    /// A stored record of the entity, as the API renders it.
    Record(&'static Entity),
    /// A page of a list: `{data: [..], nextCursor}`.
    Page(&'static Schema),
    /// A schema the domain declares once (`#/components/schemas/<name>`).
    Named(&'static str),
}

impl Schema {
    pub const ID: Schema = Schema::Id;
    pub const TIME: Schema = Schema::Format("date-time");
    pub const EMAIL: Schema = Schema::Format("email");
    /// Any string (`Text` with no limits).
    pub const STRING: Schema = Schema::Text { min: 0, max: 0 };
    pub const COUNT: Schema = Schema::Int {
        min: 0,
        max: i64::MAX,
    };
}

/// A property of a [`Schema::Object`].
pub struct Prop {
    pub name: &'static str,
    pub schema: Schema,
    pub required: bool,
}

impl Prop {
    pub const fn req(name: &'static str, schema: Schema) -> Prop {
        Prop {
            name,
            schema,
            required: true,
        }
    }

    pub const fn opt(name: &'static str, schema: Schema) -> Prop {
        Prop {
            name,
            schema,
            required: false,
        }
    }
}

/// A query parameter.
pub struct Param {
    pub name: &'static str,
    pub schema: Schema,
    pub required: bool,
    pub description: &'static str,
}

impl Param {
    pub const fn opt(name: &'static str, schema: Schema, description: &'static str) -> Param {
        Param {
            name,
            schema,
            required: false,
            description,
        }
    }

    pub const fn req(name: &'static str, schema: Schema, description: &'static str) -> Param {
        Param {
            name,
            schema,
            required: true,
            description,
        }
    }
}

/// What an operation takes.
pub enum Body {
    None,
    Json(Schema),
    /// JSON that may be left out (an empty body reads as `{}`).
    Optional(Schema),
    /// JSON, or the same fields URL-encoded (an HTML form's post).
    JsonOrForm(Schema),
    /// Raw content of this media type (a CSV file).
    Raw(&'static str),
}

/// One successful answer.
pub enum Reply {
    Json(u16, Schema),
    /// No body (204, 202).
    Empty(u16),
    /// Another media type, described in words (an HTML page, a CSV file).
    Media(u16, &'static str, &'static str),
}

/// A route method's contract, when it is not an entity's.
pub struct Op {
    pub summary: &'static str,
    pub description: &'static str,
    /// A list paged by `crate::records::page`: its parameters come from
    /// the same spec the handler pages with.
    pub list: Option<&'static ListSpec>,
    /// Other query parameters.
    pub query: &'static [Param],
    pub body: Body,
    pub reply: Reply,
    /// Other successful answers (a JSON fetch's 201 besides a form post's
    /// 303, an idempotent replay's 200).
    pub also: &'static [Reply],
    /// Error statuses this operation adds to those every operation of its
    /// kind may answer.
    pub errors: &'static [u16],
    /// The tag it is listed under, when not its path's first segment
    /// (`/api/v1/line-items/...` is `line-items`).
    pub tag: Option<&'static str>,
    /// Whether it takes the refresh-token cookie (sign-in's session) as
    /// its credential.
    pub refresh_cookie: bool,
    /// The description, made from declarations (a status's transitions)
    /// rather than written out; replaces `description`.
    pub describe: Option<fn() -> String>,
}

impl Op {
    /// What an [`Op`] leaves out: no query, no body, `200 {}`, no extra
    /// errors. A declaration names its summary and reply, and what it needs
    /// beyond these, then `..Op::DEFAULTS`.
    pub const DEFAULTS: Op = Op {
        summary: "",
        description: "",
        list: None,
        query: &[],
        body: Body::None,
        reply: Reply::Json(200, Schema::Any),
        also: &[],
        errors: &[],
        tag: None,
        refresh_cookie: false,
        describe: None,
    };
}

/// A tag of the document: the operations under one path segment (or those
/// that name it), with what they are for.
pub struct Tag {
    pub name: &'static str,
    pub description: &'static str,
}

/// A group of tags in the reference page's menu (`x-tagGroups`): one per
/// context, each context's tags as its `routes.rs` declares them.
pub struct TagGroup {
    pub name: &'static str,
    pub tags: &'static [&'static [Tag]],
}

/// How a route method is described in the document.
#[derive(Clone, Copy)]
pub enum Doc {
    /// Not yet described: [`document`] refuses the table.
    Missing,
    Op(&'static Op),
    List(&'static Entity),
    Create(&'static Entity),
    Get(&'static Entity),
    Update(&'static Entity),
    Delete(&'static Entity),
    Restore(&'static Entity),
    /// A scheduled job's cron request.
    Job,
    /// Answered by the pipeline (a CORS preflight): not an operation.
    Hidden,
}

/// What the document says of the API itself.
pub struct Info {
    pub title: &'static str,
    pub version: &'static str,
    pub description: &'static str,
    /// Schemas the operations name with [`Schema::Named`], in groups (one
    /// per context that declares some).
    pub components: &'static [&'static [(&'static str, Schema)]],
    /// The entities' path segments, for their schema names, in groups
    /// (the registry's, and any declared elsewhere).
    pub entities: &'static [&'static [(&'static str, &'static Entity)]],
    /// The tags, grouped: every operation's tag must be in one.
    pub tag_groups: &'static [TagGroup],
}

/// The OpenAPI 3.1 document of `routes`, or every route method that has no
/// [`Doc`], or every tag that is in no group of `info`.
pub fn document(info: &Info, routes: &[&Route]) -> Result<Value, String> {
    let declared: Vec<&Tag> = info
        .tag_groups
        .iter()
        .flat_map(|g| g.tags.iter().flat_map(|t| t.iter()))
        .collect();
    let mut untagged = std::collections::BTreeSet::new();
    let mut missing = vec![];
    let mut unscoped = vec![];
    let mut paths = Map::new();
    for route in routes {
        let mut item = Map::new();
        for endpoint in route.methods {
            let op = match endpoint.doc {
                Doc::Missing => {
                    missing.push(format!("{} {}", endpoint.method, route.path));
                    continue;
                }
                Doc::Hidden => continue,
                doc => operation(info, route, endpoint.method.as_str(), endpoint.access, doc),
            };
            let mut op = op;
            if let crate::rbac::Access::Requires(_) = endpoint.access {
                if endpoint.scope == crate::rbac::KeyScope::Undeclared {
                    unscoped.push(format!("{} {}", endpoint.method, route.path));
                }
                // The scope an API key needs; null: keys are refused.
                op["x-required-scope"] = endpoint.scope.name().map_or(Value::Null, Value::String);
            }
            let tag = op["tags"][0].as_str().unwrap_or_default();
            if !declared.iter().any(|t| t.name == tag) {
                untagged.insert(format!("{tag} ({} {})", endpoint.method, route.path));
            }
            item.insert(endpoint.method.as_str().to_lowercase(), op);
        }
        if item.is_empty() {
            continue;
        }
        let params: Vec<Value> = path_params(route.path)
            .map(|p| {
                json!({
                    "name": p, "in": "path", "required": true,
                    "schema": if p.ends_with("Id") && p != "publicId" || p == "id" { id_schema() } else { json!({"type": "string", "minLength": 1}) },
                })
            })
            .collect();
        if !params.is_empty() {
            item.insert("parameters".into(), Value::Array(params));
        }
        paths.insert(route.path.into(), Value::Object(item));
    }
    if !missing.is_empty() {
        return Err(format!(
            "route methods without a contract: {}",
            missing.join(", ")
        ));
    }
    if !unscoped.is_empty() {
        return Err(format!(
            "route methods without an API key scope (.read, .write or .no_keys): {}",
            unscoped.join(", ")
        ));
    }
    if !untagged.is_empty() {
        return Err(format!(
            "operations whose tag is in no tag group: {}",
            untagged.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let tags: Vec<Value> = declared
        .iter()
        .map(|t| json!({ "name": t.name, "description": t.description }))
        .collect();
    let groups: Vec<Value> = info
        .tag_groups
        .iter()
        .map(|g| {
            let names: Vec<&str> = g
                .tags
                .iter()
                .flat_map(|t| t.iter())
                .map(|t| t.name)
                .collect();
            json!({ "name": g.name, "tags": names })
        })
        .collect();
    let mut schemas = Map::new();
    schemas.insert("Problem".into(), problem_schema());
    schemas.insert(
        "Tombstone".into(),
        json!({
            "type": "object",
            "description": "A record deleted since the sync token: remove it from the client's copy.",
            "properties": { "id": id_schema(), "deletedAt": {"type": "string", "format": "date-time"} },
            "required": ["id", "deletedAt"],
        }),
    );
    for (name, schema) in info.components.iter().flat_map(|g| g.iter()) {
        schemas.insert((*name).into(), response_schema(info, schema));
    }
    for (segment, entity) in info.entities.iter().flat_map(|g| g.iter()) {
        schemas.insert(schema_name(segment), record_schema(entity));
    }
    let mut responses = Map::new();
    for status in [
        304_u16, 400, 401, 403, 404, 405, 409, 410, 412, 413, 415, 422, 423, 428, 429, 500, 502,
        503,
    ] {
        responses.insert(format!("Problem{status}"), problem_response(status));
    }
    Ok(json!({
        "openapi": "3.1.0",
        "info": {
            "title": info.title,
            "version": info.version,
            "description": info.description,
        },
        "servers": [{ "url": "/" }],
        "tags": tags,
        "x-tagGroups": groups,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": responses,
            "headers": shared_headers(),
            "parameters": {
                "If-None-Match": {
                    "name": "If-None-Match", "in": "header", "required": false,
                    "description": "The `ETag` of the copy the client holds: 304 with no body if it is still current.",
                    "schema": { "type": "string" },
                },
                "Idempotency-Key": {
                    "name": "Idempotency-Key", "in": "header", "required": false,
                    "description": "Up to 255 visible characters: a retry with the same key and body gets the stored answer, with a different body 422; while the first is running, 409.",
                    "schema": { "type": "string", "minLength": 1, "maxLength": 255 },
                },
            },
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "The access token from sign-in or refresh (15 minutes), or an API key (`wcrm_…`, from `POST /api/v1/api-keys`) holding the operation's `x-required-scope` (null: API keys are refused).",
                },
                "refreshCookie": {
                    "type": "apiKey", "in": "cookie", "name": crate::auth::tokens::COOKIE_NAME,
                    "description": "The refresh token, set by sign-in as an HttpOnly, Secure, SameSite=Strict cookie on /api/v1/auth.",
                },
                "cronSecret": {
                    "type": "http", "scheme": "bearer",
                    "description": "The scheduler's CRON_SECRET (Vercel crons).",
                },
            },
        },
    }))
}

fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

/// `line-items` -> `LineItem`.
fn schema_name(segment: &str) -> String {
    let singular = segment
        .strip_suffix("ies")
        .map(|s| format!("{s}y"))
        .or_else(|| segment.strip_suffix('s').map(str::to_string))
        .unwrap_or_else(|| segment.to_string());
    singular
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

fn entity_segment(info: &Info, e: &Entity) -> &'static str {
    info.entities
        .iter()
        .flat_map(|g| g.iter())
        .find(|(_, x)| std::ptr::eq(*x, e))
        .map(|(s, _)| *s)
        .unwrap_or(e.collection)
}

fn record_ref(info: &Info, e: &Entity) -> Value {
    json!({ "$ref": format!("#/components/schemas/{}", schema_name(entity_segment(info, e))) })
}

fn id_schema() -> Value {
    json!({ "type": "string", "pattern": "^[0-9a-f]{24}$" })
}

fn tag_of(path: &str) -> String {
    let rest = path
        .strip_prefix("/api/v1/")
        .or_else(|| path.strip_prefix("/api/"))
        .unwrap_or(path);
    rest.split('/').next().unwrap_or(rest).into()
}

fn operation(info: &Info, route: &Route, method: &str, access: Access, doc: Doc) -> Value {
    let mut op = Map::new();
    let id = format!("{}-{}", method.to_lowercase(), route.name);
    op.insert("operationId".into(), json!(id));
    let tag = match doc {
        Doc::Op(o) => o.tag.map(str::to_string),
        _ => None,
    };
    op.insert(
        "tags".into(),
        json!([tag.unwrap_or_else(|| tag_of(route.path))]),
    );
    let mut params: Vec<Value> = vec![];
    let mut responses = Map::new();
    let mut errors: Vec<u16> = vec![400, 403, 429, 503];
    let mut body = None;
    let has_id = route.path.contains('{');
    if has_id {
        errors.push(404);
    }
    match access {
        Access::Requires(_) => errors.push(401),
        Access::Cron => errors.push(401),
        Access::Link => errors.push(410),
        Access::Public | Access::Throttled(_) => {}
    }
    let (summary, description) = match doc {
        Doc::Op(o) => {
            if let Some(spec) = o.list {
                params.extend(list_query(spec));
            }
            for p in o.query {
                params.push(query_param(info, p));
            }
            body = request_body(info, &o.body);
            add_reply(info, &mut responses, &o.reply, method);
            for r in o.also {
                add_reply(info, &mut responses, r, method);
            }
            errors.extend_from_slice(o.errors);
            (
                o.summary.to_string(),
                o.describe
                    .map_or_else(|| o.description.to_string(), |describe| describe()),
            )
        }
        Doc::List(e) => {
            params.extend(list_params(e));
            let item = json!({ "anyOf": [record_ref(info, e), {"$ref": "#/components/schemas/Tombstone"}] });
            responses.insert(
                "200".into(),
                json_response(
                    "A page of records, newest first unless sorted; with `updatedSince`, a page of changes (tombstones for deleted records), the last page with the next `syncToken`.",
                    json!({
                        "type": "object",
                        "properties": {
                            "data": { "type": "array", "items": item },
                            "nextCursor": { "type": ["string", "null"], "description": "Pass as `cursor` for the next page; null on the last." },
                            "syncToken": { "type": ["string", "null"], "description": "On a sync's last page: the `updatedSince` of the next sync." },
                        },
                        "required": ["data", "nextCursor"],
                    }),
                    method,
                ),
            );
            errors.push(410);
            (
                format!("List {}", entity_segment(info, e)),
                "Cursor pagination (`limit`, `cursor`), sorting, search and filters; or delta sync with `updatedSince`.".to_string(),
            )
        }
        Doc::Create(e) => {
            body = Some(json_body(create_schema(e.fields, e.counters)));
            responses.insert(
                "201".into(),
                json_response("The new record.", record_ref(info, e), method),
            );
            responses.insert(
                "200".into(),
                json_response(
                    "The stored answer to an earlier request with the same Idempotency-Key.",
                    record_ref(info, e),
                    method,
                ),
            );
            errors.extend([409, 413, 415, 422]);
            (format!("Create {}", named(e)), String::new())
        }
        Doc::Get(e) => {
            responses.insert(
                "200".into(),
                json_response(
                    "The record; its `ETag` is its version.",
                    record_ref(info, e),
                    method,
                ),
            );
            (format!("Get {}", named(e)), String::new())
        }
        Doc::Update(e) => {
            params.push(json!({
                "name": "If-Match", "in": "header", "required": false,
                "description": "The version (`ETag`) the change was based on: 412 if the record has moved on.",
                "schema": { "type": "string" },
            }));
            body = Some(json_body(patch_schema(e.fields, e.counters)));
            responses.insert(
                "200".into(),
                json_response("The record after the change.", record_ref(info, e), method),
            );
            errors.extend([409, 412, 413, 415, 422]);
            (
                format!("Change a {}", e.resource),
                "Only the fields sent change; `null` or an empty string clears an optional field."
                    .into(),
            )
        }
        Doc::Delete(e) => {
            responses.insert(
                "204".into(),
                json!({ "description": "Deleted (restorable for 30 days)." }),
            );
            errors.push(409);
            (format!("Delete {}", named(e)), String::new())
        }
        Doc::Restore(e) => {
            responses.insert(
                "200".into(),
                json_response("The restored record.", record_ref(info, e), method),
            );
            errors.extend([409, 422]);
            (format!("Restore {} deleted", named(e)), String::new())
        }
        Doc::Job => {
            responses.insert(
                "200".into(),
                json_response("What the run did.", json!({ "type": "object" }), method),
            );
            (
                "Run the scheduled job now".into(),
                "Called by the scheduler with `Bearer $CRON_SECRET`.".into(),
            )
        }
        Doc::Missing | Doc::Hidden => unreachable_doc(),
    };
    op.insert("summary".into(), json!(summary));
    if !description.is_empty() {
        op.insert("description".into(), json!(description));
    }
    if method == "GET" {
        params.push(json!({ "$ref": "#/components/parameters/If-None-Match" }));
        responses.insert(
            "304".into(),
            json!({ "description": "Not modified: the client's copy (its `ETag`) is current.", "headers": { "ETag": header_ref("ETag") } }),
        );
    }
    if method == "POST" {
        // Only a signed-in caller's POST is idempotent (keys are per user).
        if matches!(access, Access::Requires(_)) {
            params.push(json!({ "$ref": "#/components/parameters/Idempotency-Key" }));
        }
        errors.extend([409, 422]);
    }
    if body.is_some() {
        errors.extend([413, 415]);
    }
    if let Some(b) = body {
        op.insert("requestBody".into(), b);
    }
    if !params.is_empty() {
        op.insert("parameters".into(), Value::Array(params));
    }
    errors.sort_unstable();
    errors.dedup();
    for status in errors {
        responses
            .entry(status.to_string())
            .or_insert_with(|| problem_ref(status));
    }
    op.insert("responses".into(), Value::Object(responses));
    op.insert(
        "security".into(),
        match access {
            Access::Requires(_) => json!([{ "bearerAuth": [] }]),
            Access::Cron => json!([{ "cronSecret": [] }]),
            Access::Public | Access::Throttled(_)
                if matches!(doc, Doc::Op(o) if o.refresh_cookie) =>
            {
                json!([{ "refreshCookie": [] }, {}])
            }
            Access::Public | Access::Throttled(_) | Access::Link => json!([]),
        },
    );
    Value::Object(op)
}

/// `a line item`, `an account`.
fn named(e: &Entity) -> String {
    let name = e.resource.replace('_', " ");
    let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {name}")
}

fn unreachable_doc() -> (String, String) {
    (String::new(), String::new())
}

/// The headers every answer may carry, declared once in `components`.
fn shared_headers() -> Value {
    json!({
        "RateLimit-Limit": { "description": "Requests allowed in the window.", "schema": { "type": "integer" } },
        "RateLimit-Remaining": { "description": "Requests left in the window.", "schema": { "type": "integer" } },
        "RateLimit-Reset": { "description": "Seconds until the window resets.", "schema": { "type": "integer" } },
        "X-Request-Id": { "description": "The request's id, also in every log line and problem document.", "schema": { "type": "string" } },
        "ETag": { "description": "The version of what was read, for If-None-Match (and If-Match on a record).", "schema": { "type": "string" } },
        "Retry-After": { "description": "Seconds to wait before trying again.", "schema": { "type": "integer" } },
    })
}

fn header_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/headers/{name}") })
}

fn rate_limit_headers() -> Value {
    let mut h = Map::new();
    for name in [
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
        "X-Request-Id",
    ] {
        h.insert(name.into(), header_ref(name));
    }
    Value::Object(h)
}

fn json_response(description: &str, schema: Value, method: &str) -> Value {
    let mut headers = rate_limit_headers();
    if method == "GET" {
        headers["ETag"] = header_ref("ETag");
    }
    json!({
        "description": description,
        "headers": headers,
        "content": { "application/json": { "schema": schema } },
    })
}

fn problem_ref(status: u16) -> Value {
    json!({ "$ref": format!("#/components/responses/Problem{status}") })
}

fn problem_response(status: u16) -> Value {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let mut headers = rate_limit_headers();
    if status == 429 || status == 503 {
        headers["Retry-After"] = header_ref("Retry-After");
    }
    json!({
        "description": format!("{reason}: a problem document; `code` says which."),
        "headers": headers,
        "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } },
    })
}

fn problem_schema() -> Value {
    let codes: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    json!({
        "type": "object",
        "description": "RFC 9457 problem details; clients branch on `code`.",
        "properties": {
            "type": { "type": "string", "format": "uri" },
            "title": { "type": "string" },
            "status": { "type": "integer" },
            "detail": { "type": "string" },
            "code": { "type": "string", "enum": codes },
            "requestId": { "type": "string" },
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": { "field": { "type": "string" }, "message": { "type": "string" } },
                    "required": ["field", "message"],
                },
            },
            "requiredRole": { "type": "string" },
            "actualRole": { "type": "string" },
            "currentVersion": { "type": "integer" },
        },
        "required": ["type", "title", "status", "detail", "code", "requestId"],
    })
}

fn json_body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

fn request_body(info: &Info, body: &Body) -> Option<Value> {
    match body {
        Body::None => None,
        Body::Json(s) => Some(json_body(request_schema(info, s))),
        Body::Optional(s) => {
            let mut b = json_body(request_schema(info, s));
            b["required"] = json!(false);
            Some(b)
        }
        Body::JsonOrForm(s) => {
            let schema = request_schema(info, s);
            Some(json!({ "required": true, "content": {
                "application/json": { "schema": schema },
                "application/x-www-form-urlencoded": { "schema": schema },
            } }))
        }
        Body::Raw(media) => Some(json!({ "required": true, "content": {
            *media: { "schema": { "type": "string" } },
        } })),
    }
}

fn add_reply(info: &Info, responses: &mut Map<String, Value>, reply: &Reply, method: &str) {
    let (status, answer) = match reply {
        Reply::Json(status, s) => (
            status,
            json_response("Done.", response_schema(info, s), method),
        ),
        Reply::Empty(status) => (
            status,
            json!({ "description": "Done; no body.", "headers": rate_limit_headers() }),
        ),
        Reply::Media(status, media, description) => (
            status,
            json!({
                "description": description,
                "headers": rate_limit_headers(),
                "content": { *media: { "schema": { "type": "string" } } },
            }),
        ),
    };
    // Two answers of one status (CSV or JSON) are one response with both
    // media types.
    match responses.get_mut(&status.to_string()) {
        Some(existing) => {
            if let (Some(content), Some(more)) = (
                answer.get("content").and_then(Value::as_object),
                existing.get_mut("content").and_then(Value::as_object_mut),
            ) {
                more.extend(content.clone());
            }
        }
        None => {
            responses.insert(status.to_string(), answer);
        }
    }
}

fn query_param(info: &Info, p: &Param) -> Value {
    json!({
        "name": p.name, "in": "query", "required": p.required,
        "description": p.description,
        "schema": request_schema(info, &p.schema),
    })
}

/// An entity list's parameters: its [`ListSpec`]'s and delta sync's.
fn list_params(e: &Entity) -> Vec<Value> {
    let mut out = list_query(&e.list);
    out.insert(2, json!({ "name": "updatedSince", "in": "query", "required": false,
        "description": "Delta sync: `0` for a first, full sync, else the `syncToken` of the last one (410 `RESYNC_REQUIRED` once older than 30 days). Takes only `limit` and `cursor` besides.",
        "schema": { "type": "string", "pattern": ONE_LINE } }));
    out
}

/// The parameters of a list paged by `crate::records::page` with `spec`:
/// `limit`, `cursor`, its sorts, search and filters.
fn list_query(spec: &ListSpec) -> Vec<Value> {
    let mut sorts: Vec<String> = vec![];
    for f in spec.sort_fields {
        sorts.push((*f).to_string());
        sorts.push(format!("-{f}"));
    }
    let mut out = vec![
        json!({ "name": "limit", "in": "query", "required": false, "description": "Items per page.",
                "schema": { "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": crate::records::DEFAULT_LIMIT } }),
        json!({ "name": "cursor", "in": "query", "required": false, "description": "The `nextCursor` of the previous page.",
                "schema": { "type": "string", "pattern": ONE_LINE } }),
    ];
    if !sorts.is_empty() {
        out.push(json!({ "name": "sort", "in": "query", "required": false, "description": "A field, `-` first for descending.",
                         "schema": { "type": "string", "enum": sorts, "default": spec.default_sort } }));
    }
    if !spec.search_fields.is_empty() {
        out.push(json!({ "name": "q", "in": "query", "required": false,
                         "description": format!("Case-insensitive search in {}.", spec.search_fields.join(", ")),
                         "schema": { "type": "string", "maxLength": 100, "pattern": ONE_LINE } }));
    }
    for f in spec.filters {
        let (schema, description) = match f.kind {
            FilterKind::Text => (
                json!({ "type": "string" }),
                format!("Only records whose {} is this.", f.field),
            ),
            FilterKind::Id => (
                id_schema(),
                format!("Only records whose {} is this record.", f.field),
            ),
            FilterKind::Bool => (
                json!({ "type": "boolean" }),
                format!("Only records whose {} is this.", f.field),
            ),
            FilterKind::Integer => (
                json!({ "type": "integer" }),
                format!("Only records whose {} is this.", f.field),
            ),
            FilterKind::Custom {
                json_type,
                description,
                ..
            } => (
                json!({ "type": json_type }),
                description
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("A condition on {}.", f.field)),
            ),
            FilterKind::From => (
                json!({ "type": "string", "format": "date-time" }),
                format!("{} at or after this time.", f.field),
            ),
            FilterKind::To => (
                json!({ "type": "string", "format": "date-time" }),
                format!("{} before this time.", f.field),
            ),
        };
        out.push(json!({ "name": f.param, "in": "query", "required": false, "description": description, "schema": schema }));
    }
    out
}

/// Text without control characters (what `shared::validate` refuses).
const ONE_LINE: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$";
/// The same, but for line breaks and tabs.
const LINES: &str = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$";

/// The JSON Schema of a field as a request sends it.
fn field_request(kind: &Kind, reserved: &[&str]) -> Value {
    match kind {
        Kind::Text { min, max } => {
            json!({ "type": "string", "minLength": min, "maxLength": max, "pattern": ONE_LINE })
        }
        Kind::Multiline { max } => json!({ "type": "string", "maxLength": max, "pattern": LINES }),
        Kind::Email => json!({ "type": "string", "format": "email", "maxLength": 254 }),
        Kind::Url => json!({ "type": "string", "format": "uri", "maxLength": 2048 }),
        Kind::Phone => json!({ "type": "string", "maxLength": 32, "pattern": "^[0-9 +().-]*$",
                               "description": "3 to 20 digits, with spaces and + - ( ) ." }),
        Kind::Enum { values, .. } => {
            let allowed: Vec<&str> = values
                .iter()
                .copied()
                .filter(|v| !reserved.contains(v))
                .collect();
            json!({ "type": "string", "enum": allowed })
        }
        Kind::Integer { min, max } => json!({ "type": "integer", "minimum": min, "maximum": max }),
        Kind::Money => {
            json!({ "type": "integer", "minimum": 0, "maximum": 1_000_000_000_000_000_i64, "description": "Minor units (cents)." })
        }
        Kind::Currency => {
            json!({ "type": "string", "pattern": "^[A-Za-z]{3}$", "description": "ISO 4217." })
        }
        Kind::DateTime => json!({ "type": "string", "format": "date-time" }),
        Kind::Bool { .. } => json!({ "type": "boolean" }),
        Kind::Ref(_) => id_schema(),
        Kind::Tags => {
            json!({ "type": "array", "maxItems": 20, "items": { "type": "string", "minLength": 1, "maxLength": 50 } })
        }
        Kind::Object(fields) => object_of(fields, false),
        Kind::RelatedTo(targets) => {
            let types: Vec<&str> = targets.iter().map(|(t, _)| *t).collect();
            json!({ "type": "object", "properties": { "type": { "type": "string", "enum": types }, "id": id_schema() },
                    "required": ["type", "id"], "additionalProperties": false })
        }
        Kind::Custom(custom) => (custom.schema)(),
        Kind::Rows { of, max } => {
            json!({ "type": "array", "maxItems": max, "items": object_of(of, true) })
        }
        Kind::Origins => {
            json!({ "type": "array", "maxItems": 20, "items": { "type": "string", "format": "uri" } })
        }
    }
}

/// An object of declared fields in a request: unknown ones refused,
/// required ones enforced when `enforce`.
fn object_of(fields: &[Field], enforce: bool) -> Value {
    let mut props = Map::new();
    let mut required = vec![];
    for f in fields {
        let mut s = field_request(&f.kind, f.reserved);
        if !f.required {
            s = nullable(s);
        } else if enforce {
            required.push(f.name);
        }
        props.insert(f.name.into(), s);
    }
    json!({ "type": "object", "properties": props, "required": required, "additionalProperties": false })
}

fn nullable(s: Value) -> Value {
    json!({ "anyOf": [s, { "type": "null" }] })
}

fn create_schema(fields: &[Field], counters: &[&str]) -> Value {
    let fields: Vec<&Field> = fields
        .iter()
        .filter(|f| !counters.contains(&f.name))
        .collect();
    let mut props = Map::new();
    let mut required = vec![];
    for f in &fields {
        let s = field_request(&f.kind, f.reserved);
        if f.required {
            required.push(f.name);
            props.insert(f.name.into(), s);
        } else {
            props.insert(f.name.into(), nullable(s));
        }
    }
    json!({ "type": "object", "properties": props, "required": required, "additionalProperties": false })
}

fn patch_schema(fields: &[Field], counters: &[&str]) -> Value {
    let mut props = Map::new();
    for f in fields.iter().filter(|f| !counters.contains(&f.name)) {
        let s = field_request(&f.kind, f.reserved);
        props.insert(f.name.into(), if f.required { s } else { nullable(s) });
    }
    json!({ "type": "object", "properties": props, "additionalProperties": false, "minProperties": 1 })
}

/// The JSON type of a field as the API renders it: types, no limits (the
/// limits are the request's), `null` allowed.
fn field_response(kind: &Kind) -> Value {
    let s = match kind {
        Kind::Text { .. }
        | Kind::Multiline { .. }
        | Kind::Email
        | Kind::Url
        | Kind::Phone
        | Kind::Currency => json!({ "type": "string" }),
        Kind::Custom(custom) => json!({ "type": custom.json_type }),
        Kind::Enum { values, .. } => json!({ "type": "string", "enum": values }),
        Kind::Integer { .. } | Kind::Money => json!({ "type": "integer" }),
        Kind::DateTime => json!({ "type": "string", "format": "date-time" }),
        Kind::Bool { .. } => json!({ "type": "boolean" }),
        Kind::Ref(_) => json!({ "type": "string" }),
        Kind::Tags | Kind::Origins => json!({ "type": "array", "items": { "type": "string" } }),
        Kind::Object(fields) => rendered_object(fields),
        Kind::RelatedTo(_) => {
            json!({ "type": "object", "properties": { "type": { "type": "string" }, "id": { "type": "string" } } })
        }
        Kind::Rows { of, .. } => json!({ "type": "array", "items": rendered_object(of) }),
    };
    nullable(s)
}

fn rendered_object(fields: &[Field]) -> Value {
    let mut props = Map::new();
    for f in fields {
        if crate::fields::is_secret(f.name) {
            props.insert(format!("{}Set", f.name), json!({ "type": "boolean" }));
        } else {
            props.insert(f.name.into(), field_response(&f.kind));
        }
    }
    json!({ "type": "object", "properties": props })
}

fn record_schema(e: &Entity) -> Value {
    let mut s = rendered_object(e.fields);
    let props = s["properties"].as_object_mut().expect("an object");
    props.insert("id".into(), id_schema());
    props.insert(
        "version".into(),
        json!({ "type": "integer", "description": "Bumped by every change; the record's `ETag`." }),
    );
    for t in ["createdAt", "updatedAt"] {
        props.insert(t.into(), json!({ "type": "string", "format": "date-time" }));
    }
    props.insert(
        "deletedAt".into(),
        json!({ "type": ["string", "null"], "format": "date-time" }),
    );
    for c in e.counters {
        props.insert((*c).into(), json!({ "type": "integer", "description": "Read-only: only the entity's own actions change it." }));
    }
    if let Some(n) = &e.numbering {
        props.insert(n.field.into(), json!({ "type": "string", "description": format!("Numbered per organization: {}{}", n.prefix, "0".repeat(n.width)) }));
    }
    s["required"] = json!(["id", "version", "createdAt", "updatedAt"]);
    let article = if e.resource.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "An"
    } else {
        "A"
    };
    s["description"] = json!(format!(
        "{article} {} as the API renders it.",
        e.resource.replace('_', " ")
    ));
    s
}

/// A declared schema in a request: strict (unknown properties refused).
fn request_schema(info: &Info, s: &Schema) -> Value {
    schema_json(info, s, true)
}

/// A declared schema in a response: open (properties may be added).
fn response_schema(info: &Info, s: &Schema) -> Value {
    schema_json(info, s, false)
}

fn schema_json(info: &Info, s: &Schema, strict: bool) -> Value {
    match s {
        Schema::Any => json!({}),
        Schema::Text { min: 0, max: 0 } => json!({ "type": "string" }),
        Schema::Text { min, max } => {
            json!({ "type": "string", "minLength": min, "maxLength": max, "pattern": ONE_LINE })
        }
        Schema::Format(f) => json!({ "type": "string", "format": f }),
        Schema::Pattern(p) => json!({ "type": "string", "pattern": p }),
        Schema::Int { min, max } => json!({ "type": "integer", "minimum": min, "maximum": max }),
        Schema::Number => json!({ "type": "number" }),
        Schema::Bool => json!({ "type": "boolean" }),
        Schema::Enum(values) => json!({ "type": "string", "enum": values }),
        Schema::Names(names) => json!({ "type": "string", "enum": names() }),
        Schema::Id => id_schema(),
        Schema::Array(items) => {
            json!({ "type": "array", "items": schema_json(info, items, strict) })
        }
        Schema::Object(props) => {
            let mut out = Map::new();
            let mut required = vec![];
            for p in *props {
                out.insert(p.name.into(), schema_json(info, &p.schema, strict));
                if p.required {
                    required.push(p.name);
                }
            }
            let mut o = json!({ "type": "object", "properties": out, "required": required });
            if strict {
                o["additionalProperties"] = json!(false);
            }
            o
        }
        Schema::Map(values) => {
            json!({ "type": "object", "additionalProperties": schema_json(info, values, strict) })
        }
        Schema::Nullable(inner) => nullable(schema_json(info, inner, strict)),
        Schema::Fields(fields) => create_schema(fields, &[]),
        Schema::Patch(fields) => patch_schema(fields, &[]),
        Schema::Record(e) => record_ref(info, e),
        Schema::Page(items) => json!({
            "type": "object",
            "properties": {
                "data": { "type": "array", "items": schema_json(info, items, strict) },
                "nextCursor": { "type": ["string", "null"] },
            },
            "required": ["data"],
        }),
        Schema::Named(name) => json!({ "$ref": format!("#/components/schemas/{name}") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_singular_pascal_case() {
        assert_eq!(schema_name("line-items"), "LineItem");
        assert_eq!(schema_name("opportunities"), "Opportunity");
        assert_eq!(schema_name("accounts"), "Account");
    }

    #[test]
    fn every_operation_is_tagged_by_its_declaration_in_a_declared_group() {
        static GETS: Op = Op {
            summary: "s",
            ..Op::DEFAULTS
        };
        static POSTS: Op = Op {
            summary: "t",
            tag: Some("widgets"),
            refresh_cookie: true,
            ..Op::DEFAULTS
        };
        static ROUTE: Route = Route {
            name: "gadgets",
            path: "/api/v1/gadgets",
            methods: &[
                crate::runtime::Endpoint::get(Access::Public, |_| {
                    Box::pin(async { crate::runtime::ok(json!({})) })
                })
                .op(&GETS),
                crate::runtime::Endpoint::post(Access::Public, |_| {
                    Box::pin(async { crate::runtime::ok(json!({})) })
                })
                .op(&POSTS),
            ],
            deploy: crate::runtime::Deploy::API,
        };
        const TAGS: &[Tag] = &[
            Tag {
                name: "gadgets",
                description: "g",
            },
            Tag {
                name: "widgets",
                description: "w",
            },
        ];
        let info = |groups: &'static [TagGroup]| Info {
            title: "t",
            version: "1",
            description: "d",
            components: &[],
            entities: &[],
            tag_groups: groups,
        };
        let doc = document(
            &info(&[TagGroup {
                name: "Things",
                tags: &[TAGS],
            }]),
            &[&ROUTE],
        )
        .unwrap();
        let op = |m: &str| &doc["paths"]["/api/v1/gadgets"][m];
        assert_eq!(op("get")["tags"], json!(["gadgets"]));
        assert_eq!(op("post")["tags"], json!(["widgets"]));
        assert_eq!(op("post")["security"], json!([{ "refreshCookie": [] }, {}]));
        assert_eq!(op("get")["security"], json!([]));
        assert_eq!(
            doc["x-tagGroups"],
            json!([{ "name": "Things", "tags": ["gadgets", "widgets"] }])
        );
        // A tag in no group would be missing from the reference page's menu.
        let refused = document(&info(&[]), &[&ROUTE]).unwrap_err();
        assert!(
            refused.contains("gadgets (GET /api/v1/gadgets)"),
            "{refused}"
        );
    }

    #[test]
    fn path_parameters_are_found() {
        let p: Vec<&str> = path_params("/api/v1/orders/{id}/lines/{lineId}").collect();
        assert_eq!(p, ["id", "lineId"]);
    }
}
