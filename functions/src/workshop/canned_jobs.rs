//! Canned jobs: the shop's ready-made packages of lines ("oil service",
//! "brake pads front"), an entity ADMIN+ write and every role reads.
//! `POST /work-orders/{id}/canned-jobs {cannedJobId}` copies a job's lines
//! into the work order as one group (each line names the group, the job
//! and its name): PART lines are priced from their part and reserve their
//! stock in the same transaction, all or nothing. The copy is the work
//! order's own: editing or deleting the canned job changes no work order
//! that used it.
//!
//! With a `packagePrice` (net, before tax, in the organization's currency)
//! the group gets ADJUSTMENT lines of the difference, one per tax rate of
//! the group in proportion to that rate's net amount (largest remainder),
//! so the group's lines add up to exactly that price and each rate's tax
//! follows its own base. The package holds for the whole group as added:
//! the adjustments follow the decisions on the group's lines, and drop out
//! when one of them is removed or repriced (`lines::follow_groups`); they
//! are never decided on themselves.

use bson::oid::ObjectId;
use bson::{doc, Document};
use serde_json::{json, Value};
use shared::db::Scope;
use shared::error::ApiError;
use shared::fields::{self, Field, Kind};
use shared::http::ApiResponse;
use shared::records::{find_live, render, Entity, Filter, ListSpec, Write};
use shared::runtime::{Ctx, HandlerResult};

use super::lines::{add_lines, editable, new_line};
use super::order::{largest_remainder, line_money, LineKind, Order, MAX_AMOUNT};
use super::parts::PARTS;

pub const CANNED_JOBS: &str = "canned_jobs";

/// The most lines a canned job copies.
const MAX_JOB_LINES: usize = 50;

static JOB_LINE: &[Field] = &[
    Field::required(
        "type",
        Kind::Enum {
            values: LineKind::ENTERED,
            default: None,
        },
    ),
    Field::optional("description", Kind::Text { min: 0, max: 500 }),
    Field::optional("partId", Kind::Ref(PARTS)),
    Field::required(
        "quantity",
        Kind::Integer {
            min: 1,
            max: 1_000_000,
        },
    ),
    Field::optional("unitPrice", Kind::Money),
    Field::optional(
        "taxRate",
        Kind::Integer {
            min: 0,
            max: 10_000,
        },
    ),
];

pub static CANNED_JOB: Entity = Entity {
    collection: CANNED_JOBS,
    resource: "canned_job",
    list: ListSpec {
        sort_fields: &["createdAt", "updatedAt", "name"],
        default_sort: "name",
        search_fields: &["name", "category"],
        filters: &[Filter::text("category")],
    },
    fields: &[
        Field::required("name", Kind::Text { min: 1, max: 200 }),
        Field::optional("category", Kind::Text { min: 1, max: 100 }),
        Field::required(
            "lines",
            Kind::Rows {
                of: JOB_LINE,
                max: MAX_JOB_LINES,
            },
        ),
        Field::optional("packagePrice", Kind::Money),
        Field::optional(
            "bookable",
            Kind::Bool {
                default: Some(false),
            },
        ),
    ],
    prepare: Some(|_, write, fields| Box::pin(check_lines(write, fields))),
    admin_writes: true,
    ..Entity::DEFAULTS
};

/// A PART line names its part, and only a PART line does. Checked on
/// create and PATCH alike. (A line without a part or a price is added at
/// a price of 0, for the shop to price on the work order.)
async fn check_lines(_: Write<'_>, fields: &mut Document) -> Result<(), ApiError> {
    let Ok(lines) = fields.get_array("lines") else {
        return Ok(());
    };
    if lines.is_empty() {
        return Err(ApiError::field("lines", "must hold at least one line"));
    }
    for (n, line) in lines.iter().enumerate() {
        let Some(line) = line.as_document() else {
            continue;
        };
        let part = line.contains_key("partId");
        match (LineKind::of(line), part) {
            (LineKind::Part, false) => {
                return Err(ApiError::field(
                    &format!("lines[{n}].partId"),
                    "is required on a PART line",
                ))
            }
            (LineKind::Part, true) => {}
            (_, true) => {
                return Err(ApiError::field(
                    &format!("lines[{n}].partId"),
                    "belongs on PART lines only",
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

static APPLY: &[Field] = &[Field::required("cannedJobId", Kind::Ref(CANNED_JOBS))];

/// The work order's new lines from `job`, as one group.
async fn group_lines(
    scope: &Scope,
    order: &Order,
    job: &Document,
) -> Result<Vec<Document>, ApiError> {
    let job_id = shared::error::id_of(job, "canned job")?;
    let name = job.get_str("name").unwrap_or("");
    let group = doc! { "id": ObjectId::new(), "cannedJobId": job_id, "name": name };
    let bodies: Vec<Value> = job
        .get_array("lines")
        .map(|a| {
            a.iter()
                .filter_map(|l| l.as_document())
                .cloned()
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .map(|l| {
            let mut body = json!({});
            for key in ["type", "description", "quantity", "unitPrice", "taxRate"] {
                if let Some(v) = l.get(key) {
                    body[key] = json!(v.clone().into_relaxed_extjson());
                }
            }
            if let Ok(p) = l.get_object_id("partId") {
                body["partId"] = json!(p.to_hex());
            } else if !l.contains_key("unitPrice") {
                body["unitPrice"] = json!(0);
            }
            body
        })
        .collect();
    // Each PART line reads its part (a job has a few lines).
    let mut lines = Vec::with_capacity(bodies.len());
    for b in &bodies {
        lines.push(new_line(scope, order, b).await?);
    }
    for l in &mut lines {
        l.insert("group", group.clone());
    }
    if let Ok(price) = job.get_i64("packagePrice") {
        let adjustments = package_adjustments(&lines, price, &group, name)?;
        lines.extend(adjustments);
    }
    Ok(lines)
}

/// The ADJUSTMENT lines that make `lines` add up to `price` (net): the
/// difference shared among the group's tax rates in proportion to each
/// rate's net amount (largest remainder, so the shares sum exactly), one
/// line per rate, so each rate's tax follows its own base. None when the
/// lines already cost the price. Each records the group as it was
/// (`package`), for [`super::lines::follow_groups`].
fn package_adjustments(
    lines: &[Document],
    price: i64,
    group: &Document,
    name: &str,
) -> Result<Vec<Document>, ApiError> {
    let too_much = || super::order::out_of_range("cannedJobId", "the package's adjustment");
    // Net amount per tax rate, in order of first appearance.
    let mut rates: Vec<(i64, i128)> = vec![];
    let mut sum: i128 = 0;
    for l in lines {
        let n = |k: &str| shared::db::number(l, k).unwrap_or(0);
        let (amount, _) = line_money(LineKind::of(l), n("quantity"), n("unitPrice"), n("taxRate"))
            .ok_or_else(|| super::order::out_of_range("cannedJobId", "a line's amount"))?;
        sum += i128::from(amount);
        match rates.iter_mut().find(|(r, _)| *r == n("taxRate")) {
            Some((_, net)) => *net += i128::from(amount),
            None => rates.push((n("taxRate"), i128::from(amount))),
        }
    }
    let difference = i128::from(price) - sum;
    if difference == 0 {
        return Ok(vec![]);
    }
    if difference.unsigned_abs() > MAX_AMOUNT as u128 {
        return Err(too_much());
    }
    // Shares of |difference| by largest remainder; all to the first rate
    // when the lines cost nothing.
    let nets: Vec<i128> = rates.iter().map(|(_, net)| *net).collect();
    let shares = largest_remainder(difference.abs(), &nets);
    let ids: Vec<bson::Bson> = lines
        .iter()
        .filter_map(|l| l.get_object_id("id").ok())
        .map(bson::Bson::ObjectId)
        .collect();
    let net = i64::try_from(sum).map_err(|_| too_much())?;
    let sign = if difference < 0 { -1 } else { 1 };
    let mut out = vec![];
    for ((rate, _), share) in rates.iter().zip(shares) {
        if share == 0 {
            continue;
        }
        let amount = i64::try_from(share * sign).map_err(|_| too_much())?;
        out.push(doc! {
            "id": ObjectId::new(),
            "type": LineKind::Adjustment.as_str(),
            "description": format!("Package price: {name}"),
            "quantity": 1_i64,
            "unitPrice": amount,
            "taxRate": *rate,
            "approval": super::order::Approval::Pending,
            "group": group.clone(),
            "package": { "lines": ids.clone(), "net": net, "price": price },
        });
    }
    Ok(out)
}

/// `POST /api/v1/work-orders/{id}/canned-jobs {cannedJobId}` -> 201 with
/// the work order: the job's lines added as one group (see the module
/// docs); 409 `INSUFFICIENT_STOCK` when a part is short (nothing added).
pub async fn apply(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let id = ctx.path_id()?;
    let order = editable(scope, id).await?;
    let body: Value = ctx.req.json()?;
    let (input, refs) = fields::parse_create(APPLY, &body)?;
    shared::records::check_references(scope, &refs).await?;
    let job_id = input
        .get_object_id("cannedJobId")
        .map_err(|_| ApiError::field("cannedJobId", "must be a canned job's id"))?;
    let job = find_live(scope, &CANNED_JOB, job_id).await?;
    // A canned job's prices are in the organization's currency.
    let currency = super::work_orders::organization_currency(scope);
    if let Some(billed) = order.currency.as_deref() {
        if billed != currency {
            return Err(ApiError::field(
                "cannedJobId",
                format!("prices in {currency}; this work order is in {billed}"),
            ));
        }
    }
    let lines = group_lines(scope, &order, &job).await?;
    let lines = &lines;
    let name = job.get_str("name").unwrap_or("").to_string();
    let name = &name;
    let after = scope
        .transaction(|tx| {
            Box::pin(async move {
                add_lines(
                    tx,
                    id,
                    lines,
                    doc! { "cannedJobApplied": { "id": job_id, "name": name.as_str(), "lines": lines.len() as i64 } },
                )
                .await
            })
        })
        .await?;
    Ok(ApiResponse::json(
        http::StatusCode::CREATED,
        &render(&after),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_adjustments_make_the_group_cost_the_package_price_rate_by_rate() {
        let line = |kind: &str, q: i64, p: i64, rate: i64| {
            doc! { "id": ObjectId::new(), "type": kind, "quantity": q, "unitPrice": p, "taxRate": rate }
        };
        // 1.5 h at 90.00 (135.00) and 2 x 12.99 (25.98): 160.98.
        let lines = [
            line("LABOR", 150, 9_000, 1_900),
            line("PART", 2, 1_299, 1_900),
        ];
        let group = doc! { "id": ObjectId::new() };
        let adj = package_adjustments(&lines, 14_900, &group, "Oil service").unwrap();
        assert_eq!(adj.len(), 1);
        assert_eq!(adj[0].get_i64("unitPrice").unwrap(), -1_198);
        assert_eq!(adj[0].get_i64("taxRate").unwrap(), 1_900);
        assert!(package_adjustments(&lines, 16_098, &group, "x")
            .unwrap()
            .is_empty());
        assert_eq!(
            line_money(LineKind::Adjustment, 1, -1_198, 1_900),
            Some((-1_198, -228))
        );
        // Two rates: 10.00 at 19 % and 5.00 at 0 %, priced 4.00: -11.00
        // shared 2:1 (-7.33 and -3.67 by largest remainder), each rate's
        // tax on its own base.
        let mixed = [line("LABOR", 100, 1_000, 1_900), line("FEE", 1, 500, 0)];
        let adj = package_adjustments(&mixed, 400, &group, "x").unwrap();
        let got: Vec<(i64, i64)> = adj
            .iter()
            .map(|a| {
                (
                    a.get_i64("unitPrice").unwrap(),
                    a.get_i64("taxRate").unwrap(),
                )
            })
            .collect();
        assert_eq!(got, [(-733, 1_900), (-367, 0)]);
        assert_eq!(got.iter().map(|g| g.0).sum::<i64>(), -1_100);
    }
}
