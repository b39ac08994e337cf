//! The OpenAPI contract of the transfer context's routes: whole-entity
//! export (CSV or JSON) and CSV import.
//!
//! The document is generated from these declarations and schemathesis
//! checks the server against it, so each says exactly what its handler
//! takes and answers: change one with its handler.

use shared::runtime::openapi::{Body, Op, Prop, Reply, Schema};

/// What `entity` names: the collections of the registry's entities.
fn exportable() -> Vec<&'static str> {
    crate::registry::ENTITIES
        .iter()
        .map(|e| e.collection)
        .collect()
}

/// Those whose declaration accepts imports.
fn importable() -> Vec<&'static str> {
    crate::registry::ENTITIES
        .iter()
        .filter(|e| e.importable)
        .map(|e| e.collection)
        .collect()
}

pub static EXPORTS_POST: Op = Op {
    summary: "Export an entity's records",
    description: "Every live record of the entity matching `filters` (the entity's list filters, \
        by parameter name), oldest first, as RFC 4180 CSV (every cell quoted, cells a spreadsheet \
        would run as a formula prefixed with `'`) or as JSON `{data: [records]}`; at most 50,000 \
        rows (else 422 `EXPORT_TOO_LARGE`). Sent as an attachment (`Content-Disposition`) with \
        the row count in `X-Row-Count`; spends the plan's exports budget.",
    body: Body::Json(Schema::Object(&[
        Prop::req("entity", Schema::Names(exportable)),
        Prop::req("format", Schema::Enum(&["csv", "json"])),
        Prop::opt("filters", Schema::Map(&Schema::STRING)),
    ])),
    reply: Reply::Media(
        200,
        "text/csv",
        "With `format: csv`: a header row of columns (`id`, the fields, nested ones dotted, then \
         `createdAt`, `updatedAt`, `createdBy`, `version`), then one row per record.",
    ),
    also: &[Reply::Json(
        200,
        Schema::Object(&[Prop::req(
            "data",
            Schema::Array(&Schema::Object(&[Prop::req("id", Schema::ID)])),
        )]),
    )],
    ..Op::DEFAULTS
};

/// What an import did.
const IMPORT_RESULT: Schema = Schema::Object(&[
    Prop::req("inserted", Schema::COUNT),
    Prop::req("failed", Schema::COUNT),
    Prop::req(
        "errors",
        Schema::Array(&Schema::Object(&[
            Prop::req("field", Schema::STRING),
            Prop::req("message", Schema::STRING),
        ])),
    ),
]);

pub static IMPORTS_POST: Op = Op {
    summary: "Import records from CSV",
    description: "`csv` is the file's text: a header row of field names (`address.city` for \
        nested ones, `;` between tags), at most 10,000 rows, each checked with the entity's own \
        rules. `all-or-nothing` (the default) inserts every row or none (422 naming \
        `rows[N].field`, the header being row 1); `valid-only` inserts the valid rows and reports \
        the others in `errors`. 201 when a row was inserted, else 200.",
    body: Body::Json(Schema::Object(&[
        Prop::req("entity", Schema::Names(importable)),
        Prop::req("csv", Schema::STRING),
        Prop::opt(
            "mode",
            Schema::Nullable(&Schema::Enum(&["all-or-nothing", "valid-only"])),
        ),
    ])),
    reply: Reply::Json(201, IMPORT_RESULT),
    also: &[Reply::Json(200, IMPORT_RESULT)],
    ..Op::DEFAULTS
};
