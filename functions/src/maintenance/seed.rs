//! Demo data for the local stack: one organization with one user per role.
//! Idempotent: running it again finds what is there and changes nothing.

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};

use shared::auth::password;
use shared::db::collections;
use shared::error::{id_of, ApiError, OrInternal};
use shared::model::{Plan, UserStatus};
use shared::rbac::Role;
use shared::state::State;
use shared::unscoped::{Purpose, Unscoped};

pub const DEMO_SLUG: &str = "demo-workshop";

/// Where the demo workshop is.
const DEMO_TIMEZONE: &str = "Europe/Berlin";

/// The demo workshop's fee rules: shop supplies on labour (5 %, 5.00 to
/// 35.00, taxed) and tyre and oil disposal on parts (2 %, at most 15.00,
/// untaxed).
fn demo_fees() -> bson::Bson {
    bson::bson!([
        { "name": "Shop supplies", "basis": "LABOR", "percent": 5_i64, "min": 500_i64, "max": 3_500_i64, "taxable": true, "taxRate": 1_900_i64 },
        { "name": "Disposal", "basis": "PARTS", "percent": 2_i64, "max": 1_500_i64, "taxable": false },
    ])
}

/// A seeded user's sign-in.
pub struct DemoUser {
    pub role: Role,
    pub email: String,
    pub password: String,
}

/// What the seed made: its users' sign-ins, and share links (purpose, the
/// public API URL) of the estimate and the invoiced work order.
pub struct Demo {
    pub users: Vec<DemoUser>,
    pub links: Vec<(&'static str, String)>,
}

/// Creates the demo organization and its users where missing.
pub async fn demo(state: &State) -> Result<Demo, ApiError> {
    let db = Unscoped::open(state, Purpose::Operator);
    let orgs = db.collection(collections::ORGANIZATIONS);
    let users = db.collection(collections::USERS);
    let now = DateTime::now();
    let org_id = match orgs.find_one(doc! { "slug": DEMO_SLUG }).await? {
        Some(o) => id_of(&o, "organization")?,
        None => {
            let id = ObjectId::new();
            orgs.insert_one(doc! {
                "_id": id, "name": "Demo Workshop", "slug": DEMO_SLUG, "plan": Plan::Free.as_str(),
                "isActive": true, "deleteScheduledAt": null, "createdAt": now, "updatedAt": now,
                "settings": {
                    "timezone": DEMO_TIMEZONE, "currency": "EUR", "locale": "de-DE",
                    "workingHours": {
                        "mon": ["08:00", "18:00"], "tue": ["08:00", "18:00"], "wed": ["08:00", "18:00"],
                        "thu": ["08:00", "18:00"], "fri": ["08:00", "18:00"], "sat": ["09:00", "13:00"],
                        "sun": null,
                    },
                    "bays": ["Bay 1", "Bay 2", "Bay 3"],
                    "fees": demo_fees(),
                },
            })
            .await?;
            id
        }
    };
    let mut seeded = vec![];
    for role in Role::ALL {
        let lower = role.as_str().to_lowercase();
        let email = format!("{lower}@demo-workshop.test");
        let pass = format!("demo-{lower}-password");
        if users.find_one(doc! { "email": &email }).await?.is_none() {
            let hash = password::hash(pass.clone(), state.config.bcrypt_cost).await?;
            users
                .insert_one(doc! {
                    "organizationId": org_id, "email": &email, "passwordHash": hash,
                    "firstName": "Demo", "lastName": role.as_str(), "role": role.as_str(),
                    "status": UserStatus::Active.as_str(), "createdAt": now, "updatedAt": now, "createdBy": null,
                    "lastLoginAt": null, "version": 1_i64,
                })
                .await?;
        }
        seeded.push(DemoUser {
            role,
            email,
            password: pass,
        });
    }
    let owner = users
        .find_one(doc! { "email": "owner@demo-workshop.test" })
        .await?
        .and_then(|u| u.get_object_id("_id").ok())
        .ok_or_else(|| ApiError::internal("demo owner missing"))?;
    let technician = users
        .find_one(doc! { "email": "member@demo-workshop.test" })
        .await?
        .and_then(|u| u.get_object_id("_id").ok())
        .ok_or_else(|| ApiError::internal("demo member missing"))?;
    if db
        .collection(crate::crm::collections::ACCOUNTS)
        .count(doc! { "organizationId": org_id })
        .await?
        == 0
    {
        workshop(&db, org_id, owner, technician).await?;
        // The reports read the rollup of what was just written.
        let settings = orgs
            .find_one(doc! { "_id": org_id })
            .await?
            .and_then(|o| o.get_document("settings").ok().cloned());
        let cal = crate::calendar::Calendar::of(settings.as_ref());
        let cal = &cal;
        crate::workshop::reports::rebuild(&db, org_id, cal).await?;
        // So are the service reminders.
        use crate::workshop::reminders::{refresh, Db};
        refresh(&Db::Unscoped(&db, org_id), None).await?;
    }
    let links = share_links(&db, org_id, owner).await?;
    Ok(Demo {
        users: seeded,
        links,
    })
}

/// The demo's share links: an ESTIMATE link of the work order awaiting
/// approval and an INVOICE link of the invoiced one. Their tokens derive
/// from the server's secret, so every run prints the same working links
/// (made on the first, found on the next).
async fn share_links(
    db: &Unscoped<'_>,
    org: ObjectId,
    owner: ObjectId,
) -> Result<Vec<(&'static str, String)>, ApiError> {
    use crate::workshop::order::{Status, WORK_ORDERS};
    let mut out = vec![];
    for (purpose, status) in [
        ("ESTIMATE", Status::Estimate),
        ("INVOICE", Status::Invoiced),
    ] {
        let Some(order) = db
            .collection(WORK_ORDERS)
            .find_one(doc! { "organizationId": org, "status": status, "deletedAt": null })
            .await?
        else {
            continue;
        };
        let secret = db.config().jwt_secret.expose();
        let bytes = shared::seal::derive(secret, "demo-share-link", &[&org.to_hex(), purpose]);
        let (token, hash) = shared::auth::links::token_of(&bytes);
        let now = DateTime::now();
        let expires = shared::db::shifted(now, 30 * shared::db::DAY_MS);
        let links = db.collection(collections::LINKS);
        links
            .upsert_one(
                doc! { "tokenHash": &hash },
                doc! { "$setOnInsert": {
                    "organizationId": org, "resource": "work_order",
                    "recordId": order.get_object_id("_id").ok(), "purpose": purpose,
                    "createdBy": owner, "createdAt": now, "viewCount": 0_i64,
                } },
            )
            .await?;
        // Good for another 30 days from each run, unless it was revoked.
        let live = links
            .update_one(
                doc! { "tokenHash": &hash, "revokedAt": null },
                doc! { "$set": { "expiresAt": expires, "forgetAt": shared::db::shifted(expires, 90 * shared::db::DAY_MS) } },
            )
            .await?;
        if live > 0 {
            out.push((purpose, format!("/api/v1/public/share/{token}")));
        }
    }
    Ok(out)
}

/// A PNG of `w` x `h` pixels (a gradient in `tint`), stored uncompressed:
/// the demo's inspection photos and logo, made without an image library.
pub fn demo_png(w: u32, h: u32, tint: [u8; 3]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(((w * 3 + 1) * h) as usize);
    for y in 0..h {
        raw.push(0);
        for x in 0..w {
            let shade = ((x + y) * 255 / (w + h)) as u16;
            for c in tint {
                raw.push(((u16::from(c) + shade) / 2) as u8);
            }
        }
    }
    // zlib: header, stored deflate blocks of at most 65,535 bytes, Adler-32.
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        z.extend(len.to_le_bytes());
        z.extend((!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    z.extend(((b << 16) | a).to_be_bytes());
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8; 4], data: &[u8]| {
        png.extend((data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        png.extend_from_slice(&body);
        png.extend(shared::apikey::crc32(&body).to_be_bytes());
    };
    let mut header = w.to_be_bytes().to_vec();
    header.extend(h.to_be_bytes());
    header.extend([8, 2, 0, 0, 0]);
    chunk(b"IHDR", &header);
    chunk(b"IDAT", &z);
    chunk(b"IEND", &[]);
    png
}

/// The invoiced work order's inspection: a template, its copy rated item
/// by item, and two photos (generated images) in the bucket.
async fn inspection(
    db: &Unscoped<'_>,
    org: ObjectId,
    owner: ObjectId,
    order: ObjectId,
) -> Result<(), ApiError> {
    use crate::workshop::inspections::{INSPECTIONS, TEMPLATES};
    let items = [
        (
            "Brakes",
            "Front brake pads",
            "MEASUREMENT",
            Some("0.1 mm"),
            "RED",
            Some(18_i64),
            "Front pads are worn to 1.8 mm: replace them.",
        ),
        (
            "Brakes",
            "Brake fluid",
            "CHECK",
            None,
            "GREEN",
            None,
            "Brake fluid is fine.",
        ),
        (
            "Tyres",
            "Tread depth, front",
            "MEASUREMENT",
            Some("0.1 mm"),
            "YELLOW",
            Some(35),
            "Tyres will need replacing within a year.",
        ),
        ("Lights", "Headlights", "RATING", None, "GREEN", None, ""),
    ];
    let mut sections: Vec<(String, Vec<Document>, Vec<Document>)> = vec![];
    let mut photos = vec![];
    for (title, label, kind, unit, rating, value, note) in items {
        let thresholds =
            (kind == "MEASUREMENT").then(|| doc! { "yellowBelow": 40_i64, "redBelow": 20_i64 });
        let template_item =
            doc! { "label": label, "kind": kind, "unit": unit, "thresholds": thresholds.clone() };
        let id = ObjectId::new();
        let copied = doc! {
            "label": label, "kind": kind, "unit": unit, "thresholds": thresholds, "id": id,
            "rating": rating, "measurement": value.map(|v| doc! { "value": v, "unit": unit }),
            "noteForCustomer": (!note.is_empty()).then_some(note),
            "internalNote": (rating == "RED").then_some("Offer pads and discs together."),
            "recommendationLineIds": [],
        };
        if rating != "GREEN" {
            photos.push((
                id,
                label,
                if rating == "RED" {
                    [200, 40, 40]
                } else {
                    [220, 170, 30]
                },
            ));
        }
        match sections.iter_mut().find(|(t, _, _)| t == title) {
            Some((_, t, c)) => {
                t.push(template_item);
                c.push(copied);
            }
            None => sections.push((title.to_string(), vec![template_item], vec![copied])),
        }
    }
    let (template_id, template) = record(
        org,
        owner,
        doc! { "name": "Multi-point inspection", "sections": sections.iter().map(|(t, items, _)| doc! { "title": t, "items": items.clone() }).collect::<Vec<_>>() },
    );
    db.collection(TEMPLATES).insert_one(template).await?;
    let now = DateTime::now();
    let inspection_id = ObjectId::new();
    db.collection(INSPECTIONS)
        .insert_one(doc! {
            "_id": inspection_id, "organizationId": org, "workOrderId": order, "templateId": template_id,
            "name": "Multi-point inspection", "status": "COMPLETED",
            "sections": sections.iter().map(|(t, _, items)| doc! { "title": t, "items": items.clone() }).collect::<Vec<_>>(),
            "completedAt": now, "completedBy": owner, "createdBy": owner,
            "createdAt": now, "updatedAt": now, "version": 2_i64,
        })
        .await?;
    // Without a bucket (a seed run without storage) the photos are left out.
    let Ok(storage) = db.storage() else {
        return Ok(());
    };
    for (item, label, tint) in photos {
        let png = demo_png(64, 48, tint);
        let (doc_id, mut d) = record(
            org,
            owner,
            doc! {
                "fileName": format!("{}.png", label.to_lowercase().replace([' ', ','], "-")),
                "contentType": "image/png", "size": png.len() as i64,
                "relatedTo": { "type": "work_order", "id": order },
                "inspectionId": inspection_id, "inspectionItemId": item,
                "status": "UPLOADED", "uploadedAt": now,
            },
        );
        let key = storage.document_key(org, doc_id);
        storage.put(&key, "image/png", png).await?;
        d.insert("storageKey", key);
        db.collection(collections::DOCUMENTS).insert_one(d).await?;
    }
    // The shop's logo and address, printed on its estimates and invoices.
    let logo = demo_png(180, 60, [30, 90, 160]);
    let (logo_id, mut d) = record(
        org,
        owner,
        doc! {
            "fileName": "logo.png", "contentType": "image/png", "size": logo.len() as i64,
            "status": "UPLOADED", "uploadedAt": now,
        },
    );
    let key = storage.document_key(org, logo_id);
    storage.put(&key, "image/png", logo).await?;
    d.insert("storageKey", key);
    db.collection(collections::DOCUMENTS).insert_one(d).await?;
    db.collection(collections::ORGANIZATIONS)
        .update_one(
            doc! { "_id": org },
            doc! { "$set": {
                "settings.logoDocumentId": logo_id.to_hex(),
                "settings.address": "Hauptstraße 1\n10115 Berlin",
                "settings.documents": { "taxId": "DE123456789", "footer": "Demo Workshop GmbH · IBAN DE00 1234 5678 9012 3456 78" },
            } },
        )
        .await?;
    Ok(())
}

/// A record as the record engine would store it, made by `owner`.
fn record(org: ObjectId, owner: ObjectId, fields: Document) -> (ObjectId, Document) {
    let id = ObjectId::new();
    let now = DateTime::now();
    let mut d = doc! {
        "_id": id, "organizationId": org, "createdAt": now, "updatedAt": now,
        "createdBy": owner, "version": 1_i64, "deletedAt": null,
    };
    d.extend(fields);
    (id, d)
}

/// The demo workshop's records, written once: customers with contacts and
/// vehicles (with odometer readings), leads in several states, the
/// services it sells, parts with stock received, a work order in each
/// status and a week of appointments.
async fn workshop(
    db: &Unscoped<'_>,
    org: ObjectId,
    owner: ObjectId,
    technician: ObjectId,
) -> Result<(), ApiError> {
    use crate::workshop::{parts, vehicles};
    let insert =
        |coll: &'static str, d: Document| async move { db.collection(coll).insert_one(d).await };
    let customers = [
        (
            "Müller Logistik GmbH",
            "Logistics",
            "Jonas",
            "Müller",
            "+49 30 5550101",
        ),
        (
            "Schneider Taxi",
            "Passenger transport",
            "Petra",
            "Schneider",
            "+49 30 5550102",
        ),
        (
            "Stadtwerke Fuhrpark",
            "Utilities",
            "Ali",
            "Yilmaz",
            "+49 30 5550103",
        ),
        (
            "Weber Bau AG",
            "Construction",
            "Klaus",
            "Weber",
            "+49 30 5550104",
        ),
        (
            "Anna Becker",
            "Private",
            "Anna",
            "Becker",
            "+49 170 5550105",
        ),
    ];
    let cars = [
        (
            "Volkswagen",
            "Crafter",
            2019,
            "WVWZZZ1KZ8W000101",
            "B-ML 1001",
            84_250,
        ),
        (
            "Mercedes-Benz",
            "E 220 d",
            2021,
            "WDD2050041F000303",
            "B-TX 2210",
            212_400,
        ),
        (
            "Renault",
            "Kangoo E-Tech",
            2022,
            "VF1RFB00X56000404",
            "B-SW 77",
            31_900,
        ),
        (
            "MAN",
            "TGE 3.180",
            2020,
            "WMAZZZ1KZ8W000606",
            "B-WB 123",
            102_000,
        ),
        (
            "Honda",
            "Accord",
            2003,
            "1HGCM82633A004352",
            "B-AB 4242",
            188_700,
        ),
    ];
    let mut fleet = vec![];
    for (i, (name, industry, first, last, phone)) in customers.iter().enumerate() {
        let (account, d) = record(
            org,
            owner,
            doc! { "name": *name, "industry": *industry, "phone": *phone },
        );
        insert(crate::crm::collections::ACCOUNTS, d).await?;
        let email = format!(
            "{}.{}@example.test",
            first.to_lowercase(),
            last.to_lowercase()
        );
        let (_, d) = record(
            org,
            owner,
            doc! {
                "firstName": *first, "lastName": *last, "email": email, "phone": *phone, "accountId": account,
            },
        );
        insert(crate::crm::collections::CONTACTS, d).await?;
        let (make, model, year, vin, plate, km) = cars[i];
        let read_at = DateTime::now();
        let (vehicle, d) = record(
            org,
            owner,
            doc! {
                "make": make, "model": model, "year": year as i64, "accountId": account,
                "vin": vin, "plate": plate.replace(['-', ' '], ""),
                "odometer": { "value": km as i64, "unit": "km", "metres": km as i64 * 1000, "readAt": read_at },
            },
        );
        fleet.push((account, vehicle, d.clone()));
        insert(vehicles::VEHICLES, d).await?;
        let (_, d) = record(
            org,
            owner,
            doc! {
                "vehicleId": vehicle, "value": km as i64, "unit": "km", "metres": km as i64 * 1000,
                "readAt": read_at, "correction": false,
            },
        );
        insert(vehicles::ODOMETER_READINGS, d).await?;
    }
    let leads = [
        ("Sabine", "Koch", "Koch Kurierdienst", "WEBSITE", "NEW"),
        ("Tobias", "Wolf", "Wolf Fahrschule", "REFERRAL", "CONTACTED"),
        ("Mia", "Schäfer", "", "WALK_IN", "QUALIFIED"),
        ("Lukas", "Richter", "Richter Reisen", "PHONE", "LOST"),
    ];
    for (first, last, company, source, status) in leads {
        let (_, d) = record(
            org,
            owner,
            doc! {
                "firstName": first, "lastName": last, "company": company, "source": source, "status": status,
            },
        );
        insert(crate::crm::collections::LEADS, d).await?;
    }
    for (name, sku, price) in [
        ("Oil change", "SRV-OIL", 8_900_i64),
        ("Brake inspection", "SRV-BRK", 4_900),
        ("Wheel alignment", "SRV-ALN", 7_900),
        ("General inspection (HU/AU)", "SRV-HU", 13_900),
    ] {
        let (_, d) = record(
            org,
            owner,
            doc! {
                "name": name, "type": "SERVICE", "sku": sku, "price": price, "currency": "EUR",
            },
        );
        insert(crate::crm::collections::PRODUCTS, d).await?;
    }
    let stock = [
        (
            "OIL-5W30-5L",
            "Engine oil 5W-30, 5 l",
            "Castrol",
            2_450_i64,
            4_290_i64,
            24_i64,
            6_i64,
        ),
        (
            "FLT-OIL-VW",
            "Oil filter (VW group)",
            "Mann",
            690,
            1_390,
            12,
            4,
        ),
        (
            "BRK-PAD-F",
            "Brake pads, front axle",
            "ATE",
            3_800,
            6_990,
            3,
            4,
        ),
        (
            "BRK-DSC-F",
            "Brake discs, front axle (pair)",
            "Brembo",
            7_900,
            13_900,
            2,
            2,
        ),
        ("WPR-600", "Wiper blade 600 mm", "Bosch", 890, 1_790, 30, 10),
        (
            "BAT-70AH",
            "Battery 12 V 70 Ah",
            "Varta",
            8_900,
            14_900,
            1,
            2,
        ),
    ];
    let mut shelf = vec![];
    for (sku, name, brand, cost, price, on_hand, reorder) in stock {
        let (part, d) = record(
            org,
            owner,
            doc! {
                "sku": sku, "name": name, "brand": brand, "unitCost": cost, "unitPrice": price,
                "currency": "EUR", "taxRate": 1_900_i64, "reorderLevel": reorder, "reorderQuantity": reorder * 2,
                "onHand": on_hand, "reserved": 0_i64, "available": on_hand,
            },
        );
        shelf.push((part, name, price));
        insert(parts::PARTS, d).await?;
        let (_, d) = record(
            org,
            owner,
            doc! {
                "partId": part, "delta": on_hand, "reason": "RECEIVED", "note": "Opening stock",
                "workOrderId": null, "actor": owner,
            },
        );
        insert(parts::STOCK_MOVEMENTS, d).await?;
    }
    let accounts: Vec<Document> = db
        .collection(crate::crm::collections::ACCOUNTS)
        .find_many(doc! { "organizationId": org }, doc! { "_id": 1 }, 10, None)
        .await?;
    work_orders(db, org, owner, technician, &fleet, &accounts, &shelf).await?;
    appointments(db, org, owner, technician, &fleet).await?;
    canned_jobs(db, org, owner, &shelf).await?;
    clocked_time(db, org, owner, technician).await
}

/// The shop's canned jobs: an oil service at a package price and front
/// brake pads; and its service rules: the oil service yearly or every
/// 15,000 km, a brake check every two years.
async fn canned_jobs(
    db: &Unscoped<'_>,
    org: ObjectId,
    owner: ObjectId,
    shelf: &[(ObjectId, &str, i64)],
) -> Result<(), ApiError> {
    use crate::workshop::canned_jobs::CANNED_JOBS;
    let part = |i: usize| shelf.get(i).map(|(id, _, _)| *id);
    let (Some(oil), Some(filter), Some(pads)) = (part(0), part(1), part(2)) else {
        return Ok(());
    };
    let jobs = [
        doc! {
            "name": "Oil service", "category": "Maintenance", "bookable": true,
            "packagePrice": 14_900_i64,
            "lines": [
                { "type": "LABOR", "description": "Oil and filter change", "quantity": 70_i64, "unitPrice": 9_500_i64, "taxRate": 1_900_i64 },
                { "type": "PART", "partId": oil, "quantity": 1_i64 },
                { "type": "PART", "partId": filter, "quantity": 1_i64 },
            ],
        },
        doc! {
            "name": "Brake pads front", "category": "Brakes", "bookable": true,
            "lines": [
                { "type": "LABOR", "description": "Replace front brake pads", "quantity": 120_i64, "unitPrice": 9_500_i64, "taxRate": 1_900_i64 },
                { "type": "PART", "partId": pads, "quantity": 1_i64 },
            ],
        },
    ];
    let mut ids = vec![];
    for job in jobs {
        let (id, d) = record(org, owner, job);
        db.collection(CANNED_JOBS).insert_one(d).await?;
        ids.push(id);
    }
    let rules = [
        doc! {
            "name": "Oil service", "cannedJobId": ids.first().copied(), "everyMonths": 12_i64,
            "everyDistance": 15_000_i64, "distanceUnit": "km", "dueSoonDays": 30_i64,
            "dueSoonDistance": 1_000_i64,
        },
        doc! {
            "name": "Brake check", "everyMonths": 24_i64, "distanceUnit": "km",
            "dueSoonDays": 30_i64,
        },
    ];
    for rule in rules {
        let (_, d) = record(org, owner, rule);
        db.collection(crate::workshop::reminders::SERVICE_RULES)
            .insert_one(d)
            .await?;
    }
    Ok(())
}

/// A month of the technician's clocked time: a shift each weekday from
/// 08:00 to 17:00 in the demo's time zone, the morning on the invoiced
/// work order's labour line, an hour of cleaning after lunch; the line
/// counts the minutes.
async fn clocked_time(
    db: &Unscoped<'_>,
    org: ObjectId,
    owner: ObjectId,
    technician: ObjectId,
) -> Result<(), ApiError> {
    use crate::workshop::order::{LineKind, WORK_ORDERS};
    use crate::workshop::time_clock::TIME_ENTRIES;
    use jiff::civil::{Time, Weekday};
    let Some(order) = db
        .collection(WORK_ORDERS)
        .find_one(doc! { "organizationId": org, "status": "INVOICED" })
        .await?
    else {
        return Ok(());
    };
    let order_id = id_of(&order, "work order")?;
    let Some(line) = crate::workshop::order::lines_of(&order)
        .into_iter()
        .find(|l| LineKind::of(l) == LineKind::Labor)
        .and_then(|l| l.get_object_id("id").ok())
    else {
        return Ok(());
    };
    let tz = jiff::tz::TimeZone::get(DEMO_TIMEZONE).internal("time zone")?;
    let today = jiff::Timestamp::now().to_zoned_datetime(tz.clone()).date();
    let at = |date: jiff::civil::Date, h: i8, m: i8| -> Result<DateTime, ApiError> {
        let local = date.to_datetime(Time::new(h, m, 0, 0).internal("a seed time")?);
        let zoned = local
            .to_zoned_datetime(tz.clone())
            .internal("a seed time in the time zone")?;
        Ok(DateTime::from_millis(zoned.timestamp().as_millisecond()))
    };
    let mut entries = vec![];
    let mut job_minutes = 0_i64;
    let mut date = today;
    for _ in 0..30 {
        date = date.yesterday().internal("the previous seed day")?;
        if matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday) {
            continue;
        }
        let spans = [
            ("SHIFT", "SHIFT", (8, 0), (17, 0)),
            ("JOB", "WORK", (8, 15), (12, 0)),
            ("NON_BILLABLE", "WORK", (13, 0), (14, 0)),
        ];
        for (kind, slot, from, to) in spans {
            let (start, end) = (at(date, from.0, from.1)?, at(date, to.0, to.1)?);
            let minutes = (end.timestamp_millis() - start.timestamp_millis()) / 60_000;
            let (_, mut d) = record(
                org,
                owner,
                doc! {
                    "technicianId": technician, "kind": kind, "slot": slot,
                    "startedAt": start, "endedAt": end, "minutes": minutes, "source": "APP",
                },
            );
            d.remove("deletedAt");
            if kind == "JOB" {
                d.insert("workOrderId", order_id);
                d.insert("lineId", line);
                job_minutes += minutes;
            }
            if kind == "NON_BILLABLE" {
                d.insert("activity", "Cleaning the bays");
            }
            entries.push(d);
        }
    }
    db.collection(TIME_ENTRIES).insert_many(entries).await?;
    db.collection(WORK_ORDERS)
        .update_one(
            doc! { "_id": order_id, "lines.id": line },
            doc! { "$set": {
                "lines.$.clockedMinutes": job_minutes,
                "lines.$.clockedBy": { technician.to_hex(): job_minutes },
            } },
        )
        .await?;
    Ok(())
}

/// A work order in each status, on the fleet in turn: labour and a part
/// each (stock reserved while open, consumed once completed), the
/// estimate's lines still pending, the invoiced one owing its total and
/// the paid one settled; the sequences continue from them.
async fn work_orders(
    db: &Unscoped<'_>,
    org: ObjectId,
    owner: ObjectId,
    technician: ObjectId,
    fleet: &[(ObjectId, ObjectId, Document)],
    accounts: &[Document],
    shelf: &[(ObjectId, &str, i64)],
) -> Result<(), ApiError> {
    use crate::workshop::invoices::{self, PaymentMethod};
    use crate::workshop::order::{self, Approval, LineKind, Status};
    use crate::workshop::parts;
    let complaints = [
        "Squealing brakes when stopping",
        "Annual service and oil change",
        "Engine warning light on",
        "Pulls to the left at speed",
        "Battery flat in the mornings",
        "Air conditioning blows warm",
        "Customer asked for a quote only",
    ];
    let mut invoices_issued = 0;
    for (i, &status) in Status::ALL.iter().enumerate() {
        let (account, vehicle_id, vehicle) = &fleet[i % fleet.len()];
        let (part, part_name, price) = shelf[i % 2];
        let approval = if status == Status::Estimate {
            Approval::Pending
        } else {
            Approval::Approved
        };
        let items = vec![
            doc! {
                "id": ObjectId::new(), "type": LineKind::Labor, "description": "Workshop labour",
                "quantity": 100 + 50 * i as i64, "unitPrice": 9_500_i64, "taxRate": 1_900_i64,
                "approval": approval,
            },
            doc! {
                "id": ObjectId::new(), "type": LineKind::Part, "description": part_name, "partId": part,
                "quantity": 1_i64, "unitPrice": price, "taxRate": 1_900_i64, "approval": approval,
            },
        ];
        let mut fields = doc! {
            "number": format!("WO-{:06}", i + 1), "vehicleId": *vehicle_id, "accountId": *account,
            "technicianId": technician, "complaint": complaints[i], "status": status,
            "currency": "EUR",
            "odometerIn": vehicle.get_document("odometer").ok().and_then(|o| o.get_i64("value").ok()),
        };
        let pricing = order::Pricing {
            fees: crate::fees::rules(Some(&doc! { "fees": demo_fees() })),
            ..Default::default()
        };
        fields.extend(order::with_totals(items, &pricing, "lines")?);
        let (id, mut d) = record(org, owner, fields);
        match status {
            _ if status.lines_change() => {
                db.collection(parts::PARTS)
                    .update_one(
                        doc! { "_id": part },
                        doc! { "$inc": { "reserved": 1_i64, "available": -1_i64 } },
                    )
                    .await?;
            }
            Status::Completed | Status::Invoiced | Status::Paid => {
                db.collection(parts::PARTS)
                    .update_one(
                        doc! { "_id": part },
                        doc! { "$inc": { "onHand": -1_i64, "available": -1_i64 } },
                    )
                    .await?;
                let (_, m) = record(
                    org,
                    owner,
                    doc! {
                        "partId": part, "delta": -1_i64, "reason": "CONSUMED", "note": null,
                        "workOrderId": id, "actor": owner,
                    },
                );
                db.collection(parts::STOCK_MOVEMENTS).insert_one(m).await?;
            }
            _ => {}
        }
        if matches!(status, Status::Invoiced | Status::Paid) {
            invoices_issued += 1;
            let customer = accounts
                .iter()
                .find(|a| a.get_object_id("_id").ok() == Some(*account));
            d.extend(invoices::invoiced(
                &d,
                invoices_issued,
                customer,
                Some(vehicle),
            ));
        }
        if status == Status::Paid {
            let total = d.get_i64("total").unwrap_or(0);
            d.extend(doc! {
                "amountPaid": total, "balance": 0_i64, "paidAt": DateTime::now(),
                "payments": [{
                    "id": ObjectId::new(), "amount": total, "method": PaymentMethod::Card,
                    "paidAt": DateTime::now(), "recordedBy": owner, "createdAt": DateTime::now(),
                }],
            });
        }
        db.collection(order::WORK_ORDERS).insert_one(d).await?;
        if status == Status::Invoiced {
            inspection(db, org, owner, id).await?;
        }
    }
    for (name, value) in [
        (order::WORK_ORDERS, Status::ALL.len() as i64),
        (invoices::INVOICES, invoices_issued),
    ] {
        db.collection(collections::SEQUENCES)
            .insert_one(doc! {
                "_id": format!("{}:{name}", org.to_hex()), "organizationId": org,
                "name": name, "value": value,
            })
            .await?;
    }
    Ok(())
}

/// The next five working days' appointments (in the workshop's time zone):
/// three a day across the bays, the technician on two of them.
async fn appointments(
    db: &Unscoped<'_>,
    org: ObjectId,
    owner: ObjectId,
    technician: ObjectId,
    fleet: &[(ObjectId, ObjectId, Document)],
) -> Result<(), ApiError> {
    use crate::workshop::appointments::{Status, APPOINTMENTS};
    use jiff::civil::{Time, Weekday};
    let tz = jiff::tz::TimeZone::get(DEMO_TIMEZONE).internal("time zone")?;
    let today = jiff::Timestamp::now().to_zoned_datetime(tz.clone()).date();
    let at = |date: jiff::civil::Date, h: i8, m: i8| -> Result<DateTime, ApiError> {
        let local = date.to_datetime(Time::new(h, m, 0, 0).internal("a seed slot time")?);
        let zoned = local
            .to_zoned_datetime(tz.clone())
            .internal("a seed slot in the time zone")?;
        Ok(DateTime::from_millis(zoned.timestamp().as_millisecond()))
    };
    let slots = [
        ((8, 0), (9, 30), "Bay 1", true, "Oil change"),
        ((10, 0), (12, 0), "Bay 2", false, "Brake inspection"),
        ((13, 0), (14, 0), "Bay 1", true, "Wheel alignment"),
    ];
    let mut date = today;
    let mut days = 0;
    let mut n = 0;
    while days < 5 {
        date = date.tomorrow().internal("the next seed day")?;
        if matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday) {
            continue;
        }
        days += 1;
        for (start, end, bay, with_technician, notes) in slots {
            let (account, vehicle, _) = &fleet[n % fleet.len()];
            n += 1;
            let (_, d) = record(
                org,
                owner,
                doc! {
                    "startAt": at(date, start.0, start.1)?, "endAt": at(date, end.0, end.1)?,
                    "bay": bay, "technicianId": with_technician.then_some(technician),
                    "vehicleId": *vehicle, "accountId": *account,
                    "status": if days == 1 { Status::Confirmed } else { Status::Scheduled },
                    "notes": notes,
                },
            );
            db.collection(APPOINTMENTS).insert_one(d).await?;
        }
    }
    Ok(())
}
