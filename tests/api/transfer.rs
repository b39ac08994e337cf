//! Export (CSV and JSON, formula injection neutralized, audited, plan bucket)
//! and CSV import (row-by-row validation, all-or-nothing or valid-only).

use crate::helpers::*;
use bson::doc;
use serde_json::json;

fn parse_csv(text: &str) -> Vec<Vec<String>> {
    // A small RFC 4180 reader for the assertions (quotes, doubled quotes, CRLF-free output).
    let mut rows = vec![];
    let mut row = vec![];
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut cell)),
            ('\n', false) => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => cell.push(c),
        }
    }
    rows
}

/// `POST /api/v1/exports` with `body` as `actor`.
async fn export(app: &TestApp, actor: Option<&Actor>, body: serde_json::Value) -> Resp {
    app.post("/api/v1/exports", actor, body).await
}

/// `POST /api/v1/imports` with `body` as `actor`.
async fn import(app: &TestApp, actor: Option<&Actor>, body: serde_json::Value) -> Resp {
    app.post("/api/v1/imports", actor, body).await
}

#[tokio::test]
async fn a_csv_export_quotes_per_rfc_4180_neutralizes_formulas_and_is_audited() {
    let app = TestApp::spawn().await;
    for name in [
        "=HYPERLINK(\"http://evil\")",
        "+49 Garage",
        "-minus",
        "@at",
        "Plain, \"Quoted\" Co",
    ] {
        app.create_account(app.owner().await, name).await;
    }
    let gone = app.create_account(app.owner().await, "Deleted").await;
    app.delete(&format!("/api/v1/accounts/{gone}"), Some(app.owner().await))
        .await;
    let r = export(
        &app,
        Some(app.admin().await),
        json!({ "entity": "accounts", "format": "csv" }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(r
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment; filename=\"accounts-"));
    assert_eq!(r.header("x-row-count"), Some("5"));
    let rows = parse_csv(&r.text);
    assert_eq!(rows[0][0], "id");
    let name_col = rows[0].iter().position(|c| c == "name").unwrap();
    let names: Vec<&str> = rows[1..].iter().map(|r| r[name_col].as_str()).collect();
    assert_eq!(
        names,
        [
            "'=HYPERLINK(\"http://evil\")",
            "'+49 Garage",
            "'-minus",
            "'@at",
            "Plain, \"Quoted\" Co"
        ]
    );
    assert!(
        r.text.contains("\"Plain, \"\"Quoted\"\" Co\""),
        "RFC 4180 quoting: {}",
        r.text
    );
    let audit = app.audits("EXPORT").await;
    assert_eq!(audit.len(), 1);
    let changes = audit[0].get_document("changes").unwrap();
    assert_eq!(changes.get_i64("rowCount").unwrap(), 5);
    assert_eq!(changes.get_str("entity").unwrap(), "accounts");
}

#[tokio::test]
async fn a_json_export_applies_the_list_filters() {
    let app = TestApp::spawn().await;
    app.create_record(
        app.owner().await,
        "products",
        json!({ "name": "Tyre", "type": "PART" }),
    )
    .await;
    app.create_record(
        app.owner().await,
        "products",
        json!({ "name": "Wash", "type": "SERVICE" }),
    )
    .await;
    app.create_record(
        app.other().await,
        "products",
        json!({ "name": "Their tyre", "type": "PART" }),
    )
    .await;
    let r = export(
        &app,
        Some(app.owner().await),
        json!({ "entity": "products", "format": "json", "filters": { "type": "PART" } }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let names: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Tyre"]);
    let audit = app.audits("EXPORT").await;
    assert_eq!(
        audit[0]
            .get_document("changes")
            .unwrap()
            .get_document("filters")
            .unwrap(),
        &doc! { "type": "PART" }
    );
}

#[tokio::test]
async fn exports_are_for_admins_with_known_entities_filters_and_formats() {
    let app = TestApp::spawn().await;
    let r = export(
        &app,
        Some(app.member().await),
        json!({ "entity": "accounts", "format": "csv" }),
    )
    .await;
    r.assert_problem(403, "PERMISSION_DENIED");
    let r = export(
        &app,
        Some(app.admin().await),
        json!({ "entity": "users", "format": "csv" }),
    )
    .await;
    assert_eq!(r.error_fields(), ["entity"]);
    let r = export(
        &app,
        Some(app.admin().await),
        json!({ "entity": "accounts", "format": "xlsx" }),
    )
    .await;
    assert_eq!(r.error_fields(), ["format"]);
    let r = export(
        &app,
        Some(app.admin().await),
        json!({ "entity": "accounts", "format": "csv", "filters": { "passwordHash": "x" } }),
    )
    .await;
    assert_eq!(r.error_fields(), ["filters.passwordHash"]);
    assert!(app.audits("EXPORT").await.is_empty());
}

#[tokio::test]
async fn exports_count_against_the_plans_exports_bucket() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_EXPORTS_FREE", "2")]).await;
    for _ in 0..2 {
        let r = export(
            &app,
            Some(app.admin().await),
            json!({ "entity": "accounts", "format": "json" }),
        )
        .await;
        assert_eq!(r.status, 200);
    }
    let r = export(
        &app,
        Some(app.admin().await),
        json!({ "entity": "accounts", "format": "json" }),
    )
    .await;
    r.assert_problem(429, "RATE_LIMIT_EXCEEDED");
    assert!(r.header("retry-after").is_some());
}

const MIXED: &str = "firstName,lastName,email,tags,type\n\
Ada,Lovelace,ada@example.test,vip;fleet,CUSTOMER\n\
,Nameless,nameless@example.test,,CUSTOMER\n\
Bob,Builder,not-an-email,,PARTNER\n\
Cy,Clone,cy@example.test,,ALIEN\n\
Dee,Dot,dee@example.test,,VENDOR\n";

#[tokio::test]
async fn an_all_or_nothing_import_with_invalid_rows_inserts_nothing_and_names_each_row() {
    let app = TestApp::spawn().await;
    let r = import(
        &app,
        Some(app.admin().await),
        json!({ "entity": "contacts", "csv": MIXED }),
    )
    .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(
        r.error_fields(),
        ["rows[3].firstName", "rows[4].email", "rows[5].type"]
    );
    assert_eq!(app.count("contacts", doc! {}).await, 0);
    assert!(app.audits("IMPORT").await.is_empty());
}

#[tokio::test]
async fn a_valid_only_import_inserts_the_valid_rows_and_reports_the_others() {
    let app = TestApp::spawn().await;
    let r = import(
        &app,
        Some(app.admin().await),
        json!({ "entity": "contacts", "csv": MIXED, "mode": "valid-only" }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["inserted"], 2);
    assert_eq!(r.body["failed"], 3);
    let ada = app
        .get("/api/v1/contacts?q=lovelace", Some(app.viewer().await))
        .await;
    assert_eq!(ada.body["data"][0]["tags"], json!(["vip", "fleet"]));
    assert_eq!(
        ada.body["data"][0]["createdBy"],
        app.admin().await.id.as_str()
    );
    let audit = app.audits("IMPORT").await;
    assert_eq!(
        audit[0]
            .get_document("changes")
            .unwrap()
            .get_i64("inserted")
            .unwrap(),
        2
    );
}

#[tokio::test]
async fn an_import_checks_references_columns_entity_and_role() {
    let app = TestApp::spawn().await;
    let theirs = app.create_account(app.other().await, "Theirs").await;
    let mine = app.create_account(app.owner().await, "Mine").await;
    let csv = format!("firstName,lastName,accountId\nA,B,{mine}\nC,D,{theirs}\n");
    let r = import(
        &app,
        Some(app.admin().await),
        json!({ "entity": "contacts", "csv": csv }),
    )
    .await;
    assert_eq!(r.error_fields(), ["rows[3].accountId"]);
    let r = import(
        &app,
        Some(app.admin().await),
        json!({ "entity": "contacts", "csv": "firstName,shoeSize\nA,44\n" }),
    )
    .await;
    assert_eq!(r.error_fields(), ["csv"]);
    let r = import(
        &app,
        Some(app.admin().await),
        json!({ "entity": "tasks", "csv": "title\nX\n" }),
    )
    .await;
    assert_eq!(r.error_fields(), ["entity"]);
    let r = import(
        &app,
        Some(app.member().await),
        json!({ "entity": "accounts", "csv": "name\nX\n" }),
    )
    .await;
    r.assert_problem(403, "PERMISSION_DENIED");
    let products = "name,type,sku,price,currency,active\nPads,PART,P-1,4999,EUR,true\nOld,PART,P-2,100,EUR,false\n";
    let r = import(
        &app,
        Some(app.owner().await),
        json!({ "entity": "products", "csv": products }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let inactive = app
        .get("/api/v1/products?active=false", Some(app.owner().await))
        .await;
    assert_eq!(inactive.body["data"][0]["price"], 100);
}
