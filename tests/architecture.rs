//! The crates' shape, checked on every test run: the platform's top-level
//! modules (files and folders of `shared/src`) import each other without a
//! cycle and only downwards through the layers its root declares
//! (vocabulary and errors, config, stored data, cross-cutting records, the
//! caller, the tenant scope, the record engine, the runtime), so the crate
//! reads bottom-up; the domain (`functions/src`) imports itself without a
//! cycle, between its top-level modules and file by file. Also: only `shared` names the MongoDB
//! driver.
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

/// The paths `crate::...`, `super::...` and `self::...` in one line of
/// code, each as (its root, its segments), with `{a, b::c}` groups expanded.
fn rooted_paths(line: &str) -> Vec<(String, Vec<String>)> {
    fn ident(s: &str) -> (&str, &str) {
        let end = s
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        (&s[..end], &s[end..])
    }
    /// Parses `a::b::{c, d::e}` from the start of `s` into whole paths.
    fn tree(s: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
        let s0 = s.len();
        let mut s = s.trim_start();
        let mut path = prefix;
        loop {
            if let Some(group) = s.strip_prefix('{') {
                let mut rest = group;
                loop {
                    let used = tree(rest, path.clone(), out);
                    rest = rest[used..].trim_start();
                    match rest.chars().next() {
                        Some(',') => rest = &rest[1..],
                        Some('}') => {
                            rest = &rest[1..];
                            break;
                        }
                        _ => break,
                    }
                }
                return s0 - rest.len();
            }
            let (name, rest) = ident(s);
            if name.is_empty() {
                out.push(path);
                return s0 - s.len();
            }
            path.push(name.to_string());
            match rest.strip_prefix("::") {
                Some(next) => s = next,
                None => {
                    out.push(path);
                    return s0 - rest.len();
                }
            }
        }
    }
    let mut found = vec![];
    for root in ["crate", "super", "self"] {
        let needle = format!("{root}::");
        let mut at = 0;
        while let Some(i) = line[at..].find(&needle) {
            let start = at + i;
            at = start + needle.len();
            let before = line[..start].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue; // `shared_crate::`, `super::super::` (read below)
            }
            let mut supers = 0;
            let mut rest = &line[at..];
            if root == "super" {
                supers = 1;
                while let Some(r) = rest.strip_prefix("super::") {
                    supers += 1;
                    rest = r;
                }
            }
            let mut paths = vec![];
            tree(rest, vec![], &mut paths);
            let root = match root {
                "super" => format!("super{supers}"),
                r => r.to_string(),
            };
            found.extend(paths.into_iter().map(|p| (root.clone(), p)));
        }
    }
    found
}

/// File -> the files it uses, for a crate whose modules are files
/// (`a/b.rs` or `a/b/mod.rs` is module `a::b`): each `crate::`, `super::`
/// and `self::` path and each path through a child module (`lines::add` in
/// the file that declares `mod lines;`) names the file of its longest
/// module prefix. A `super::` inside an inline module (`mod tests {}`)
/// means the file's own module.
fn file_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = vec![];
    rust_files(src, &mut files);
    let rel = |p: &Path| {
        p.strip_prefix(src)
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/")
    };
    let module_of = |p: &Path| -> Vec<String> {
        let r = rel(p);
        let mut parts: Vec<String> = r
            .trim_end_matches(".rs")
            .split('/')
            .map(String::from)
            .collect();
        if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
            parts.pop();
        }
        parts
    };
    let files: Vec<PathBuf> = files
        .into_iter()
        .filter(|p| !rel(p).starts_with("bin/"))
        .collect();
    let modules: BTreeMap<Vec<String>, String> =
        files.iter().map(|p| (module_of(p), rel(p))).collect();
    let resolve = |segments: Vec<String>| -> Option<&String> {
        (1..=segments.len())
            .rev()
            .find_map(|n| modules.get(&segments[..n]))
    };
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let me = module_of(file);
        let from = rel(file);
        let text = std::fs::read_to_string(file).expect("readable source");
        let uses = graph.entry(from.clone()).or_default();
        // Brace depths at which inline modules opened.
        let mut inline: Vec<usize> = vec![];
        let mut depth = 0usize;
        for line in text.lines().map(code) {
            let trimmed = line.trim_start();
            let opens_inline = (trimmed.starts_with("mod ") || trimmed.starts_with("pub mod "))
                && trimmed.trim_end().ends_with('{');
            for (root, path) in rooted_paths(line) {
                let base: Vec<String> = match root.as_str() {
                    "crate" => vec![],
                    "self" => me.clone(),
                    r => {
                        let ups = r["super".len()..].parse::<usize>().unwrap_or(1);
                        let ups = ups.saturating_sub(inline.len());
                        me[..me.len().saturating_sub(ups)].to_vec()
                    }
                };
                let full: Vec<String> = base.into_iter().chain(path).collect();
                if let Some(to) = resolve(full) {
                    if *to != from {
                        uses.insert(to.clone());
                    }
                }
            }
            // Paths through a child module of this one.
            for (i, _) in line.match_indices("::") {
                let head = &line[..i];
                let start = head
                    .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .map_or(0, |j| j + 1);
                if head[..start].ends_with("::") {
                    continue;
                }
                let child = &head[start..];
                let mut path = me.clone();
                path.push(child.to_string());
                if let Some(to) = modules.get(&path) {
                    uses.insert(to.clone());
                }
            }
            for c in line.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth = depth.saturating_sub(1);
                        if inline.last() == Some(&depth) {
                            inline.pop();
                        }
                    }
                    _ => {}
                }
            }
            if opens_inline {
                inline.push(depth - 1);
            }
        }
    }
    graph
}

/// The layer of each module, read from the numbered list in the crate
/// root's docs (`//! 3. Stored data: [`store`] ...`): the first
/// `[`name`]` or `[`name::...`]` of each mention.
fn layer_map(lib: &str) -> BTreeMap<String, usize> {
    let mut map = BTreeMap::new();
    let mut layer = None;
    for line in lib.lines() {
        let Some(doc) = line.strip_prefix("//!") else {
            break;
        };
        let doc = doc.trim();
        if let Some((n, _)) = doc.split_once(". ") {
            if let Ok(n) = n.parse::<usize>() {
                layer = Some(n);
            }
        }
        if doc.is_empty() && layer.is_some() {
            break;
        }
        let Some(n) = layer else { continue };
        for piece in doc.split("[`").skip(1) {
            let name: String = piece
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            map.entry(name).or_insert(n);
        }
    }
    map
}

#[test]
fn the_platform_modules_keep_to_the_layers_its_root_declares() {
    let src = workspace().join("shared/src");
    let layers = layer_map(&std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs"));
    let graph = module_graph(&src);
    let unplaced: Vec<&String> = graph.keys().filter(|m| !layers.contains_key(*m)).collect();
    assert!(
        unplaced.is_empty(),
        "modules without a layer in lib.rs: {unplaced:?}"
    );
    let mut upward = vec![];
    for (from, uses) in &graph {
        for to in uses {
            if layers[to] > layers[from] {
                upward.push(format!(
                    "{from} ({}) uses {to} ({})",
                    layers[from], layers[to]
                ));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "modules reaching up a layer: {upward:#?}"
    );
    // The reader sees the layers: the runtime is on top, errors at the bottom.
    assert_eq!((layers["error"], layers["runtime"]), (1, 8));
}

#[test]
fn the_domain_modules_import_each_other_without_a_cycle() {
    let mut graph = module_graph(&workspace().join("functions/src"));
    graph.remove("bin");
    assert!(graph.len() > 10, "read too few modules: {graph:?}");
    assert!(
        graph["workshop"].contains("crm"),
        "the reader must see real edges: {graph:?}"
    );
    let found = cycles(&graph);
    assert!(
        found.is_empty(),
        "module cycles in functions/src: {found:?}"
    );
}

#[test]
fn the_domain_files_import_each_other_without_a_cycle() {
    let graph = file_graph(&workspace().join("functions/src"));
    assert!(graph.len() > 40, "read too few files: {graph:?}");
    assert!(
        graph["workshop/lines.rs"].contains("workshop/parts.rs"),
        "the reader must see real edges: {graph:?}"
    );
    let found = cycles(&graph);
    assert!(found.is_empty(), "file cycles in functions/src: {found:?}");
}

#[test]
fn the_file_reader_resolves_groups_supers_and_children() {
    let p = |r: &str, segs: &[&str]| (r.to_string(), segs.iter().map(|s| s.to_string()).collect());
    assert_eq!(
        rooted_paths("use super::{invoices, lines::add}; crate::a::b(); x::super::y"),
        vec![
            p("crate", &["a", "b"]),
            p("super1", &["invoices"]),
            p("super1", &["lines", "add"]),
        ]
    );
    // A scratch crate: a -> b through a child path, b -> a through
    // `super::`, and c's tests (`super::*` inside `mod tests`) mean c itself.
    let dir = std::env::temp_dir().join(format!("arch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("ctx")).unwrap();
    let write = |f: &str, t: &str| std::fs::write(dir.join(f), t).unwrap();
    write("lib.rs", "pub mod ctx;\n");
    write(
        "ctx/mod.rs",
        "pub mod a;\npub mod b;\npub mod c;\npub fn f() { c::g() }\n",
    );
    write("ctx/a.rs", "use super::{b::X, c};\n");
    write("ctx/b.rs", "pub fn y() { crate::ctx::a::z() }\n");
    write(
        "ctx/c.rs",
        "pub fn g() {}\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
    );
    let graph = file_graph(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        graph["ctx/a.rs"],
        BTreeSet::from(["ctx/b.rs".to_string(), "ctx/c.rs".to_string()])
    );
    assert!(graph["ctx/c.rs"].is_empty(), "{graph:?}");
    assert_eq!(
        graph["ctx/mod.rs"],
        BTreeSet::from(["ctx/c.rs".to_string()])
    );
    assert_eq!(cycles(&graph), vec![vec!["ctx/a.rs", "ctx/b.rs"]]);
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
/// sign-in and invitations (identity), the files sweep, maintenance
/// (cleanups, operator tasks, the webhook sender), and
/// public form submissions (crm/forms.rs: the submitter is anonymous).
/// A new construction point elsewhere fails here and has to be argued for.
#[test]
fn unscoped_access_is_opened_only_where_there_is_no_tenant() {
    const ALLOWED: [&str; 11] = [
        "functions/src/crm/forms.rs",
        "functions/src/identity/flows.rs",
        "functions/src/identity/profile.rs",
        "functions/src/identity/invitations.rs",
        "functions/src/files/documents.rs",
        "functions/src/maintenance/admin.rs",
        "functions/src/maintenance/backup.rs",
        "functions/src/maintenance/cleanup.rs",
        "functions/src/maintenance/reminders.rs",
        "functions/src/maintenance/seed.rs",
        "functions/src/maintenance/webhooks.rs",
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

/// The words of the domain (a workshop's), which the platform must not
/// use, in its code (identifiers split at `_` and case changes, and string
/// literals) nor its comments.
const DOMAIN_WORDS: [&str; 11] = [
    "vehicle",
    "vehicles",
    "work order",
    "work orders",
    "appointment",
    "appointments",
    "vin",
    "plate",
    "plates",
    "invoice",
    "invoices",
];

/// Domain names that are English words too ("indexes lead with",
/// "part of", "its problem+json form"): refused in code only.
const DOMAIN_NAMES: [&str; 6] = ["lead", "leads", "form", "forms", "part", "parts"];

/// Where a domain name stands in `shared/src` code for something generic,
/// with why: an HTTP form encoding, a MIME part, the head of a request,
/// the public-form rate-limit bucket (its name is an operator's
/// configuration key, `RATE_LIMIT_PUBLIC_FORM_*`).
const GENERIC_USES: [&str; 9] = [
    "form-urlencoded",
    "post_form",
    "JsonOrForm",
    "MultiPart",
    "SinglePart",
    "into_parts",
    "PublicForm",
    "public_form",
    "submissions of this form",
];

/// `line` lower-cased into words: identifiers split at `_`, `-` and
/// lower-to-upper case changes.
fn words_of(line: &str) -> String {
    let mut out = String::new();
    let mut prev: Option<char> = None;
    for c in line.chars() {
        if c.is_uppercase() && prev.is_some_and(|p| p.is_lowercase()) {
            out.push(' ');
        }
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else {
            out.push(' ');
        }
        prev = Some(c);
    }
    format!(" {} ", out.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[test]
fn the_platform_speaks_no_domain_word() {
    let mut found = vec![];
    let mut files = vec![];
    rust_files(&workspace().join("shared/src"), &mut files);
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable source");
        for (n, line) in text.lines().enumerate() {
            let mut code = code(line).to_string();
            for generic in GENERIC_USES {
                code = code.replace(generic, " ");
            }
            let (all, code) = (words_of(line), words_of(&code));
            let refused = DOMAIN_WORDS
                .iter()
                .filter(|w| all.contains(&format!(" {w} ")))
                .chain(
                    DOMAIN_NAMES
                        .iter()
                        .filter(|w| code.contains(&format!(" {w} "))),
                );
            for word in refused {
                found.push(format!("{}:{}: {word}", file.display(), n + 1));
            }
        }
    }
    assert!(files.len() > 30, "read too few files");
    assert!(found.is_empty(), "domain words in shared/src: {found:#?}");
    // The reader sees them where they are: a line of the domain is caught.
    assert!(words_of("let workOrder = find_live(&VEHICLE)").contains(" work order "));
    assert!(words_of("Kind::Vin").contains(" vin "));
    assert!(words_of("leads::LIST").contains(" leads "));
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
