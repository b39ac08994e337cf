//! The organization's fee rules (`settings.fees`): shop supplies, disposal
//! and the like, each a percentage of a work order's labour, parts or both
//! (after discounts), raised to a minimum and lowered to a maximum, taxed
//! or not. The workshop adds them as FEE lines the server keeps
//! (`workshop::order::with_totals`); identity checks them when the
//! settings change. Here, between the two, so neither depends on the
//! other.

use serde::Deserialize;
use serde_json::Value;
use shared::bson::{doc, Bson, Document};
use shared::db::number;
use shared::error::FieldError;
use shared::validate::{self, Errors};

/// The most fee rules an organization has.
pub const MAX_RULES: usize = 10;

/// The most a fee may be (minor units), as any amount of a work order.
const MAX_FEE: i64 = 1_000_000_000_000_000;

shared::words! {
    /// What a fee rule is a percentage of.
    pub enum FeeBasis {
        Labor = "LABOR",
        Parts = "PARTS",
        Both = "BOTH",
    }
}

/// A stored fee rule, as a work order is priced by it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeeRule {
    pub name: String,
    pub basis: FeeBasis,
    /// The percentage, in basis points.
    pub bps: i64,
    pub min: Option<i64>,
    pub max: Option<i64>,
    /// The tax rate of its line (basis points; 0 when not taxable).
    pub tax_rate: i64,
}

impl FeeRule {
    fn of(d: &Document) -> Option<FeeRule> {
        let json = serde_json::to_value(d.get("percent")?).ok()?;
        Some(FeeRule {
            name: d.get_str("name").ok()?.to_string(),
            basis: FeeBasis::in_field(d, "basis")?,
            bps: validate::percent_bps("percent", &json).ok()?,
            min: number(d, "min"),
            max: number(d, "max"),
            tax_rate: if d.get_bool("taxable").unwrap_or(false) {
                number(d, "taxRate").unwrap_or(0)
            } else {
                0
            },
        })
    }

    /// Whether a line of `kind` (`LABOR`, `PART`) is in its base.
    pub fn counts(&self, kind: &str) -> bool {
        match self.basis {
            FeeBasis::Labor => kind == "LABOR",
            FeeBasis::Parts => kind == "PART",
            FeeBasis::Both => kind == "LABOR" || kind == "PART",
        }
    }

    /// The fee on `base` (positive): the percentage rounded half to even,
    /// raised to `min`, lowered to `max`.
    pub fn fee(&self, base: i128) -> i128 {
        let mut fee = half_even(base * i128::from(self.bps), 10_000);
        if let Some(min) = self.min {
            fee = fee.max(i128::from(min));
        }
        if let Some(max) = self.max {
            fee = fee.min(i128::from(max));
        }
        fee
    }
}

/// `n / d` rounded half to even (`d > 0`).
fn half_even(n: i128, d: i128) -> i128 {
    let (q, r) = (n.div_euclid(d), n.rem_euclid(d));
    match (2 * r).cmp(&d) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    }
}

/// The organization's fee rules, as stored in its `settings`.
pub fn rules(settings: Option<&Document>) -> Vec<FeeRule> {
    settings
        .and_then(|s| s.get_array("fees").ok())
        .map(|a| {
            a.iter()
                .filter_map(Bson::as_document)
                .filter_map(FeeRule::of)
                .collect()
        })
        .unwrap_or_default()
}

/// A fee rule as a settings PATCH sends it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FeeRuleInput {
    pub name: String,
    pub basis: String,
    pub percent: Value,
    #[serde(default)]
    pub min: Option<i64>,
    #[serde(default)]
    pub max: Option<i64>,
    pub taxable: bool,
    #[serde(default)]
    pub tax_rate: Option<i64>,
}

/// `settings.fees` checked (each error named `settings.fees[n].field`):
/// at most [`MAX_RULES`] rules of distinct names (1 to 100 characters), a
/// basis, a percentage (0.01 to 100, two decimals), `min` and `max` in
/// minor units with `min <= max`, and a `taxRate` (basis points) exactly
/// when taxable. What to store, as sent.
pub fn check(errors: &mut Errors, input: &[FeeRuleInput]) -> Option<Vec<Bson>> {
    let before = errors.len();
    if input.len() > MAX_RULES {
        errors.push(FieldError::new(
            "settings.fees",
            format!("has at most {MAX_RULES} rules"),
        ));
    }
    let mut out = vec![];
    let mut names = std::collections::HashSet::new();
    for (n, r) in input.iter().enumerate() {
        let at = |f: &str| format!("settings.fees[{n}].{f}");
        let name = errors.check(validate::text(&at("name"), &r.name, 1, 100));
        if let Some(name) = &name {
            if !names.insert(name.to_lowercase()) {
                errors.push(FieldError::new(at("name"), "names another rule already"));
            }
        }
        if FeeBasis::parse(&r.basis).is_none() {
            errors.push(FieldError::new(
                at("basis"),
                format!("must be one of {}", FeeBasis::NAMES.join(", ")),
            ));
        }
        errors.check(validate::percent_bps(&at("percent"), &r.percent));
        for (f, v) in [("min", r.min), ("max", r.max)] {
            if v.is_some_and(|v| !(0..=MAX_FEE).contains(&v)) {
                errors.push(FieldError::new(
                    at(f),
                    format!("must be 0 to {MAX_FEE} minor units"),
                ));
            }
        }
        if let (Some(min), Some(max)) = (r.min, r.max) {
            if min > max {
                errors.push(FieldError::new(at("max"), "must not be less than min"));
            }
        }
        match (r.taxable, r.tax_rate) {
            (true, Some(rate)) if (0..=10_000).contains(&rate) => {}
            (true, _) => errors.push(FieldError::new(
                at("taxRate"),
                "is required when taxable: 0 to 10000 basis points",
            )),
            (false, Some(_)) => errors.push(FieldError::new(
                at("taxRate"),
                "belongs on a taxable rule only",
            )),
            (false, None) => {}
        }
        let mut stored = doc! {
            "name": name.unwrap_or_default(), "basis": &r.basis,
            "percent": match r.percent.as_i64() {
                Some(n) => Bson::Int64(n),
                None => Bson::Double(r.percent.as_f64().unwrap_or(0.0)),
            },
            "taxable": r.taxable,
        };
        for (f, v) in [("min", r.min), ("max", r.max), ("taxRate", r.tax_rate)] {
            if let Some(v) = v {
                stored.insert(f, v);
            }
        }
        out.push(Bson::Document(stored));
    }
    (errors.len() == before).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fee_is_its_percentage_within_its_bounds() {
        let rule = FeeRule {
            name: "Shop supplies".into(),
            basis: FeeBasis::Labor,
            bps: 1_000,
            min: Some(500),
            max: Some(3_500),
            tax_rate: 1_900,
        };
        assert_eq!(rule.fee(10_000), 1_000);
        // 10 % of 12.34 is 1.234, raised to the minimum.
        assert_eq!(rule.fee(1_234), 500);
        assert_eq!(rule.fee(1_000_000), 3_500);
        // Half to even: 10 % of 0.05 x 100 ... 5.25 -> 5 (no bounds).
        let open = FeeRule {
            min: None,
            max: None,
            ..rule.clone()
        };
        assert_eq!(open.fee(525), 52);
        assert_eq!(open.fee(535), 54);
        assert!(rule.counts("LABOR") && !rule.counts("PART"));
    }

    #[test]
    fn a_rule_is_refused_naming_each_wrong_field() {
        let input: Vec<FeeRuleInput> = serde_json::from_value(serde_json::json!([
            { "name": "Disposal", "basis": "SOMETHING", "percent": 0, "min": 500, "max": 100, "taxable": true },
            { "name": "disposal", "basis": "PARTS", "percent": 5, "taxable": false, "taxRate": 1900 },
        ]))
        .unwrap();
        let mut errors = Errors::new();
        assert!(check(&mut errors, &input).is_none());
        let Err(shared::error::ApiError::Validation { errors }) = errors.finish() else {
            panic!("no validation error");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "settings.fees[0].basis",
                "settings.fees[0].percent",
                "settings.fees[0].max",
                "settings.fees[0].taxRate",
                "settings.fees[1].name",
                "settings.fees[1].taxRate",
            ]
        );
    }
}
