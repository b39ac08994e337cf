//! Demo data for the local stack: one organization with one user per role.
//! Idempotent: running it again finds what is there and changes nothing.

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};

use shared::auth::password;
use shared::db::collections;
use shared::error::ApiError;
use shared::model::{Plan, UserStatus};
use shared::rbac::Role;
use shared::state::State;
use shared::unscoped::{Purpose, Unscoped};

pub const DEMO_SLUG: &str = "demo-workshop";

/// A seeded user's sign-in.
pub struct DemoUser {
    pub role: Role,
    pub email: String,
    pub password: String,
}

/// Creates the demo organization and its users where missing.
pub async fn demo(state: &State) -> Result<Vec<DemoUser>, ApiError> {
    let db = Unscoped::open(state, Purpose::Operator);
    let orgs = db.collection(collections::ORGANIZATIONS);
    let users = db.collection(collections::USERS);
    let now = DateTime::now();
    let org_id = match orgs.find_one(doc! { "slug": DEMO_SLUG }).await? {
        Some(o) => o
            .get_object_id("_id")
            .map_err(|_| ApiError::internal("organization without _id"))?,
        None => {
            let id = ObjectId::new();
            orgs.insert_one(doc! {
                "_id": id, "name": "Demo Workshop", "slug": DEMO_SLUG, "plan": Plan::Free.as_str(),
                "isActive": true, "deleteScheduledAt": null, "createdAt": now, "updatedAt": now,
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
    if db
        .collection(collections::ACCOUNTS)
        .count(doc! { "organizationId": org_id })
        .await?
        == 0
    {
        workshop(&db, org_id, owner).await?;
    }
    Ok(seeded)
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
/// services it sells, and parts with stock received.
async fn workshop(db: &Unscoped<'_>, org: ObjectId, owner: ObjectId) -> Result<(), ApiError> {
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
    for (i, (name, industry, first, last, phone)) in customers.iter().enumerate() {
        let (account, d) = record(
            org,
            owner,
            doc! { "name": *name, "industry": *industry, "phone": *phone },
        );
        insert(collections::ACCOUNTS, d).await?;
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
        insert(collections::CONTACTS, d).await?;
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
        insert(collections::LEADS, d).await?;
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
        insert(collections::PRODUCTS, d).await?;
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
    Ok(())
}
