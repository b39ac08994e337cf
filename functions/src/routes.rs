//! The route table: the single source of truth for every API route.
//!
//! Each entry names its function (binary, Lambda function, Vercel function),
//! its path pattern, the permission each method needs, and its handler. The
//! local server serves from [`ROUTES`]; the tests walk it and check that
//! `vercel.json`, `template.yaml` and the binaries agree with it.

use shared::rbac::Access::{Public, Requires};
use shared::rbac::Permission::*;
use shared::records::{self, Entity};
use shared::runtime::{Route, Verb::*};

use crate::accounts::ACCOUNT;
use crate::contacts::CONTACT;
use crate::leads::LEAD;
use crate::opportunities::OPPORTUNITY;
use crate::products::PRODUCT;
use crate::tasks::TASK;
use crate::{auth, health, invitations, members, organization};

pub static HEALTH: Route = Route {
    name: "health",
    path: "/api/v1/health",
    methods: &[(Get, Public)],
    handler: |ctx| Box::pin(health::handle(ctx)),
};

pub static AUTH_REGISTER: Route = Route {
    name: "auth-register",
    path: "/api/v1/auth/register",
    methods: &[(Post, Public)],
    handler: |ctx| Box::pin(auth::register(ctx)),
};

pub static AUTH_JOIN: Route = Route {
    name: "auth-join",
    path: "/api/v1/auth/join",
    methods: &[(Post, Public)],
    handler: |ctx| Box::pin(auth::join(ctx)),
};

pub static AUTH_LOGIN: Route = Route {
    name: "auth-login",
    path: "/api/v1/auth/login",
    methods: &[(Post, Public)],
    handler: |ctx| Box::pin(auth::login(ctx)),
};

pub static AUTH_REFRESH: Route = Route {
    name: "auth-refresh",
    path: "/api/v1/auth/refresh",
    methods: &[(Post, Public)],
    handler: |ctx| Box::pin(auth::refresh(ctx)),
};

pub static AUTH_LOGOUT: Route = Route {
    name: "auth-logout",
    path: "/api/v1/auth/logout",
    methods: &[(Post, Requires(Authenticated))],
    handler: |ctx| Box::pin(auth::logout(ctx)),
};

pub static AUTH_ME: Route = Route {
    name: "auth-me",
    path: "/api/v1/auth/me",
    methods: &[
        (Get, Requires(Authenticated)),
        (Patch, Requires(Authenticated)),
    ],
    handler: |ctx| Box::pin(auth::me(ctx)),
};

pub static AUTH_PASSWORD: Route = Route {
    name: "auth-password",
    path: "/api/v1/auth/password",
    methods: &[(Post, Requires(Authenticated))],
    handler: |ctx| Box::pin(auth::password(ctx)),
};

pub static AUTH_PASSWORD_RESET: Route = Route {
    name: "auth-password-reset",
    path: "/api/v1/auth/password-reset",
    methods: &[(Post, Public)],
    handler: |ctx| Box::pin(auth::password_reset(ctx)),
};

pub static AUTH_SESSIONS: Route = Route {
    name: "auth-sessions",
    path: "/api/v1/auth/sessions",
    methods: &[(Get, Requires(Authenticated))],
    handler: |ctx| Box::pin(auth::sessions(ctx)),
};

pub static AUTH_SESSIONS_ID: Route = Route {
    name: "auth-sessions-id",
    path: "/api/v1/auth/sessions/{id}",
    methods: &[(Delete, Requires(Authenticated))],
    handler: |ctx| Box::pin(auth::end_session(ctx)),
};

pub static MEMBERS: Route = Route {
    name: "members",
    path: "/api/v1/members",
    methods: &[
        (Get, Requires(ReadRecords)),
        (Post, Requires(ManageMembers)),
    ],
    handler: |ctx| Box::pin(members::handle(ctx)),
};

pub static MEMBERS_ID: Route = Route {
    name: "members-id",
    path: "/api/v1/members/{id}",
    methods: &[
        (Get, Requires(ReadRecords)),
        (Patch, Requires(ManageMembers)),
        (Delete, Requires(ManageMembers)),
    ],
    handler: |ctx| Box::pin(members::item(ctx)),
};

pub static INVITATIONS: Route = Route {
    name: "invitations",
    path: "/api/v1/invitations",
    methods: &[
        (Get, Requires(ManageMembers)),
        (Post, Requires(ManageMembers)),
    ],
    handler: |ctx| Box::pin(invitations::collection(ctx)),
};

/// Listed before [`INVITATIONS_ID`], whose pattern `accept` would also match.
pub static INVITATIONS_ACCEPT: Route = Route {
    name: "invitations-accept",
    path: "/api/v1/invitations/accept",
    methods: &[(Post, Public)],
    handler: |ctx| Box::pin(invitations::accept(ctx)),
};

pub static INVITATIONS_ID: Route = Route {
    name: "invitations-id",
    path: "/api/v1/invitations/{id}",
    methods: &[(Delete, Requires(ManageMembers))],
    handler: |ctx| Box::pin(invitations::item(ctx)),
};

pub static ORGANIZATION: Route = Route {
    name: "organization",
    path: "/api/v1/organization",
    methods: &[
        (Get, Requires(ReadRecords)),
        (Patch, Requires(ManageMembers)),
        (Delete, Requires(ManageOrganization)),
    ],
    handler: |ctx| Box::pin(organization::handle(ctx)),
};

pub static ORGANIZATION_PLAN: Route = Route {
    name: "organization-plan",
    path: "/api/v1/organization/plan",
    methods: &[(Put, Requires(ManageOrganization))],
    handler: |ctx| Box::pin(organization::plan(ctx)),
};

pub static ORGANIZATION_TRANSFER_OWNERSHIP: Route = Route {
    name: "organization-transfer-ownership",
    path: "/api/v1/organization/transfer-ownership",
    methods: &[(Post, Requires(ManageOrganization))],
    handler: |ctx| Box::pin(organization::transfer_ownership(ctx)),
};

pub static ACCOUNTS: Route = Route {
    name: "accounts",
    path: "/api/v1/accounts",
    methods: &[
        (Get, Requires(ReadRecords)),
        (Post, Requires(CreateRecords)),
    ],
    handler: |ctx| Box::pin(records::collection(ctx, &ACCOUNT)),
};

pub static ACCOUNTS_ID: Route = Route {
    name: "accounts-id",
    path: "/api/v1/accounts/{id}",
    methods: &[
        (Get, Requires(ReadRecords)),
        (Patch, Requires(UpdateRecords)),
        (Delete, Requires(DeleteRecords)),
    ],
    handler: |ctx| Box::pin(records::item(ctx, &ACCOUNT)),
};

pub static ACCOUNTS_ID_RESTORE: Route = Route {
    name: "accounts-id-restore",
    path: "/api/v1/accounts/{id}/restore",
    methods: &[(Post, Requires(DeleteRecords))],
    handler: |ctx| Box::pin(records::restore(ctx, &ACCOUNT)),
};

pub static CONTACTS: Route = Route {
    name: "contacts",
    path: "/api/v1/contacts",
    methods: &[
        (Get, Requires(ReadRecords)),
        (Post, Requires(CreateRecords)),
    ],
    handler: |ctx| Box::pin(records::collection(ctx, &CONTACT)),
};

pub static CONTACTS_ID: Route = Route {
    name: "contacts-id",
    path: "/api/v1/contacts/{id}",
    methods: &[
        (Get, Requires(ReadRecords)),
        (Patch, Requires(UpdateRecords)),
        (Delete, Requires(DeleteRecords)),
    ],
    handler: |ctx| Box::pin(records::item(ctx, &CONTACT)),
};

pub static CONTACTS_ID_RESTORE: Route = Route {
    name: "contacts-id-restore",
    path: "/api/v1/contacts/{id}/restore",
    methods: &[(Post, Requires(DeleteRecords))],
    handler: |ctx| Box::pin(records::restore(ctx, &CONTACT)),
};

pub static LEADS: Route = Route {
    name: "leads",
    path: "/api/v1/leads",
    methods: &[
        (Get, Requires(ReadRecords)),
        (Post, Requires(CreateRecords)),
    ],
    handler: |ctx| Box::pin(records::collection(ctx, &LEAD)),
};

pub static LEADS_ID: Route = Route {
    name: "leads-id",
    path: "/api/v1/leads/{id}",
    methods: &[
        (Get, Requires(ReadRecords)),
        (Patch, Requires(UpdateRecords)),
        (Delete, Requires(DeleteRecords)),
    ],
    handler: |ctx| Box::pin(records::item(ctx, &LEAD)),
};

pub static LEADS_ID_CONVERT: Route = Route {
    name: "leads-id-convert",
    path: "/api/v1/leads/{id}/convert",
    methods: &[(Post, Requires(UpdateRecords))],
    handler: |ctx| Box::pin(crate::leads::convert::handle(ctx)),
};

pub static LEADS_ID_RESTORE: Route = Route {
    name: "leads-id-restore",
    path: "/api/v1/leads/{id}/restore",
    methods: &[(Post, Requires(DeleteRecords))],
    handler: |ctx| Box::pin(records::restore(ctx, &LEAD)),
};

pub static OPPORTUNITIES: Route = Route {
    name: "opportunities",
    path: "/api/v1/opportunities",
    methods: &[
        (Get, Requires(ReadRecords)),
        (Post, Requires(CreateRecords)),
    ],
    handler: |ctx| Box::pin(records::collection(ctx, &OPPORTUNITY)),
};

/// Listed before [`OPPORTUNITIES_ID`], whose pattern `summary` would also match.
pub static OPPORTUNITIES_SUMMARY: Route = Route {
    name: "opportunities-summary",
    path: "/api/v1/opportunities/summary",
    methods: &[(Get, Requires(ReadRecords))],
    handler: |ctx| Box::pin(crate::opportunities::summary(ctx)),
};

pub static OPPORTUNITIES_ID: Route = Route {
    name: "opportunities-id",
    path: "/api/v1/opportunities/{id}",
    methods: &[
        (Get, Requires(ReadRecords)),
        (Patch, Requires(UpdateRecords)),
        (Delete, Requires(DeleteRecords)),
    ],
    handler: |ctx| Box::pin(records::item(ctx, &OPPORTUNITY)),
};

pub static OPPORTUNITIES_ID_RESTORE: Route = Route {
    name: "opportunities-id-restore",
    path: "/api/v1/opportunities/{id}/restore",
    methods: &[(Post, Requires(DeleteRecords))],
    handler: |ctx| Box::pin(records::restore(ctx, &OPPORTUNITY)),
};

pub static TASKS: Route = Route {
    name: "tasks",
    path: "/api/v1/tasks",
    methods: &[
        (Get, Requires(ReadRecords)),
        (Post, Requires(CreateRecords)),
    ],
    handler: |ctx| Box::pin(records::collection(ctx, &TASK)),
};

pub static TASKS_ID: Route = Route {
    name: "tasks-id",
    path: "/api/v1/tasks/{id}",
    methods: &[
        (Get, Requires(ReadRecords)),
        (Patch, Requires(UpdateRecords)),
        (Delete, Requires(DeleteRecords)),
    ],
    handler: |ctx| Box::pin(records::item(ctx, &TASK)),
};

pub static TASKS_ID_RESTORE: Route = Route {
    name: "tasks-id-restore",
    path: "/api/v1/tasks/{id}/restore",
    methods: &[(Post, Requires(DeleteRecords))],
    handler: |ctx| Box::pin(records::restore(ctx, &TASK)),
};

pub static PRODUCTS: Route = Route {
    name: "products",
    path: "/api/v1/products",
    methods: &[
        (Get, Requires(ReadRecords)),
        (Post, Requires(CreateRecords)),
    ],
    handler: |ctx| Box::pin(records::collection(ctx, &PRODUCT)),
};

pub static PRODUCTS_ID: Route = Route {
    name: "products-id",
    path: "/api/v1/products/{id}",
    methods: &[
        (Get, Requires(ReadRecords)),
        (Patch, Requires(UpdateRecords)),
        (Delete, Requires(DeleteRecords)),
    ],
    handler: |ctx| Box::pin(records::item(ctx, &PRODUCT)),
};

pub static PRODUCTS_ID_RESTORE: Route = Route {
    name: "products-id-restore",
    path: "/api/v1/products/{id}/restore",
    methods: &[(Post, Requires(DeleteRecords))],
    handler: |ctx| Box::pin(records::restore(ctx, &PRODUCT)),
};

pub static EXPORTS: Route = Route {
    name: "exports",
    path: "/api/v1/exports",
    methods: &[(Post, Requires(ExportData))],
    handler: |ctx| Box::pin(crate::transfer::export(ctx)),
};

pub static IMPORTS: Route = Route {
    name: "imports",
    path: "/api/v1/imports",
    methods: &[(Post, Requires(ImportData))],
    handler: |ctx| Box::pin(crate::transfer::import(ctx)),
};

/// Every CRM entity, for exports and imports.
pub static ENTITIES: &[&Entity] = &[&ACCOUNT, &CONTACT, &LEAD, &OPPORTUNITY, &TASK, &PRODUCT];

/// Every route, in the order the local server tries them.
pub static ROUTES: &[&Route] = &[
    &HEALTH,
    &AUTH_REGISTER,
    &AUTH_JOIN,
    &AUTH_LOGIN,
    &AUTH_REFRESH,
    &AUTH_LOGOUT,
    &AUTH_ME,
    &AUTH_PASSWORD,
    &AUTH_PASSWORD_RESET,
    &AUTH_SESSIONS,
    &AUTH_SESSIONS_ID,
    &MEMBERS,
    &MEMBERS_ID,
    &INVITATIONS,
    &INVITATIONS_ACCEPT,
    &INVITATIONS_ID,
    &ORGANIZATION,
    &ORGANIZATION_PLAN,
    &ORGANIZATION_TRANSFER_OWNERSHIP,
    &ACCOUNTS,
    &ACCOUNTS_ID,
    &ACCOUNTS_ID_RESTORE,
    &EXPORTS,
    &IMPORTS,
    &CONTACTS,
    &CONTACTS_ID,
    &CONTACTS_ID_RESTORE,
    &LEADS,
    &LEADS_ID,
    &LEADS_ID_RESTORE,
    &LEADS_ID_CONVERT,
    &OPPORTUNITIES,
    &OPPORTUNITIES_SUMMARY,
    &OPPORTUNITIES_ID,
    &OPPORTUNITIES_ID_RESTORE,
    &TASKS,
    &TASKS_ID,
    &TASKS_ID_RESTORE,
    &PRODUCTS,
    &PRODUCTS_ID,
    &PRODUCTS_ID_RESTORE,
];
