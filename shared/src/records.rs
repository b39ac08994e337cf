//! The record semantics every CRM entity shares, implemented once.
//!
//! An entity is a declaration: its collection, how its create and patch
//! bodies become validated fields, and which fields may be filtered, sorted
//! and searched. This module gives it list (cursor-paginated), get, create,
//! update (`If-Match` -> 412), soft delete and restore, each mutation in a
//! transaction with its audit entry, and MEMBERs limited to records they
//! created.

use bson::oid::ObjectId;
use bson::{doc, Bson, DateTime, Document};
use http::StatusCode;
use serde_json::{json, Map, Value};

use crate::audit::{diff, Action, AuditEntry};
use crate::db::{Scope, Tx};
use crate::error::Code;
use crate::error::{id_of, ApiError, FieldError};
use crate::fields::{self, Field, Reference};
use crate::http::{ApiRequest, ApiResponse};
use crate::time::{DAY_MS, MINUTE_MS};

/// What an operation of the engine answers (a route's handler hands it on).
pub type Answer = Result<ApiResponse, ApiError>;
use crate::migrate::Index;
use crate::rbac::Permission;
use crate::validate::Errors;

pub const DEFAULT_LIMIT: i64 = 25;
pub const MAX_LIMIT: i64 = 100;

/// What a list of the entity may be filtered, sorted and searched by.
pub struct ListSpec {
    /// Allow-listed sort fields (each backed by an index that leads with `organizationId`).
    pub sort_fields: &'static [&'static str],
    /// Used when the request has no `sort=`, e.g. `-createdAt`.
    pub default_sort: &'static str,
    /// Fields `q=` searches, case-insensitively.
    pub search_fields: &'static [&'static str],
    /// Query parameters that filter the list.
    pub filters: &'static [Filter],
}

/// A list filter: query parameter `param` restricts `field`.
pub struct Filter {
    pub param: &'static str,
    pub field: &'static str,
    pub kind: FilterKind,
}

pub enum FilterKind {
    /// Equality with the text given.
    Text,
    /// Equality with a record id (24 hex characters).
    Id,
    /// `true` or `false`.
    Bool,
    /// Equality with a whole number.
    Integer,
    /// A condition the entity makes of the value, with how its contract
    /// describes the parameter: its JSON type and a sentence.
    Custom {
        condition: fn(&str) -> Result<Document, ApiError>,
        json_type: &'static str,
        description: Option<&'static str>,
    },
    /// `field` (a time) at or after the RFC 3339 time given.
    From,
    /// `field` (a time) before the RFC 3339 time given.
    To,
}

impl Filter {
    /// `?name=` filters by equality on the field of the same name.
    pub const fn text(name: &'static str) -> Self {
        Self {
            param: name,
            field: name,
            kind: FilterKind::Text,
        }
    }

    /// `?name=<id>` filters by a reference to another record.
    pub const fn id(name: &'static str) -> Self {
        Self {
            param: name,
            field: name,
            kind: FilterKind::Id,
        }
    }

    /// `?param=` matches one element of the array `field` (e.g. `tag` in `tags`).
    pub const fn element(param: &'static str, field: &'static str) -> Self {
        Self {
            param,
            field,
            kind: FilterKind::Text,
        }
    }

    /// `?param=<value>` adds the condition `condition` makes of the value
    /// (a rule of the entity's own, such as `lowStock=true`); `field`
    /// names what the condition reads first, for the index.
    pub const fn custom(
        param: &'static str,
        field: &'static str,
        condition: fn(&str) -> Result<Document, ApiError>,
    ) -> Self {
        Self::condition(param, field, condition, "string", None)
    }

    /// A [`Self::custom`] filter whose value is a boolean, described by
    /// `description` in the contract.
    pub const fn custom_flag(
        param: &'static str,
        field: &'static str,
        condition: fn(&str) -> Result<Document, ApiError>,
        description: &'static str,
    ) -> Self {
        Self::condition(param, field, condition, "boolean", Some(description))
    }

    const fn condition(
        param: &'static str,
        field: &'static str,
        condition: fn(&str) -> Result<Document, ApiError>,
        json_type: &'static str,
        description: Option<&'static str>,
    ) -> Self {
        Self {
            param,
            field,
            kind: FilterKind::Custom {
                condition,
                json_type,
                description,
            },
        }
    }

    /// `?param=<time>`: `field` at or after it (a range's start).
    pub const fn from(param: &'static str, field: &'static str) -> Self {
        Self {
            param,
            field,
            kind: FilterKind::From,
        }
    }

    /// `?param=<time>`: `field` before it (a range's end, exclusive).
    pub const fn to(param: &'static str, field: &'static str) -> Self {
        Self {
            param,
            field,
            kind: FilterKind::To,
        }
    }

    /// `?name=<n>` filters by equality with a whole number.
    pub const fn integer(name: &'static str) -> Self {
        Self {
            param: name,
            field: name,
            kind: FilterKind::Integer,
        }
    }

    pub const fn boolean(name: &'static str) -> Self {
        Self {
            param: name,
            field: name,
            kind: FilterKind::Bool,
        }
    }

    /// Adds this filter's condition for `value` to `filter` (400 when the
    /// value does not fit the filter's kind).
    pub fn apply(&self, value: &str, filter: &mut Document) -> Result<(), ApiError> {
        match self.kind {
            FilterKind::Text => {
                filter.insert(self.field, value);
            }
            FilterKind::Id => {
                let id = crate::validate::object_id(self.param, value).map_err(|_| {
                    ApiError::bad_field(
                        Code::InvalidParameter,
                        self.param,
                        "must be a 24-character hex id",
                    )
                })?;
                filter.insert(self.field, id);
            }
            FilterKind::Bool => {
                let b = match value {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(ApiError::bad_field(
                            Code::InvalidParameter,
                            self.param,
                            "must be true or false",
                        ))
                    }
                };
                filter.insert(self.field, b);
            }
            FilterKind::From | FilterKind::To => {
                let t = DateTime::parse_rfc3339_str(value).map_err(|_| {
                    ApiError::bad_field(
                        Code::InvalidParameter,
                        self.param,
                        "must be an RFC 3339 time such as 2026-11-21T09:00:00Z",
                    )
                })?;
                let op = if matches!(self.kind, FilterKind::From) {
                    "$gte"
                } else {
                    "$lt"
                };
                // Both ends of a range land on the same field.
                let mut range = filter.get_document(self.field).cloned().unwrap_or_default();
                range.insert(op, t);
                filter.insert(self.field, range);
            }
            FilterKind::Custom { condition, .. } => {
                filter.extend(condition(value)?);
            }
            FilterKind::Integer => {
                let n: i64 = value.parse().map_err(|_| {
                    ApiError::bad_field(
                        Code::InvalidParameter,
                        self.param,
                        "must be a whole number",
                    )
                })?;
                filter.insert(self.field, n);
            }
        }
        Ok(())
    }
}

/// A CRM entity, declared by its module in `functions`: its collection, its
/// fields and what its list offers. Everything else is this module's.
pub struct Entity {
    /// The collection, e.g. `accounts`.
    pub collection: &'static str,
    /// The singular name used in errors and audit entries, e.g. `account`.
    pub resource: &'static str,
    pub list: ListSpec,
    pub fields: &'static [Field],
    /// Fields unique within the organization (among records that have one).
    pub unique: &'static [&'static str],
    /// Fields unique among the organization's live records (a deleted
    /// record's value is free again; restoring it then is a 409).
    pub unique_live: &'static [&'static str],
    /// Whether `POST /api/v1/imports` takes CSV rows of it.
    pub importable: bool,
    /// Read-only whole numbers (stock levels) every new record starts at
    /// 0 with: no create, patch or import body may set them, only the
    /// entity's own flows.
    pub counters: &'static [&'static str],
    /// A per-organization number each new record gets (`WO-000001`).
    pub numbering: Option<Numbering>,
    /// What the entity checks and fills in on create and on PATCH alike,
    /// with the database at hand (a default taken from a referenced record,
    /// a rule across records), after the body's own validation: it sees the
    /// record as the write would leave it (on create the new fields; on a
    /// PATCH the record before with the changes applied, and
    /// [`Write::Update`] with the record before), so a rule declared once
    /// holds for both, and what it fills in is written too.
    pub prepare: Option<Prepare>,
    /// Fields naming the member a record is assigned to (a job's
    /// technician), who may change it like the member who created it.
    pub assignees: &'static [&'static str],
    /// What else a create, PATCH, delete or restore writes or checks in
    /// its transaction, given which it is (with the record before a PATCH)
    /// and the record after: a reading the record carries, the stock its
    /// lines hold, a booking's rule against the others. An error aborts
    /// the whole write.
    pub written: Option<Written>,
    /// A per-organization lock every create, PATCH and restore of the
    /// entity takes first in its transaction, so that a rule across records
    /// no index can express (no two bookings overlap), checked by
    /// [`Entity::written`], sees every committed write: concurrent writers
    /// conflict on the lock and run again, one after the other.
    pub serialize: Option<&'static str>,
    /// The widest range a list's `from`/`to` parameters may span.
    pub max_range: Option<RangeLimit>,
    /// Every route of the entity, reads included, needs ADMIN+
    /// (`Permission::Configure`): records that configure how the outside
    /// reaches the organization (public forms).
    pub admin_only: bool,
    /// Any role reads; creating, changing, deleting and restoring need
    /// ADMIN+ (`Permission::Configure`): what the shop sets up for its
    /// staff to use (inspection templates).
    pub admin_writes: bool,
}

impl Entity {
    /// What a declaration leaves out: no unique fields, not importable, no
    /// counters, numbering, create checks or assignees. A declaration
    /// names its collection, resource, list and fields, and what it needs
    /// beyond these, then `..Entity::DEFAULTS`.
    pub const DEFAULTS: Entity = Entity {
        collection: "",
        resource: "",
        list: ListSpec {
            sort_fields: &[],
            default_sort: "-createdAt",
            search_fields: &[],
            filters: &[],
        },
        fields: &[],
        unique: &[],
        unique_live: &[],
        importable: false,
        counters: &[],
        numbering: None,
        prepare: None,
        assignees: &[],
        written: None,
        serialize: None,
        max_range: None,
        admin_only: false,
        admin_writes: false,
    };

    /// Whether the caller created `record` or is one of its assignees: a
    /// MEMBER may change such a record without `UpdateAnyRecord`.
    pub fn is_callers(&self, scope: &Scope, record: &Document) -> bool {
        let me = Some(scope.caller().user.id);
        record.get_object_id("createdBy").ok() == me
            || self
                .assignees
                .iter()
                .any(|f| record.get_object_id(f).ok() == me)
    }

    /// The access a method of the entity's routes needs: `permission`,
    /// or `Configure` for an `admin_only` entity, and for a write of an
    /// `admin_writes` one.
    pub const fn access(&self, permission: Permission) -> crate::rbac::Access {
        let admin = self.admin_only
            || (self.admin_writes && !matches!(permission, Permission::ReadRecords));
        crate::rbac::Access::Requires(if admin {
            Permission::Configure
        } else {
            permission
        })
    }

    /// Whether making a record needs ADMIN+.
    pub const fn admin_creates(&self) -> bool {
        self.admin_only || self.admin_writes
    }

    /// The one ownership check: the caller's own record (see
    /// [`Self::is_callers`]) passes, anyone else's needs `permission`
    /// (403, audited, otherwise).
    pub async fn require_own_or(
        &self,
        scope: &Scope,
        record: &Document,
        permission: Permission,
    ) -> Result<(), ApiError> {
        if self.is_callers(scope, record) {
            Ok(())
        } else {
            scope.require(permission).await
        }
    }
}

/// A per-organization sequence: the record's `field` gets `prefix` and the
/// next number, zero-padded to `width` digits. The number is taken in the
/// create's transaction, so committed records have consecutive numbers.
pub struct Numbering {
    pub field: &'static str,
    pub prefix: &'static str,
    pub width: usize,
}

/// See [`Entity::written`].
pub type Written =
    for<'t, 's> fn(&'t mut Tx<'s>, Write<'t>, &'t Document) -> crate::db::TxFuture<'t, ()>;

/// The kind of write [`Entity::written`] runs in.
#[derive(Clone, Copy)]
pub enum Write<'a> {
    Create,
    /// A PATCH, with the record as it was before.
    Update(&'a Document),
    /// A deleted record brought back.
    Restore,
    /// A live record soft-deleted.
    Delete,
}

impl Write<'_> {
    /// The event this write announces for a record of `e`
    /// (`<resource>.created`, `<resource>.deleted`).
    pub fn event(&self, e: &Entity) -> String {
        let verb = match self {
            Write::Create => "created",
            Write::Update(_) => "updated",
            Write::Restore => "restored",
            Write::Delete => "deleted",
        };
        format!("{}.{verb}", e.resource)
    }
}

/// See [`Entity::max_range`]: with both `from` and `to` given (RFC 3339),
/// `to - from` is at most `days` (400 `INVALID_PARAMETER` naming `to`).
pub struct RangeLimit {
    pub from: &'static str,
    pub to: &'static str,
    pub days: i64,
}

impl RangeLimit {
    fn check(&self, req: &ApiRequest) -> Result<(), ApiError> {
        let time = |p: &str| {
            req.query
                .iter()
                .find(|(k, _)| k == p)
                .and_then(|(_, v)| DateTime::parse_rfc3339_str(v).ok())
        };
        if let (Some(from), Some(to)) = (time(self.from), time(self.to)) {
            let span = to.timestamp_millis() - from.timestamp_millis();
            if span <= 0 || span > self.days * DAY_MS {
                return Err(ApiError::bad_field(
                    Code::InvalidParameter,
                    self.to,
                    format!(
                        "must be after {} and at most {} days from it",
                        self.from, self.days
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// See [`Entity::prepare`]: gets the kind of write ([`Write::Create`] or
/// [`Write::Update`] with the record before) and the record as the write
/// would leave it, to check and complete.
pub type Prepare = for<'a> fn(
    &'a Scope,
    Write<'a>,
    &'a mut Document,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(), ApiError>> + Send + 'a>,
>;

impl Entity {
    /// The indexes the declaration calls for, leading with the equality
    /// fields every list query has (`organizationId`, `deletedAt`): one per
    /// sort field (newest first for the times, ascending otherwise) and one
    /// per filter (then newest first), each ending in `_id`, the cursor's
    /// tie-breaker; and a partial unique index per unique field.
    pub fn indexes(&self) -> Vec<Index> {
        let live = |more: Document| {
            let mut keys = doc! { "organizationId": 1, "deletedAt": 1 };
            keys.extend(more);
            Index::on(self.collection, keys)
        };
        // Delta sync reads live and deleted records by change time; the
        // trash is emptied across organizations by deletion time.
        let mut out: Vec<Index> = vec![
            Index::on(
                self.collection,
                doc! { "organizationId": 1, "updatedAt": 1, "_id": 1 },
            ),
            Index::on(self.collection, doc! { "deletedAt": 1 }),
        ];
        for field in self.list.sort_fields {
            let dir = if matches!(*field, "createdAt" | "updatedAt") {
                -1
            } else {
                1
            };
            out.push(live(doc! { *field: dir, "_id": dir }));
        }
        let mut filtered: Vec<&str> = vec![];
        for f in self.list.filters {
            // A range on createdAt is served by the createdAt sort index.
            if !filtered.contains(&f.field) && f.field != "createdAt" {
                filtered.push(f.field);
                out.push(live(doc! { f.field: 1, "createdAt": -1, "_id": -1 }));
            }
        }
        for field in self.unique {
            out.push(Index::unique_where(
                self.collection,
                doc! { "organizationId": 1, *field: 1 },
                doc! { *field: { "$type": "string" } },
            ));
        }
        // `deletedAt` is null on every live record and a distinct time on
        // each deleted one, so only live records can collide.
        for field in self.unique_live {
            out.push(Index::unique_where(
                self.collection,
                doc! { "organizationId": 1, *field: 1, "deletedAt": 1 },
                doc! { *field: { "$type": "string" } },
            ));
        }
        out
    }
}

/// Every index a registry of entities calls for.
pub fn indexes_of(entities: &[&Entity]) -> Vec<Index> {
    entities.iter().flat_map(|e| e.indexes()).collect()
}

/// Checks that every referenced record exists, live, in the caller's
/// organization; another organization's record is as absent as a missing one.
pub async fn check_references(scope: &Scope, refs: &[Reference]) -> Result<(), ApiError> {
    let mut errors = Errors::new();
    for r in refs {
        let found = scope
            .collection(r.collection)
            .find_one(doc! { "_id": r.id, "deletedAt": null })
            .await?;
        if found.is_none() {
            errors.push(FieldError::new(r.field.clone(), "does not exist"));
        }
    }
    errors.finish()
}

/// `GET /api/v1/<plural>/{id}`, tagged with the record's version (the
/// `ETag` a PATCH's `If-Match` names; the runtime answers a matching
/// `If-None-Match` with 304).
pub async fn get(
    scope: &Scope,
    e: &Entity,
    id: ObjectId,
    prefetched: Option<Option<Document>>,
) -> Answer {
    let doc = match prefetched {
        Some(read) => read.ok_or(ApiError::NotFound {
            resource: e.resource,
        })?,
        None => find_live(scope, e, id).await?,
    };
    let mut r = ApiResponse::ok(&render(&doc));
    r.set_header("etag", &format!("\"{}\"", version_of(&doc)));
    Ok(r)
}

/// `POST /api/v1/<plural>/{id}/restore`.
pub async fn restore(scope: &Scope, e: &Entity, id: ObjectId) -> Answer {
    let restored = mutate_record(
        scope,
        e,
        doc! { "_id": id, "deletedAt": { "$ne": null } },
        doc! { "$set": { "deletedAt": null, "deletedBy": null, "updatedAt": DateTime::now() }, "$inc": { "version": 1_i64 } },
        Write::Restore,
        None,
        |_| AuditEntry::new(Action::Restore, e.resource).id(id),
    )
    .await?;
    let Some(doc) = restored else {
        let live = scope
            .collection(e.collection)
            .find_one(doc! { "_id": id })
            .await?;
        return Err(match live {
            Some(_) => ApiError::conflict(
                Code::NotDeleted,
                format!("This {} is not deleted", e.resource),
            ),
            None => ApiError::NotFound {
                resource: e.resource,
            },
        });
    };
    Ok(ApiResponse::ok(&render(&doc)))
}

pub struct ListQuery {
    limit: i64,
    sort: String,
    cursor: Option<String>,
    q: Option<String>,
    filters: Vec<(String, String)>,
}

/// The list parameters of a request, checked against the entity's list spec.
pub fn parse_list_query(req: &ApiRequest, spec: &ListSpec) -> Result<ListQuery, ApiError> {
    let mut q = ListQuery {
        limit: DEFAULT_LIMIT,
        sort: spec.default_sort.to_string(),
        cursor: None,
        q: None,
        filters: vec![],
    };
    let mut seen: Vec<&str> = vec![];
    for (key, value) in &req.query {
        if seen.contains(&key.as_str()) {
            return Err(ApiError::bad_field(
                Code::InvalidParameter,
                key,
                "is given more than once",
            ));
        }
        seen.push(key);
        // A NUL cannot go into a regular expression or an index key, and no
        // other control character belongs in a search or a filter.
        if value.chars().any(char::is_control) {
            return Err(ApiError::bad_field(
                Code::InvalidParameter,
                key,
                "must not contain control characters",
            ));
        }
        match key.as_str() {
            "limit" => q.limit = parse_limit(value)?,
            "sort" => {
                let field = value.strip_prefix('-').unwrap_or(value);
                if !spec.sort_fields.contains(&field) {
                    return Err(ApiError::bad_field(
                        Code::InvalidParameter,
                        "sort",
                        format!(
                            "must be one of {} (prefix - for descending)",
                            spec.sort_fields.join(", ")
                        ),
                    ));
                }
                q.sort = value.clone();
            }
            "cursor" => q.cursor = Some(value.clone()),
            // A list without search fields takes no `q` (it would search
            // nothing): an unknown parameter, below.
            "q" if !spec.search_fields.is_empty() => {
                let v = value.trim();
                if v.chars().count() > 100 {
                    return Err(ApiError::bad_field(
                        Code::InvalidParameter,
                        "q",
                        "must be at most 100 characters",
                    ));
                }
                if !v.is_empty() {
                    q.q = Some(v.to_string());
                }
            }
            f if spec.filters.iter().any(|x| x.param == f) => {
                if value.chars().count() > 200 {
                    return Err(ApiError::bad_field(
                        Code::InvalidParameter,
                        f,
                        "must be at most 200 characters",
                    ));
                }
                q.filters.push((f.to_string(), value.clone()));
            }
            other => {
                let mut known = vec!["limit", "cursor", "sort"];
                if !spec.search_fields.is_empty() {
                    known.push("q");
                }
                known.extend(spec.filters.iter().map(|f| f.param));
                return Err(ApiError::bad_field(
                    Code::UnknownParameter,
                    other,
                    format!("is not a parameter of this list; use {}", known.join(", ")),
                ));
            }
        }
    }
    Ok(q)
}

/// A page size: a whole number from 1 to [`MAX_LIMIT`].
fn parse_limit(value: &str) -> Result<i64, ApiError> {
    value
        .parse()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| {
            ApiError::bad_field(
                Code::InvalidParameter,
                "limit",
                format!("must be a whole number from 1 to {MAX_LIMIT}"),
            )
        })
}

/// Escapes a search text so it matches literally inside a regular expression.
pub fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\^$.|?*+()[]{}/-".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `GET /api/v1/<plural>`: one page of the list, or of a delta sync.
pub async fn list(
    req: &ApiRequest,
    scope: &Scope,
    e: &Entity,
    prefetched: Option<Vec<Document>>,
) -> Answer {
    let key = &scope.state().cursor;
    let Some(query) = list_query(req, key, e)? else {
        return sync(req, scope, e).await;
    };
    let docs = match prefetched {
        Some(read) => read,
        None => query.read(scope, e.collection, None).await?,
    };
    let (docs, next) = query.finish(key, docs)?;
    let data: Vec<Value> = docs.iter().map(render).collect();
    Ok(ApiResponse::ok(
        &json!({ "data": data, "nextCursor": next }),
    ))
}

/// How long deleted records stay (restorable, and as tombstones a sync
/// reports) before the scheduled cleanup removes them; a sync token older
/// than this answers 410 `RESYNC_REQUIRED`.
pub const TOMBSTONE_DAYS: i64 = 30;
/// The next sync starts this long before the previous one began, so a
/// write stamped just before the start but committed after the read (or
/// by an instance whose clock runs behind) is not missed: a client may see
/// a record twice, never lose one.
const SYNC_OVERLAP_MS: i64 = MINUTE_MS;
const SYNC_TOKEN: &str = "sync";

/// `GET /api/v1/<plural>?updatedSince=TOKEN[&limit=&cursor=]`: delta sync
/// for mobile clients. Every record created, changed or deleted since the
/// token (`0`: everything), oldest change first, deleted ones as
/// tombstones `{id, deletedAt}`, paged by cursor; the last page carries
/// the `syncToken` of the next sync. Tokens are signed and opaque.
async fn sync(req: &ApiRequest, scope: &Scope, e: &Entity) -> Answer {
    let key = &scope.state().cursor;
    let mut limit = DEFAULT_LIMIT;
    let (mut token, mut cursor) = (None, None);
    for (k, v) in &req.query {
        match k.as_str() {
            "updatedSince" => token = Some(v.as_str()),
            "cursor" => cursor = Some(v.as_str()),
            "limit" => limit = parse_limit(v)?,
            other => {
                return Err(ApiError::bad_field(
                    Code::InvalidParameter,
                    other,
                    "cannot be combined with updatedSince (a sync takes only limit and cursor)",
                ))
            }
        }
    }
    let token = token.unwrap_or("0");
    let since = if token == "0" {
        0
    } else {
        let p = key.decode_any(token).map_err(|_| {
            match crate::cursor::CursorKey::unverified(token) {
                // Well formed, signed with a secret since retired: the
                // client starts over rather than failing.
                Some(p) if p.sort == SYNC_TOKEN => ApiError::Gone {
                    code: Code::ResyncRequired,
                    detail: "This sync token was signed with a secret that has since been retired: sync again from updatedSince=0".into(),
                },
                _ => ApiError::bad_field(
                    Code::InvalidParameter,
                    "updatedSince",
                    "is not a sync token this API returned (use 0 for a first, full sync)",
                ),
            }
        })?;
        match (p.sort.as_str(), Bson::try_from(p.value)) {
            (SYNC_TOKEN, Ok(Bson::DateTime(t))) => t.timestamp_millis(),
            _ => {
                return Err(ApiError::bad_field(
                    Code::InvalidParameter,
                    "updatedSince",
                    "is not a sync token",
                ))
            }
        }
    };
    let now = DateTime::now().timestamp_millis();
    if since > 0 && since < now - TOMBSTONE_DAYS * DAY_MS {
        return Err(ApiError::Gone {
            code: Code::ResyncRequired,
            detail: format!(
                "This sync token is older than {TOMBSTONE_DAYS} days, the time deleted records are kept: sync again from updatedSince=0"
            ),
        });
    }
    // The sync's start travels in its cursors, so every page of one sync
    // hands out the same next token.
    let sort_of = |start: i64| format!("sync:{since}:{start}");
    let mut filter = doc! { "updatedAt": { "$gte": DateTime::from_millis(since) } };
    let start = match cursor {
        None => now,
        Some(c) => {
            let p = key.decode_any(c)?;
            let start = p
                .sort
                .strip_prefix(&format!("sync:{since}:"))
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| {
                    ApiError::bad_field(
                        Code::InvalidCursor,
                        "cursor",
                        "belongs to another sync; start again without a cursor",
                    )
                })?;
            let (value, id) = key.decode(c, &sort_of(start))?;
            filter.insert(
                "$or",
                vec![
                    Bson::Document(doc! { "updatedAt": { "$gt": value.clone() } }),
                    Bson::Document(doc! { "updatedAt": value, "_id": { "$gt": id } }),
                ],
            );
            start
        }
    };
    let mut docs = scope
        .collection(e.collection)
        .find_many(filter, doc! { "updatedAt": 1, "_id": 1 }, limit + 1, None)
        .await?;
    let more = docs.len() as i64 > limit;
    docs.truncate(limit as usize);
    let data: Vec<Value> = docs
        .iter()
        .map(|d| match d.get("deletedAt") {
            Some(Bson::DateTime(t)) => json!({
                "id": d.get_object_id("_id").map(|i| i.to_hex()).unwrap_or_default(),
                "deletedAt": crate::time::rfc3339(*t),
            }),
            _ => render(d),
        })
        .collect();
    let (next, sync_token) = match (more, docs.last()) {
        (true, Some(last)) => {
            let value = last.get("updatedAt").cloned().unwrap_or(Bson::Null);
            let id = id_of(last, "record")?;
            (Some(key.encode(&sort_of(start), &value, id)), None)
        }
        _ => {
            let next_since = (start - SYNC_OVERLAP_MS).max(since).max(1);
            let t = Bson::DateTime(DateTime::from_millis(next_since));
            (
                None,
                Some(key.encode(SYNC_TOKEN, &t, ObjectId::from_bytes([0; 12]))),
            )
        }
    };
    Ok(ApiResponse::ok(&json!({
        "data": data, "nextCursor": next, "syncToken": sync_token,
    })))
}

/// One page of a cursor-paginated list: the documents and the cursor of the
/// next page, if there is one. `base` is the filter every item must match.
pub async fn page(
    req: &ApiRequest,
    scope: &Scope,
    collection: &'static str,
    spec: &ListSpec,
    filter: Document,
    projection: Option<Document>,
) -> Result<(Vec<Document>, Option<String>), ApiError> {
    let key = &scope.state().cursor;
    let query = PageQuery::of(req, key, spec, filter)?;
    let docs = query.read(scope, collection, projection).await?;
    query.finish(key, docs)
}

/// The query of one list page, built from the request alone (no database
/// read), so the runtime can read the page in the caller's round trip.
pub struct PageQuery {
    /// What every item matches, without the organization (the scope or the
    /// runtime adds it).
    pub filter: Document,
    pub sort: Document,
    /// The page size; one more is read to know whether a next page exists.
    pub limit: i64,
    field: String,
    sort_name: String,
}

impl PageQuery {
    fn of(
        req: &ApiRequest,
        key: &crate::cursor::CursorKey,
        spec: &ListSpec,
        mut filter: Document,
    ) -> Result<PageQuery, ApiError> {
        let query = parse_list_query(req, spec)?;
        for (param, value) in &query.filters {
            if let Some(f) = spec.filters.iter().find(|f| f.param == param) {
                f.apply(value, &mut filter)?;
            }
        }
        let mut and: Vec<Bson> = vec![];
        if let Some(text) = &query.q {
            let pattern = regex_escape(text);
            let any: Vec<Bson> = spec
                .search_fields
                .iter()
                .map(|f| Bson::Document(doc! { *f: { "$regex": &pattern, "$options": "i" } }))
                .collect();
            and.push(Bson::Document(doc! { "$or": any }));
        }
        let (field, dir) = match query.sort.strip_prefix('-') {
            Some(f) => (f.to_string(), -1),
            None => (query.sort.clone(), 1),
        };
        if let Some(cursor) = &query.cursor {
            let (value, id) = key.decode(cursor, &query.sort)?;
            let op = if dir == 1 { "$gt" } else { "$lt" };
            and.push(Bson::Document(doc! { "$or": [
                { &field: { op: value.clone() } },
                { &field: value, "_id": { op: id } },
            ] }));
        }
        if !and.is_empty() {
            filter.insert("$and", and);
        }
        Ok(PageQuery {
            filter,
            sort: doc! { &field: dir, "_id": dir },
            limit: query.limit,
            field,
            sort_name: query.sort,
        })
    }

    /// The page's documents, and one more if there is a next page.
    async fn read(
        &self,
        scope: &Scope,
        collection: &'static str,
        projection: Option<Document>,
    ) -> Result<Vec<Document>, ApiError> {
        scope
            .collection(collection)
            .find_many(
                self.filter.clone(),
                self.sort.clone(),
                self.limit + 1,
                projection,
            )
            .await
    }

    /// The page from the documents read (up to `limit + 1`), and the cursor
    /// of the next page when there is one.
    fn finish(
        &self,
        key: &crate::cursor::CursorKey,
        mut docs: Vec<Document>,
    ) -> Result<(Vec<Document>, Option<String>), ApiError> {
        let more = docs.len() as i64 > self.limit;
        docs.truncate(self.limit as usize);
        let next = match (more, docs.last()) {
            (true, Some(last)) => {
                let value = last.get(&self.field).cloned().unwrap_or(Bson::Null);
                let id = id_of(last, "record")?;
                Some(key.encode(&self.sort_name, &value, id))
            }
            _ => None,
        };
        Ok((docs, next))
    }
}

/// The query of the list page `req` asks of `e`: `Ok(None)` for a delta
/// sync (read by its own handler), an error for a query the list refuses.
pub fn list_query(
    req: &ApiRequest,
    key: &crate::cursor::CursorKey,
    e: &Entity,
) -> Result<Option<PageQuery>, ApiError> {
    if req.query.iter().any(|(k, _)| k == "updatedSince") {
        return Ok(None);
    }
    if let Some(limit) = &e.max_range {
        limit.check(req)?;
    }
    PageQuery::of(req, key, &e.list, doc! { "deletedAt": null }).map(Some)
}

/// `POST /api/v1/<plural>`: a new record. Its answer is built in the
/// transaction that inserts it, so a request with an Idempotency-Key keeps
/// that answer in the same commit ([`Tx::respond`]).
pub async fn create(req: &ApiRequest, scope: &Scope, e: &Entity) -> Answer {
    let body: serde_json::Value = req.json()?;
    let (mut fields, refs) = fields::parse_create(e.fields, &body)?;
    check_references(scope, &refs).await?;
    if let Some(prepare) = e.prepare {
        prepare(scope, Write::Create, &mut fields).await?;
    }
    let record = new_record_of(scope, e, &fields);
    let id = id_of(&record, "record")?;
    let location = format!("{}/{}", req.path.trim_end_matches('/'), id.to_hex());
    let answer = move |record: &Document| {
        let mut r = ApiResponse::json(StatusCode::CREATED, &render(record));
        r.set_header("location", &location);
        r
    };
    let (_, response) = insert_answering(scope, e, &record, &fields, Some(&answer)).await?;
    response.ok_or_else(|| ApiError::internal("an insert without its answer"))
}

/// Inserts `record` with its CREATE audit entry (naming `changes`) in one
/// transaction, run again on a write conflict.
pub async fn insert_with_audit(
    scope: &Scope,
    e: &Entity,
    record: &Document,
    changes: &Document,
) -> Result<Document, ApiError> {
    insert_answering(scope, e, record, changes, None)
        .await
        .map(|(record, _)| record)
}

/// [`insert_with_audit`], and the answer `answer` makes of the record as
/// inserted, kept for an Idempotency-Key in the same transaction.
/// Makes a create's answer of the record as inserted.
type MakeAnswer = dyn Fn(&Document) -> ApiResponse + Sync;

async fn insert_answering(
    scope: &Scope,
    e: &Entity,
    record: &Document,
    changes: &Document,
    answer: Option<&MakeAnswer>,
) -> Result<(Document, Option<ApiResponse>), ApiError> {
    if e.numbering.is_some() {
        scope.ensure_sequence(e.collection).await?;
    }
    if let Some(lock) = e.serialize {
        scope.ensure_sequence(lock).await?;
    }
    scope
        .transaction(|tx| {
            Box::pin(async move {
                let id = id_of(record, "record")?;
                if let Some(lock) = e.serialize {
                    tx.lock(lock).await?;
                }
                let mut record = record.clone();
                let mut changes = changes.clone();
                if let Some(n) = &e.numbering {
                    let next = tx.next_in_sequence(e.collection).await?;
                    let number = format!("{}{next:0width$}", n.prefix, width = n.width);
                    record.insert(n.field, &number);
                    changes.insert(n.field, &number);
                }
                tx.insert_one(e.collection, record.clone()).await?;
                if let Some(written) = e.written {
                    written(tx, Write::Create, &record).await?;
                }
                tx.audit(
                    AuditEntry::new(Action::Create, e.resource)
                        .id(id)
                        .changes(changes),
                )
                .await?;
                tx.announce(&Write::Create.event(e), &render(&record));
                let response = answer.map(|answer| answer(&record));
                if let Some(response) = &response {
                    tx.respond(response)?;
                }
                Ok((record, response))
            })
        })
        .await
}

/// The live (not deleted) record `id` of the caller's organization, or a 404.
pub async fn find_live(scope: &Scope, e: &Entity, id: ObjectId) -> Result<Document, ApiError> {
    scope
        .collection(e.collection)
        .find_one(doc! { "_id": id, "deletedAt": null })
        .await?
        .ok_or(ApiError::NotFound {
            resource: e.resource,
        })
}

/// A new record of `fields` with its id and bookkeeping (`createdAt`,
/// `updatedAt`, `createdBy`, `version` 1, `deletedAt` null).
pub fn new_record(scope: &Scope, fields: &Document) -> Document {
    let now = DateTime::now();
    let mut record = doc! { "_id": ObjectId::new() };
    record.extend(fields.clone());
    record.insert("createdAt", now);
    record.insert("updatedAt", now);
    record.insert("createdBy", scope.caller().user.id);
    record.insert("version", 1_i64);
    record.insert("deletedAt", Bson::Null);
    record
}

/// [`new_record`] of entity `e`: with its counters at 0.
pub fn new_record_of(scope: &Scope, e: &Entity, fields: &Document) -> Document {
    let mut record = new_record(scope, fields);
    for counter in e.counters {
        record.insert(*counter, 0_i64);
    }
    record
}

/// `If-Match: 3` or `If-Match: "3"`; absent is `None`.
pub fn if_match(req: &ApiRequest) -> Result<Option<i64>, ApiError> {
    match req.header("if-match") {
        None => Ok(None),
        Some(v) => v
            .trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .parse()
            .map(Some)
            .map_err(|_| {
                ApiError::bad_field(
                    Code::InvalidParameter,
                    "If-Match",
                    "must be the record's version number",
                )
            }),
    }
}

/// `PATCH` of record `id`: MEMBERs only their own, `If-Match` checked.
pub async fn update(
    req: &ApiRequest,
    scope: &Scope,
    e: &Entity,
    id: ObjectId,
    prefetched: Option<Option<Document>>,
) -> Answer {
    let expected = if_match(req)?;
    let body: serde_json::Value = req.json()?;
    let before = match prefetched {
        // Read beside the caller, within its organization.
        Some(found) => found.ok_or(ApiError::NotFound {
            resource: e.resource,
        })?,
        None => find_live(scope, e, id).await?,
    };
    // Another organization's record is a 404 whatever the body says.
    let (changes, refs) = fields::parse_patch(e.fields, &body)?;
    if changes.is_empty() {
        return Err(ApiError::Unprocessable {
            code: Code::NothingToUpdate,
            detail: "Send at least one field to change".into(),
            errors: vec![],
        });
    }
    e.require_own_or(scope, &before, Permission::UpdateAnyRecord)
        .await?;
    let mut locked = Errors::new();
    for f in e.fields {
        locked.check(f.check_locked(&before, &changes));
    }
    locked.finish()?;
    check_references(scope, &refs).await?;
    let version = version_of(&before);
    if expected.is_some_and(|v| v != version) {
        return Err(ApiError::PreconditionFailed {
            current_version: version,
        });
    }
    let mut set = changes.set;
    let mut unset = changes.unset;
    if let Some(prepare) = e.prepare {
        // The create rules, over the record as the PATCH leaves it; what
        // they fill in or correct joins the change.
        let mut next = before.clone();
        next.extend(set.clone());
        for f in &unset {
            next.remove(f);
        }
        prepare(scope, Write::Update(&before), &mut next).await?;
        // What the rules filled in is written, also over a field the body
        // cleared (a cleared owner comes back as the one a rule derives).
        unset.retain(|f| !next.contains_key(f));
        for (k, v) in next {
            if before.get(&k) != Some(&v) {
                set.insert(k, v);
            }
        }
    }
    set.insert("updatedAt", DateTime::now());
    let mut update = doc! { "$set": set, "$inc": { "version": 1_i64 } };
    if !unset.is_empty() {
        let unset: Document = unset
            .iter()
            .map(|f| (f.clone(), Bson::String(String::new())))
            .collect();
        update.insert("$unset", unset);
    }
    // The version in the filter makes the write conditional on nobody having
    // changed the record since it was read, so the record after it is the
    // one read with the change applied: it is not read back.
    let after = applied(&before, &update);
    let filter = doc! { "_id": id, "deletedAt": null, "version": version };
    let after = mutate_record(
        scope,
        e,
        filter,
        update,
        Write::Update(&before),
        after,
        |after| {
            AuditEntry::new(Action::Update, e.resource)
                .id(id)
                .changes(diff(&before, after))
        },
    )
    .await?;
    let Some(after) = after else {
        // Changed by someone else between our read and our write.
        let now = scope
            .collection(e.collection)
            .find_one(doc! { "_id": id, "deletedAt": null })
            .await?;
        return Err(match now {
            Some(d) => ApiError::PreconditionFailed {
                current_version: version_of(&d),
            },
            None => ApiError::NotFound {
                resource: e.resource,
            },
        });
    };
    let mut r = ApiResponse::ok(&render(&after));
    r.set_header("etag", &format!("\"{}\"", version_of(&after)));
    Ok(r)
}

/// Soft-deletes record `id` (the caller's permission was checked before),
/// running the entity's [`Entity::written`] for [`Write::Delete`] in the
/// same transaction.
pub async fn delete(scope: &Scope, e: &Entity, id: ObjectId) -> Answer {
    let now = DateTime::now();
    let deleted = mutate_record(
        scope,
        e,
        doc! { "_id": id, "deletedAt": null },
        doc! { "$set": { "deletedAt": now, "deletedBy": scope.caller().user.id, "updatedAt": now }, "$inc": { "version": 1_i64 } },
        Write::Delete,
        None,
        |_| AuditEntry::new(Action::Delete, e.resource).id(id),
    )
    .await?
    .is_some();
    if !deleted {
        return Err(ApiError::NotFound {
            resource: e.resource,
        });
    }
    Ok(ApiResponse::no_content())
}

/// In one transaction (run again on a write conflict): updates the record
/// matching `filter` and, if there was one, writes the audit entry made from
/// the record as it is afterwards. Returns that record, or `None` when
/// nothing matched (and nothing was written).
pub async fn mutate_one(
    scope: &Scope,
    collection: &'static str,
    filter: Document,
    update: impl Fn() -> Document + Sync,
    audit: impl Fn(&Document) -> AuditEntry + Sync,
) -> Result<Option<Document>, ApiError> {
    let (filter, update, audit) = (&filter, &update, &audit);
    scope
        .transaction(|tx| {
            Box::pin(async move {
                let after = tx
                    .find_one_and_update(collection, filter.clone(), update())
                    .await?;
                if let Some(after) = &after {
                    tx.audit(audit(after)).await?;
                }
                Ok(after)
            })
        })
        .await
}

/// [`mutate_one`] for a record of `e`, taking the entity's lock first and
/// running its [`Entity::written`] for `write` with the record after. The
/// record is not read back when the caller knows it as it will be
/// (`known_after`, for a write conditional on the version read); a delete
/// of an entity without that hook hands `audit` (and returns) only its
/// `_id`.
async fn mutate_record(
    scope: &Scope,
    e: &Entity,
    filter: Document,
    update: Document,
    write: Write<'_>,
    known_after: Option<Document>,
    audit: impl Fn(&Document) -> AuditEntry + Sync,
) -> Result<Option<Document>, ApiError> {
    if let Some(lock) = e.serialize {
        scope.ensure_sequence(lock).await?;
    }
    let (filter, update, audit, known_after) = (&filter, &update, &audit, &known_after);
    scope
        .transaction(|tx| {
            Box::pin(async move {
                if let Some(lock) = e.serialize {
                    tx.lock(lock).await?;
                }
                if matches!(write, Write::Delete) && e.written.is_none() {
                    // Nothing needs the deleted record back: its audit entry
                    // names only the id. One round trip fewer.
                    let id = tx
                        .update_by_id(e.collection, filter.clone(), update.clone())
                        .await?;
                    let Some(id) = id else {
                        return Ok(None);
                    };
                    let gone = doc! { "_id": id };
                    tx.audit(audit(&gone)).await?;
                    tx.announce(&write.event(e), &render(&gone));
                    return Ok(Some(gone));
                }
                let after = match known_after {
                    Some(after) => tx
                        .update_by_id(e.collection, filter.clone(), update.clone())
                        .await?
                        .map(|_| after.clone()),
                    None => {
                        tx.find_one_and_update(e.collection, filter.clone(), update.clone())
                            .await?
                    }
                };
                let Some(after) = after else {
                    return Ok(None);
                };
                if let Some(written) = e.written {
                    written(tx, write, &after).await?;
                }
                tx.audit(audit(&after)).await?;
                tx.announce(&write.event(e), &render(&after));
                Ok(Some(after))
            })
        })
        .await
}

/// `before` as `update` (`$set`, `$unset` and `$inc` of top-level fields)
/// leaves it; `None` for anything else, which is then read back.
fn applied(before: &Document, update: &Document) -> Option<Document> {
    let mut after = before.clone();
    for (op, fields) in update {
        let fields = fields.as_document()?;
        if fields.keys().any(|k| k.contains('.') || k == "_id") {
            return None;
        }
        match op.as_str() {
            "$set" => after.extend(fields.clone()),
            "$unset" => {
                for k in fields.keys() {
                    after.remove(k);
                }
            }
            "$inc" => {
                for (k, by) in fields {
                    let sum = match (after.get(k), by) {
                        (Some(Bson::Int64(a)), Bson::Int64(b)) => Bson::Int64(a.checked_add(*b)?),
                        (Some(Bson::Int32(a)), Bson::Int64(b)) => {
                            Bson::Int64(i64::from(*a).checked_add(*b)?)
                        }
                        (None, Bson::Int64(b)) => Bson::Int64(*b),
                        _ => return None,
                    };
                    after.insert(k, sum);
                }
            }
            _ => return None,
        }
    }
    Some(after)
}

fn version_of(d: &Document) -> i64 {
    crate::db::number(d, "version").unwrap_or(0)
}

/// Stored fields no response shows: the tenant id and object-storage keys.
pub const INTERNAL_FIELDS: [&str; 3] = ["_id", "organizationId", "storageKey"];

/// A stored record as the API shows it: `id` for `_id`, ids as hex, times as
/// RFC 3339, never [`INTERNAL_FIELDS`], and for a secret field
/// (`turnstileSecret`) only whether it is set (`turnstileSecretSet`).
pub fn render(d: &Document) -> Value {
    let mut out = Map::new();
    if let Some(id) = d.get("_id") {
        out.insert("id".into(), to_json(id));
    }
    for (k, v) in d {
        if crate::fields::is_secret(k) {
            // Write-only: the response tells only whether one is set.
            out.insert(format!("{k}Set"), Value::Bool(*v != Bson::Null));
        } else if !INTERNAL_FIELDS.contains(&k.as_str()) {
            out.insert(k.clone(), to_json(v));
        }
    }
    Value::Object(out)
}

fn to_json(v: &Bson) -> Value {
    match v {
        Bson::ObjectId(id) => Value::String(id.to_hex()),
        Bson::DateTime(d) => Value::String(crate::time::rfc3339(*d)),
        Bson::Document(d) => {
            Value::Object(d.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
        Bson::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        Bson::Int32(n) => json!(n),
        Bson::Int64(n) => json!(n),
        Bson::Double(n) => json!(n),
        Bson::Boolean(b) => json!(b),
        Bson::String(s) => json!(s),
        Bson::Null => Value::Null,
        other => other.clone().into_relaxed_extjson(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conditional_update_is_applied_to_the_record_read_as_the_database_would() {
        let before =
            doc! { "_id": 1, "name": "Old", "phone": "1", "version": 3_i64, "counter": 2_i32 };
        let update = doc! {
            "$set": { "name": "New", "city": "Graz" },
            "$unset": { "phone": "" },
            "$inc": { "version": 1_i64, "counter": 1_i64 },
        };
        let after = applied(&before, &update).unwrap();
        assert_eq!(
            after,
            doc! { "_id": 1, "name": "New", "version": 4_i64, "counter": 3_i64, "city": "Graz" }
        );
        // What it cannot apply exactly is read back instead.
        for update in [
            doc! { "$set": { "address.city": "Graz" } },
            doc! { "$push": { "tags": "a" } },
            doc! { "$inc": { "version": i64::MAX } },
            doc! { "$set": { "_id": 2 } },
        ] {
            assert_eq!(applied(&before, &update), None, "{update}");
        }
    }

    #[test]
    fn search_text_is_matched_literally() {
        assert_eq!(regex_escape("a.b*(c)"), "a\\.b\\*\\(c\\)");
        assert_eq!(regex_escape("Müller"), "Müller");
    }

    #[test]
    fn a_rendered_record_has_an_id_and_no_organization() {
        let id = ObjectId::new();
        let d = doc! { "_id": id, "organizationId": ObjectId::new(), "name": "A",
        "createdAt": DateTime::from_millis(0), "version": 1_i64 };
        let v = render(&d);
        assert_eq!(v["id"], id.to_hex());
        assert!(v.get("organizationId").is_none());
        assert_eq!(v["createdAt"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["version"], 1);
    }
}
