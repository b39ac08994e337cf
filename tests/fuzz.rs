//! Property tests over every parser that request input reaches: the field
//! engine (create and patch bodies of every declared entity), the CSV import
//! reader, the query-string decoder and list-parameter parser, and the
//! pagination cursor. Each property is "never panics, and answers a value or
//! a client error": release builds abort on a panic, so one input that
//! panics would take a whole function instance down.
//!
//! Bounded and seeded by proptest's defaults (`PROPTEST_CASES` raises the
//! count for a longer hunt); cases are generated from the shapes an attacker
//! would try: nested JSON of any type, operator keys, control characters,
//! long strings, CSV with quotes, dotted columns and ragged rows.

use functions::transfer::rules::{columns, parse_rows};
use proptest::prelude::*;
use serde_json::{Map, Value};
use shared::error::ApiError;
use shared::fields::{parse_create, parse_patch, Field, Kind};
use shared::http::{parse_query, percent_decode, ApiRequest};
use shared::records::parse_list_query;

fn entities() -> &'static [&'static shared::records::Entity] {
    &functions::registry::ENTITIES
}

/// Text an attacker would send: ASCII, markup, operators, control and
/// multi-byte characters.
fn nasty_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,40}",
        "[\\x00-\\x1f\"',;=+@$.\\\\{}\\[\\]]{0,20}",
        "\\PC{0,30}",
        Just("a".repeat(5_000)),
        Just("$gt".to_string()),
        Just("2026-11-21T09:00:00Z".to_string()),
        Just("65a1b2c3d4e5f60718293a4b".to_string()),
    ]
}

/// Any JSON value, nested a few levels.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        nasty_text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((nasty_text(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A body for `fields`: some declared names (nested ones too) with any
/// values, plus stray keys.
fn body_for(fields: &'static [Field]) -> impl Strategy<Value = Value> {
    let names: Vec<&'static str> = fields.iter().map(|f| f.name).collect();
    let declared = prop::collection::vec((prop::sample::select(names), json()), 0..8);
    let stray = prop::collection::vec((nasty_text(), json()), 0..2);
    (declared, stray).prop_map(|(declared, stray)| {
        let mut obj = Map::new();
        for (k, v) in declared {
            obj.insert(k.to_string(), v);
        }
        for (k, v) in stray {
            obj.insert(k, v);
        }
        Value::Object(obj)
    })
}

/// Only a client error may come out of a parser.
fn client_error(e: &ApiError) -> bool {
    e.status().is_client_error()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4_000, ..ProptestConfig::default() })]

    #[test]
    fn the_field_engine_never_panics_on_any_body(entity in 0usize..6, body in json()) {
        let e = entities()[entity % entities().len()];
        if let Err(err) = parse_create(e.fields, &body) {
            prop_assert!(client_error(&err));
        }
        if let Err(err) = parse_patch(e.fields, &body) {
            prop_assert!(client_error(&err));
        }
    }

    #[test]
    fn the_field_engine_never_panics_on_bodies_of_declared_fields(
        (entity, body) in (0usize..6).prop_flat_map(|i| {
            let e = entities()[i % entities().len()];
            (Just(i), body_for(e.fields))
        }),
    ) {
        let e = entities()[entity % entities().len()];
        for result in [parse_create(e.fields, &body).map(|_| ()), parse_patch(e.fields, &body).map(|_| ())] {
            if let Err(err) = result {
                prop_assert!(client_error(&err));
            }
        }
    }

    #[test]
    fn the_csv_import_reader_never_panics(entity in 0usize..6, picks in prop::collection::vec(0usize..64, 1..6), rows in prop::collection::vec(prop::collection::vec(nasty_text(), 0..7), 0..6), raw in "\\PC{0,200}") {
        let e = entities()[entity % entities().len()];
        // A header of real columns (dotted ones included), maybe repeated,
        // maybe next to their own sub-fields; then rows of any text.
        let mut known = columns(e);
        known.extend(e.fields.iter().map(|f| f.name.to_string()));
        let header: Vec<String> = picks.iter().map(|i| known[i % known.len()].clone()).collect();
        let mut text = csv_line(&header);
        for row in &rows {
            text.push_str(&csv_line(row));
        }
        for input in [text.as_str(), raw.as_str()] {
            if let Err(err) = parse_rows(e.fields, input) {
                prop_assert!(client_error(&err));
            }
        }
    }

    #[test]
    fn query_strings_and_list_parameters_never_panic(query in "[ -~%\\x00-\\x1f\\PC]{0,120}", entity in 0usize..6) {
        let pairs = parse_query(&query);
        let _ = percent_decode(&query, false);
        let e = entities()[entity % entities().len()];
        let mut req = ApiRequest::new(http::Method::GET, "/api/v1/x");
        req.query = pairs;
        if let Err(err) = parse_list_query(&req, &e.list) {
            prop_assert!(client_error(&err));
        }
    }

    #[test]
    fn any_cursor_text_is_refused_cleanly(cursor in "[A-Za-z0-9_.=-]{0,200}", sort in "-?[a-zA-Z]{0,12}") {
        let key = shared::cursor::CursorKey::derive("0123456789abcdef0123456789abcdef");
        if let Err(err) = key.decode(&cursor, &sort) {
            prop_assert!(client_error(&err));
        }
    }
}

/// One CSV line with every cell quoted.
fn csv_line(cells: &[String]) -> String {
    let quoted: Vec<String> = cells
        .iter()
        .map(|c| format!("\"{}\"", c.replace('"', "\"\"")))
        .collect();
    format!("{}\n", quoted.join(","))
}

#[test]
fn the_conflicting_columns_that_used_to_abort_the_process_are_a_422() {
    let e = entities()
        .iter()
        .find(|e| e.fields.iter().any(|f| matches!(f.kind, Kind::Object(_))))
        .expect("an entity with a nested field");
    let nested = e
        .fields
        .iter()
        .find(|f| matches!(f.kind, Kind::Object(_)))
        .unwrap();
    let Kind::Object(sub) = &nested.kind else {
        unreachable!()
    };
    let csv = format!(
        "{0},{0}.{1}\nMain Street,Berlin\n",
        nested.name, sub[0].name
    );
    let err = parse_rows(e.fields, &csv).unwrap_err();
    assert_eq!(err.status().as_u16(), 422);
    let shown = format!("{err:?}");
    assert!(shown.contains(nested.name), "{shown}");
}
