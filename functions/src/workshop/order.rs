//! What a work order is, as the workshop's flows read it: its statuses
//! and the transitions between them, its lines' kinds and approvals, the
//! money its lines make and the stock they hold. No database here: the
//! flows that write a work order (`work_orders`, `transitions`, `lines`,
//! `invoices`) all read it through this module.
//!
//! Money is integer minor units in the work order's one currency. A line's
//! amount is `quantity x unitPrice` (LABOR quantities are hundredths of an
//! hour, so divided by 100), its tax `amount x taxRate / 10000` (basis
//! points); each is rounded half to even on its own line. Declined lines
//! are shown and not counted. Every amount a work order holds (a line's
//! amount and tax, the subtotal, tax and total) is at most [`MAX_AMOUNT`]:
//! computed in i128 and converted back only when in range, so a product of
//! two in-range inputs can never wrap into a negative amount.

use bson::oid::ObjectId;
use bson::{doc, Bson, DateTime, Document};
use shared::db::number;
use shared::error::{ApiError, Code, FieldError};

pub const WORK_ORDERS: &str = "work_orders";

shared::words! {
    /// A work order's statuses, in the order it normally moves through them.
    pub enum Status {
        Estimate = "ESTIMATE",
        Approved = "APPROVED",
        InProgress = "IN_PROGRESS",
        Completed = "COMPLETED",
        Invoiced = "INVOICED",
        Paid = "PAID",
        Cancelled = "CANCELLED",
    }
}

impl Status {
    /// Where a work order may go from here.
    pub fn next(self) -> &'static [Status] {
        use Status::*;
        match self {
            Estimate => &[Approved, Cancelled],
            Approved => &[InProgress, Cancelled],
            InProgress => &[Completed, Cancelled],
            Completed => &[Invoiced],
            Invoiced => &[Paid],
            Paid | Cancelled => &[],
        }
    }

    /// Every allowed transition, as the contract states them:
    /// `ESTIMATE -> APPROVED|CANCELLED, ...`.
    pub fn transitions() -> String {
        Status::ALL
            .iter()
            .filter(|s| !s.next().is_empty())
            .map(|s| {
                let to: Vec<&str> = s.next().iter().map(|n| n.as_str()).collect();
                format!("{s} -> {}", to.join("|"))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether a work order's lines still change (and its PART lines hold
    /// reserved stock): ESTIMATE, APPROVED and IN_PROGRESS.
    pub fn lines_change(self) -> bool {
        matches!(
            self,
            Status::Estimate | Status::Approved | Status::InProgress
        )
    }

    /// The status `order` is in (a work order is created ESTIMATE).
    pub fn of(order: &Document) -> Status {
        Status::in_field(order, "status").unwrap_or(Status::Estimate)
    }

    /// The field a transition to this status stamps (`invoicedAt`).
    pub fn stamp(self) -> String {
        format!("{}At", self.as_str().to_lowercase().replace('_', ""))
    }
}

shared::words! {
    /// What a line bills.
    pub enum LineKind {
        Labor = "LABOR",
        Part = "PART",
        Fee = "FEE",
        /// The server's own: what makes a canned job's group cost exactly
        /// its package price (negative or positive, quantity 1).
        Adjustment = "ADJUSTMENT",
    }
}

impl LineKind {
    /// The kinds a client adds.
    pub const ENTERED: &'static [&'static str] = &["LABOR", "PART", "FEE"];

    /// The kind of a stored `line` (FEE-like when unreadable: billed as
    /// quantity x price, holding no stock).
    pub fn of(line: &Document) -> LineKind {
        LineKind::in_field(line, "type").unwrap_or(LineKind::Fee)
    }
}

shared::words! {
    /// Where a line stands with the customer.
    pub enum Approval {
        Pending = "PENDING",
        Approved = "APPROVED",
        Declined = "DECLINED",
    }
}

impl Approval {
    /// The approval of a stored `line`.
    pub fn of(line: &Document) -> Option<Approval> {
        Approval::in_field(line, "approval")
    }
}

shared::words! {
    /// How the customer gave their decision on the lines.
    pub enum ApprovalMethod {
        InPerson = "IN_PERSON",
        Phone = "PHONE",
        Signature = "SIGNATURE",
        /// The customer, through a share link (never chosen by staff).
        Link = "LINK",
    }
}

impl ApprovalMethod {
    /// What staff may record.
    pub const STAFF: &'static [&'static str] = &["IN_PERSON", "PHONE", "SIGNATURE"];
}

/// `n / d` rounded half to even (`d > 0`).
pub fn div_half_even(n: i128, d: i128) -> i128 {
    let (q, r) = (n.div_euclid(d), n.rem_euclid(d));
    match (2 * r).cmp(&d) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    }
}

/// `total` (not negative) shared in proportion to `weights` (not
/// negative) by largest remainder: each share rounded down, the units left
/// to the largest remainders (the first of equals first), so the shares
/// sum to `total` exactly. All to the first when the weights sum to 0.
pub fn largest_remainder(total: i128, weights: &[i128]) -> Vec<i128> {
    let sum: i128 = weights.iter().sum();
    if sum <= 0 {
        let mut out = vec![0; weights.len()];
        if let Some(first) = out.first_mut() {
            *first = total;
        }
        return out;
    }
    let mut shares: Vec<(i128, i128)> = weights
        .iter()
        .map(|w| (total * w / sum, total * w % sum))
        .collect();
    let mut left = total - shares.iter().map(|s| s.0).sum::<i128>();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|a, b| shares[*b].1.cmp(&shares[*a].1).then(a.cmp(b)));
    for i in order {
        if left <= 0 {
            break;
        }
        shares[i].0 += 1;
        left -= 1;
    }
    shares.into_iter().map(|(share, _)| share).collect()
}

/// The most any amount of a work order may be, in minor units (10^15:
/// ten trillion in a two-decimal currency), as for every `Money` field.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

/// 422 `AMOUNT_OUT_OF_RANGE` naming `field`: `what` would pass [`MAX_AMOUNT`].
pub fn out_of_range(field: &str, what: &str) -> ApiError {
    ApiError::Unprocessable {
        code: Code::AmountOutOfRange,
        detail: format!("{what} would be more than {MAX_AMOUNT} minor units"),
        errors: vec![FieldError::new(
            field,
            format!("makes {what} more than {MAX_AMOUNT} minor units"),
        )],
    }
}

/// `n` as an amount: `Some` only within 0..=[`MAX_AMOUNT`].
fn amount_of(n: i128) -> Option<i64> {
    i64::try_from(n)
        .ok()
        .filter(|n| (0..=MAX_AMOUNT).contains(n))
}

/// A line's amount and tax, in minor units; `None` when either input is
/// negative or either result would pass [`MAX_AMOUNT`].
pub fn line_money(
    kind: LineKind,
    quantity: i64,
    unit_price: i64,
    tax_rate: i64,
) -> Option<(i64, i64)> {
    if kind == LineKind::Adjustment {
        // One signed amount, its tax rounded half-even like the others'.
        if quantity != 1
            || !(0..=10_000).contains(&tax_rate)
            || unit_price.unsigned_abs() > MAX_AMOUNT as u64
        {
            return None;
        }
        let tax = div_half_even(i128::from(unit_price) * i128::from(tax_rate), 10_000);
        return Some((unit_price, i64::try_from(tax).ok()?));
    }
    if quantity < 0 || unit_price < 0 || !(0..=10_000).contains(&tax_rate) {
        return None;
    }
    // i64 x i64 always fits in i128; the bound is checked before narrowing.
    let gross = i128::from(quantity) * i128::from(unit_price);
    let amount = if kind == LineKind::Labor {
        div_half_even(gross, 100)
    } else {
        gross
    };
    let amount = amount_of(amount)?;
    let tax = amount_of(div_half_even(
        i128::from(amount) * i128::from(tax_rate),
        10_000,
    ))?;
    Some((amount, tax))
}

pub fn lines_of(order: &Document) -> Vec<Document> {
    order
        .get_array("lines")
        .map(|a| a.iter().filter_map(|l| l.as_document().cloned()).collect())
        .unwrap_or_default()
}

/// What a new work order starts with: no lines, nothing to pay.
pub fn empty() -> Document {
    doc! {
        "lines": [], "subtotal": 0_i64, "tax": 0_i64, "total": 0_i64,
        "amountPaid": 0_i64, "balance": 0_i64,
    }
}

/// A discount as entered: a percentage (basis points) or an amount (minor
/// units), on a line or on the whole work order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discount {
    Percent(i64),
    Amount(i64),
}

impl Discount {
    /// The discount stored under `key` of `d` (`{percent}` or `{amount}`).
    pub fn of(d: &Document, key: &str) -> Option<Discount> {
        let d = d.get_document(key).ok()?;
        if let Some(a) = number(d, "amount") {
            return Some(Discount::Amount(a));
        }
        let p = d.get("percent")?;
        let json = serde_json::to_value(p).ok()?;
        shared::validate::percent_bps("percent", &json)
            .ok()
            .map(Discount::Percent)
    }

    /// What it takes off `base` (not negative): a percentage rounded half
    /// to even, an amount as it is.
    pub fn off(self, base: i128) -> i128 {
        match self {
            Discount::Percent(bps) => div_half_even(base * i128::from(bps), 10_000),
            Discount::Amount(a) => i128::from(a),
        }
    }
}

/// A discount field's kind: `{"percent": 10}` (greater than 0, at most 100,
/// two decimals) or `{"amount": 500}` (minor units, at least 1), one of
/// the two.
pub static DISCOUNT: shared::fields::Custom = shared::fields::Custom {
    parse: |name, v| {
        let bad = || {
            FieldError::new(
                name,
                "must be {\"percent\": 0.01..100} or {\"amount\": minor units}",
            )
        };
        let o = v.as_object().filter(|o| o.len() == 1).ok_or_else(bad)?;
        if let Some(p) = o.get("percent") {
            shared::validate::percent_bps(&format!("{name}.percent"), p)?;
            // Kept as written (10 or 12.5): read back exactly by the same check.
            let stored = match p.as_i64() {
                Some(n) => Bson::Int64(n),
                None => Bson::Double(p.as_f64().ok_or_else(bad)?),
            };
            return Ok(Bson::Document(doc! { "percent": stored }));
        }
        if !o.contains_key("amount") {
            return Err(bad());
        }
        let a = o
            .get("amount")
            .and_then(shared::fields::whole)
            .filter(|a| (1..=MAX_AMOUNT).contains(a))
            .ok_or_else(|| {
                FieldError::new(
                    format!("{name}.amount"),
                    format!("must be 1 to {MAX_AMOUNT} minor units"),
                )
            })?;
        Ok(Bson::Document(doc! { "amount": a }))
    },
    sample: || serde_json::json!({ "percent": 10 }),
    schema: || {
        serde_json::json!({
            "type": "object",
            "description": "A percentage (greater than 0, at most 100, two decimals) or an amount in minor units: one of the two.",
            "properties": {
                "percent": { "type": "number", "exclusiveMinimum": 0, "maximum": 100, "multipleOf": 0.01 },
                "amount": { "type": "integer", "minimum": 1, "maximum": MAX_AMOUNT },
            },
            "minProperties": 1,
            "maxProperties": 1,
            "additionalProperties": false,
        })
    },
    json_type: "object",
};

/// What prices a work order's lines besides the lines themselves: its
/// customer's tax exemption and its own discount (both kept on the work
/// order), and the organization's fee rules (read at each write of the
/// lines, so an open work order follows the current rules).
#[derive(Clone, Debug, Default)]
pub struct Pricing {
    pub exempt: bool,
    pub discount: Option<Discount>,
    pub fees: Vec<crate::fees::FeeRule>,
}

impl Pricing {
    /// The pricing of work order `order` under the organization `settings`.
    pub fn of(order: &Document, settings: Option<&Document>) -> Pricing {
        Pricing {
            exempt: order.get_bool("taxExempt").unwrap_or(false),
            discount: Discount::of(order, "discount"),
            fees: crate::fees::rules(settings),
        }
    }
}

/// Whether `line` is one the server keeps from a fee rule.
pub fn is_rule_fee(line: &Document) -> bool {
    line.contains_key("feeRule")
}

/// Whether the server keeps `line` (a package's adjustment, a fee rule's
/// line): it follows the other lines, and no client changes it.
pub fn is_kept(line: &Document) -> bool {
    is_rule_fee(line) || LineKind::of(line) == LineKind::Adjustment
}

/// The `$set` of a work order's lines and the totals they make under
/// `pricing` (lines change only before invoicing, so nothing is paid yet
/// and the balance is the total), in this order, each step in integers:
///
/// 1. each line's `gross`: quantity x unit price (see [`line_money`]);
/// 2. its own discount (`lineDiscount`): a percentage of the gross rounded
///    half to even, or an amount (422 on `discount` when more than the
///    gross);
/// 3. the work order's discount (`orderDiscount`): a percentage of the sum
///    of the counted (not declined) lines after step 2, rounded half to
///    even, or an amount (at most that sum), shared over those lines in
///    proportion to what each is after step 2 by largest remainder, so the
///    shares sum to it exactly; `amount` = gross - both discounts;
/// 4. the fee rules' FEE lines on the counted amounts of their basis
///    (server-kept: `feeRule` names the rule; the line keeps its id while
///    the rule applies);
/// 5. each line's tax on its amount at its rate (0 for an exempt
///    customer), rounded half to even;
/// 6. subtotal, tax and `discountTotal` of the counted lines, total.
///
/// An amount or a total past [`MAX_AMOUNT`] is 422 `AMOUNT_OUT_OF_RANGE`
/// naming `field`, the input that made it.
pub fn with_totals(
    lines: Vec<Document>,
    pricing: &Pricing,
    field: &str,
) -> Result<Document, ApiError> {
    let mut kept_fees: Vec<(String, ObjectId)> = vec![];
    let mut lines: Vec<Document> = lines
        .into_iter()
        .filter(|l| {
            if !is_rule_fee(l) {
                return true;
            }
            if let (Ok(rule), Ok(id)) = (l.get_str("feeRule"), l.get_object_id("id")) {
                kept_fees.push((rule.to_string(), id));
            }
            false
        })
        .collect();
    let counted = |l: &Document| Approval::of(l) != Some(Approval::Declined);
    // Steps 1 and 2: each line's gross and what it is after its own discount.
    let mut after_own: Vec<i128> = Vec::with_capacity(lines.len());
    for l in &mut lines {
        let kind = LineKind::of(l);
        let (gross, _) = line_money(
            kind,
            number(l, "quantity").unwrap_or(0),
            number(l, "unitPrice").unwrap_or(0),
            0,
        )
        .ok_or_else(|| out_of_range(field, "a line's amount"))?;
        let gross = i128::from(gross);
        let own = match Discount::of(l, "discount") {
            Some(d) if kind != LineKind::Adjustment => d.off(gross),
            _ => 0,
        };
        if own > 0 && own > gross {
            return Err(ApiError::field(
                "discount",
                format!("takes off more than the line's amount ({gross})"),
            ));
        }
        l.insert("gross", gross as i64);
        l.insert("lineDiscount", own as i64);
        after_own.push(gross - own);
    }
    // Step 3: the work order's discount, shared by largest remainder.
    let weights: Vec<i128> = lines
        .iter()
        .zip(&after_own)
        .map(|(l, a)| if counted(l) { (*a).max(0) } else { 0 })
        .collect();
    let base: i128 = lines
        .iter()
        .zip(&after_own)
        .filter(|(l, _)| counted(l))
        .map(|(_, a)| *a)
        .sum();
    // Never more than the lines it is shared over (an amount past them
    // takes them to 0).
    let order_off = pricing
        .discount
        .map_or(0, |d| d.off(base.max(0)))
        .min(base.max(0))
        .min(weights.iter().sum());
    let shares = largest_remainder(order_off, &weights);
    for ((l, a), share) in lines.iter_mut().zip(&after_own).zip(&shares) {
        l.insert("orderDiscount", *share as i64);
        l.insert("amount", (a - share) as i64);
    }
    // Step 4: the fee rules' lines.
    for rule in &pricing.fees {
        let base: i128 = lines
            .iter()
            .filter(|l| counted(l) && rule.counts(LineKind::of(l).as_str()))
            .map(|l| i128::from(number(l, "amount").unwrap_or(0)))
            .sum();
        if base <= 0 {
            continue;
        }
        let fee = amount_of(rule.fee(base)).ok_or_else(|| out_of_range(field, "a fee"))?;
        // Agreed once every line it is charged on is.
        let approval = if lines
            .iter()
            .filter(|l| counted(l) && rule.counts(LineKind::of(l).as_str()))
            .all(|l| Approval::of(l) == Some(Approval::Approved))
        {
            Approval::Approved
        } else {
            Approval::Pending
        };
        let id = kept_fees
            .iter()
            .find(|(name, _)| *name == rule.name)
            .map_or_else(ObjectId::new, |(_, id)| *id);
        lines.push(doc! {
            "id": id, "type": LineKind::Fee.as_str(), "description": &rule.name,
            "feeRule": &rule.name, "quantity": 1_i64, "unitPrice": fee, "taxRate": rule.tax_rate,
            "approval": approval.as_str(), "gross": fee, "lineDiscount": 0_i64,
            "orderDiscount": 0_i64, "amount": fee,
        });
    }
    // Steps 5 and 6.
    let (mut subtotal, mut tax, mut discounts) = (0_i128, 0_i128, 0_i128);
    let mut out = Vec::with_capacity(lines.len());
    for mut l in lines {
        let amount = i128::from(number(&l, "amount").unwrap_or(0));
        let rate = if pricing.exempt {
            0
        } else {
            number(&l, "taxRate").unwrap_or(0).clamp(0, 10_000)
        };
        let t = div_half_even(amount * i128::from(rate), 10_000);
        let signed = LineKind::of(&l) == LineKind::Adjustment;
        let fits = |n: i128| {
            if signed {
                n.abs() <= i128::from(MAX_AMOUNT)
            } else {
                amount_of(n).is_some()
            }
        };
        if !fits(amount) || !fits(t) {
            return Err(out_of_range(field, "a line's amount"));
        }
        l.insert("tax", t as i64);
        if counted(&l) {
            subtotal += amount;
            tax += t;
            discounts += i128::from(number(&l, "lineDiscount").unwrap_or(0))
                + i128::from(number(&l, "orderDiscount").unwrap_or(0));
        }
        out.push(Bson::Document(l));
    }
    let total = amount_of(subtotal + tax).ok_or_else(|| out_of_range(field, "the total"))?;
    let (subtotal, tax) = (
        amount_of(subtotal).ok_or_else(|| out_of_range(field, "the subtotal"))?,
        amount_of(tax).ok_or_else(|| out_of_range(field, "the tax"))?,
    );
    let discounts = amount_of(discounts).ok_or_else(|| out_of_range(field, "the discount"))?;
    Ok(doc! {
        "lines": out,
        "subtotal": subtotal, "tax": tax, "total": total, "discountTotal": discounts,
        "amountPaid": 0_i64, "balance": total,
        "updatedAt": DateTime::now(),
    })
}

/// An APPROVED line that `set` (the `$set` of [`with_totals`]) makes cost
/// more (amount and tax) than it did in `before` is PENDING again: the
/// customer agrees to the new price. Server-kept lines follow their own
/// rules.
pub fn agree_again_when_raised(before: &[Document], set: &mut Document) {
    let cost = |l: &Document| {
        i128::from(number(l, "amount").unwrap_or(0)) + i128::from(number(l, "tax").unwrap_or(0))
    };
    let Ok(lines) = set.get_array_mut("lines") else {
        return;
    };
    for l in lines.iter_mut().filter_map(|l| l.as_document_mut()) {
        if is_kept(l) || Approval::of(l) != Some(Approval::Approved) {
            continue;
        }
        let was = before
            .iter()
            .find(|b| b.get("id").is_some() && b.get("id") == l.get("id"))
            .map(cost);
        if was.is_some_and(|was| cost(l) > was) {
            l.insert("approval", Approval::Pending.as_str());
        }
    }
}

/// A 500 for a stored work order that lacks what every one has (schema
/// drift shows, instead of becoming an empty string or a 0).
fn drift(what: &str) -> ApiError {
    ApiError::internal(format!("[SCHEMA] a stored work order has no valid {what}"))
}

/// A work order as its flows decide on it, read once from the stored
/// document, each field typed. What every stored work order has (its id,
/// each line's id, type and quantity) is a 500 naming it when missing;
/// what a work order written before a field existed may lack takes that
/// field's declared default (status ESTIMATE, a line PENDING, balance 0,
/// version 1, no currency), as the entity would have written it.
pub struct Order {
    pub id: ObjectId,
    pub version: i64,
    pub status: Status,
    pub currency: Option<String>,
    pub balance: i64,
    pub lines: Vec<Line>,
}

/// A stored line, as the flows decide on it.
pub struct Line {
    pub id: ObjectId,
    pub kind: LineKind,
    pub approval: Approval,
    pub part: Option<ObjectId>,
    pub quantity: i64,
    /// Kept by the server (a package's adjustment, a fee rule's line): no
    /// client changes, removes or decides it.
    pub kept: bool,
}

impl Line {
    pub fn of(line: &Document) -> Result<Line, ApiError> {
        Ok(Line {
            id: line.get_object_id("id").map_err(|_| drift("line id"))?,
            kind: LineKind::in_field(line, "type").ok_or_else(|| drift("line type"))?,
            approval: Approval::of(line).unwrap_or(Approval::Pending),
            part: line.get_object_id("partId").ok(),
            quantity: number(line, "quantity").ok_or_else(|| drift("line quantity"))?,
            kept: is_kept(line),
        })
    }

    /// The part whose stock this line holds: a PART line's, unless
    /// declined.
    pub fn held_part(&self) -> Option<ObjectId> {
        let holds = self.kind == LineKind::Part && self.approval != Approval::Declined;
        holds.then_some(self.part).flatten()
    }
}

impl Order {
    pub fn of(order: &Document) -> Result<Order, ApiError> {
        let lines = match order.get("lines") {
            None => vec![],
            Some(Bson::Array(a)) => a
                .iter()
                .map(|l| {
                    l.as_document()
                        .ok_or_else(|| drift("line"))
                        .and_then(Line::of)
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(drift("lines")),
        };
        Ok(Order {
            id: order.get_object_id("_id").map_err(|_| drift("id"))?,
            version: number(order, "version").unwrap_or(1),
            status: Status::of(order),
            currency: order.get_str("currency").ok().map(str::to_string),
            balance: number(order, "balance").unwrap_or(0),
            lines,
        })
    }

    /// Whether its counted PART lines hold stock now: reserved while it is
    /// open, consumed on completion, released on cancellation.
    pub fn holds_stock(&self) -> bool {
        self.status.lines_change()
    }

    /// What its counted PART lines hold: (part, quantity).
    pub fn reservations(&self) -> Vec<(ObjectId, i64)> {
        self.lines
            .iter()
            .filter_map(|l| Some((l.held_part()?, l.quantity)))
            .collect()
    }

    /// Whether the customer approved at least one line (work starts only
    /// then).
    pub fn has_approved_line(&self) -> bool {
        // A package's adjustment or a fee rule's line is no work of its own.
        self.lines
            .iter()
            .any(|l| l.approval == Approval::Approved && !l.kept)
    }

    /// Its line `id` (404 when it has none such).
    pub fn line(&self, id: ObjectId) -> Result<&Line, ApiError> {
        self.lines
            .iter()
            .find(|l| l.id == id)
            .ok_or(ApiError::NotFound { resource: "line" })
    }
}

/// A work order's status-change event: the record as rendered and the
/// status it left.
pub(crate) fn with_previous(shown: &serde_json::Value, from: Status) -> serde_json::Value {
    let mut out = shown.clone();
    if let Some(o) = out.as_object_mut() {
        o.insert("previousStatus".into(), from.as_str().into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::error::{chain, Code};

    #[test]
    fn a_stored_work_order_is_read_typed_or_refused_naming_what_is_missing() {
        let (id, part) = (ObjectId::new(), ObjectId::new());
        let line = |approval: &str| {
            doc! { "id": ObjectId::new(), "type": "PART", "partId": part, "quantity": 2_i64, "approval": approval }
        };
        let mut stored = doc! {
            "_id": id, "version": 3_i64, "status": "APPROVED", "currency": "EUR", "balance": 0_i64,
            "lines": [line("APPROVED"), line("DECLINED"), line("PENDING")],
        };
        let order = Order::of(&stored).unwrap();
        assert_eq!(
            (order.id, order.version, order.status),
            (id, 3, Status::Approved)
        );
        assert!(order.has_approved_line() && order.holds_stock());
        // A declined line holds nothing.
        assert_eq!(order.reservations(), vec![(part, 2), (part, 2)]);
        // A line from before approvals existed is PENDING, as one added now.
        stored.insert(
            "lines",
            vec![doc! { "id": ObjectId::new(), "type": "PART", "partId": part, "quantity": 1_i64 }],
        );
        let order = Order::of(&stored).unwrap();
        assert_eq!(order.lines[0].approval, Approval::Pending);
        assert!(!order.has_approved_line());
        // What every stored line has is refused when missing, named.
        stored.insert("lines", vec![doc! { "id": ObjectId::new(), "type": "FEE" }]);
        let refused = Order::of(&stored).err().map(|e| chain(&e));
        assert!(
            refused
                .as_deref()
                .is_some_and(|e| e.contains("line quantity")),
            "{refused:?}"
        );
    }

    #[test]
    fn halves_round_to_even() {
        assert_eq!(div_half_even(5, 2), 2);
        assert_eq!(div_half_even(7, 2), 4);
        assert_eq!(div_half_even(6, 4), 2);
        assert_eq!(div_half_even(10, 4), 2);
        assert_eq!(div_half_even(11, 4), 3);
    }

    #[test]
    fn labour_is_hundredths_of_an_hour_and_tax_is_per_line() {
        // 1.5 h at 90.00/h = 135.00; 19 % tax = 25.65.
        assert_eq!(
            line_money(LineKind::Labor, 150, 9_000, 1_900),
            Some((13_500, 2_565))
        );
        // 0.25 h at 85.50 = 21.375 -> 21.38 (8 is even); 2 parts at 12.99.
        assert_eq!(line_money(LineKind::Labor, 25, 8_550, 0), Some((2_138, 0)));
        assert_eq!(
            line_money(LineKind::Part, 2, 1_299, 1_900),
            Some((2_598, 494))
        );
    }

    #[test]
    fn a_product_past_the_bound_is_refused_not_wrapped() {
        // 20879 x 883507068044904 is -1000 when wrapped to 64 bits.
        assert_eq!(
            line_money(LineKind::Fee, 20_879, 883_507_068_044_904, 0),
            None
        );
        assert_eq!(
            line_money(LineKind::Fee, 1, MAX_AMOUNT, 0),
            Some((MAX_AMOUNT, 0))
        );
        assert_eq!(line_money(LineKind::Fee, 1, MAX_AMOUNT + 1, 0), None);
        assert_eq!(line_money(LineKind::Fee, 1, -1, 0), None);
        assert_eq!(
            line_money(LineKind::Labor, i64::MAX, i64::MAX, 10_000),
            None
        );
        // The tax is bounded too, and never more than the amount.
        assert_eq!(
            line_money(LineKind::Fee, 1, MAX_AMOUNT, 10_000),
            Some((MAX_AMOUNT, MAX_AMOUNT))
        );
    }

    #[test]
    fn totals_past_the_bound_are_refused_naming_the_field() {
        let line = |price: i64| doc! { "type": "FEE", "quantity": 1_i64, "unitPrice": price, "taxRate": 0_i64 };
        let ok = with_totals(
            vec![line(MAX_AMOUNT / 2), line(MAX_AMOUNT / 2)],
            &Pricing::default(),
            "unitPrice",
        )
        .unwrap();
        assert_eq!(ok.get_i64("total").unwrap(), MAX_AMOUNT);
        match with_totals(
            vec![line(MAX_AMOUNT), line(1)],
            &Pricing::default(),
            "unitPrice",
        ) {
            Err(ApiError::Unprocessable { code, errors, .. }) => {
                assert_eq!(code, Code::AmountOutOfRange);
                assert_eq!(errors[0].field, "unitPrice");
            }
            other => panic!("{other:?}"),
        }
    }
}
