//! Demo data for the local stack: one organization with one user per role.
//! Idempotent: running it again finds what is there and changes nothing.

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};

use crate::auth::password;
use crate::error::ApiError;
use crate::model::{Plan, UserStatus};
use crate::rbac::Role;
use crate::state::State;
use crate::store::collections;

pub const DEMO_SLUG: &str = "demo-workshop";

/// A seeded user's sign-in.
pub struct DemoUser {
    pub role: Role,
    pub email: String,
    pub password: String,
}

/// Creates the demo organization and its users where missing.
pub async fn demo(state: &State) -> Result<Vec<DemoUser>, ApiError> {
    let orgs = state.db.collection::<Document>(collections::ORGANIZATIONS);
    let users = state.db.collection::<Document>(collections::USERS);
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
