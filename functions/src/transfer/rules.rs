//! Export and import of CRM records.
//!
//! Export (ADMIN+, the plan's exports bucket): every live record of an
//! entity matching the list filters, as RFC 4180 CSV or JSON, with an
//! EXPORT audit entry naming entity, filters and row count. Every CSV cell
//! is quoted, and cells that a spreadsheet would run as a formula (starting
//! with `=`, `+`, `-`, `@`, tab or carriage return) are prefixed with `'`.
//!
//! Import (ADMIN+): CSV with a header row of field names (`address.city` for
//! nested ones, `;` between tags), validated row by row with the entity's
//! own rules. `all-or-nothing` inserts every row or none; `valid-only`
//! inserts the valid rows and reports the others. Errors name the row
//! (the header is row 1) and the field: `rows[3].email`.

use std::collections::BTreeMap;

use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use shared::bson::{doc, Bson, Document};

use shared::audit::{Action, AuditEntry};
use shared::db::Scope;
use shared::error::Code;
use shared::error::{ApiError, FieldError};
use shared::fields::{self, Field, Kind, Reference};
use shared::http::ApiResponse;
use shared::ratelimit::LimitedAction;
use shared::records::{new_record_of, render, Entity};

pub const MAX_EXPORT_ROWS: i64 = 50_000;
pub const MAX_IMPORT_ROWS: usize = 10_000;
/// The entity named `name` among `entities`; with `imports`, only those
/// whose declaration accepts imports (the others are made through their
/// own flows).
fn find_entity(
    entities: &[&'static Entity],
    name: &str,
    imports: bool,
) -> Result<&'static Entity, ApiError> {
    let eligible = || {
        entities
            .iter()
            .copied()
            .filter(move |e| !imports || e.importable)
    };
    eligible().find(|e| e.collection == name).ok_or_else(|| {
        let names: Vec<&str> = eligible().map(|e| e.collection).collect();
        ApiError::field("entity", format!("must be one of {}", names.join(", ")))
    })
}

/// The CSV columns of an entity: `id`, its fields (nested ones dotted), then the bookkeeping.
pub fn columns(e: &Entity) -> Vec<String> {
    let mut out = vec!["id".to_string()];
    out.extend(field_columns(e.fields));
    out.extend(["createdAt", "updatedAt", "createdBy", "version"].map(String::from));
    out
}

fn field_columns(fields: &[Field]) -> Vec<String> {
    let mut out = vec![];
    for f in fields {
        match &f.kind {
            // Write-only (a form's Turnstile secret): never leaves the API.
            _ if shared::fields::is_secret(f.name) => {}
            Kind::Object(sub) => out.extend(sub.iter().map(|s| format!("{}.{}", f.name, s.name))),
            Kind::RelatedTo(_) => {
                out.extend([format!("{}.type", f.name), format!("{}.id", f.name)])
            }
            _ => out.push(f.name.to_string()),
        }
    }
    out
}

fn cell(v: Option<&Bson>) -> String {
    let text = match v {
        None | Some(Bson::Null) => String::new(),
        Some(Bson::String(s)) => s.clone(),
        Some(Bson::ObjectId(id)) => id.to_hex(),
        Some(Bson::DateTime(d)) => shared::time::rfc3339(*d),
        Some(Bson::Int32(n)) => n.to_string(),
        Some(Bson::Int64(n)) => n.to_string(),
        Some(Bson::Double(n)) => n.to_string(),
        Some(Bson::Boolean(b)) => b.to_string(),
        Some(Bson::Array(items)) => items
            .iter()
            .map(|i| cell(Some(i)))
            .collect::<Vec<_>>()
            .join(";"),
        Some(other) => other.to_string(),
    };
    neutralize(text)
}

/// Keeps a spreadsheet from running a cell as a formula.
pub fn neutralize(text: String) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

fn lookup<'a>(d: &'a Document, column: &str) -> Option<&'a Bson> {
    match column.split_once('.') {
        Some((outer, inner)) => d.get_document(outer).ok()?.get(inner),
        None if column == "id" => d.get("_id"),
        None => d.get(column),
    }
}

/// What an export is written as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    /// `csv` or `json`, as the request names it.
    pub fn parse(text: &str) -> Option<Format> {
        match text {
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    pub entity: String,
    pub format: String,
    #[serde(default)]
    pub filters: BTreeMap<String, String>,
}

/// `POST /api/v1/exports`.
pub async fn export(
    scope: &Scope,
    entities: &[&'static Entity],
    input: ExportRequest,
) -> Result<ApiResponse, ApiError> {
    let e = find_entity(entities, &input.entity, false)?;
    let format = Format::parse(&input.format)
        .ok_or_else(|| ApiError::field("format", "must be csv or json"))?;
    let mut filter = doc! { "deletedAt": null };
    for (param, value) in &input.filters {
        let f = e
            .list
            .filters
            .iter()
            .find(|f| f.param == param)
            .ok_or_else(|| {
                ApiError::field(
                    &format!("filters.{param}"),
                    "is not a filter of this entity",
                )
            })?;
        f.apply(value, &mut filter)
            .map_err(|_| ApiError::field(&format!("filters.{param}"), "is not a valid value"))?;
    }
    scope.spend(LimitedAction::Exports).await?;
    // The file is written row by row while the cursor is read, so memory
    // holds the file and one cursor batch, never every document at once.
    let csv_error = |err: csv::Error| ApiError::internal(format!("csv: {err}"));
    let as_json = format == Format::Json;
    let cols = columns(e);
    // Every cell quoted: a spreadsheet that splits on `;` (or `,`) in its
    // locale then never sees a cell's tail as a cell of its own.
    let mut csv_out = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(vec![]);
    let mut json_out = b"{\"data\":[".to_vec();
    if !as_json {
        csv_out.write_record(&cols).map_err(csv_error)?;
    }
    let mut rows: i64 = 0;
    scope
        .collection(e.collection)
        .for_each(filter, doc! { "createdAt": 1, "_id": 1 }, |d| {
            rows += 1;
            if rows > MAX_EXPORT_ROWS {
                return Err(ApiError::Unprocessable {
                    code: Code::ExportTooLarge,
                    detail: format!(
                        "More than {MAX_EXPORT_ROWS} rows match; narrow the export with filters"
                    ),
                    errors: vec![],
                });
            }
            if as_json {
                if rows > 1 {
                    json_out.push(b',');
                }
                serde_json::to_writer(&mut json_out, &render(&d))
                    .map_err(|err| ApiError::internal(format!("json: {err}")))
            } else {
                csv_out
                    .write_record(cols.iter().map(|c| cell(lookup(&d, c))))
                    .map_err(csv_error)
            }
        })
        .await?;
    let filters: Document = input
        .filters
        .iter()
        .map(|(k, v)| (k.clone(), Bson::String(v.clone())))
        .collect();
    scope
        .audit(AuditEntry::new(Action::Export, e.resource).changes(doc! {
            "entity": e.collection, "format": &input.format, "filters": filters, "rowCount": rows,
        }))
        .await;
    let now = shared::time::rfc3339(shared::bson::DateTime::now());
    let day = now.get(..10).unwrap_or("export");
    let (body, content_type) = if as_json {
        json_out.extend_from_slice(b"]}");
        (json_out, "application/json")
    } else {
        let body = csv_out
            .into_inner()
            .map_err(|err| ApiError::internal(format!("csv: {err}")))?;
        (body, "text/csv; charset=utf-8")
    };
    let mut response = ApiResponse::bytes(StatusCode::OK, content_type, body);
    response.set_header(
        "content-disposition",
        &format!(
            "attachment; filename=\"{}-{day}.{}\"",
            e.collection, input.format
        ),
    );
    response.set_header("x-row-count", &rows.to_string());
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    pub entity: String,
    pub csv: String,
    #[serde(default)]
    pub mode: Option<String>,
}

fn kind_of<'a>(fields: &'a [Field], column: &str) -> Option<&'a Kind> {
    let (outer, inner) = column.split_once('.').unwrap_or((column, ""));
    let f = fields.iter().find(|f| f.name == outer)?;
    match (&f.kind, inner) {
        (Kind::Object(sub), inner) if !inner.is_empty() => {
            sub.iter().find(|s| s.name == inner).map(|s| &s.kind)
        }
        (Kind::RelatedTo(_), "type" | "id") => Some(&f.kind),
        (kind, "") => Some(kind),
        _ => None,
    }
}

/// A CSV text as the JSON value the field's kind expects; what does not
/// convert stays a string, so the field's own check reports it.
fn typed(kind: &Kind, text: &str) -> Value {
    let integer = match kind {
        Kind::Integer { .. } | Kind::Money => true,
        Kind::Custom(custom) => custom.json_type == "integer",
        _ => false,
    };
    match kind {
        _ if integer => text
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| json!(text)),
        Kind::Bool { .. } => match text.trim() {
            "true" => json!(true),
            "false" => json!(false),
            _ => json!(text),
        },
        Kind::Tags => Value::Array(
            text.split(';')
                .map(|t| json!(t.trim()))
                .filter(|t| t != "")
                .collect(),
        ),
        _ => json!(text),
    }
}

fn row_error(row: usize, e: FieldError) -> FieldError {
    FieldError::new(format!("rows[{row}].{}", e.field), e.message)
}

/// Rows that passed the entity's rules (row number, fields, references to
/// check) and the field errors of the others.
pub type ParsedRows = (Vec<(usize, Document, Vec<Reference>)>, Vec<FieldError>);

/// Reads an import's CSV against the entity's fields: the header row first
/// (every column known, none twice, no column beside one of its own
/// sub-fields), then each row through the entity's create rules. A bad
/// header or too many rows refuses the whole import; a bad row is reported
/// and the others go on. Pure, so the fuzz tests drive it with any text.
pub fn parse_rows(fields: &[Field], csv_text: &str) -> Result<ParsedRows, ApiError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(csv_text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|err| ApiError::field("csv", format!("has no readable header row: {err}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if header.is_empty() || header.iter().all(String::is_empty) {
        return Err(ApiError::field("csv", "needs a header row of field names"));
    }
    let mut kinds: Vec<&Kind> = Vec::with_capacity(header.len());
    for column in &header {
        match kind_of(fields, column) {
            Some(kind) => kinds.push(kind),
            None => {
                let known = field_columns(fields).join(", ");
                return Err(ApiError::field(
                    "csv",
                    format!("has an unknown column {column:?}; use {known}"),
                ));
            }
        }
    }
    check_header(&header)?;
    let mut errors: Vec<FieldError> = vec![];
    let mut valid = vec![];
    for (i, record) in reader.records().enumerate() {
        let row = i + 2;
        if i >= MAX_IMPORT_ROWS {
            return Err(ApiError::field(
                "csv",
                format!("has more than {MAX_IMPORT_ROWS} rows"),
            ));
        }
        let record = match record {
            Ok(r) => r,
            Err(err) => {
                errors.push(FieldError::new(
                    format!("rows[{row}]"),
                    format!("is not valid CSV: {err}"),
                ));
                continue;
            }
        };
        let mut body = Map::new();
        for ((column, kind), text) in header.iter().zip(&kinds).zip(record.iter()) {
            if text.trim().is_empty() {
                continue;
            }
            match column.split_once('.') {
                Some((outer, inner)) => {
                    let entry = body
                        .entry(outer.to_string())
                        .or_insert_with(|| Value::Object(Map::new()));
                    // The header check rules out a plain `outer` column, so
                    // this is always the object made just above.
                    if let Value::Object(nested) = entry {
                        nested.insert(inner.to_string(), typed(kind, text));
                    }
                }
                None => {
                    body.insert(column.clone(), typed(kind, text));
                }
            }
        }
        match fields::parse_create(fields, &Value::Object(body)) {
            Ok((fields, refs)) => valid.push((row, fields, refs)),
            Err(ApiError::Validation { errors: row_errors }) => {
                errors.extend(row_errors.into_iter().map(|f| row_error(row, f)))
            }
            Err(other) => return Err(other),
        }
    }
    Ok((valid, errors))
}

/// A column may appear once, and never beside one of its own sub-fields
/// (`address` with `address.city`): both would fill one field.
fn check_header(header: &[String]) -> Result<(), ApiError> {
    for (i, column) in header.iter().enumerate() {
        if let Some(twice) = header[..i].iter().find(|c| *c == column) {
            return Err(ApiError::Unprocessable {
                code: Code::ConflictingColumns,
                detail: format!("The column {twice:?} appears more than once"),
                errors: vec![FieldError::new(
                    "csv",
                    format!("has the column {twice:?} twice"),
                )],
            });
        }
        let outer = column.split_once('.').map_or(column.as_str(), |(o, _)| o);
        let clash = header.iter().find(|c| {
            *c != column
                && (c.as_str() == outer
                    || c.split_once('.').map(|(o, _)| o) == Some(column.as_str()))
        });
        if let Some(other) = clash {
            return Err(ApiError::Unprocessable {
                code: Code::ConflictingColumns,
                detail: format!(
                    "The columns {column:?} and {other:?} both fill {outer:?}; keep one"
                ),
                errors: vec![FieldError::new(
                    "csv",
                    format!("has the conflicting columns {column:?} and {other:?}"),
                )],
            });
        }
    }
    Ok(())
}

/// `POST /api/v1/imports`.
pub async fn import(
    scope: &Scope,
    entities: &[&'static Entity],
    input: ImportRequest,
) -> Result<ApiResponse, ApiError> {
    let e = find_entity(entities, &input.entity, true)?;
    let all_or_nothing = match input.mode.as_deref().unwrap_or("all-or-nothing") {
        "all-or-nothing" => true,
        "valid-only" => false,
        _ => {
            return Err(ApiError::field(
                "mode",
                "must be all-or-nothing or valid-only",
            ))
        }
    };
    let (mut valid, mut errors) = parse_rows(e.fields, &input.csv)?;
    // References: one query per referenced collection.
    let mut missing: Vec<usize> = vec![];
    let mut by_collection: BTreeMap<&str, Vec<shared::bson::oid::ObjectId>> = BTreeMap::new();
    for (_, _, refs) in &valid {
        for r in refs {
            by_collection.entry(r.collection).or_default().push(r.id);
        }
    }
    let mut found: Vec<(&str, shared::bson::oid::ObjectId)> = vec![];
    for (collection, ids) in &by_collection {
        let docs = scope
            .collection(collection)
            .find_many(
                doc! { "_id": { "$in": ids.clone() }, "deletedAt": null },
                doc! { "_id": 1 },
                ids.len() as i64,
                Some(doc! { "_id": 1 }),
            )
            .await?;
        found.extend(
            docs.iter()
                .filter_map(|d| d.get_object_id("_id").ok())
                .map(|id| (*collection, id)),
        );
    }
    for (row, _, refs) in &valid {
        for r in refs {
            if !found.contains(&(r.collection, r.id)) {
                errors.push(row_error(
                    *row,
                    FieldError::new(r.field.clone(), "does not exist"),
                ));
                missing.push(*row);
            }
        }
    }
    valid.retain(|(row, _, _)| !missing.contains(row));
    // The entity's create rules hold for an imported record as for one
    // created through the API; a row they refuse is a row error.
    if let Some(prepare) = e.prepare {
        let mut refused = vec![];
        for (row, fields, _) in valid.iter_mut() {
            match prepare(scope, shared::records::Write::Create, fields).await {
                Ok(()) => {}
                Err(ApiError::Validation { errors: found })
                | Err(ApiError::Unprocessable { errors: found, .. })
                    if !found.is_empty() =>
                {
                    errors.extend(found.into_iter().map(|f| row_error(*row, f)));
                    refused.push(*row);
                }
                Err(other) => return Err(other),
            }
        }
        valid.retain(|(row, _, _)| !refused.contains(row));
    }
    errors.sort_by_key(|f| {
        f.field
            .trim_start_matches("rows[")
            .split(']')
            .next()
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0)
    });
    if all_or_nothing && !errors.is_empty() {
        return Err(ApiError::Validation { errors });
    }
    let records: Vec<Document> = valid
        .iter()
        .map(|(_, fields, _)| new_record_of(scope, e, fields))
        .collect();
    let (inserted, failed) = (records.len(), errors.len());
    let mode = if all_or_nothing {
        "all-or-nothing"
    } else {
        "valid-only"
    };
    let records = &records;
    scope.transaction(|tx| Box::pin(async move {
        tx.insert_many(e.collection, records.clone()).await?;
        let created = format!("{}.created", e.resource);
        for record in records {
            tx.announce(&created, &shared::records::render(record));
        }
        tx.audit(AuditEntry::new(Action::Import, e.resource).changes(doc! {
            "entity": e.collection, "mode": mode, "inserted": inserted as i64, "failedRows": failed as i64,
        }))
        .await?;
        Ok(())
    }))
    .await?;
    let status = if inserted > 0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(ApiResponse::json(
        status,
        &json!({ "inserted": inserted, "failed": failed, "errors": errors }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_that_a_spreadsheet_would_run_is_neutralized() {
        for bad in ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx"] {
            assert!(neutralize(bad.to_string()).starts_with('\''), "{bad}");
        }
        assert_eq!(neutralize("Müller GmbH".into()), "Müller GmbH");
    }
}
