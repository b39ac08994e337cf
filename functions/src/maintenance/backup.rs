//! Backup and restore of one tenant (`crm-admin tenants export|import`).
//!
//! The archive is a plain tar file anyone can open (`tar -xf`):
//! `manifest.json` first (format, organization, and per collection its
//! file, document count and SHA-256), then `organizations.jsonl` (the
//! organization itself) and `collections/NAME.jsonl` for every collection
//! that holds documents of the organization (found by listing the
//! database, so a collection no declaration names is not forgotten), one
//! document per line in canonical extended JSON (every BSON type kept:
//! ids, dates, 64-bit numbers), and `objects.jsonl`, the manifest of the
//! organization's stored files (key, size, type, whether the object was
//! there). File bytes stay in the bucket: restore them from its versioning
//! or replication.
//!
//! Import checks every checksum before it writes anything, refuses an
//! organization that exists (by id or slug), and writes the organization
//! last, so a tenant is either whole or, after a failure, removed again.
//! Without `--as` the ids are kept (the restore after a purge); with `--as
//! NEW_SLUG` every id is new and every reference follows (a copy next to
//! the original; its users' emails must be free).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use bson::oid::ObjectId;
use bson::{doc, Bson, DateTime, Document};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use shared::db::collections;
use shared::error::{id_of, ApiError};
use shared::state::State;
use shared::unscoped::{Purpose, Unscoped};

pub const FORMAT: &str = "workshop-crm-tenant/1";
const PAGE: i64 = 500;

/// Progress of a long operator task, drawn only on a terminal.
pub trait Progress {
    fn start(&self, total: u64, what: &str);
    fn advance(&self, n: u64);
    fn finish(&self);
}

/// No progress drawn (`--json`, tests).
pub struct Quiet;

impl Progress for Quiet {
    fn start(&self, _: u64, _: &str) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

fn db(state: &State) -> Unscoped<'_> {
    Unscoped::open(state, Purpose::Operator)
}

/// What can stop a tenant export or import: a file or a line of it (with
/// what was being read or written, and the cause), an archive refused
/// (with why), or the database.
#[derive(Debug)]
pub enum BackupError {
    Io {
        what: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    Refused(String),
    Api(ApiError),
}

impl std::fmt::Display for BackupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackupError::Io { what, source } => write!(f, "{what}: {source}"),
            BackupError::Refused(why) => write!(f, "the archive is refused: {why}"),
            BackupError::Api(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for BackupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BackupError::Io { source, .. } => Some(source.as_ref()),
            BackupError::Api(e) => Some(e),
            BackupError::Refused(_) => None,
        }
    }
}

impl From<ApiError> for BackupError {
    fn from(e: ApiError) -> Self {
        BackupError::Api(e)
    }
}

fn io(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> BackupError {
    BackupError::Io {
        what: what.to_string(),
        source: Box::new(e),
    }
}

fn to_line(d: Document) -> String {
    Bson::Document(d).into_canonical_extjson().to_string()
}

fn from_line(line: &str) -> Result<Document, BackupError> {
    let value: Value = serde_json::from_str(line).map_err(|e| io("a line is not JSON", e))?;
    match Bson::try_from(value).map_err(|e| io("a line is not extended JSON", e))? {
        Bson::Document(d) => Ok(d),
        _ => Err(refused("a line is not a document".into())),
    }
}

/// A file of the archive being written: its lines hashed as they go.
struct Part {
    path: PathBuf,
    out: BufWriter<File>,
    hash: Sha256,
    documents: u64,
}

impl Part {
    fn create(dir: &Path, name: &str) -> Result<Part, BackupError> {
        let path = dir.join(name.replace('/', "__"));
        let out = BufWriter::new(File::create(&path).map_err(|e| io("temporary file", e))?);
        Ok(Part {
            path,
            out,
            hash: Sha256::new(),
            documents: 0,
        })
    }

    fn push(&mut self, line: &str) -> Result<(), BackupError> {
        let bytes = format!("{line}\n");
        self.hash.update(bytes.as_bytes());
        self.out
            .write_all(bytes.as_bytes())
            .map_err(|e| io("temporary file", e))?;
        self.documents += 1;
        Ok(())
    }

    fn close(mut self) -> Result<(PathBuf, u64, String), BackupError> {
        self.out.flush().map_err(|e| io("temporary file", e))?;
        Ok((
            self.path,
            self.documents,
            shared::hex::hex(&self.hash.finalize()),
        ))
    }
}

/// `tenants export SLUG --out FILE`: writes the archive; returns the
/// manifest.
pub async fn export(
    state: &State,
    slug: &str,
    out: &Path,
    progress: &dyn Progress,
) -> Result<Value, BackupError> {
    let db = db(state);
    let org = db
        .collection(collections::ORGANIZATIONS)
        .find_one(doc! { "slug": slug })
        .await?
        .ok_or(ApiError::NotFound {
            resource: "organization",
        })?;
    let org_id = id_of(&org, "organization")?;
    let mut names: Vec<String> = db
        .collection_names()
        .await?
        .into_iter()
        .filter(|n| n != collections::ORGANIZATIONS && !n.starts_with("system."))
        .collect();
    names.sort();
    let mut counts = BTreeMap::new();
    for name in &names {
        let n = db
            .collection(name)
            .count(doc! { "organizationId": org_id })
            .await?;
        if n > 0 {
            counts.insert(name.clone(), n);
        }
    }
    progress.start(counts.values().sum::<u64>() + 1, "documents");
    let scratch = std::env::temp_dir().join(format!("crm-export-{}", ObjectId::new().to_hex()));
    std::fs::create_dir_all(&scratch).map_err(|e| io("temporary directory", e))?;
    let result = async {
        let mut parts = vec![];
        let mut own = Part::create(&scratch, "organizations.jsonl")?;
        own.push(&to_line(org.clone()))?;
        progress.advance(1);
        parts.push(("organizations.jsonl".to_string(), "organizations".to_string(), own.close()?));
        for name in counts.keys() {
            let file = format!("collections/{name}.jsonl");
            let mut part = Part::create(&scratch, &file)?;
            let table = db.collection(name);
            let mut after: Option<Bson> = None;
            loop {
                let mut filter = doc! { "organizationId": org_id };
                if let Some(a) = &after {
                    filter.insert("_id", doc! { "$gt": a.clone() });
                }
                let page = table.find_many(filter, doc! { "_id": 1 }, PAGE, None).await?;
                let Some(last) = page.last() else { break };
                after = last.get("_id").cloned();
                progress.advance(page.len() as u64);
                for d in page {
                    part.push(&to_line(without_live_links(name, d)))?;
                }
            }
            parts.push((file, name.clone(), part.close()?));
        }
        let mut objects = Part::create(&scratch, "objects.jsonl")?;
        let storage = db.storage().ok();
        let stored = db
            .collection(collections::DOCUMENTS)
            .find_many(
                doc! { "organizationId": org_id, "storageKey": { "$type": "string" } },
                doc! { "_id": 1 },
                1_000_000,
                None,
            )
            .await?;
        for d in &stored {
            let key = d.get_str("storageKey").unwrap_or_default();
            let present = match storage {
                Some(s) => Some(s.head(key).await?.is_some()),
                None => None,
            };
            objects.push(&json!({
                "key": key, "size": shared::db::number(d, "size"),
                "contentType": d.get_str("contentType").ok(), "present": present,
            }).to_string())?;
        }
        let objects = objects.close()?;
        let manifest = json!({
            "format": FORMAT,
            "exportedAt": shared::time::rfc3339(DateTime::now()),
            "database": state.database_name(),
            "organization": { "id": org_id.to_hex(), "slug": slug, "name": org.get_str("name").unwrap_or_default() },
            "collections": parts.iter().map(|(file, name, (_, n, sha))| json!({
                "name": name, "file": file, "documents": n, "sha256": sha,
            })).collect::<Vec<_>>(),
            "objects": { "file": "objects.jsonl", "count": objects.1, "sha256": objects.2 },
        });
        let file = File::create(out).map_err(|e| io(&format!("cannot write {}", out.display()), e))?;
        let mut tar = tar::Builder::new(BufWriter::new(file));
        let text = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(DateTime::now().timestamp_millis() as u64 / 1000);
        tar.append_data(&mut header, "manifest.json", text.as_slice())
            .map_err(|e| io("archive", e))?;
        for (file, _, (path, _, _)) in parts.iter().chain(std::iter::once(&(
            "objects.jsonl".to_string(),
            String::new(),
            objects.clone(),
        ))) {
            tar.append_path_with_name(path, file)
                .map_err(|e| io("archive", e))?;
        }
        tar.into_inner()
            .and_then(|mut w| w.flush())
            .map_err(|e| io("archive", e))?;
        progress.finish();
        Ok(manifest)
    }
    .await;
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// A document as an archive carries it: an email still waiting in the
/// outbox leaves its (sealed) bodies behind, since they may hold a
/// one-time link, and is marked given up; everything else as stored.
fn without_live_links(collection: &str, mut d: Document) -> Document {
    let waiting = d.get("sealed").is_some_and(|s| *s != Bson::Null)
        || d.get_str("text").is_ok()
        || d.get_str("html").is_ok();
    if collection == collections::EMAIL_OUTBOX && waiting {
        for k in ["sealed", "text", "html"] {
            d.insert(k, Bson::Null);
        }
        if matches!(d.get_str("status"), Ok("PENDING" | "SENDING")) {
            d.insert("status", "FAILED");
            d.insert("lastError", "left out of a tenant archive with its bodies");
        }
    }
    d
}

/// What pass one learnt of an archive.
struct Checked {
    manifest: Value,
    /// Every `_id` in the archive that is an ObjectId.
    ids: Vec<ObjectId>,
}

fn entries(path: &Path) -> Result<tar::Archive<BufReader<File>>, BackupError> {
    let file = File::open(path).map_err(|e| io(&format!("cannot read {}", path.display()), e))?;
    Ok(tar::Archive::new(BufReader::new(file)))
}

/// Collections an archive never writes: the platform's own, which hold
/// no one tenant's data (the organization comes from its own file).
const NOT_TENANT_DATA: [&str; 4] = [
    collections::ORGANIZATIONS,
    collections::RATE_LIMITS,
    collections::SCHEMA_MIGRATIONS,
    collections::IP_BLOCKS,
];

/// The collection a `collections/NAME.jsonl` entry may write, if any: a
/// plain name that is not the platform's.
fn tenant_collection(file: &str) -> Option<&str> {
    let name = file.strip_prefix("collections/")?.strip_suffix(".jsonl")?;
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    (plain && !name.starts_with("system") && !NOT_TENANT_DATA.contains(&name)).then_some(name)
}

fn refused(why: String) -> BackupError {
    BackupError::Refused(why)
}

/// Pass one: the manifest, every checksum, every id; nothing written. An
/// archive is refused whole when an entry appears twice or is not in its
/// manifest, when a collection is not one that holds tenant data, or when
/// any document belongs to another organization than the archive's.
fn check(path: &Path) -> Result<Checked, BackupError> {
    let mut archive = entries(path)?;
    let mut manifest: Option<Value> = None;
    let mut sums: HashMap<String, String> = HashMap::new();
    let mut ids = vec![];
    // The organizations the documents name: by `organizationId`, and the
    // organization's own file by `_id`.
    let mut owners: std::collections::HashSet<Option<ObjectId>> = Default::default();
    let mut own_docs = 0;
    for entry in archive.entries().map_err(|e| io("archive", e))? {
        let mut entry = entry.map_err(|e| io("archive", e))?;
        let name = entry
            .path()
            .map_err(|e| io("archive", e))?
            .to_string_lossy()
            .to_string();
        if sums.contains_key(&name) || (name == "manifest.json" && manifest.is_some()) {
            return Err(refused(format!("{name} appears twice")));
        }
        let kind = match name.as_str() {
            "manifest.json" | "objects.jsonl" | "organizations.jsonl" => name.as_str(),
            other if tenant_collection(other).is_some() => "collection",
            other => return Err(refused(format!("{other} is not an entry an archive holds"))),
        };
        if name == "manifest.json" {
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(|e| io("manifest", e))?;
            manifest = Some(serde_json::from_str(&text).map_err(|e| io("manifest", e))?);
            continue;
        }
        let mut hash = Sha256::new();
        let reader = BufReader::new(&mut entry);
        for line in reader.lines() {
            let line = line.map_err(|e| io(&name, e))?;
            hash.update(line.as_bytes());
            hash.update(b"\n");
            if kind != "objects.jsonl" {
                let d = from_line(&line)?;
                if let Ok(id) = d.get_object_id("_id") {
                    ids.push(id);
                }
                if kind == "organizations.jsonl" {
                    own_docs += 1;
                    owners.insert(d.get_object_id("_id").ok());
                } else {
                    owners.insert(d.get_object_id("organizationId").ok());
                }
            }
        }
        sums.insert(name, shared::hex::hex(&hash.finalize()));
    }
    let manifest = manifest.ok_or_else(|| refused("the archive has no manifest.json".into()))?;
    if manifest["format"] != FORMAT {
        return Err(refused(format!(
            "not a tenant archive of this version (format {})",
            manifest["format"]
        )));
    }
    let mut expected: Vec<(&str, &str)> = manifest["collections"]
        .as_array()
        .map(|c| {
            c.iter()
                .map(|c| {
                    (
                        c["file"].as_str().unwrap_or(""),
                        c["sha256"].as_str().unwrap_or(""),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    expected.push((
        manifest["objects"]["file"]
            .as_str()
            .unwrap_or("objects.jsonl"),
        manifest["objects"]["sha256"].as_str().unwrap_or(""),
    ));
    let org = manifest["organization"]["id"]
        .as_str()
        .and_then(|s| s.parse::<ObjectId>().ok());
    if own_docs != 1 || owners.iter().any(|o| *o != org || o.is_none()) {
        return Err(refused(
            "it holds documents of another organization than its own".into(),
        ));
    }
    if let Some(extra) = sums
        .keys()
        .find(|f| !expected.iter().any(|(e, _)| e == f) && f.as_str() != "organizations.jsonl")
    {
        return Err(refused(format!("{extra} is not in its manifest")));
    }
    for (file, sha) in expected {
        if file != "organizations.jsonl"
            && file != "objects.jsonl"
            && tenant_collection(file).is_none()
        {
            return Err(refused(format!(
                "{file} is not a collection of tenant data"
            )));
        }
        match sums.get(file) {
            Some(got) if got == sha => {}
            Some(_) => {
                return Err(refused(format!(
                    "{file} does not match its checksum: the archive is damaged"
                )))
            }
            None => return Err(refused(format!("{file} is missing from the archive"))),
        }
    }
    Ok(Checked { manifest, ids })
}

/// Replaces every ObjectId found in `map` (values, nested), and the old
/// organization id where it starts a string (`<org>:<name>` sequence ids).
fn remap(value: &mut Bson, map: &HashMap<ObjectId, ObjectId>, org: (&str, &str)) {
    match value {
        Bson::ObjectId(id) => {
            if let Some(new) = map.get(id) {
                *id = *new;
            }
        }
        Bson::String(s) if s.starts_with(org.0) => {
            *s = format!("{}{}", org.1, &s[org.0.len()..]);
        }
        Bson::Document(d) => d.iter_mut().for_each(|(_, v)| remap(v, map, org)),
        Bson::Array(a) => a.iter_mut().for_each(|v| remap(v, map, org)),
        _ => {}
    }
}

/// `tenants import FILE [--as NEW_SLUG]`: restores the archive into an
/// organization that does not exist; returns what it wrote.
pub async fn import(
    state: &State,
    path: &Path,
    new_slug: Option<&str>,
    progress: &dyn Progress,
) -> Result<Value, BackupError> {
    let checked = check(path)?;
    let manifest = &checked.manifest;
    let old_org: ObjectId = manifest["organization"]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| refused("the manifest names no organization".into()))?;
    let slug = new_slug.map(str::to_string).unwrap_or_else(|| {
        manifest["organization"]["slug"]
            .as_str()
            .unwrap_or("")
            .to_string()
    });
    let map: HashMap<ObjectId, ObjectId> = match new_slug {
        Some(_) => checked
            .ids
            .iter()
            .map(|id| (*id, ObjectId::new()))
            .collect(),
        None => HashMap::new(),
    };
    let org_id = map.get(&old_org).copied().unwrap_or(old_org);
    let db = db(state);
    let orgs = db.collection(collections::ORGANIZATIONS);
    if orgs
        .find_one(doc! { "$or": [ { "_id": org_id }, { "slug": &slug } ] })
        .await?
        .is_some()
    {
        return Err(BackupError::Api(ApiError::conflict(
            shared::error::Code::AlreadyExists,
            format!("organization {slug} (or its id {org_id}) exists: import refuses to overwrite; purge it first or import with --as NEW_SLUG"),
        )));
    }
    let total: u64 = manifest["collections"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["documents"].as_u64()).sum())
        .unwrap_or(0);
    progress.start(total, "documents");
    let org_hex = (old_org.to_hex(), org_id.to_hex());
    let org_prefix = (format!("{}:", org_hex.0), format!("{}:", org_hex.1));
    let written = restore(
        state,
        path,
        &map,
        (&org_prefix.0, &org_prefix.1),
        &slug,
        progress,
    )
    .await;
    match written {
        Ok((counts, org_doc)) => {
            orgs.insert_one(org_doc).await?;
            progress.finish();
            Ok(json!({
                "organization": { "id": org_id.to_hex(), "slug": slug },
                "idsKept": new_slug.is_none(),
                "documents": counts,
                "objects": manifest["objects"]["count"],
            }))
        }
        Err(e) => {
            // Whatever was written goes again: a tenant is whole or not there.
            for name in db.collection_names().await.unwrap_or_default() {
                let _ = db
                    .collection(&name)
                    .delete_many(doc! { "organizationId": org_id })
                    .await;
            }
            Err(e)
        }
    }
}

/// Pass two: every collection's documents, a page at a time, the
/// organization kept back.
async fn restore(
    state: &State,
    path: &Path,
    map: &HashMap<ObjectId, ObjectId>,
    org_prefix: (&str, &str),
    slug: &str,
    progress: &dyn Progress,
) -> Result<(BTreeMap<String, u64>, Document), BackupError> {
    let db = db(state);
    let mut archive = entries(path)?;
    let mut counts = BTreeMap::new();
    let mut org_doc = None;
    for entry in archive.entries().map_err(|e| io("archive", e))? {
        let entry = entry.map_err(|e| io("archive", e))?;
        let name = entry
            .path()
            .map_err(|e| io("archive", e))?
            .to_string_lossy()
            .to_string();
        let collection = if name == "organizations.jsonl" {
            collections::ORGANIZATIONS.to_string()
        } else if let Some(c) = name
            .strip_prefix("collections/")
            .and_then(|n| n.strip_suffix(".jsonl"))
        {
            c.to_string()
        } else {
            continue;
        };
        let table = db.collection(&collection);
        let mut page = vec![];
        let mut lines = BufReader::new(entry).lines();
        loop {
            let line = lines.next().transpose().map_err(|e| io(&name, e))?;
            let done = line.is_none();
            if let Some(line) = line {
                let mut value = Bson::Document(from_line(&line)?);
                if !map.is_empty() {
                    remap(&mut value, map, org_prefix);
                }
                if let Bson::Document(mut d) = value {
                    if collection == collections::ORGANIZATIONS {
                        d.insert("slug", slug);
                        org_doc = Some(d);
                    } else {
                        page.push(d);
                    }
                }
            }
            if page.len() as i64 >= PAGE || (done && !page.is_empty()) {
                let n = page.len() as u64;
                table.insert_many(std::mem::take(&mut page)).await?;
                progress.advance(n);
                *counts.entry(collection.clone()).or_insert(0) += n;
            }
            if done {
                break;
            }
        }
    }
    let org_doc = org_doc.ok_or_else(|| refused("the archive has no organization".into()))?;
    Ok((counts, org_doc))
}
