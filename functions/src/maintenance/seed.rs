//! Demo data for the local stack: one organization with one user per role.
//! Idempotent: running it again finds what is there and changes nothing.

use bson::oid::ObjectId;
use bson::{doc, DateTime};

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
    Ok(seeded)
}
