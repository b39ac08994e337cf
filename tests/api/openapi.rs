//! The API contract: the OpenAPI document the server serves is the one
//! generated from the route table, valid OpenAPI 3.1 (openapi-spec-
//! validator), good enough to generate a TypeScript client that
//! type-checks (openapi-typescript and tsc), and kept by the server under
//! schemathesis' generated requests, signed in as an OWNER and anonymously.
//! `scripts/test.sh` installs the tools and sets `CONTRACT_TOOLS` (the
//! Python ones) and `BROWSER_TESTS` (the npm ones).

use std::path::{Path, PathBuf};
use std::process::Command;

use bson::doc;
use serde_json::Value;

use crate::helpers::*;

fn contract_tool(name: &str) -> PathBuf {
    let dir = std::env::var("CONTRACT_TOOLS").expect(
        "CONTRACT_TOOLS is not set: run the suite with scripts/test.sh, which installs openapi-spec-validator and schemathesis",
    );
    Path::new(&dir).join(name)
}

fn npm_tool(name: &str) -> PathBuf {
    std::env::var("BROWSER_TESTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser"))
        .join("node_modules/.bin")
        .join(name)
}

/// A fresh directory of the test's own (left for a look after a failure).
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "crm-{name}-{}",
        bson::oid::ObjectId::new().to_hex()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn served_document(app: &TestApp) -> (Value, String) {
    let r = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let text = serde_json::to_string(&r.body).unwrap();
    (r.body, text)
}

#[tokio::test]
async fn the_served_document_is_the_generated_one_and_valid_openapi_3_1() {
    let app = TestApp::spawn().await;
    let (served, _) = served_document(&app).await;
    let generated = functions::service::docs::document(&functions::routes::ROUTES)
        .expect("every route method has a contract");
    assert!(
        served == generated,
        "the served document is not the generated one: run `cargo run --bin deploy-files`"
    );
    assert_eq!(served["openapi"], "3.1.0");
    // Every route method of the table is in it, but CORS preflights.
    for route in functions::routes::ROUTES.iter() {
        for e in route.methods {
            if e.method == http::Method::OPTIONS {
                continue;
            }
            let m = e.method.as_str().to_lowercase();
            assert!(
                served["paths"][route.path][&m].is_object(),
                "{m} {} is missing",
                route.path
            );
        }
    }
    // The vocabulary every operation shares.
    let create = &served["paths"]["/api/v1/accounts"]["post"];
    assert_eq!(
        create["requestBody"]["content"]["application/json"]["schema"]["required"],
        serde_json::json!(["name"])
    );
    assert!(
        create["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["$ref"] == "#/components/parameters/Idempotency-Key"),
        "{create}"
    );
    assert_eq!(
        served["components"]["parameters"]["Idempotency-Key"]["in"],
        "header"
    );
    assert_eq!(
        create["security"],
        serde_json::json!([{ "bearerAuth": [] }])
    );
    assert_eq!(
        create["responses"]["429"]["$ref"],
        "#/components/responses/Problem429"
    );
    assert_eq!(
        served["components"]["responses"]["Problem429"]["content"]["application/problem+json"]
            ["schema"]["$ref"],
        "#/components/schemas/Problem"
    );
    assert_eq!(
        create["responses"]["201"]["headers"]["RateLimit-Remaining"]["$ref"],
        "#/components/headers/RateLimit-Remaining"
    );
    let codes = served["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap();
    assert_eq!(codes.len(), shared::codes::Code::ALL.len());
    assert!(
        served["paths"]["/api/v1/accounts/{id}"]["patch"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "If-Match")
    );
    assert_eq!(
        served["paths"]["/api/v1/health"]["get"]["security"],
        serde_json::json!([])
    );

    let dir = scratch("openapi");
    let file = dir.join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&served).unwrap()).unwrap();
    let (ok, out) = run(Command::new(contract_tool("openapi-spec-validator")).arg(&file));
    assert!(ok, "openapi-spec-validator refused the document: {out}");
    // The validator can fail: a document whose operation's responses are
    // not an object is refused.
    let mut broken = served.clone();
    broken["paths"]["/api/v1/health"]["get"]["responses"] = Value::from("none");
    std::fs::write(&file, serde_json::to_vec(&broken).unwrap()).unwrap();
    let (ok, _) = run(Command::new(contract_tool("openapi-spec-validator")).arg(&file));
    assert!(!ok, "the validator accepts anything");
}

/// A short client of the generated types: a typed fetch of accounts, a
/// create body, a problem document's code.
const CLIENT_TS: &str = r#"
import type { paths, components } from "./api";

type Account = components["schemas"]["Account"];
type AccountPage = paths["/api/v1/accounts"]["get"]["responses"]["200"]["content"]["application/json"];
type NewAccount = paths["/api/v1/accounts"]["post"]["requestBody"]["content"]["application/json"];
type Problem = components["schemas"]["Problem"];
type LoginBody = paths["/api/v1/auth/login"]["post"]["requestBody"]["content"]["application/json"];

export async function listAccounts(base: string, token: string): Promise<string[]> {
  const r = await fetch(`${base}/api/v1/accounts?limit=10`, { headers: { authorization: `Bearer ${token}` } });
  if (!r.ok) {
    const p = (await r.json()) as Problem;
    const code: Problem["code"] = p.code;
    throw new Error(code);
  }
  const page = (await r.json()) as AccountPage;
  const next: string | null = page.nextCursor;
  void next;
  return page.data.map((a) => ("name" in a && typeof a.name === "string" ? a.name : a.id));
}

export const body: NewAccount = { name: "Garage Nord", website: "https://garage.example", address: { city: "Bremen" } };
export const login: LoginBody = { email: "owner@example.test", password: "a long password" };
export function version(a: Account): number {
  return a.version;
}
"#;

#[tokio::test]
async fn a_typescript_client_generated_from_the_document_type_checks() {
    let app = TestApp::spawn().await;
    let (_, text) = served_document(&app).await;
    let dir = scratch("openapi-ts");
    std::fs::write(dir.join("openapi.json"), text).unwrap();
    let (ok, out) = run(Command::new(npm_tool("openapi-typescript"))
        .arg(dir.join("openapi.json"))
        .arg("-o")
        .arg(dir.join("api.d.ts"))
        .current_dir(&dir));
    assert!(ok, "openapi-typescript failed: {out}");
    let tsc = |source: &str| {
        std::fs::write(dir.join("client.ts"), source).unwrap();
        run(Command::new(npm_tool("tsc"))
            .args([
                "--noEmit",
                "--strict",
                "--target",
                "es2022",
                "--module",
                "es2022",
                "--moduleResolution",
                "bundler",
                "--lib",
                "es2022,dom",
            ])
            .arg(dir.join("client.ts"))
            .current_dir(&dir))
    };
    let (ok, out) = tsc(CLIENT_TS);
    assert!(ok, "the client does not type-check: {out}");
    // The types say something: an account without its required name, or
    // a field the API does not take, is a type error.
    for wrong in [
        r#"export const body: NewAccount = { name: "x", colour: "red" };"#,
        r#"export const body: NewAccount = { website: "https://x.example" };"#,
    ] {
        let source = CLIENT_TS.replace(
            r#"export const body: NewAccount = { name: "Garage Nord", website: "https://garage.example", address: { city: "Bremen" } };"#,
            wrong,
        );
        let (ok, out) = tsc(&source);
        assert!(!ok, "tsc accepted {wrong}: {out}");
    }
}

/// Runs schemathesis' fuzzing phase against `app` with `headers`, bounded
/// (`examples` per operation) and seeded, with the checks the contract
/// promises: no 5xx, every status code and content type documented, every
/// body valid against its schema. Returns (passed, test cases, output).
async fn schemathesis(
    app: &TestApp,
    schema: &str,
    headers: &[String],
    examples: u32,
    filters: &[&str],
) -> (bool, u64, String) {
    let dir = scratch("schemathesis");
    // Asynchronously: the server answers on this test's runtime.
    let mut cmd = tokio::process::Command::new(contract_tool("schemathesis"));
    cmd.arg("run")
        .arg(schema)
        .arg("--url")
        .arg(app.url(""))
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--seed",
            "20261130",
            "--max-examples",
            &examples.to_string(),
            "--phases",
            "fuzzing",
            "--generation-database",
            "none",
            "--workers",
            "2",
            "--request-timeout",
            "30",
            "--no-color",
            "--continue-on-failure",
        ])
        .current_dir(&dir);
    for h in headers {
        cmd.arg("-H").arg(h);
    }
    cmd.args(filters);
    let output = cmd.output().await.expect("schemathesis runs");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // "Test cases:\n  2012 generated, 2012 passed"
    let cases = out
        .split_once("Test cases:")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    (output.status.success(), cases, out)
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_nor_undocumented_answer() {
    // A database server of its own: the fuzzing's load does not slow the
    // suite's other tests, nor theirs it.
    let port = tests::net::free_port();
    let dir = scratch("schemathesis-db");
    let _mongo = crate::faults::start_mongo(port, &dir).await;
    let uri = format!("mongodb://127.0.0.1:{port}/?directConnection=true");
    let app = TestApp::spawn_with(&[("MONGODB_URI", uri.as_str())]).await;
    let owner = app.owner().await;
    // Its plan's request budget, so the run is not all 429s.
    app.db
        .collection::<bson::Document>("organizations")
        .update_one(
            doc! { "_id": oid(&owner.org_id) },
            doc! { "$set": { "plan": "ENTERPRISE" } },
        )
        .await
        .unwrap();
    // A few records, so that lists have pages and ids have something to find.
    for name in ["Garage Nord", "Autohaus Süd"] {
        app.create_account(owner, name).await;
    }
    // What would end the run's own session or organization is left out.
    let keep_session = [
        "post-auth-logout",
        "post-auth-password",
        "delete-organization",
        "post-organization-transfer-ownership",
        "put-organization-plan",
        "delete-auth-sessions-id",
        "patch-members-id",
        "delete-members-id",
    ];
    let schema = app.url("/api/v1/openapi.json");
    let mut filters = vec![];
    for op in &keep_session {
        filters.extend(["--exclude-operation-id", op]);
    }
    let (ok, owner_cases, out) = schemathesis(
        &app,
        &schema,
        &[format!("Authorization: Bearer {}", owner.token)],
        16,
        &filters,
    )
    .await;
    println!(
        "schemathesis as OWNER: {owner_cases} test cases\n{}",
        tail(&out)
    );
    assert!(ok, "schemathesis (OWNER) failed:\n{out}");
    let (ok, anonymous_cases, out) = schemathesis(&app, &schema, &[], 3, &[]).await;
    println!(
        "schemathesis anonymous: {anonymous_cases} test cases\n{}",
        tail(&out)
    );
    assert!(ok, "schemathesis (anonymous) failed:\n{out}");
    assert!(
        owner_cases + anonymous_cases >= 1_500,
        "only {owner_cases} + {anonymous_cases} test cases ran"
    );

    // The checks can fail: with a document that says a problem's `code`
    // is a number, every error answer (a record that is not there, 404)
    // breaks the contract.
    let (mut document, _) = served_document(&app).await;
    document["components"]["schemas"]["Problem"]["properties"]["code"] =
        serde_json::json!({ "type": "integer" });
    let dir = scratch("schemathesis-wrong");
    let file = dir.join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&document).unwrap()).unwrap();
    let (ok, _, out) = schemathesis(
        &app,
        file.to_str().unwrap(),
        &[format!("Authorization: Bearer {}", owner.token)],
        5,
        &[
            "--include-operation-id",
            "get-accounts-id",
            "--include-operation-id",
            "get-accounts",
        ],
    )
    .await;
    assert!(!ok, "schemathesis passed a wrong schema:\n{out}");
    assert!(out.contains("Response violates schema"), "{out}");
}
