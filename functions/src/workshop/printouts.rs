//! A work order's estimate and invoice as PDF (`GET .../estimate.pdf`,
//! `.../invoice.pdf`, and a share link's `.../document.pdf`): the
//! [`Sheet`] made from the work order (the invoice from its frozen copy) in
//! the organization's locale and time zone, rendered by [`super::pdf`],
//! kept in the bucket under a digest of everything it shows, and answered
//! as a redirect to a 5-minute URL. A second request of the same content
//! renders nothing. Through a share link the customer's address and the
//! VIN are left out and the plate masked, as in the customer's view.

use std::time::Duration;

use bson::{doc, Bson, Document};
use shared::db::{number, Scope};
use shared::error::ApiError;
use shared::http::ApiResponse;
use shared::records::find_live;
use shared::runtime::{Ctx, HandlerResult};

use super::order::{Approval, LineKind};
use super::pdf::{render, Row, Sheet};
use super::work_orders::WORK_ORDER;

/// Bumped when the layout changes, so cached files are made again.
const LAYOUT_VERSION: u32 = 1;
const URL_TTL: Duration = Duration::from_secs(5 * 60);

/// The organization's words and number formats.
struct Locale {
    german: bool,
    /// Decimal and grouping separators.
    decimal: char,
    group: char,
    /// A `strftime` date pattern.
    date: &'static str,
}

impl Locale {
    fn of(tag: &str) -> Locale {
        let lang = tag
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let comma = [
            "de", "fr", "es", "it", "nl", "pt", "da", "nb", "sv", "fi", "pl", "cs",
        ];
        let (decimal, group) = if comma.contains(&lang.as_str()) {
            (',', if lang == "fr" { ' ' } else { '.' })
        } else {
            ('.', ',')
        };
        let date = match (lang.as_str(), tag) {
            ("de", _) | ("pl", _) | ("cs", _) | ("da", _) | ("nb", _) | ("fi", _) => "%d.%m.%Y",
            _ if tag.eq_ignore_ascii_case("en-US") => "%m/%d/%Y",
            ("en", _) | ("fr", _) | ("es", _) | ("it", _) | ("pt", _) | ("nl", _) => "%d/%m/%Y",
            _ => "%Y-%m-%d",
        };
        Locale {
            german: lang == "de",
            decimal,
            group,
            date,
        }
    }

    fn word<'a>(&self, en: &'a str, de: &'a str) -> &'a str {
        if self.german {
            de
        } else {
            en
        }
    }

    /// `minor` units (cents) with two decimals, grouped, and the currency.
    fn money(&self, minor: i64, currency: &str) -> String {
        let sign = if minor < 0 { "-" } else { "" };
        let abs = minor.unsigned_abs();
        let (units, cents) = (abs / 100, abs % 100);
        let digits = units.to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(self.group);
            }
            grouped.push(c);
        }
        format!("{sign}{grouped}{}{cents:02} {currency}", self.decimal)
    }

    /// Hundredths (an hour's, or a rate's basis points / 100) with up to
    /// two decimals.
    fn hundredths(&self, n: i64) -> String {
        let (whole, frac) = (n / 100, (n % 100).abs());
        if frac == 0 {
            whole.to_string()
        } else if frac % 10 == 0 {
            format!("{whole}{}{}", self.decimal, frac / 10)
        } else {
            format!("{whole}{}{frac:02}", self.decimal)
        }
    }

    fn date(&self, t: bson::DateTime, tz: &jiff::tz::TimeZone) -> String {
        jiff::Timestamp::from_millisecond(t.timestamp_millis())
            .map(|ts| {
                ts.to_zoned_datetime(tz.clone())
                    .strftime(self.date)
                    .to_string()
            })
            .unwrap_or_default()
    }
}

fn text(d: &Document, k: &str) -> String {
    d.get_str(k).unwrap_or_default().to_string()
}

/// Which document.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Estimate,
    Invoice,
}

/// The address lines of an `{street, postalCode, city, country}` object.
fn address(d: Option<&Document>) -> Vec<String> {
    let Some(a) = d else { return vec![] };
    let city = [text(a, "postalCode"), text(a, "city")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    [text(a, "street"), city, text(a, "country")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect()
}

/// The vehicle's lines; for a share link's document (`public`) the plate
/// masked but for its last 3 characters and no VIN, as the customer's
/// view shows it.
fn vehicle_lines(v: Option<&Document>, public: bool) -> Vec<String> {
    let Some(v) = v else { return vec![] };
    let mut name = [text(v, "make"), text(v, "model")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(y) = number(v, "year") {
        name = format!("{name} ({y})");
    }
    let mut out = vec![name];
    for (label, key) in [("Plate", "plate"), ("VIN", "vin")] {
        let value = text(v, key);
        match (public, key) {
            _ if value.is_empty() => {}
            (true, "vin") => {}
            (true, _) => out.push(format!("{label}: {}", super::share::masked(&value))),
            (false, _) => out.push(format!("{label}: {value}")),
        }
    }
    out
}

/// The sheet of `order` as `kind`, for `scope`'s organization; `public`
/// for a share link's (the customer's name without address, the plate
/// masked, no VIN).
async fn sheet(
    scope: &Scope,
    order: &Document,
    kind: Kind,
    public: bool,
) -> Result<Sheet, ApiError> {
    let org = &scope.caller().org;
    let settings = org.settings.clone().unwrap_or_default();
    let locale = Locale::of(settings.get_str("locale").unwrap_or("en"));
    let tz = jiff::tz::TimeZone::get(settings.get_str("timezone").unwrap_or("UTC"))
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let documents = settings
        .get_document("documents")
        .cloned()
        .unwrap_or_default();
    let mut shop = vec![org.name.clone()];
    shop.extend(
        text(&settings, "address")
            .lines()
            .map(str::to_string)
            .filter(|l| !l.trim().is_empty()),
    );
    if let Ok(phone) = settings.get_str("phone") {
        shop.push(phone.to_string());
    }
    if let Some(tax_id) = documents
        .get_str("taxId")
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        shop.push(format!("{}: {tax_id}", locale.word("Tax ID", "USt-IdNr.")));
    }
    // An invoice prints in the currency it was issued in.
    let currency = match kind {
        Kind::Invoice => order
            .get_document("invoice")
            .ok()
            .and_then(|i| i.get_str("currency").ok()),
        Kind::Estimate => None,
    }
    .or_else(|| order.get_str("currency").ok())
    .unwrap_or("EUR")
    .to_string();
    let (source, number_line, date, customer, vehicle) = match kind {
        Kind::Invoice => {
            let invoice = order
                .get_document("invoice")
                .map_err(|_| ApiError::NotFound {
                    resource: "invoice",
                })?;
            let issued = invoice
                .get_datetime("issuedAt")
                .copied()
                .unwrap_or_else(|_| bson::DateTime::now());
            let customer = invoice.get_document("customer").ok();
            let mut who = customer.map(|c| vec![text(c, "name")]).unwrap_or_default();
            if !public {
                who.extend(address(
                    customer.and_then(|c| c.get_document("address").ok()),
                ));
            }
            (
                invoice.clone(),
                Some(format!(
                    "{} {}",
                    locale.word("No.", "Nr."),
                    text(invoice, "number")
                )),
                locale.date(issued, &tz),
                who,
                vehicle_lines(invoice.get_document("vehicle").ok(), public),
            )
        }
        Kind::Estimate => {
            let (account, vehicle) = tokio::join!(
                async {
                    match order.get_object_id("accountId") {
                        Ok(a) => {
                            scope
                                .collection(crate::crm::collections::ACCOUNTS)
                                .find_one(doc! { "_id": a })
                                .await
                        }
                        Err(_) => Ok(None),
                    }
                },
                async {
                    match order.get_object_id("vehicleId") {
                        Ok(v) => {
                            scope
                                .collection(super::vehicles::VEHICLES)
                                .find_one(doc! { "_id": v })
                                .await
                        }
                        Err(_) => Ok(None),
                    }
                }
            );
            let (account, vehicle) = (account?, vehicle?);
            let mut who = account
                .as_ref()
                .map(|a| vec![text(a, "name")])
                .unwrap_or_default();
            if !public {
                who.extend(address(
                    account
                        .as_ref()
                        .and_then(|a| a.get_document("address").ok()),
                ));
            }
            (
                order.clone(),
                order
                    .get_str("number")
                    .ok()
                    .map(|n| format!("{} {n}", locale.word("No.", "Nr."))),
                // The estimate as of its last change: the same file however
                // late it is asked for.
                locale.date(
                    order
                        .get_datetime("updatedAt")
                        .copied()
                        .unwrap_or_else(|_| bson::DateTime::now()),
                    &tz,
                ),
                who,
                vehicle_lines(vehicle.as_ref(), public),
            )
        }
    };
    let rows: Vec<Row> = source
        .get_array("lines")
        .map(|a| a.iter().filter_map(Bson::as_document).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|l| Approval::of(l) != Some(Approval::Declined))
        .map(|l| {
            let quantity = number(l, "quantity").unwrap_or(0);
            Row {
                description: text(l, "description"),
                quantity: if LineKind::of(l) == LineKind::Labor {
                    format!("{} h", locale.hundredths(quantity))
                } else {
                    quantity.to_string()
                },
                unit_price: locale.money(number(l, "unitPrice").unwrap_or(0), &currency),
                tax: format!("{} %", locale.hundredths(number(l, "taxRate").unwrap_or(0))),
                amount: locale.money(number(l, "amount").unwrap_or(0), &currency),
            }
        })
        .collect();
    let mut totals = vec![];
    let (subtotal, discounts) = (
        number(&source, "subtotal").unwrap_or(0),
        number(&source, "discountTotal").unwrap_or(0),
    );
    if discounts > 0 {
        // The lines print their amounts after discounts; what was taken
        // off shows here.
        totals.push((
            locale.word("Before discounts", "Vor Rabatt").to_string(),
            locale.money(subtotal.saturating_add(discounts), &currency),
        ));
        totals.push((
            locale.word("Discounts", "Rabatt").to_string(),
            locale.money(discounts.saturating_neg(), &currency),
        ));
    }
    let tax_label = match source.get_bool("taxExempt") {
        Ok(true) => format!(
            "{} ({})",
            locale.word("Tax exempt", "Steuerbefreit"),
            text(&source, "taxExemptReason")
        ),
        _ => locale.word("Tax", "MwSt.").to_string(),
    };
    totals.extend([
        (
            locale.word("Subtotal", "Zwischensumme").to_string(),
            locale.money(subtotal, &currency),
        ),
        (
            tax_label,
            locale.money(number(&source, "tax").unwrap_or(0), &currency),
        ),
        (
            locale.word("Total", "Gesamt").to_string(),
            locale.money(number(&source, "total").unwrap_or(0), &currency),
        ),
    ]);
    if kind == Kind::Invoice {
        for p in order
            .get_array("payments")
            .map(|a| a.iter().filter_map(Bson::as_document).collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let paid = p
                .get_datetime("paidAt")
                .map(|t| locale.date(*t, &tz))
                .unwrap_or_default();
            totals.push((
                format!("{} {paid}", locale.word("Paid", "Bezahlt")),
                locale.money(number(p, "amount").unwrap_or(0).saturating_neg(), &currency),
            ));
        }
        totals.push((
            locale.word("Balance", "Offen").to_string(),
            locale.money(number(order, "balance").unwrap_or(0), &currency),
        ));
    }
    let footer = [text(&documents, "footer"), text(&documents, "legalText")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Sheet {
        title: match kind {
            Kind::Estimate => locale.word("Estimate", "Kostenvoranschlag"),
            Kind::Invoice => locale.word("Invoice", "Rechnung"),
        }
        .to_string(),
        number: number_line,
        date,
        shop,
        customer,
        vehicle,
        headings: [
            locale.word("Description", "Beschreibung"),
            locale.word("Qty", "Menge"),
            locale.word("Unit price", "Einzelpreis"),
            locale.word("Tax", "MwSt."),
            locale.word("Amount", "Betrag"),
        ]
        .map(String::from),
        rows,
        totals,
        footer,
        page_label: locale
            .word("Page {n} of {m}", "Seite {n} von {m}")
            .to_string(),
        logo: None,
    })
}

/// A digest of everything a document shows: a change anywhere (the work
/// order, its customer, vehicle, the organization's settings) makes a new
/// file, and the same content is never rendered twice.
fn digest(sheet: &Sheet) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(format!("{sheet:?}").as_bytes());
    shared::hex::hex(&h.finalize()[..12])
}

/// The redirect to `order`'s document as `kind`: made and kept in the
/// bucket when no file of this content exists yet.
async fn answer(scope: &Scope, order: &Document, kind: Kind, public: bool) -> HandlerResult {
    let id = order
        .get_object_id("_id")
        .map_err(|_| ApiError::internal("a work order without id"))?;
    if kind == Kind::Invoice && order.get_document("invoice").is_err() {
        return Err(ApiError::NotFound {
            resource: "invoice",
        });
    }
    let storage = scope.storage()?;
    let name = match kind {
        Kind::Estimate => "estimate",
        Kind::Invoice => "invoice",
    };
    let (sheet, logo) = tokio::join!(
        sheet(scope, order, kind, public),
        crate::files::documents::logo(scope)
    );
    let (mut sheet, logo) = (sheet?, logo?);
    // The logo's record, while it is live: its id and upload time are part
    // of what the document shows (a new logo makes a new file).
    let logo_key = logo.as_ref().and_then(|d| {
        let key = d.get_str("storageKey").ok()?.to_string();
        sheet.logo = Some(format!(
            "{}@{}",
            d.get_object_id("_id").ok()?.to_hex(),
            d.get_datetime("uploadedAt")
                .map(|t| t.timestamp_millis())
                .unwrap_or(0)
        ));
        Some(key)
    });
    let key = format!(
        "{}printouts/{}/{name}-l{LAYOUT_VERSION}-{}.pdf",
        storage.organization_prefix(scope.org_id()),
        id.to_hex(),
        digest(&sheet),
    );
    if storage.head(&key).await?.is_none() {
        // The logo comes from the organization's own bucket, never from a
        // URL elsewhere: a document does not wait on a third party.
        let logo = match logo_key {
            Some(k) => {
                let max = crate::files::documents::MAX_LOGO_BYTES as u64;
                storage.get(&k, max).await?
            }
            None => None,
        };
        // Rendering is CPU work: off the runtime's threads.
        let pdf = tokio::task::spawn_blocking(move || {
            // A logo the image decoder refuses leaves the document without
            // one rather than without a document.
            render(&sheet, logo.as_deref()).or_else(|_| render(&sheet, None))
        })
        .await
        .map_err(|e| ApiError::internal(format!("the PDF task failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("the PDF was not made: {e}")))?;
        storage.put(&key, "application/pdf", pdf).await?;
    }
    let file = match kind {
        Kind::Invoice => order
            .get_document("invoice")
            .ok()
            .and_then(|i| i.get_str("number").ok())
            .map(|n| format!("{n}.pdf")),
        Kind::Estimate => order
            .get_str("number")
            .ok()
            .map(|n| format!("estimate-{n}.pdf")),
    }
    .unwrap_or_else(|| format!("{name}.pdf"));
    let url = storage
        .presign_get(&key, &file, "application/pdf", URL_TTL)
        .await?;
    let mut r = ApiResponse::no_content();
    r.status = http::StatusCode::FOUND;
    r.set_header("location", &url);
    Ok(r)
}

async fn of_path(ctx: &Ctx, kind: Kind) -> HandlerResult {
    let scope = ctx.scope()?;
    let order = find_live(scope, &WORK_ORDER, ctx.path_id()?).await?;
    answer(scope, &order, kind, false).await
}

/// `GET /api/v1/work-orders/{id}/estimate.pdf` -> 302.
pub async fn estimate(ctx: Ctx) -> HandlerResult {
    of_path(&ctx, Kind::Estimate).await
}

/// `GET /api/v1/work-orders/{id}/invoice.pdf` -> 302; 404 before the
/// work order is invoiced.
pub async fn invoice(ctx: Ctx) -> HandlerResult {
    of_path(&ctx, Kind::Invoice).await
}

/// `GET /api/v1/public/share/{token}/document.pdf` -> 302: the link's
/// estimate or invoice.
pub async fn shared(ctx: Ctx) -> HandlerResult {
    let scope = ctx.scope()?;
    let link = super::share::link_of(scope)?;
    let order = scope
        .collection(super::order::WORK_ORDERS)
        .find_one(doc! { "_id": link.record_id, "deletedAt": null })
        .await?
        .ok_or(ApiError::Gone {
            code: shared::error::Code::LinkRevoked,
            detail: "This work order is no longer available".into(),
        })?;
    let kind = if link.purpose == "INVOICE" {
        Kind::Invoice
    } else {
        Kind::Estimate
    };
    answer(scope, &order, kind, true).await
}

/// For tests and benchmarks: the sheet's PDF from fixed input.
pub fn render_fixed(rows: usize) -> Result<Vec<u8>, String> {
    let sheet = Sheet {
        title: "Invoice".into(),
        number: Some("No. INV-000001".into()),
        date: "04.12.2026".into(),
        shop: vec![
            "Demo Workshop".into(),
            "Hauptstr. 1".into(),
            "10115 Berlin".into(),
        ],
        customer: vec!["Müller Logistik GmbH".into()],
        vehicle: vec!["Skoda Octavia (2019)".into()],
        headings: ["Description", "Qty", "Unit price", "Tax", "Amount"].map(String::from),
        rows: (0..rows)
            .map(|i| Row {
                description: format!("Line {i}: brake pads, front axle, fitted and tested"),
                quantity: "1".into(),
                unit_price: "45,00 EUR".into(),
                tax: "19 %".into(),
                amount: "45,00 EUR".into(),
            })
            .collect(),
        totals: vec![("Total".into(), "1.234,56 EUR".into())],
        footer: "Demo Workshop GmbH, Amtsgericht Berlin HRB 12345".into(),
        page_label: "Page {n} of {m}".into(),
        logo: None,
    };
    render(&sheet, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_dates_follow_the_locale() {
        let de = Locale::of("de-DE");
        assert_eq!(de.money(123_456, "EUR"), "1.234,56 EUR");
        assert_eq!(de.money(5, "EUR"), "0,05 EUR");
        let us = Locale::of("en-US");
        assert_eq!(us.money(100_000_000, "USD"), "1,000,000.00 USD");
        assert_eq!(us.hundredths(150), "1.5");
        assert_eq!(de.hundredths(1_900), "19");
        let t = bson::DateTime::from_millis(1_764_892_800_000); // 2025-12-05T00:00Z
        let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        assert_eq!(de.date(t, &berlin), "05.12.2025");
        let la = jiff::tz::TimeZone::get("America/Los_Angeles").unwrap();
        assert_eq!(us.date(t, &la), "12/04/2025");
    }
}
