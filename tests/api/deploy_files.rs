//! The route table is the single source of truth: every route has a binary at
//! its Vercel entrypoint, `template.yaml` and `functions/vercel.json` are what
//! `deploy-files` generates from it, the SAM functions have exactly their
//! routes' events and S3 actions, and `vercel.json` uses only the keys and
//! types of Vercel's configuration reference. (`cfn-lint` checks the
//! template in scripts/test.sh.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use functions::deploy::{self, TOOLS};
use functions::routes::ROUTES;
use serde_json::Value;

fn workspace_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name)
}

fn workspace_file(name: &str) -> String {
    let path = workspace_path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `[[bin]]` name -> path, from `functions/Cargo.toml`.
fn binaries() -> BTreeMap<String, String> {
    let manifest = workspace_file("functions/Cargo.toml");
    let mut out = BTreeMap::new();
    let mut name = None;
    for line in manifest.lines() {
        let value = |l: &str| {
            l.split_once('=')
                .map(|(_, v)| v.trim().trim_matches('"').to_string())
        };
        if line.starts_with("name =") {
            name = value(line);
        } else if line.starts_with("path =") {
            if let (Some(n), Some(p)) = (name.take(), value(line)) {
                out.insert(n, p);
            }
        }
    }
    out
}

#[test]
fn every_route_has_its_binary_at_its_vercel_entrypoint_and_nothing_else_is_one() {
    let bins = binaries();
    for route in ROUTES.iter() {
        assert_eq!(
            bins.get(route.name),
            Some(&deploy::entrypoint(route)),
            "route {} needs [[bin]] name = \"{}\", path = \"{}\" in functions/Cargo.toml",
            route.name,
            route.name,
            deploy::entrypoint(route)
        );
        assert!(workspace_path(&format!("functions/{}", deploy::entrypoint(route))).exists());
    }
    let names: BTreeSet<&str> = ROUTES.iter().map(|r| r.name).collect();
    assert_eq!(names.len(), ROUTES.len(), "route names are unique");
    for bin in bins.keys() {
        assert!(
            names.contains(bin.as_str()) || TOOLS.contains(&bin.as_str()),
            "binary {bin} serves no route"
        );
    }
}

#[test]
fn the_committed_deployment_files_are_the_generated_ones() {
    let hint = "out of date: run `cargo run --bin deploy-files` and commit the result";
    assert!(
        workspace_file("template.yaml") == deploy::template_yaml(),
        "template.yaml is {hint}"
    );
    for route in ROUTES.iter() {
        let file = format!("functions/{}", deploy::entrypoint(route));
        assert!(
            workspace_file(&file) == deploy::binary_source(route),
            "{file} is {hint}"
        );
    }
    let manifest = workspace_file("functions/Cargo.toml");
    assert!(
        deploy::with_bin_section(&manifest).as_deref() == Some(manifest.as_str()),
        "the [[bin]] section of functions/Cargo.toml is {hint}"
    );
    let committed: Value = serde_json::from_str(&workspace_file("functions/vercel.json")).unwrap();
    assert!(
        committed == deploy::vercel_json(),
        "functions/vercel.json is {hint}"
    );
    let openapi = functions::service::docs::document(&functions::routes::ROUTES)
        .expect("every route method has a contract");
    assert!(
        workspace_file("functions/openapi.json")
            == serde_json::to_string_pretty(&openapi).unwrap() + "\n",
        "functions/openapi.json is {hint}"
    );
    assert!(
        !workspace_path("vercel.json").exists(),
        "vercel.json lives in functions/, the Vercel project's root directory"
    );
}

/// Per `...Function:` resource of template.yaml: its Binary, its events
/// (`METHOD path` or `Schedule expr`) and its IAM actions.
#[derive(Default, Debug)]
struct SamFunction {
    binary: String,
    events: BTreeSet<String>,
    actions: BTreeSet<String>,
    memory: u32,
    timeout: u32,
}

fn sam_functions() -> BTreeMap<String, SamFunction> {
    let template = workspace_file("template.yaml");
    let mut out: BTreeMap<String, SamFunction> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut path = String::new();
    let mut in_actions = false;
    let mut in_resources = false;
    for line in template.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            in_resources = line.trim_end() == "Resources:";
        }
        if !in_resources {
            continue;
        }
        if line.starts_with("  ") && !line.starts_with("   ") && line.trim_end().ends_with(':') {
            let key = line.trim().trim_end_matches(':').to_string();
            current = key.ends_with("Function").then_some(key);
            if let Some(k) = &current {
                out.insert(k.clone(), SamFunction::default());
            }
            continue;
        }
        let Some(k) = &current else { continue };
        let f = out.get_mut(k).unwrap();
        let t = line.trim();
        if let Some(a) = t.strip_prefix("- ").filter(|_| in_actions) {
            f.actions.insert(a.to_string());
            continue;
        }
        in_actions = t == "Action:";
        if let Some(b) = t.strip_prefix("Binary:") {
            f.binary = b.trim().to_string();
        } else if let Some(p) = t.strip_prefix("Path:") {
            path = p.trim().to_string();
        } else if let Some(m) = t.strip_prefix("Method:") {
            f.events.insert(format!("{} {path}", m.trim()));
        } else if let Some(s) = t.strip_prefix("Schedule:").filter(|s| !s.trim().is_empty()) {
            f.events
                .insert(format!("Schedule {}", s.trim().trim_matches('"')));
        } else if let Some(m) = t.strip_prefix("MemorySize:") {
            f.memory = m.trim().parse().unwrap();
        } else if let Some(m) = t.strip_prefix("Timeout:") {
            f.timeout = m.trim().parse().unwrap();
        }
    }
    out
}

#[test]
fn each_sam_function_has_its_routes_events_sizing_and_s3_actions_only() {
    let functions = sam_functions();
    assert_eq!(
        functions.len(),
        ROUTES.len(),
        "one function per route, no other"
    );
    for route in ROUTES.iter() {
        let f = functions
            .get(&deploy::resource_name(route))
            .unwrap_or_else(|| panic!("no SAM function for {}", route.name));
        assert_eq!(f.binary, route.name);
        let want: BTreeSet<String> = match route.deploy.schedule {
            Some(s) => [format!("Schedule {}", s.eventbridge())].into(),
            None => route
                .methods
                .iter()
                .map(|e| e.method.as_str())
                .chain(["OPTIONS"])
                .map(|m| format!("{m} {}", route.path))
                .collect(),
        };
        assert_eq!(f.events, want, "{}", route.name);
        let actions: BTreeSet<String> = route
            .deploy
            .storage
            .iter()
            .map(|p| p.action().to_string())
            .collect();
        assert_eq!(f.actions, actions, "{}: S3 actions", route.name);
        let size = deploy::sizing(route);
        assert_eq!((f.memory, f.timeout), (size.memory_mb, size.timeout_s));
    }
    let with_storage: Vec<&str> = ROUTES
        .iter()
        .filter(|r| !r.deploy.storage.is_empty())
        .map(|r| r.name)
        .collect();
    assert_eq!(
        with_storage,
        [
            "public-share-token",
            "public-share-token-decisions",
            "work-orders-id-inspections-photos",
            "work-orders-id-estimate-pdf",
            "work-orders-id-invoice-pdf",
            "public-share-token-document",
            "uploads",
            "documents-id",
            "documents-id-complete",
            "cleanup-organizations",
            "cleanup-sessions"
        ]
    );
}

#[test]
fn scheduled_functions_become_eventbridge_cron_expressions() {
    let job = &functions::maintenance::routes::CLEANUP_SESSIONS;
    assert_eq!(
        job.deploy.schedule.unwrap().eventbridge(),
        "cron(5 * * * ? *)"
    );
    let daily = &functions::maintenance::routes::CLEANUP_ORGANIZATIONS;
    assert_eq!(
        daily.deploy.schedule.unwrap().eventbridge(),
        "cron(15 3 * * ? *)"
    );
}

fn is_cron_field(field: &str) -> bool {
    !field.is_empty()
        && field
            .chars()
            .all(|c| c.is_ascii_digit() || ",-*/".contains(c))
}

/// The keys and types of Vercel's project configuration reference
/// (vercel.com/docs/project-configuration) that this file may use.
fn check_vercel_schema(v: &Value) -> Vec<String> {
    let mut problems = vec![];
    let mut problem = |p: String| problems.push(p);
    let Some(top) = v.as_object() else {
        return vec!["not an object".into()];
    };
    let known = [
        "$schema",
        "functions",
        "rewrites",
        "redirects",
        "headers",
        "crons",
        "regions",
        "cleanUrls",
        "trailingSlash",
        "buildCommand",
        "installCommand",
        "framework",
    ];
    for k in top.keys() {
        if !known.contains(&k.as_str()) {
            problem(format!("unknown top-level key {k}"));
        }
    }
    for (pattern, cfg) in top["functions"].as_object().into_iter().flatten() {
        let Some(cfg) = cfg.as_object() else {
            problem(format!("functions.{pattern} is not an object"));
            continue;
        };
        for (k, val) in cfg {
            match k.as_str() {
                "memory" if val.as_u64().is_some_and(|m| (128..=3009).contains(&m)) => {}
                "maxDuration" if val.as_u64().is_some_and(|d| (1..=800).contains(&d)) => {}
                "runtime" | "includeFiles" | "excludeFiles" if val.is_string() => {}
                _ => problem(format!("functions.{pattern}.{k} = {val}")),
            }
        }
    }
    for r in top["rewrites"].as_array().into_iter().flatten() {
        let ok = r.as_object().is_some_and(|o| {
            o.keys()
                .all(|k| ["source", "destination", "has", "missing"].contains(&k.as_str()))
                && o["source"].as_str().is_some_and(|s| s.starts_with('/'))
                && o["destination"]
                    .as_str()
                    .is_some_and(|s| s.starts_with('/'))
        });
        if !ok {
            problem(format!("rewrite {r}"));
        }
    }
    for c in top["crons"].as_array().into_iter().flatten() {
        let ok = c.as_object().is_some_and(|o| {
            o.len() == 2
                && o["path"].as_str().is_some_and(|p| p.starts_with('/'))
                && o["schedule"].as_str().is_some_and(|s| {
                    let f: Vec<&str> = s.split(' ').collect();
                    f.len() == 5 && f.iter().all(|x| is_cron_field(x))
                })
        });
        if !ok {
            problem(format!("cron {c}"));
        }
    }
    problems
}

#[test]
fn vercel_json_follows_vercels_schema_and_maps_every_route() {
    let v: Value = serde_json::from_str(&workspace_file("functions/vercel.json")).unwrap();
    let problems = check_vercel_schema(&v);
    assert!(problems.is_empty(), "{problems:#?}");
    // The check itself refuses what Vercel would.
    let mut bad = v.clone();
    bad["functions"]["api/v1/health.rs"]["memory"] = 4096.into();
    bad["crons"][0]["schedule"] = "every hour".into();
    bad["rewrite"] = Value::Null;
    assert_eq!(check_vercel_schema(&bad).len(), 3);

    let functions = v["functions"].as_object().unwrap();
    assert_eq!(functions.len(), ROUTES.len());
    let rewrites: BTreeMap<&str, &str> = v["rewrites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["source"].as_str().unwrap(),
                r["destination"].as_str().unwrap(),
            )
        })
        .collect();
    let crons: BTreeMap<&str, &str> = v["crons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["path"].as_str().unwrap(), c["schedule"].as_str().unwrap()))
        .collect();
    for route in ROUTES.iter() {
        let file = deploy::entrypoint(route);
        let f = &functions[&file];
        let size = deploy::sizing(route);
        assert_eq!(f["memory"], size.memory_mb);
        assert_eq!(f["maxDuration"], size.timeout_s);
        if route.path.contains('{') {
            // Every path parameter, in the source and again as a query parameter.
            let names: Vec<&str> = route
                .path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            let mut source = route.path.to_string();
            for n in &names {
                source = source.replace(&format!("{{{n}}}"), &format!(":{n}"));
            }
            let query: Vec<String> = names.iter().map(|n| format!("{n}=:{n}")).collect();
            let dest = format!("/{}?{}", file.trim_end_matches(".rs"), query.join("&"));
            assert_eq!(
                rewrites.get(source.as_str()),
                Some(&dest.as_str()),
                "{}",
                route.name
            );
        }
        match route.deploy.schedule {
            Some(s) => assert_eq!(crons.get(route.path), Some(&s.cron)),
            None => assert!(!crons.contains_key(route.path)),
        }
    }
    let scheduled = ROUTES
        .iter()
        .filter(|r| r.deploy.schedule.is_some())
        .count();
    assert_eq!(crons.len(), scheduled);
    assert!(crons.contains_key("/api/cron/send-emails"), "{crons:?}");
}

#[test]
fn a_preview_stack_reads_its_own_secrets_never_productions() {
    let template = functions::deploy::template_yaml();
    // Every secret reference goes through the stage-chosen name.
    let references: Vec<&str> = template
        .lines()
        .filter(|l| l.contains("resolve:secretsmanager"))
        .collect();
    assert_eq!(references.len(), 3, "{references:?}");
    for line in &references {
        assert!(
            line.contains("${SecretsPrefix}/${SecretStage}/"),
            "not per stage: {line}"
        );
    }
    assert_eq!(
        template
            .matches("SecretStage: !If [IsProduction, production, preview]")
            .count(),
        3
    );
    // No parameter default names production's secrets for any stage.
    assert!(
        !template.contains("Default: workshop-crm/production/"),
        "{template}"
    );
}

#[test]
fn only_the_routes_that_handle_files_build_a_storage_client() {
    for route in functions::routes::ROUTES.iter() {
        assert_eq!(
            route.deploy.open_storage.is_some(),
            !route.deploy.storage.is_empty(),
            "{}",
            route.name
        );
    }
}

#[test]
fn the_route_table_builds_without_two_patterns_for_the_same_paths() {
    let table = shared::runtime::RouteTable::leak(&functions::routes::ROUTES).unwrap();
    assert_eq!(table.len(), functions::routes::ROUTES.len());
    let (accept, _) = table.find("/api/v1/invitations/accept").unwrap();
    assert_eq!(accept.name, "invitations-accept");
}

/// Vercel's zero-configuration build publishes every file outside `api/`
/// (the sources, `Cargo.toml`, the email templates) as public static
/// content unless the project has a `public/` folder, and then that folder
/// alone: `functions/public` must exist and hold nothing but `robots.txt`.
/// (`scripts/deploy-check.sh` checks the same on `vercel build`'s output.)
#[test]
fn a_vercel_deployment_publishes_only_functions_public() {
    let dir = workspace_path("functions/public");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (Vercel would publish the sources)", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["robots.txt"], "functions/public is published as is");
    let robots = workspace_file("functions/public/robots.txt");
    assert!(robots.contains("Disallow: /"), "{robots}");
}
