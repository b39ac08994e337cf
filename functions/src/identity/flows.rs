//! The sign-in flows behind `/api/v1/auth/*`: register, join, login,
//! refresh, logout and password reset. The handlers in `super::handlers::auth` parse
//! the request and shape the response; these decide. Before sign-in there
//! is no tenant, so they reach users and organizations through an
//! [`Unscoped`] handle opened for [`Purpose::SignIn`] (or
//! [`Purpose::PasswordReset`]); tokens and sessions are the platform's
//! (`shared::auth::tokens`).

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use rand::RngCore;
use serde::Deserialize;

use shared::audit::{Action, AuditEntry};
use shared::auth::tokens::{self, TokenPair};
use shared::auth::{check_active, password, Organization, User};
use shared::db::{collections, shifted, RequestMeta, Scope};
use shared::email::Message;
use shared::error::ApiError;
use shared::error::Code;
use shared::model::UserStatus;
use shared::ratelimit::{LimitedAction, Plan};
use shared::rbac::Role;
use shared::state::State;
use shared::time::{DAY_MS, HOUR_MS, MINUTE_MS};
use shared::unscoped::{Purpose, Unscoped};
use shared::validate::{text, Email, Errors};

/// A signed-in user with a fresh token pair.
pub struct Session {
    pub user: User,
    pub org: Organization,
    pub tokens: TokenPair,
}

/// What a registration came to.
pub enum Registered {
    /// The organization and its owner, signed in.
    Session(Box<Session>),
    /// The address is held by an account that never proved it: the
    /// registration waits for the address's owner to follow the link
    /// emailed to it (`POST /api/v1/auth/verify-email`), which releases that
    /// account and creates the organization.
    Confirming,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegisterInput {
    pub organization_name: String,
    pub email: String,
    pub password: String,
    pub first_name: String,
    pub last_name: String,
}

/// Lower-case ASCII letters and digits joined by single hyphens, at most 48
/// characters; `org` when nothing is left.
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 48 {
            break;
        }
    }
    let slug = slug.trim_matches('-').to_string();
    if slug.is_empty() {
        "org".into()
    } else {
        slug
    }
}

fn random_suffix() -> String {
    let mut b = [0u8; 3];
    rand::rng().fill_bytes(&mut b);
    shared::hex::hex(&b)
}

/// Creates an organization on the FREE plan and its ACTIVE owner, in one
/// transaction, and signs the owner in.
pub async fn register(
    state: &State,
    input: RegisterInput,
    meta: &RequestMeta,
) -> Result<Registered, ApiError> {
    let mut errors = Errors::new();
    let org_name = errors.check(text("organizationName", &input.organization_name, 1, 100));
    let email = errors.check(Email::parse("email", &input.email));
    errors.check(password::check_new("password", &input.password));
    let first = errors.check(text("firstName", &input.first_name, 1, 100));
    let last = errors.check(text("lastName", &input.last_name, 1, 100));
    errors.finish()?;
    let (org_name, email, first, last) = (
        org_name.unwrap_or_default(),
        email.map(Email::into_inner).unwrap_or_default(),
        first.unwrap_or_default(),
        last.unwrap_or_default(),
    );
    let hash = password::hash(input.password, state.config.bcrypt_cost).await?;
    let base = slugify(&org_name);
    for attempt in 0..5 {
        let slug = if attempt == 0 {
            base.clone()
        } else {
            format!("{base}-{}", random_suffix())
        };
        let now = DateTime::now();
        let org_id = ObjectId::new();
        let user_id = ObjectId::new();
        let org_doc = doc! {
            "_id": org_id, "name": &org_name, "slug": &slug, "plan": Plan::Free.as_str(),
            "isActive": true, "deleteScheduledAt": null, "createdAt": now, "updatedAt": now,
        };
        let user_doc = doc! {
            "_id": user_id, "organizationId": org_id, "email": &email, "passwordHash": &hash,
            "firstName": &first, "lastName": &last, "role": Role::Owner.as_str(), "status": UserStatus::Active.as_str(),
            "createdAt": now, "updatedAt": now, "createdBy": null, "lastLoginAt": null, "version": 1_i64,
            "emailVerified": false, "knownAddresses": meta.ip.iter().cloned().collect::<Vec<_>>(),
        };
        let (verification, message) = verification(state, user_id, org_id, &email, &first);
        let audits = [
            AuditEntry::new(Action::Create, "organization")
                .id(org_id)
                .changes(doc! { "name": &org_name, "slug": &slug, "plan": Plan::Free.as_str() }),
            AuditEntry::new(Action::Create, "user")
                .id(user_id)
                .changes(doc! { "email": &email, "role": Role::Owner.as_str(), "status": UserStatus::Active.as_str() }),
        ];
        let mut docs = vec![
            (collections::ORGANIZATIONS, org_doc.clone()),
            (collections::USERS, user_doc.clone()),
        ];
        docs.extend(audits.into_iter().map(|a| {
            (
                collections::AUDIT_LOG,
                a.into_document(Some(org_id), Some(user_id), meta),
            )
        }));
        docs.push((collections::EMAIL_VERIFICATIONS, verification));
        let created = insert_all(state, &docs, Some((org_id, user_id, &message)), None).await;
        match created {
            Ok(queued) => shared::email::deliver(state, &queued).await,
            Err(ApiError::Conflict { errors, .. }) if errors.iter().any(|f| f.field == "slug") => {
                continue
            }
            Err(e @ ApiError::Conflict { .. }) if e.fields_include("email") => {
                let parked = Parked {
                    organization_name: &org_name,
                    email: &email,
                    first_name: &first,
                    last_name: &last,
                    password_hash: &hash,
                };
                return match park(state, &parked, meta).await? {
                    true => Ok(Registered::Confirming),
                    false => Err(e),
                };
            }
            Err(e) => return Err(e),
        }
        tracing::info!(
            requestId = %meta.request_id, userId = %user_id, organizationId = %org_id,
            "[AUTH_SESSION] organization registered"
        );
        let user: User = from_doc(&user_doc)?;
        let org: Organization = from_doc(&org_doc)?;
        let tokens = tokens::issue(state, &user, meta).await?;
        return Ok(Registered::Session(Box::new(Session { user, org, tokens })));
    }
    Err(ApiError::conflict(
        Code::SlugTaken,
        "Could not find a free address for this organization name; choose another name",
    ))
}

/// A registration waiting for its address to be proven.
struct Parked<'a> {
    organization_name: &'a str,
    email: &'a str,
    first_name: &'a str,
    last_name: &'a str,
    password_hash: &'a str,
}

/// When an unproven account holds the address: keeps the registration
/// with a one-time token (among the verification tokens, 24 hours) and
/// emails the link to the address; false when the holder proved it (the
/// registration is then refused as before).
async fn park(state: &State, r: &Parked<'_>, meta: &RequestMeta) -> Result<bool, ApiError> {
    let db = Unscoped::open(state, Purpose::SignIn);
    let mut holder = unproven();
    holder.insert("email", r.email);
    if db
        .collection(collections::USERS)
        .find_one(holder)
        .await?
        .is_none()
    {
        return Ok(false);
    }
    let token = tokens::new_token();
    let now = DateTime::now();
    let pending = doc! {
        "_id": ObjectId::new(), "tokenHash": tokens::hash_token(&token), "userId": null,
        "organizationId": null, "email": r.email, "createdAt": now, "usedAt": null,
        "expiresAt": shifted(now, VERIFY_VALID_HOURS * HOUR_MS), "ipAddress": meta.ip.clone(),
        "registration": {
            "organizationName": r.organization_name, "firstName": r.first_name,
            "lastName": r.last_name, "passwordHash": r.password_hash,
        },
    };
    let message = crate::emails::verify_email(&state.config, r.email, r.first_name, &token);
    let (pending, message) = (&pending, &message);
    let queued = db
        .transaction(|tx| {
            Box::pin(async move {
                tx.insert_one(collections::EMAIL_VERIFICATIONS, pending.clone())
                    .await?;
                tx.queue_email(None, None, message).await
            })
        })
        .await?;
    shared::email::deliver(state, &[queued]).await;
    tracing::info!(requestId = %meta.request_id,
        "[AUTH_SESSION] registration waits for its address to be proven");
    Ok(true)
}

/// In the verification's transaction: the registration `parked` kept,
/// now that its address is proven: releases the unproven holder, creates
/// the organization (its slug with a random suffix, so no retry is needed
/// inside the transaction) and its OWNER, verified.
async fn complete_registration(
    tx: &mut shared::unscoped::UnscopedTx<'_>,
    email: &str,
    parked: &Document,
    meta: &RequestMeta,
) -> Result<(), ApiError> {
    let text = |k: &str| parked.get_str(k).unwrap_or_default().to_string();
    let org_name = text("organizationName");
    let slug = format!("{}-{}", slugify(&org_name), random_suffix());
    let now = DateTime::now();
    let (org_id, user_id) = (ObjectId::new(), ObjectId::new());
    release_unproven(tx, email, meta).await?;
    tx.insert_one(
        collections::ORGANIZATIONS,
        doc! {
            "_id": org_id, "name": &org_name, "slug": &slug, "plan": Plan::Free.as_str(),
            "isActive": true, "deleteScheduledAt": null, "createdAt": now, "updatedAt": now,
        },
    )
    .await?;
    tx.insert_one(
        collections::USERS,
        doc! {
            "_id": user_id, "organizationId": org_id, "email": email, "passwordHash": text("passwordHash"),
            "firstName": text("firstName"), "lastName": text("lastName"), "role": Role::Owner.as_str(),
            "status": UserStatus::Active.as_str(), "createdAt": now, "updatedAt": now, "createdBy": null,
            "lastLoginAt": null, "version": 1_i64, "emailVerified": true, "emailVerifiedAt": now,
            "knownAddresses": [],
        },
    )
    .await?;
    let org_entry = AuditEntry::new(Action::Create, "organization")
        .id(org_id)
        .changes(doc! { "name": &org_name, "slug": &slug, "plan": Plan::Free.as_str() });
    tx.audit(org_entry, Some(org_id), Some(user_id), meta)
        .await?;
    let user_entry = AuditEntry::new(Action::Create, "user")
        .id(user_id)
        .changes(doc! {
            "email": email, "role": Role::Owner.as_str(), "status": UserStatus::Active.as_str(),
            "via": "registration confirmed by email",
        });
    tx.audit(user_entry, Some(org_id), Some(user_id), meta)
        .await
}

/// An account that does not hold its address: made by an administrator
/// (`emailProofRequired`, and so unable to sign in), or a join request no
/// administrator approved yet, and never proven by the link emailed to it
/// (nor by a password reset). An approved member holds their address. A self-registered
/// owner does hold theirs: see the README's design notes.
pub(crate) fn unproven() -> Document {
    doc! {
        "emailVerified": { "$ne": true },
        "$or": [
            { "emailProofRequired": true },
            { "joinRequest": true, "status": UserStatus::Pending.as_str() },
        ],
    }
}

/// In the transaction of a flow that gives `email` to its owner (a
/// registration, an accepted invitation): releases the unproven account
/// holding it, if any, so it blocks nobody. The account keeps its record
/// (deactivated, its address moved to `releasedEmail`) and its organization
/// gets an audit entry saying why.
pub(crate) async fn release_unproven(
    tx: &mut shared::unscoped::UnscopedTx<'_>,
    email: &str,
    meta: &RequestMeta,
) -> Result<(), ApiError> {
    let mut holder = unproven();
    holder.insert("email", email);
    let now = DateTime::now();
    let placeholder = format!("released-{}@released.invalid", ObjectId::new().to_hex());
    let released = tx
        .find_one_and_update(
            collections::USERS,
            holder,
            doc! {
                "$set": { "email": &placeholder, "releasedEmail": email, "releasedAt": now,
                    "status": UserStatus::Inactive.as_str(), "updatedAt": now },
                "$inc": { "version": 1_i64, "sessionEpoch": 1_i64 },
            },
        )
        .await?;
    if let Some(user) = released {
        let (id, org) = (
            user.get_object_id("_id").ok(),
            user.get_object_id("organizationId").ok(),
        );
        // Its links die with it.
        for coll in [
            collections::EMAIL_VERIFICATIONS,
            collections::PASSWORD_RESETS,
        ] {
            tx.update_many(
                coll,
                doc! { "userId": id, "usedAt": null },
                doc! { "$set": { "usedAt": now, "voidedBy": "RELEASED" } },
            )
            .await?;
        }
        let mut entry = AuditEntry::new(Action::Update, "user").changes(doc! {
            "released": email, "status": UserStatus::Inactive.as_str(),
            "reason": "the address's owner proved it elsewhere; this account never did",
        });
        if let Some(id) = id {
            entry = entry.id(id);
        }
        tx.audit(entry, org, None, meta).await?;
        tracing::info!(requestId = %meta.request_id, userId = ?id, "[AUTH_SESSION] an unproven account released its address");
    }
    Ok(())
}

/// Inserts `docs` (collection, document) in one transaction: an
/// organization with its owner, or a user, with their audit entries, and
/// queues `email` (organization, user, message) in it; returns what was
/// queued, for [`shared::email::deliver`] after the commit. With `release`
/// (the new account's address), an unproven account holding it is
/// released first ([`release_unproven`]).
async fn insert_all(
    state: &State,
    docs: &[(&'static str, Document)],
    email: Option<(ObjectId, ObjectId, &Message)>,
    release: Option<(&str, &RequestMeta)>,
) -> Result<Vec<ObjectId>, ApiError> {
    Unscoped::open(state, Purpose::SignIn)
        .transaction(|tx| {
            Box::pin(async move {
                if let Some((address, meta)) = release {
                    release_unproven(tx, address, meta).await?;
                }
                for (coll, doc) in docs {
                    tx.insert_one(coll, doc.clone()).await?;
                }
                let mut queued = vec![];
                if let Some((org, user, message)) = email {
                    queued.push(tx.queue_email(Some(org), Some(user), message).await?);
                }
                Ok(queued)
            })
        })
        .await
}

/// How long the link of a verification email works.
pub const VERIFY_VALID_HOURS: i64 = 24;

/// A new email verification token's document and its email.
pub(crate) fn verification(
    state: &State,
    user: ObjectId,
    org: ObjectId,
    email: &str,
    first_name: &str,
) -> (Document, Message) {
    let token = tokens::new_token();
    let now = DateTime::now();
    let d = doc! {
        "_id": ObjectId::new(), "tokenHash": tokens::hash_token(&token), "userId": user,
        "organizationId": org, "email": email, "createdAt": now, "usedAt": null,
        "expiresAt": shifted(now, VERIFY_VALID_HOURS * HOUR_MS),
    };
    let message = crate::emails::verify_email(&state.config, email, first_name, &token);
    (d, message)
}

/// A document this flow just wrote, as its typed model.
fn from_doc<T: serde::de::DeserializeOwned>(d: &Document) -> Result<T, ApiError> {
    shared::db::decode(d.clone())
}

async fn find_user(db: &Unscoped<'_>, filter: Document) -> Result<Option<User>, ApiError> {
    db.collection(collections::USERS)
        .find_one(filter)
        .await?
        .map(shared::db::decode)
        .transpose()
}

pub(crate) async fn find_org(db: &Unscoped<'_>, id: ObjectId) -> Result<Organization, ApiError> {
    let d = db
        .collection(collections::ORGANIZATIONS)
        .find_one(doc! { "_id": id })
        .await?
        .ok_or_else(|| ApiError::internal(format!("organization {id} missing")))?;
    shared::db::decode(d)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginInput {
    pub email: String,
    pub password: String,
}

fn bad_credentials() -> ApiError {
    ApiError::unauthenticated(
        Code::InvalidCredentials,
        "The email or password is incorrect",
    )
}

/// Signs a user in. Unknown email and wrong password answer alike, after a
/// bcrypt verification either way; failures are throttled per email and per
/// client IP; account state is revealed only after a correct password.
pub async fn login(
    state: &State,
    input: LoginInput,
    meta: &RequestMeta,
) -> Result<Session, ApiError> {
    let email = input.email.trim().to_lowercase();
    if email.is_empty() || email.len() > 254 {
        return Err(ApiError::field("email", "must be a valid email address"));
    }
    let db = Unscoped::open(state, Purpose::SignIn);
    let ip = meta.client_key();
    // Each attempt reserves a slot in both failure buckets before the
    // password is checked, so concurrent guesses cannot overshoot the limit;
    // a successful sign-in gives its slots back. The account is read in the
    // same round trip, and ignored when a bucket refuses.
    let (by_email, by_ip, found) = tokio::join!(
        db.check(LimitedAction::FailedLoginEmail, &email),
        db.check(LimitedAction::FailedLoginIp, &ip),
        find_user(&db, doc! { "email": &email }),
    );
    if let Some(refused) = [by_email, by_ip].into_iter().find_map(Result::err) {
        if let ApiError::RateLimited { .. } = refused {
            tracing::warn!(requestId = %meta.request_id, ip = %ip, refused = %refused,
                "[RATE_LIMIT] sign-in throttled");
            record_attempt(&db, &email, meta, false, "THROTTLED", None).await;
        }
        return Err(refused);
    }

    let user = found?;
    let hash = match &user {
        Some(u) => u.password_hash().to_string(),
        None => password::dummy_hash(state).await?,
    };
    let matches = password::verify(input.password.clone(), hash.clone()).await;
    let user = match user {
        Some(u) if matches => u,
        found => {
            let reason = if found.is_some() {
                "WRONG_PASSWORD"
            } else {
                "UNKNOWN_EMAIL"
            };
            tracing::info!(requestId = %meta.request_id, ip = %ip, reason, "[AUTH_SESSION] sign-in failed");
            record_attempt(&db, &email, meta, false, reason, found.as_ref()).await;
            if let Some(u) = &found {
                // Known accounts also get an audit entry, so their organization sees it.
                let entry = AuditEntry::new(Action::LoginFailed, "session")
                    .changes(doc! { "reason": reason });
                db.audit(entry, Some(u.organization_id), Some(u.id), meta)
                    .await;
            }
            return Err(bad_credentials());
        }
    };
    let (_, _, org) = tokio::join!(
        db.undo(LimitedAction::FailedLoginEmail, &email),
        db.undo(LimitedAction::FailedLoginIp, &ip),
        find_org(&db, user.organization_id),
    );
    let org = org?;
    if let Err(refusal) = check_active(&user, &org) {
        record_attempt(
            &db,
            &email,
            meta,
            false,
            refusal.code().as_str(),
            Some(&user),
        )
        .await;
        return Err(refusal);
    }
    let now = DateTime::now();
    let mut set = doc! { "lastLoginAt": now };
    if password::cost_of(&hash).is_some_and(|c| c < state.config.bcrypt_cost) {
        // The stored hash predates the current cost: upgrade it while we
        // hold the plain password.
        set.insert(
            "passwordHash",
            password::hash(input.password, state.config.bcrypt_cost).await?,
        );
    }
    let tokens = record_sign_in(state, &db, &user, set, &email, meta).await?;
    tracing::info!(requestId = %meta.request_id, userId = %user.id, organizationId = %org.id,
        "[AUTH_SESSION] signed in");
    let mut user = user;
    user.last_login_at = Some(now);
    Ok(Session { user, org, tokens })
}

/// How many client addresses a user's account remembers for sign-in alerts.
const KNOWN_ADDRESSES: usize = 20;

/// Stores a successful sign-in in one transaction whose writes go in one
/// command with its commit: the user's `set` (its time, maybe an upgraded
/// hash) and client address, the new session and its refresh token, the
/// attempt and the audit entry. An address the account has not signed in
/// from before (when it has any) gets the user a security alert, queued in
/// the same transaction and sent after it.
async fn record_sign_in(
    state: &State,
    db: &Unscoped<'_>,
    user: &User,
    mut set: Document,
    email: &str,
    meta: &RequestMeta,
) -> Result<TokenPair, ApiError> {
    let known = &user.known_addresses;
    let new_address = meta.ip.as_ref().filter(|ip| !known.contains(ip));
    let alert = new_address.filter(|_| !known.is_empty()).map(|ip| {
        crate::emails::new_sign_in(
            &state.config,
            &user.email,
            &user.first_name,
            ip,
            meta.user_agent.as_deref().unwrap_or("unknown"),
        )
    });
    if let Some(ip) = new_address {
        let mut addresses = known.clone();
        addresses.push(ip.clone());
        let skip = addresses.len().saturating_sub(KNOWN_ADDRESSES);
        set.insert("knownAddresses", addresses.split_off(skip));
    }
    let (set, alert) = (&set, &alert);
    let (tokens, queued) = db
        .transaction(|tx| {
            Box::pin(async move {
                tx.update_with_commit(
                    collections::USERS,
                    doc! { "_id": user.id },
                    doc! { "$set": set.clone() },
                    || ApiError::internal("the signed-in user is gone"),
                );
                let queued = match alert {
                    Some(alert) => Some(
                        tx.queue_email(Some(user.organization_id), Some(user.id), alert)
                            .await?,
                    ),
                    None => None,
                };
                let (tokens, records) = tokens::issue_records(state, user, meta)?;
                for (coll, record) in records {
                    tx.insert_with_commit(coll, record);
                }
                tx.insert_with_commit(
                    collections::LOGIN_ATTEMPTS,
                    attempt_record(email, meta, true, "OK", Some(user)),
                );
                let entry = AuditEntry::new(Action::Login, "session").id(tokens.session_id);
                tx.audit(entry, Some(user.organization_id), Some(user.id), meta)
                    .await?;
                Ok((tokens, queued))
            })
        })
        .await?;
    if let Some(queued) = queued {
        tracing::info!(requestId = %meta.request_id, userId = %user.id, "[AUTH_SESSION] sign-in from a new address");
        shared::email::deliver(state, &[queued]).await;
    }
    Ok(tokens)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JoinInput {
    pub organization_slug: String,
    pub email: String,
    pub password: String,
    pub first_name: String,
    pub last_name: String,
}

/// `POST /api/v1/auth/join`: asks to join an organization. The user is
/// created PENDING (as a VIEWER) and cannot sign in until an ADMIN approves.
/// Throttled per client address by its route (the join bucket).
pub async fn join(state: &State, input: JoinInput, meta: &RequestMeta) -> Result<User, ApiError> {
    let mut errors = Errors::new();
    let email = errors.check(Email::parse("email", &input.email));
    errors.check(password::check_new("password", &input.password));
    let first = errors.check(text("firstName", &input.first_name, 1, 100));
    let last = errors.check(text("lastName", &input.last_name, 1, 100));
    let slug = errors.check(text("organizationSlug", &input.organization_slug, 1, 64));
    errors.finish()?;
    let org = Unscoped::open(state, Purpose::SignIn)
        .collection(collections::ORGANIZATIONS)
        .find_one(doc! { "slug": slug.unwrap_or_default().to_lowercase(), "isActive": true })
        .await?
        .map(shared::db::decode::<Organization>)
        .transpose()?
        .ok_or_else(|| ApiError::Unprocessable {
            code: Code::OrganizationNotFound,
            detail: "No active organization has this slug".into(),
            errors: vec![shared::error::FieldError::new(
                "organizationSlug",
                "is not an organization",
            )],
        })?;
    let hash = password::hash(input.password, state.config.bcrypt_cost).await?;
    let now = DateTime::now();
    let user_id = ObjectId::new();
    let email = email.map(Email::into_inner).unwrap_or_default();
    let first = first.unwrap_or_default();
    let user_doc = doc! {
        "_id": user_id, "organizationId": org.id, "email": &email, "passwordHash": hash,
        "firstName": &first, "lastName": last.unwrap_or_default(), "role": Role::Viewer.as_str(),
        "status": UserStatus::Pending.as_str(), "createdAt": now, "updatedAt": now, "createdBy": null, "lastLoginAt": null, "version": 1_i64,
        "emailVerified": false, "joinRequest": true,
        "knownAddresses": meta.ip.iter().cloned().collect::<Vec<_>>(),
    };
    let (verification, message) = verification(state, user_id, org.id, &email, &first);
    let audit = AuditEntry::new(Action::Create, "user")
        .id(user_id)
        .changes(doc! { "email": &email, "role": Role::Viewer.as_str(), "status": UserStatus::Pending.as_str(), "via": "join" })
        .into_document(Some(org.id), Some(user_id), meta);
    let queued = insert_all(
        state,
        &[
            (collections::USERS, user_doc.clone()),
            (collections::AUDIT_LOG, audit),
            (collections::EMAIL_VERIFICATIONS, verification),
        ],
        Some((org.id, user_id, &message)),
        None,
    )
    .await?;
    shared::email::deliver(state, &queued).await;
    tracing::info!(requestId = %meta.request_id, userId = %user_id, organizationId = %org.id,
        "[AUTH_SESSION] join request waiting for approval");
    from_doc(&user_doc)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PasswordReset {
    pub token: String,
    pub new_password: String,
}

/// `POST /api/v1/auth/password-reset` `{token, newPassword}` (no sign-in):
/// uses a reset token an operator issued (`crm-admin users
/// force-password-reset`). Sets the password, lifts the reset requirement,
/// and signs out every session, in one transaction; the token works once.
pub async fn reset_password(
    state: &State,
    input: PasswordReset,
    meta: &RequestMeta,
) -> Result<(), ApiError> {
    password::check_new("newPassword", &input.new_password)
        .map_err(|e| ApiError::Validation { errors: vec![e] })?;
    let token_hash = tokens::hash_token(input.token.trim());
    let invalid = || {
        ApiError::bad_field(
            Code::InvalidResetToken,
            "token",
            "is not a valid, unused reset token",
        )
    };
    // The token is looked up before the new password is hashed, so a
    // guessed token costs one indexed read, not a bcrypt run.
    let db = Unscoped::open(state, Purpose::PasswordReset);
    db.collection(collections::PASSWORD_RESETS)
        .find_one(doc! { "tokenHash": &token_hash, "usedAt": null, "expiresAt": { "$gt": DateTime::now() } })
        .await?
        .ok_or_else(invalid)?;
    let hash = password::hash(input.new_password, state.config.bcrypt_cost).await?;
    let (hash, token_hash) = (&hash, &token_hash);
    let queued = db.transaction(|tx| Box::pin(async move {
        let now = DateTime::now();
        let reset = tx
            .find_one_and_update(
                collections::PASSWORD_RESETS,
                doc! { "tokenHash": token_hash, "usedAt": null, "expiresAt": { "$gt": now } },
                doc! { "$set": { "usedAt": now } },
            )
            .await?
            .ok_or_else(invalid)?;
        let (Ok(user), Ok(org)) = (reset.get_object_id("userId"), reset.get_object_id("organizationId")) else {
            return Err(ApiError::internal("reset token without user"));
        };
        // Opening the emailed link proves the address too.
        let updated = tx
            .find_one_and_update(
                collections::USERS,
                doc! { "_id": user },
                doc! { "$set": { "passwordHash": hash, "passwordResetRequired": false, "emailVerified": true, "updatedAt": now }, "$inc": { "version": 1_i64 } },
            )
            .await?
            .ok_or_else(invalid)?;
        // Every other reset link of the user stops working as well.
        tx.update_many(
            collections::PASSWORD_RESETS,
            doc! { "userId": user, "usedAt": null },
            doc! { "$set": { "usedAt": now } },
        )
        .await?;
        tx.end_all_sessions(tokens::Ending::User(user), "PASSWORD_RESET", now).await?;
        let entry = AuditEntry::new(Action::Update, "user").id(user).changes(doc! { "passwordReset": true });
        tx.audit(entry, Some(org), Some(user), meta).await?;
        let alert = crate::emails::password_changed(
            &state.config,
            updated.get_str("email").unwrap_or_default(),
            updated.get_str("firstName").unwrap_or_default(),
            "with a reset link",
        );
        tx.queue_email(Some(org), Some(user), &alert).await
    }))
    .await?;
    shared::email::deliver(state, &[queued]).await;
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    pub email: String,
}

/// How long an emailed reset link works.
pub const RESET_VALID_MINUTES: i64 = 30;
/// Every answer to a reset request takes at least this long, so a known
/// email (a transaction and an SMTP conversation) cannot be told from an
/// unknown one (one read) by the time it takes.
const RESET_REQUEST_FLOOR: std::time::Duration = std::time::Duration::from_millis(600);
/// Unused links a user may have from the last hour; more requests send
/// nothing (and answer alike), so nobody can flood a mailbox.
const RESETS_PER_HOUR: u64 = 3;

/// `POST /api/v1/auth/password-reset/request` `{email}` (no sign-in):
/// answers alike for every well-formed email; an ACTIVE user of an active
/// organization gets a one-time link by email.
///
/// Both kinds of answer take the same time: the reads that tell a known
/// address from an unknown one are a round trip apart (the organization
/// and the recent links are read together), and what only a known address
/// does (the link's transaction, its email) runs in a task of its own that
/// the request waits for only until the floor; whatever is left then goes
/// on without it.
pub async fn request_password_reset(
    state: &std::sync::Arc<State>,
    input: ResetRequest,
    meta: &RequestMeta,
) -> Result<(), ApiError> {
    let started = tokio::time::Instant::now();
    let email = Email::parse("email", &input.email)
        .map_err(|e| ApiError::Validation { errors: vec![e] })?
        .into_inner();
    let floor = started + RESET_REQUEST_FLOOR;
    let outcome = match send_reset(state, &email, meta).await {
        // What only a known address does never changes the answer: a
        // failure there is logged, and the link is asked for again.
        Ok(Some(write)) => match tokio::time::timeout_at(floor, write).await {
            Ok(Ok(Err(e))) => {
                tracing::error!(requestId = %meta.request_id, error = ?e,
                    "[AUTH_SESSION] the reset link could not be written");
                Ok(())
            }
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Err(crashed)) => {
                tracing::error!(requestId = %meta.request_id, error = %crashed,
                    "[AUTH_SESSION] the reset link task failed");
                Ok(())
            }
            Err(_) => {
                tracing::info!(requestId = %meta.request_id,
                    "[AUTH_SESSION] the reset link is still being written at the floor: answering");
                Ok(())
            }
        },
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    tokio::time::sleep_until(floor).await;
    outcome
}

/// What a reset request for `email` does: `None` when there is nothing to
/// send, else the task writing and sending the link.
async fn send_reset(
    state: &std::sync::Arc<State>,
    email: &str,
    meta: &RequestMeta,
) -> Result<Option<tokio::task::JoinHandle<Result<(), ApiError>>>, ApiError> {
    let db = Unscoped::open(state, Purpose::PasswordReset);
    let Some(user) = find_user(&db, doc! { "email": email }).await? else {
        tracing::info!(requestId = %meta.request_id, "[AUTH_SESSION] reset requested for an unknown email");
        return Ok(None);
    };
    let now = DateTime::now();
    let recent_links = db.collection(collections::PASSWORD_RESETS);
    let (org, recent) = tokio::try_join!(
        find_org(&db, user.organization_id),
        recent_links.count(doc! { "userId": user.id, "usedAt": null, "createdAt": { "$gt": shifted(now, -HOUR_MS) } }),
    )?;
    if user.status != UserStatus::Active || !org.is_active {
        tracing::info!(requestId = %meta.request_id, userId = %user.id,
            "[AUTH_SESSION] reset requested for an account that cannot sign in");
        return Ok(None);
    }
    if recent >= RESETS_PER_HOUR {
        tracing::warn!(requestId = %meta.request_id, userId = %user.id,
            "[AUTH_SESSION] reset requested too often: nothing sent");
        return Ok(None);
    }
    let token = tokens::new_token();
    let reset = doc! {
        "_id": ObjectId::new(), "tokenHash": tokens::hash_token(&token), "userId": user.id,
        "organizationId": org.id, "requestedBy": "self", "ipAddress": meta.ip.clone(),
        "createdAt": now, "usedAt": null, "expiresAt": shifted(now, RESET_VALID_MINUTES * MINUTE_MS),
    };
    let message =
        crate::emails::password_reset(&state.config, &user.email, &user.first_name, &token);
    let (state, meta, user_id, org_id) = (state.clone(), meta.clone(), user.id, org.id);
    Ok(Some(tokio::spawn(async move {
        let (reset, message, meta) = (&reset, &message, &meta);
        let db = Unscoped::open(&state, Purpose::PasswordReset);
        let queued = db
            .transaction(|tx| {
                Box::pin(async move {
                    tx.insert_one(collections::PASSWORD_RESETS, reset.clone())
                        .await?;
                    let entry = AuditEntry::new(Action::Create, "password_reset")
                        .changes(doc! { "requestedBy": "self" });
                    tx.audit(entry, Some(org_id), Some(user_id), meta).await?;
                    tx.queue_email(Some(org_id), Some(user_id), message).await
                })
            })
            .await?;
        shared::email::deliver(&state, &[queued]).await;
        Ok(())
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    pub token: String,
}

/// `POST /api/v1/auth/verify-email` `{token}` (no sign-in): marks the
/// user's address verified; the token works once.
pub async fn verify_email(
    state: &State,
    input: Verification,
    meta: &RequestMeta,
) -> Result<(), ApiError> {
    let token_hash = tokens::hash_token(input.token.trim());
    let token_hash = &token_hash;
    Unscoped::open(state, Purpose::SignIn)
        .transaction(|tx| {
            Box::pin(async move {
                let now = DateTime::now();
                let found = tx
                    .find_one_and_update(
                        collections::EMAIL_VERIFICATIONS,
                        doc! { "tokenHash": token_hash, "usedAt": null, "expiresAt": { "$gt": now } },
                        doc! { "$set": { "usedAt": now } },
                    )
                    .await?
                    .ok_or_else(|| {
                        ApiError::bad_field(
                            Code::InvalidVerificationToken,
                            "token",
                            "is not a valid, unused verification token",
                        )
                    })?;
                if let Ok(parked) = found.get_document("registration") {
                    let email = found.get_str("email").unwrap_or_default();
                    return complete_registration(tx, email, parked, meta).await;
                }
                let (Ok(user), Ok(org)) = (found.get_object_id("userId"), found.get_object_id("organizationId")) else {
                    return Err(ApiError::internal("verification token without user"));
                };
                tx.update_one(
                    collections::USERS,
                    doc! { "_id": user, "email": found.get_str("email").unwrap_or_default() },
                    doc! { "$set": { "emailVerified": true, "emailVerifiedAt": now, "updatedAt": now } },
                )
                .await?;
                let entry = AuditEntry::new(Action::Update, "user").id(user).changes(doc! { "emailVerified": true });
                tx.audit(entry, Some(org), Some(user), meta).await
            })
        })
        .await
}

/// Verification emails a user may ask for per hour.
const VERIFICATIONS_PER_HOUR: u64 = 5;

/// `POST /api/v1/auth/verify-email/resend` (signed in): a new verification
/// link for an unverified caller; false when there is nothing to verify.
pub async fn resend_verification(scope: &Scope) -> Result<bool, ApiError> {
    let me = &scope.caller().user;
    if me.email_verified {
        return Ok(false);
    }
    let state = scope.state();
    let recent = scope
        .collection(collections::EMAIL_VERIFICATIONS)
        .count(doc! { "userId": me.id, "createdAt": { "$gt": shifted(DateTime::now(), -HOUR_MS) } })
        .await?;
    if recent >= VERIFICATIONS_PER_HOUR {
        return Err(ApiError::RateLimited {
            retry_after: 3600,
            detail: "Several verification emails were sent in the last hour; use the newest one or try again later".into(),
        });
    }
    let (verification, message) =
        verification(state, me.id, me.organization_id, &me.email, &me.first_name);
    let (verification, message, id) = (&verification, &message, me.id);
    let queued = scope
        .transaction(|tx| {
            Box::pin(async move {
                tx.insert_one(collections::EMAIL_VERIFICATIONS, verification.clone())
                    .await?;
                tx.queue_email(Some(id), message).await
            })
        })
        .await?;
    shared::email::deliver(state, &[queued]).await;
    Ok(true)
}

/// Keeps a record of the attempt for operators (`login_attempts`, expired by TTL).
async fn record_attempt(
    db: &Unscoped<'_>,
    email: &str,
    meta: &RequestMeta,
    success: bool,
    reason: &str,
    user: Option<&User>,
) {
    let attempt = attempt_record(email, meta, success, reason, user);
    if let Err(e) = db
        .collection(collections::LOGIN_ATTEMPTS)
        .insert_one(attempt)
        .await
    {
        tracing::error!(error = %e, "[DATABASE_ERROR] could not record a login attempt");
    }
}

/// A sign-in attempt's record, kept 30 days.
fn attempt_record(
    email: &str,
    meta: &RequestMeta,
    success: bool,
    reason: &str,
    user: Option<&User>,
) -> Document {
    const KEEP_DAYS: i64 = 30;
    let now = DateTime::now();
    doc! {
        "email": email,
        "ipAddress": meta.ip.clone(),
        "userAgent": meta.user_agent.clone(),
        "success": success,
        "reason": reason,
        "userId": user.map(|u| u.id),
        "organizationId": user.map(|u| u.organization_id),
        "requestId": &meta.request_id,
        "createdAt": now,
        "expiresAt": DateTime::from_millis(now.timestamp_millis() + KEEP_DAYS * DAY_MS),
    }
}

/// Rotates a refresh token into a new pair.
/// A reused refresh token (its session is already ended by the platform)
/// also gets its user a security alert.
pub async fn refresh(state: &State, token: &str, meta: &RequestMeta) -> Result<Session, ApiError> {
    match tokens::rotate(state, token, meta).await {
        Ok((tokens, user, org)) => Ok(Session { user, org, tokens }),
        Err(e) if e.code() == Code::RefreshTokenReused => {
            if let Err(alert) = alert_reuse(state, token, meta).await {
                tracing::error!(requestId = %meta.request_id, error = %alert,
                    "[EMAIL] could not queue the token reuse alert");
            }
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// The user is alerted once per reused token: a burst of replays (a
/// stolen token tried many times at once) sends one email, not one each.
async fn alert_reuse(state: &State, token: &str, meta: &RequestMeta) -> Result<(), ApiError> {
    let Some((user, org)) = tokens::owner_of(state, token).await? else {
        return Ok(());
    };
    let db = Unscoped::open(state, Purpose::SignIn);
    let first = db
        .collection(collections::REFRESH_TOKENS)
        .update_one(
            doc! { "tokenHash": tokens::hash_token(token), "reuseAlertedAt": null },
            doc! { "$set": { "reuseAlertedAt": DateTime::now() } },
        )
        .await?;
    if first == 0 {
        return Ok(());
    }
    let Some(user) = find_user(&db, doc! { "_id": user, "organizationId": org }).await? else {
        return Ok(());
    };
    let ip = meta
        .ip
        .clone()
        .unwrap_or_else(|| "an unknown address".into());
    let message = crate::emails::token_reuse(&state.config, &user.email, &user.first_name, &ip);
    let (message, id) = (&message, user.id);
    let queued = db
        .transaction(|tx| {
            Box::pin(async move { tx.queue_email(Some(org), Some(id), message).await })
        })
        .await?;
    shared::email::deliver(state, &[queued]).await;
    Ok(())
}

/// Ends the caller's session (and the session of the presented refresh
/// token, when it is the caller's), or with `all_sessions` every session of
/// the caller, access tokens included; returns how many refresh tokens were
/// revoked.
pub async fn logout(
    scope: &Scope,
    token: Option<&str>,
    all_sessions: bool,
) -> Result<u64, ApiError> {
    let state = scope.state();
    let user = scope.caller().user.id;
    let revoked = if all_sessions {
        tokens::end_all(state, tokens::Ending::User(user), "LOGOUT").await?
    } else {
        let mut revoked =
            tokens::end_session(state, user, scope.caller().session_id, "LOGOUT").await?;
        if let Some(family) = tokens::family_of(state, user, token).await? {
            if family != scope.caller().session_id {
                revoked += tokens::end_session(state, user, family, "LOGOUT").await?;
            }
        }
        revoked
    };
    scope
        .audit(AuditEntry::new(Action::Logout, "session").changes(doc! {
            "allSessions": all_sessions, "revoked": revoked as i64,
        }))
        .await;
    tracing::info!(requestId = %scope.meta().request_id, userId = %user,
        organizationId = %scope.org_id(), revoked, "[AUTH_SESSION] signed out");
    Ok(revoked)
}

#[cfg(test)]
mod tests {
    use super::slugify;

    #[test]
    fn a_slug_keeps_ascii_letters_and_digits_joined_by_hyphens() {
        assert_eq!(slugify("Müller's Garage & Co. 24"), "m-ller-s-garage-co-24");
        assert_eq!(slugify("  --  "), "org");
        assert!(slugify(&"a".repeat(100)).len() <= 48);
    }
}
