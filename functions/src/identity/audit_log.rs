//! The organization's audit log for its own admins (ADMIN+): every entry,
//! newest first by cursor, filtered by action, user, resource, record,
//! client address and time, each filter backed by an index; and a summary
//! since a time by action and by client address, which answers the
//! runbooks' questions ("failed sign-ins per address", "permission denials
//! by user", "exports in the last 24 hours") without a database shell.

use bson::{doc, DateTime, Document};
use serde_json::{json, Value};
use shared::db::{collections, number};
use shared::error::{ApiError, Code};
use shared::migrate::Index;
use shared::records::{self, render, Filter, ListSpec};
use shared::runtime::{ok, Ctx, HandlerResult};
use shared::time::DAY_MS;

pub(crate) static AUDIT_LOG: ListSpec = ListSpec {
    sort_fields: &["createdAt"],
    default_sort: "-createdAt",
    search_fields: &[],
    filters: &[
        Filter::text("action"),
        Filter::id("userId"),
        Filter::text("resource"),
        Filter::id("resourceId"),
        Filter::text("ipAddress"),
        Filter::from("since", "createdAt"),
        Filter::to("until", "createdAt"),
    ],
};

/// One index per filter, each ending in the list's order, so no filter
/// scans the organization's whole log.
pub fn indexes() -> Vec<Index> {
    let mut all = vec![Index::on(
        collections::AUDIT_LOG,
        doc! { "organizationId": 1, "createdAt": -1, "_id": -1 },
    )];
    for field in ["action", "userId", "resource", "resourceId", "ipAddress"] {
        all.push(Index::on(
            collections::AUDIT_LOG,
            doc! { "organizationId": 1, field: 1, "createdAt": -1, "_id": -1 },
        ));
    }
    all
}

/// `GET /api/v1/audit-log?action=&userId=&resource=&resourceId=&ipAddress=
/// &since=&until=&cursor=&limit=`.
pub async fn list(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let (docs, next) = records::page(
        &ctx.req,
        scope,
        collections::AUDIT_LOG,
        &AUDIT_LOG,
        doc! {},
        None,
    )
    .await?;
    let data: Vec<Value> = docs.iter().map(render).collect();
    ok(json!({ "data": data, "nextCursor": next }))
}

/// `GET /api/v1/audit-log/summary?since=` (default: the last 24 hours):
/// entries since then counted by action, and by client address with the
/// actions seen from each, most first.
pub async fn summary(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let mut since = DateTime::from_millis(DateTime::now().timestamp_millis() - DAY_MS);
    for (k, v) in &ctx.req.query {
        match k.as_str() {
            "since" => {
                since = DateTime::parse_rfc3339_str(v).map_err(|_| {
                    ApiError::bad_field(
                        Code::InvalidParameter,
                        "since",
                        "must be an RFC 3339 time such as 2026-11-21T09:00:00Z",
                    )
                })?
            }
            other => {
                return Err(ApiError::bad_field(
                    Code::UnknownParameter,
                    other,
                    "is not a parameter of this route",
                ))
            }
        }
    }
    let log = scope.collection(collections::AUDIT_LOG);
    let window = doc! { "$match": { "createdAt": { "$gte": since } } };
    let by_action = log
        .aggregate(vec![
            window.clone(),
            doc! { "$group": { "_id": "$action", "count": { "$sum": 1 } } },
            doc! { "$sort": { "count": -1, "_id": 1 } },
        ])
        .await?;
    let by_ip = log
        .aggregate(vec![
            window,
            doc! { "$group": {
                "_id": { "ip": "$ipAddress", "action": "$action" },
                "count": { "$sum": 1 },
            } },
        ])
        .await?;
    let mut addresses: Vec<(String, i64, Document)> = vec![];
    for row in &by_ip {
        let key = row.get_document("_id").cloned().unwrap_or_default();
        let ip = key.get_str("ip").unwrap_or("unknown").to_string();
        let action = key.get_str("action").unwrap_or("?").to_string();
        let n = number(row, "count").unwrap_or(0);
        match addresses.iter_mut().find(|(i, _, _)| *i == ip) {
            Some(a) => {
                a.1 += n;
                a.2.insert(action, n);
            }
            None => addresses.push((ip, n, doc! { action: n })),
        }
    }
    addresses.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ok(json!({
        "since": shared::time::rfc3339(since),
        "byAction": by_action.iter().map(|r| json!({
            "action": r.get_str("_id").ok(),
            "count": number(r, "count").unwrap_or(0),
        })).collect::<Vec<_>>(),
        "byIpAddress": addresses.iter().map(|(ip, n, actions)| json!({
            "ipAddress": ip,
            "count": n,
            "actions": bson::Bson::Document(actions.clone()).into_relaxed_extjson(),
        })).collect::<Vec<_>>(),
    }))
}
