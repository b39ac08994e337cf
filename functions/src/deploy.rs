//! Everything a deployment needs, generated from the route table: one
//! binary per route (`functions/api/...`), their `[[bin]]` entries in
//! `functions/Cargo.toml`, `template.yaml` (AWS SAM) and
//! `functions/vercel.json` (Vercel). `cargo run --bin deploy-files` writes
//! them all; a test fails when a committed file differs from what this
//! module generates.

use serde_json::{json, Map, Value};
use shared::runtime::{Route, Sizing};

use crate::routes::ROUTES;

/// What a function gets on either platform: what its route declares
/// (`Deploy::sized`, `shared::runtime::Sizing`).
pub fn sizing(route: &Route) -> Sizing {
    route.deploy.sizing
}

/// `UploadsFunction` for `uploads`.
pub fn resource_name(route: &Route) -> String {
    let mut out: String = route
        .name
        .split('-')
        .map(|p| p[..1].to_uppercase() + &p[1..])
        .collect();
    out.push_str("Function");
    out
}

/// The entrypoint file of a route's function, relative to `functions/`
/// (where `vercel.json` lives): its path pattern with `{id}` as `[id]`.
pub fn entrypoint(route: &Route) -> String {
    format!(
        "{}.rs",
        route
            .path
            .trim_start_matches('/')
            .replace('{', "[")
            .replace('}', "]")
    )
}

const TEMPLATE_HEAD: &str = r#"# Generated from functions/src/routes.rs by `cargo run --bin deploy-files`; do not edit.
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Description: Workshop CRM API, one function per route of the route table.

Parameters:
  Stage:
    Type: String
    Default: production
    AllowedPattern: "^[a-z0-9][a-z0-9-]{0,39}$"
    Description: >-
      "production", or the (sanitized) branch of a preview stack. Any other
      value than production gets its own database and object-key prefix.
  SecretsPrefix:
    Type: String
    Default: workshop-crm
    AllowedPattern: "^[A-Za-z0-9/_+=.@-]{1,100}$"
    Description: >-
      Secrets Manager names start with this. Production reads
      <prefix>/production/mongodb-uri, <prefix>/production/jwt-secret and
      <prefix>/production/smtp-url; every other stage reads
      <prefix>/preview/..., so a preview stack never receives production's
      database credentials, signing secret or mail relay.
  BucketName:
    Type: String
    Description: The S3 bucket of uploaded files.
  AllowedOrigins:
    Type: String
    Default: ""
    Description: Comma-separated browser origins allowed by CORS.
  AppUrl:
    Type: String
    Default: "http://localhost:5173"
    Description: The web app the links in emails open.
  EmailFrom:
    Type: String
    Default: "Workshop CRM <no-reply@localhost>"
    Description: The sender of every email (a domain the SMTP relay may send for).

Conditions:
  IsProduction: !Equals [!Ref Stage, production]

Globals:
  Function:
    Runtime: provided.al2023
    Architectures:
      - arm64
    Handler: bootstrap
    CodeUri: .
    MemorySize: 256
    Timeout: 10
    Environment:
      Variables:
        DEPLOY_STAGE: !Ref Stage
        MONGODB_URI: !Sub
          - "{{resolve:secretsmanager:${SecretsPrefix}/${SecretStage}/mongodb-uri:SecretString}}"
          - SecretStage: !If [IsProduction, production, preview]
        MONGODB_DB: crm
        JWT_SECRET: !Sub
          - "{{resolve:secretsmanager:${SecretsPrefix}/${SecretStage}/jwt-secret:SecretString}}"
          - SecretStage: !If [IsProduction, production, preview]
        S3_BUCKET: !Ref BucketName
        ALLOWED_ORIGINS: !Ref AllowedOrigins
        SMTP_URL: !Sub
          - "{{resolve:secretsmanager:${SecretsPrefix}/${SecretStage}/smtp-url:SecretString}}"
          - SecretStage: !If [IsProduction, production, preview]
        EMAIL_FROM: !Ref EmailFrom
        APP_URL: !Ref AppUrl
        LOG_LEVEL: info

Resources:
  HttpApi:
    Type: AWS::Serverless::HttpApi
"#;

const TEMPLATE_TAIL: &str = r#"Outputs:
  ApiUrl:
    Description: Base URL of the API.
    Value: !Sub "https://${HttpApi}.execute-api.${AWS::Region}.amazonaws.com"
"#;

/// Objects a function may touch: the whole bucket in production, only the
/// previews' prefix in any other stage, so a preview never reaches
/// production's files.
const OBJECTS: &str = r#"              Resource: !If
                - IsProduction
                - !Sub "arn:${AWS::Partition}:s3:::${BucketName}/*"
                - !Sub "arn:${AWS::Partition}:s3:::${BucketName}/previews/*"
"#;

const LISTING: &str = r#"            - Effect: Allow
              Action:
                - s3:ListBucket
              Resource: !Sub "arn:${AWS::Partition}:s3:::${BucketName}"
              Condition:
                StringLike:
                  s3:prefix: !If [IsProduction, "*", "previews/*"]
"#;

fn title(verb: &str) -> String {
    verb[..1].to_string() + &verb[1..].to_lowercase()
}

/// The SAM template: one function per route with an HTTP API event per
/// method (and OPTIONS, answered by the function for CORS), or a Schedule
/// event for a scheduled function; S3 actions only for the functions whose
/// route declares them, on the bucket's objects only.
pub fn template_yaml() -> String {
    let mut out = String::from(TEMPLATE_HEAD);
    for route in ROUTES.iter() {
        let size = sizing(route);
        out.push_str(&format!(
            "\n  {}:\n    Type: AWS::Serverless::Function\n    Metadata:\n      BuildMethod: rust-cargolambda\n      BuildProperties:\n        Binary: {}\n    Properties:\n      MemorySize: {}\n      Timeout: {}\n      Events:\n",
            resource_name(route),
            route.name,
            size.memory_mb,
            size.timeout_s
        ));
        match route.deploy.schedule {
            Some(schedule) => out.push_str(&format!(
                "        Schedule:\n          Type: Schedule\n          Properties:\n            Schedule: \"{}\"\n",
                schedule.eventbridge()
            )),
            None => {
                // The route's methods and OPTIONS, once (a route may answer
                // its own preflight).
                let allow = route.allow();
                for verb in allow.split(", ") {
                    out.push_str(&format!(
                        "        {}:\n          Type: HttpApi\n          Properties:\n            ApiId: !Ref HttpApi\n            Path: {}\n            Method: {verb}\n",
                        title(verb),
                        route.path
                    ));
                }
            }
        }
        let objects: Vec<&str> = route
            .deploy
            .storage
            .iter()
            .filter(|p| **p != shared::storage::S3Permission::ListBucket)
            .map(|p| p.action())
            .collect();
        let list = route
            .deploy
            .storage
            .contains(&shared::storage::S3Permission::ListBucket);
        if !objects.is_empty() || list {
            out.push_str("      Policies:\n        - Statement:\n");
            if !objects.is_empty() {
                out.push_str("            - Effect: Allow\n              Action:\n");
                for a in &objects {
                    out.push_str(&format!("                - {a}\n"));
                }
                out.push_str(OBJECTS);
            }
            if list {
                out.push_str(LISTING);
            }
        }
    }
    out.push('\n');
    out.push_str(TEMPLATE_TAIL);
    out
}

/// `vercel.json` for a project whose Root Directory is `functions/`: every
/// function with its memory and duration, a rewrite per path with
/// parameters (to the `[id]` file, the parameter also as a query
/// parameter), and the crons.
pub fn vercel_json() -> Value {
    let mut functions = Map::new();
    let mut rewrites = vec![];
    let mut crons = vec![];
    for route in ROUTES.iter() {
        let size = sizing(route);
        let file = entrypoint(route);
        functions.insert(
            file.clone(),
            json!({ "memory": size.memory_mb, "maxDuration": size.timeout_s }),
        );
        if route.path.contains('{') {
            let source = route
                .path
                .split('/')
                .map(
                    |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(name) => format!(":{name}"),
                        None => s.to_string(),
                    },
                )
                .collect::<Vec<_>>()
                .join("/");
            let params: Vec<String> = source
                .split('/')
                .filter_map(|s| s.strip_prefix(':'))
                .map(|n| format!("{n}=:{n}"))
                .collect();
            rewrites.push(json!({
                "source": source,
                "destination": format!("/{}?{}", file.trim_end_matches(".rs"), params.join("&")),
            }));
        }
        if let Some(schedule) = route.deploy.schedule {
            crons.push(json!({ "path": route.path, "schedule": schedule.cron }));
        }
    }
    json!({
        "$schema": "https://openapi.vercel.sh/vercel.json",
        "functions": functions,
        "rewrites": rewrites,
        "crons": crons,
    })
}

/// The tools among the binaries: not routes, never deployed as functions.
pub const TOOLS: [&str; 4] = ["crm-admin", "deploy-files", "crm-local", "migrate"];

/// The tools whose source is a folder (`src/bin/<tool>/main.rs` and a
/// module per command group).
const MODULAR_TOOLS: [&str; 1] = ["crm-admin"];

/// The Rust path of a route's static: `functions::service::routes::HEALTH`,
/// or `functions::crm::routes::accounts::ITEM` for an entity's route.
pub fn static_name(route: &Route) -> &'static str {
    crate::routes::NAMED_ROUTES
        .iter()
        .find(|(r, _)| std::ptr::eq(*r, route))
        .map(|(_, name)| *name)
        .unwrap_or("ROUTE_NOT_IN_THE_REGISTRY")
}

/// A route's binary: only `main`, handing the route to the runtime. One
/// thread: a function serves one request at a time, so a single-threaded
/// runtime spawns no workers it would not use.
pub fn binary_source(route: &Route) -> String {
    let methods: Vec<&str> = route.methods.iter().map(|e| e.method.as_str()).collect();
    // Laid out as rustfmt lays it out (`cargo fmt --check` reads these
    // files): one line while the arguments fit its 60-column call width.
    let args = [
        format!("&{}", static_name(route)),
        "functions::indexes::all".into(),
    ];
    let call = if args.iter().map(|a| a.len() + 2).sum::<usize>() - 2 <= 60 {
        format!("shared::runtime::serve({}).await", args.join(", "))
    } else {
        format!(
            "shared::runtime::serve(\n        {},\n        {},\n    )\n    .await",
            args[0], args[1]
        )
    };
    format!(
        "//! `{} {}` (generated by `cargo run --bin deploy-files`; do not edit)\n\n\
         #[tokio::main(flavor = \"current_thread\")]\n\
         async fn main() -> Result<(), shared::runtime::Error> {{\n    {call}\n}}\n",
        methods.join("|"),
        route.path,
    )
}

/// The `[[bin]]` section of `functions/Cargo.toml`: one binary per route,
/// then the tools. None has unit tests of its own (a route binary is only
/// `main`), so `test = false` keeps `cargo test` from linking a second,
/// test-harness copy of each: half the link time and disk of a test build.
pub fn bin_section() -> String {
    let mut out = String::from(BIN_SECTION_START);
    out.push('\n');
    for route in ROUTES.iter() {
        out.push_str(&format!(
            "\n[[bin]]\nname = \"{}\"\npath = \"{}\"\ntest = false\n",
            route.name,
            entrypoint(route)
        ));
    }
    for tool in TOOLS {
        // A tool of several modules is a folder with its `main.rs`.
        let path = if MODULAR_TOOLS.contains(&tool) {
            format!("src/bin/{tool}/main.rs")
        } else {
            format!("src/bin/{tool}.rs")
        };
        out.push_str(&format!(
            "\n[[bin]]\nname = \"{tool}\"\npath = \"{path}\"\ntest = false\n"
        ));
    }
    out.push('\n');
    out
}

/// Where the generated section of `functions/Cargo.toml` starts; it ends at
/// `[dependencies]`.
pub const BIN_SECTION_START: &str =
    "# Generated by `cargo run --bin deploy-files` from the route table: one\n\
# binary per route, then the tools. Do not edit by hand.";

/// `manifest` with its generated section replaced by [`bin_section`].
pub fn with_bin_section(manifest: &str) -> Option<String> {
    let start = manifest
        .find(BIN_SECTION_START)
        .or_else(|| manifest.find("[[bin]]"))?;
    let end = manifest.find("[dependencies]")?;
    (start < end).then(|| {
        format!(
            "{}{}{}",
            &manifest[..start],
            bin_section(),
            &manifest[end..]
        )
    })
}
