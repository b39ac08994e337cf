//! The platform crate's shape, checked on every test run: its top-level
//! modules (files and folders of `shared/src`) import each other without a
//! cycle, so the layers can be read bottom-up (vocabulary and errors, config,
//! stored data, state and transactions, audit and rate limits, the caller,
//! the tenant scope, the record engine, the runtime) and none reaches back
//! down through another. Also: only `shared` names the MongoDB driver.
//!
//! The graph is read from the source text: `crate::name` paths and
//! `crate::{a, b}` groups in code (comments skipped), with the crate root's
//! re-exports (`crate::State`) resolved to the module that defines them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source folder") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Code of a line, without its `//` comment.
fn code(line: &str) -> &str {
    line.split("//").next().unwrap_or("")
}

/// Names that follow `crate::` in `text`, and those inside `crate::{...}` groups.
fn crate_paths(text: &str) -> Vec<String> {
    let mut out = vec![];
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `shared_crate::`, not ours
        }
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or("");
            out.extend(
                inner
                    .split(',')
                    .map(|p| p.trim().split("::").next().unwrap_or("").trim().to_string()),
            );
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.push(name);
        }
    }
    out
}

/// Module -> the modules it uses.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = vec![];
    rust_files(src, &mut files);
    let module_of = |p: &Path| -> String {
        let rel = p.strip_prefix(src).expect("under src");
        let top = rel
            .components()
            .next()
            .expect("a component")
            .as_os_str()
            .to_string_lossy()
            .to_string();
        top.trim_end_matches(".rs").to_string()
    };
    let modules: BTreeSet<String> = files
        .iter()
        .map(|p| module_of(p))
        .filter(|m| m != "lib")
        .collect();
    // `pub use module::Item;` in lib.rs: `crate::Item` means that module.
    let mut aliases = BTreeMap::new();
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    for line in lib.lines().map(code) {
        if let Some(path) = line.trim().strip_prefix("pub use ") {
            let parts: Vec<&str> = path.trim_end_matches(';').split("::").collect();
            if let (Some(first), Some(last)) = (parts.first(), parts.last()) {
                if modules.contains(*first) {
                    aliases.insert(last.to_string(), first.to_string());
                }
            }
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let from = module_of(file);
        if from == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("readable source");
        let uses = graph.entry(from.clone()).or_default();
        for line in text.lines().map(code) {
            for name in crate_paths(line) {
                let to = aliases.get(&name).cloned().unwrap_or(name);
                if to != from && modules.contains(&to) {
                    uses.insert(to);
                }
            }
        }
    }
    graph
}

/// Every cycle's members, found by Tarjan's strongly connected components.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low[v];
                    self.low.insert(v, lv.min(lw));
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low[v];
                    self.low.insert(v, lv.min(iw));
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = vec![];
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: vec![],
        on_stack: BTreeSet::new(),
        found: vec![],
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found
}

#[test]
fn the_platform_modules_import_each_other_without_a_cycle() {
    let graph = module_graph(&workspace().join("shared/src"));
    assert!(graph.len() > 10, "read too few modules: {graph:?}");
    assert!(
        graph["db"].contains("auth"),
        "the reader must see real edges: {graph:?}"
    );
    let found = cycles(&graph);
    assert!(found.is_empty(), "module cycles in shared/src: {found:?}");
}

#[test]
fn the_cycle_finder_finds_a_cycle_and_an_alias() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    graph.entry("c".into()).or_default().insert("a".into());
    graph.entry("d".into()).or_default().insert("a".into());
    assert_eq!(cycles(&graph), vec![vec!["a", "b", "c"]]);
    assert_eq!(
        crate_paths("use crate::{db::Scope, error::ApiError}; crate::State; not_crate::x"),
        ["db", "error", "State"]
    );
}

#[test]
fn only_the_platform_names_the_mongodb_driver() {
    for dir in ["functions/src", "functions/api"] {
        let mut files = vec![];
        rust_files(&workspace().join(dir), &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).expect("readable source");
            for (n, line) in text.lines().enumerate() {
                assert!(
                    !code(line).contains("mongodb::"),
                    "{}:{}: names the MongoDB driver outside shared",
                    file.display(),
                    n + 1
                );
            }
        }
    }
}

/// Domain code reaches data without a tenant only through
/// `Unscoped::open`, and only from the contexts that have no caller yet:
/// sign-in and invitations (identity), the files sweep, maintenance, and
/// public form submissions (crm/forms.rs: the submitter is anonymous).
/// A new construction point elsewhere fails here and has to be argued for.
#[test]
fn unscoped_access_is_opened_only_where_there_is_no_tenant() {
    const ALLOWED: [&str; 9] = [
        "functions/src/crm/forms.rs",
        "functions/src/identity/flows.rs",
        "functions/src/identity/profile.rs",
        "functions/src/identity/invitations.rs",
        "functions/src/files/documents.rs",
        "functions/src/maintenance/admin.rs",
        "functions/src/maintenance/backup.rs",
        "functions/src/maintenance/cleanup.rs",
        "functions/src/maintenance/seed.rs",
    ];
    let root = workspace();
    let mut files = vec![];
    rust_files(&root.join("functions"), &mut files);
    let mut opened = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable source");
        if text.lines().any(|l| code(l).contains("Unscoped::open(")) {
            let rel = file.strip_prefix(&root).expect("inside the workspace");
            opened.insert(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    let unexpected: Vec<&String> = opened
        .iter()
        .filter(|f| !ALLOWED.contains(&f.as_str()))
        .collect();
    assert!(
        unexpected.is_empty(),
        "Unscoped::open outside the tenant-less flows: {unexpected:?}"
    );
    assert!(
        opened.contains("functions/src/identity/flows.rs"),
        "the scan found no construction point at all: {opened:?}"
    );
}

/// `shared` is the platform only: no domain module lives there.
#[test]
fn the_platform_crate_holds_no_domain_module() {
    let graph = module_graph(&workspace().join("shared/src"));
    for domain in [
        "identity",
        "invitations",
        "documents",
        "cleanup",
        "admin",
        "seed",
        "members",
        "organization",
        "transfer",
    ] {
        assert!(
            !graph.contains_key(domain),
            "shared has a domain module: {domain}"
        );
    }
    let manifest = std::fs::read_to_string(workspace().join("functions/Cargo.toml"))
        .expect("functions manifest");
    assert!(
        !manifest
            .lines()
            .any(|l| l.trim_start().starts_with("mongodb")),
        "functions depends on the MongoDB driver directly"
    );
}
