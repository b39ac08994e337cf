//! The API's contract for its clients: the OpenAPI 3.1 document at
//! `GET /api/v1/openapi.json` and a reference page at `GET /api/v1/docs`.
//!
//! The document is generated from the route table ([`document`], by
//! `cargo run --bin deploy-files`) into `functions/openapi.json`, and the
//! function serves that committed copy: its binary links no handler, and a
//! test fails when the copy is stale. The page is Redoc 2.5.4, its bundle
//! (`redoc/bundles/redoc.standalone.js` from npm, SHA-256 below) committed
//! gzipped and served from our own deployment; the page's
//! Content-Security-Policy lets it load nothing from anywhere else.

use http::StatusCode;
use serde_json::Value;
use shared::http::ApiResponse;
use shared::runtime::openapi::{self, Info, Op, Prop, Reply, Schema, Tag, TagGroup};
use shared::runtime::{Ctx, HandlerResult, Route};

/// The committed document (`cargo run --bin deploy-files` writes it).
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

/// Redoc's standalone bundle, gzip-compressed.
const REDOC_GZ: &[u8] = include_bytes!("../../assets/redoc-2.5.4.standalone.js.gz");
/// The SHA-256 of the uncompressed bundle as npm ships it in `redoc@2.5.4`.
pub const REDOC_SHA256: &str = "dcaf76612bc4a3fbcc923a8966dee2f6146a5f32e5ce1b6f02dd60cbbf89500b";
/// Where the page loads the bundle from: versioned, so it is cached for good.
pub const REDOC_PATH: &str = "/api/v1/docs/redoc-2.5.4.js";

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Workshop CRM API reference</title>
<style>body { margin: 0; }</style>
</head>
<body>
<redoc spec-url="/api/v1/openapi.json" hide-download-button="false"></redoc>
<script src="/api/v1/docs/redoc-2.5.4.js"></script>
</body>
</html>
"#;

/// The document of this API: every route of `routes` (the whole table,
/// the route table's `ROUTES`), every entity.
pub fn document(routes: &[&Route]) -> Result<Value, String> {
    let mut doc = openapi::document(&INFO, routes)?;
    doc["webhooks"] = webhooks(&doc);
    Ok(doc)
}

/// The top-level `webhooks` of the document: one POST per event type of
/// the catalogue (`crate::identity::webhooks::catalogue`), its body
/// `{type, timestamp, data}` with `data` the record's schema where the
/// document has one, and the Standard Webhooks headers.
fn webhooks(doc: &Value) -> Value {
    let schemas = &doc["components"]["schemas"];
    let header = |name: &str, description: &str| {
        serde_json::json!({ "name": name, "in": "header", "required": true,
            "description": description, "schema": { "type": "string" } })
    };
    let mut out = serde_json::Map::new();
    for (kind, description) in crate::identity::webhooks::catalogue() {
        let (record, verb) = kind.split_once('.').unwrap_or((kind.as_str(), ""));
        // The domain's invoice and payment events carry the work order.
        let record = match record {
            "invoice" | "payment" => "work_order",
            r => r,
        };
        let name: String = record
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect::<String>())
                    .unwrap_or_default()
            })
            .collect();
        let data = if verb == "deleted" {
            serde_json::json!({ "type": "object", "required": ["id"],
                "properties": { "id": { "type": "string" } } })
        } else if schemas.get(&name).is_some() {
            serde_json::json!({ "$ref": format!("#/components/schemas/{name}") })
        } else {
            serde_json::json!({ "type": "object" })
        };
        out.insert(
            kind.clone(),
            serde_json::json!({ "post": {
                "operationId": format!("webhook_{}", kind.replace('.', "_")),
                "summary": description,
                "description": "Sent to every endpoint whose `events` select this type, signed per Standard Webhooks. `data` is the record as the API renders it, with its `version`: a receiver drops an event older than what it holds (order is not promised).",
                "tags": ["webhooks"],
                "parameters": [
                    header("webhook-id", "`msg_` + the message id: the same on every retry and replay (deduplicate by it)."),
                    header("webhook-timestamp", "Seconds since the epoch when this attempt was made."),
                    header("webhook-signature", "`v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` under each live secret, space-separated."),
                ],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object",
                    "required": ["type", "timestamp", "data"],
                    "properties": {
                        "type": { "const": kind },
                        "timestamp": { "type": "string", "format": "date-time" },
                        "data": data,
                    },
                } } } },
                "responses": {
                    "2XX": { "description": "Delivered." },
                    "410": { "description": "Gone: the endpoint is disabled." },
                    "default": { "description": "Any other answer (3xx included) is a failure, retried on the schedule; `Retry-After` on 429 and 503 is waited out." },
                },
            } }),
        );
    }
    Value::Object(out)
}

/// The service's tags in this document (its group: Operations); here,
/// not in `routes.rs`, which names this module's handlers.
pub static TAGS: &[Tag] = &[
    Tag {
        name: "health",
        description: "Whether the API and its database answer.",
    },
    Tag {
        name: "openapi.json",
        description: "This document.",
    },
    Tag {
        name: "docs",
        description: "The reference page that renders it.",
    },
];

static INFO: Info = Info {
    title: "Workshop CRM API",
    version: env!("CARGO_PKG_VERSION"),
    description: "The API of the CRM and shop-management backend for automotive workshops. \
        Errors are `application/problem+json` documents whose `code` clients branch on. \
        Lists are paged by cursor (`limit`, `cursor`, `nextCursor`); entity lists also \
        answer delta syncs (`updatedSince`). Every GET carries an `ETag` and answers \
        `If-None-Match` with 304; a PATCH of a record takes `If-Match`. A POST with an \
        `Idempotency-Key` is done once however often it is retried. Rate-limited answers \
        carry `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`.",
    components: &[crate::identity::contract::COMPONENTS],
    entities: &[
        crate::crm::routes::ENTITIES,
        crate::workshop::routes::ENTITIES,
        &[("documents", &crate::files::handlers::DOCUMENT)],
    ],
    tag_groups: &[
        TagGroup {
            name: "Identity",
            tags: &[crate::identity::routes::TAGS],
        },
        TagGroup {
            name: "CRM",
            tags: &[crate::crm::routes::TAGS],
        },
        TagGroup {
            name: "Workshop",
            tags: &[crate::workshop::routes::TAGS],
        },
        TagGroup {
            name: "Files",
            tags: &[crate::files::routes::TAGS],
        },
        TagGroup {
            name: "Operations",
            tags: &[
                crate::transfer::routes::TAGS,
                TAGS,
                crate::maintenance::routes::TAGS,
            ],
        },
    ],
};

/// `GET /api/v1/health`.
pub static HEALTH_GET: Op = Op {
    summary: "Check that the API and its database answer",
    description: "200 when the database answers a ping; 503 (problem+json) within the database timeout when it does not.",
    reply: Reply::Json(
        200,
        Schema::Object(&[
            Prop::req("status", Schema::Enum(&["ok"])),
            Prop::req("database", Schema::Enum(&["ok"])),
        ]),
    ),
    ..Op::DEFAULTS
};

/// `GET /api/v1/openapi.json`.
pub async fn openapi_json(_ctx: Ctx) -> HandlerResult {
    Ok(ApiResponse::bytes(
        StatusCode::OK,
        "application/json",
        OPENAPI_JSON.as_bytes().to_vec(),
    ))
}

/// `GET /api/v1/docs`: the reference page.
pub async fn page(_ctx: Ctx) -> HandlerResult {
    let mut r = ApiResponse::bytes(
        StatusCode::OK,
        "text/html; charset=utf-8",
        PAGE.as_bytes().to_vec(),
    );
    // Redoc styles itself inline and renders diagrams from blob: workers;
    // everything else comes from this deployment or nowhere.
    r.set_header(
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    Ok(r)
}

/// `GET /api/v1/docs/redoc-2.5.4.js`: the renderer, gzip-encoded (every
/// browser accepts it), cached for a year: a new version is a new path.
pub async fn redoc(_ctx: Ctx) -> HandlerResult {
    let mut r = ApiResponse::bytes(
        StatusCode::OK,
        "text/javascript; charset=utf-8",
        REDOC_GZ.to_vec(),
    );
    r.set_header("content-encoding", "gzip");
    r.set_header("cache-control", "public, max-age=31536000, immutable");
    Ok(r)
}

pub static OPENAPI_JSON_GET: Op = Op {
    summary: "The OpenAPI 3.1 document of this API",
    description: "Generated from the route table and the entity declarations.",
    reply: Reply::Media(200, "application/json", "The OpenAPI document."),
    ..Op::DEFAULTS
};

pub static DOCS_GET: Op = Op {
    summary: "The API reference page",
    description: "Redoc, served from this deployment, rendering /api/v1/openapi.json.",
    reply: Reply::Media(200, "text/html", "The reference page."),
    ..Op::DEFAULTS
};

pub static DOCS_REDOC_GET: Op = Op {
    summary: "The reference page's renderer (Redoc 2.5.4)",
    description: "Gzip-encoded JavaScript, cached for a year.",
    reply: Reply::Media(200, "text/javascript", "Redoc's standalone bundle."),
    ..Op::DEFAULTS
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    #[test]
    fn the_served_renderer_is_redoc_2_5_4_as_npm_ships_it() {
        let mut gunzip = Command::new("gzip")
            .arg("-dc")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("gzip");
        gunzip.stdin.take().unwrap().write_all(REDOC_GZ).unwrap();
        let out = gunzip.wait_with_output().unwrap();
        assert!(out.status.success());
        let digest = shared::hex::hex(&<sha2::Sha256 as sha2::Digest>::digest(&out.stdout));
        assert_eq!(digest, REDOC_SHA256);
        assert!(PAGE.contains(REDOC_PATH));
    }
}
