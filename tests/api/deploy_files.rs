//! The route table is the single source of truth: every route has a binary,
//! a Vercel function and rewrite, and a SAM function with one event per
//! method; nothing else is deployed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use functions::routes::ROUTES;

fn workspace_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name);
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

fn pascal(name: &str) -> String {
    name.split('-')
        .map(|p| p[..1].to_uppercase() + &p[1..])
        .collect()
}

/// `Binary`, `Path` and `Method` values of each `...Function:` resource of template.yaml.
fn sam_functions() -> BTreeMap<String, (String, BTreeSet<(String, String)>)> {
    let template = workspace_file("template.yaml");
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut path = String::new();
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
                out.insert(k.clone(), (String::new(), BTreeSet::new()));
            }
            continue;
        }
        if !line.starts_with(' ') {
            current = None;
        }
        let Some(k) = &current else { continue };
        let entry = out.get_mut(k).unwrap();
        let t = line.trim();
        if let Some(b) = t.strip_prefix("Binary:") {
            entry.0 = b.trim().to_string();
        } else if let Some(p) = t.strip_prefix("Path:") {
            path = p.trim().to_string();
        } else if let Some(m) = t.strip_prefix("Method:") {
            entry.1.insert((m.trim().to_string(), path.clone()));
        }
    }
    out
}

#[test]
fn every_route_has_its_own_binary_and_every_function_binary_a_route() {
    let bins = binaries();
    for route in ROUTES {
        let path = bins
            .get(route.name)
            .unwrap_or_else(|| panic!("no [[bin]] for route {}", route.name));
        let source = workspace_file(&format!("functions/{path}"));
        let constant = route.name.to_uppercase().replace('-', "_");
        assert!(
            source.contains(&format!("routes::{constant})")),
            "{path} does not serve {}",
            route.name
        );
    }
    let tools = ["crm-admin", "crm-local", "migrate"];
    for name in bins.keys() {
        assert!(
            tools.contains(&name.as_str()) || ROUTES.iter().any(|r| r.name == name),
            "binary {name} has no route"
        );
    }
}

#[test]
fn template_yaml_has_one_function_per_route_with_one_event_per_method() {
    let sam = sam_functions();
    for route in ROUTES {
        let key = format!("{}Function", pascal(route.name));
        let (binary, events) = sam
            .get(&key)
            .unwrap_or_else(|| panic!("template.yaml lacks {key}"));
        assert_eq!(binary, route.name, "{key} builds the wrong binary");
        let expected: BTreeSet<(String, String)> = route
            .methods
            .iter()
            .map(|(v, _)| (v.as_str().to_string(), route.path.to_string()))
            .collect();
        assert_eq!(events, &expected, "{key} events");
    }
    assert_eq!(
        sam.len(),
        ROUTES.len(),
        "template.yaml has functions without a route"
    );
}

#[test]
fn vercel_json_has_one_function_per_route_and_rewrites_for_path_parameters() {
    let vercel: serde_json::Value = serde_json::from_str(&workspace_file("vercel.json")).unwrap();
    let functions = vercel["functions"].as_object().expect("functions map");
    let bins = binaries();
    let expected: BTreeSet<String> = ROUTES
        .iter()
        .map(|r| format!("functions/{}", bins[r.name]))
        .collect();
    let actual: BTreeSet<String> = functions.keys().cloned().collect();
    assert_eq!(actual, expected);
    let rewrites: Vec<(&str, &str)> = vercel["rewrites"]
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
    for route in ROUTES.iter().filter(|r| r.path.contains('{')) {
        let source = route.path.replace("{id}", ":id");
        let destination = format!(
            "/functions/{}",
            bins[route.name]
                .trim_end_matches(".rs")
                .replace("[id]", ":id")
        );
        assert!(
            rewrites.contains(&(source.as_str(), destination.as_str())),
            "no rewrite {source} -> {destination}"
        );
    }
    assert_eq!(
        rewrites.len(),
        ROUTES.iter().filter(|r| r.path.contains('{')).count()
    );
}
