//! The route table: the single source of truth for every API route.
//!
//! Each entry names its function (binary, Lambda function, Vercel function),
//! its path pattern, the permission each method needs, and its handler. The
//! local server serves from [`ROUTES`]; the tests walk it and check that
//! `vercel.json`, `template.yaml` and the binaries agree with it.

use shared::cleanup;
use shared::ratelimit::LimitedAction;
use shared::rbac::Access::{Cron, Public, Requires, Throttled};
use shared::rbac::Permission::*;
use shared::records::{self, Entity};
use shared::runtime::{Deploy, Endpoint, Route, Schedule};
use shared::storage::S3Permission::*;

use crate::accounts::ACCOUNT;
use crate::contacts::CONTACT;
use crate::leads::LEAD;
use crate::opportunities::OPPORTUNITY;
use crate::products::PRODUCT;
use crate::tasks::TASK;
use crate::{auth, documents, health, invitations, members, organization};

pub static HEALTH: Route = Route {
    name: "health",
    path: "/api/v1/health",
    methods: &[Endpoint::get(Public, |ctx| Box::pin(health::handle(ctx)))],
    deploy: Deploy::API,
};

pub static AUTH_REGISTER: Route = Route {
    name: "auth-register",
    path: "/api/v1/auth/register",
    methods: &[Endpoint::post(Throttled(LimitedAction::SignUp), |ctx| {
        Box::pin(auth::register(ctx))
    })],
    deploy: Deploy::API,
};

pub static AUTH_JOIN: Route = Route {
    name: "auth-join",
    path: "/api/v1/auth/join",
    methods: &[Endpoint::post(Throttled(LimitedAction::Join), |ctx| {
        Box::pin(auth::join(ctx))
    })],
    deploy: Deploy::API,
};

pub static AUTH_LOGIN: Route = Route {
    name: "auth-login",
    path: "/api/v1/auth/login",
    methods: &[Endpoint::post(Public, |ctx| Box::pin(auth::login(ctx)))],
    deploy: Deploy::API,
};

pub static AUTH_REFRESH: Route = Route {
    name: "auth-refresh",
    path: "/api/v1/auth/refresh",
    methods: &[Endpoint::post(Throttled(LimitedAction::Refresh), |ctx| {
        Box::pin(auth::refresh(ctx))
    })],
    deploy: Deploy::API,
};

pub static AUTH_LOGOUT: Route = Route {
    name: "auth-logout",
    path: "/api/v1/auth/logout",
    methods: &[Endpoint::post(Requires(Authenticated), |ctx| {
        Box::pin(auth::logout(ctx))
    })],
    deploy: Deploy::API,
};

pub static AUTH_ME: Route = Route {
    name: "auth-me",
    path: "/api/v1/auth/me",
    methods: &[
        Endpoint::get(Requires(Authenticated), |ctx| Box::pin(auth::me(ctx))),
        Endpoint::patch(Requires(Authenticated), |ctx| {
            Box::pin(auth::update_me(ctx))
        }),
    ],
    deploy: Deploy::API,
};

pub static AUTH_PASSWORD: Route = Route {
    name: "auth-password",
    path: "/api/v1/auth/password",
    methods: &[Endpoint::post(Requires(Authenticated), |ctx| {
        Box::pin(auth::password(ctx))
    })],
    deploy: Deploy::API,
};

pub static AUTH_PASSWORD_RESET: Route = Route {
    name: "auth-password-reset",
    path: "/api/v1/auth/password-reset",
    methods: &[Endpoint::post(
        Throttled(LimitedAction::PasswordReset),
        |ctx| Box::pin(auth::password_reset(ctx)),
    )],
    deploy: Deploy::API,
};

pub static AUTH_SESSIONS: Route = Route {
    name: "auth-sessions",
    path: "/api/v1/auth/sessions",
    methods: &[Endpoint::get(Requires(Authenticated), |ctx| {
        Box::pin(auth::sessions(ctx))
    })],
    deploy: Deploy::API,
};

pub static AUTH_SESSIONS_ID: Route = Route {
    name: "auth-sessions-id",
    path: "/api/v1/auth/sessions/{id}",
    methods: &[Endpoint::delete(Requires(Authenticated), |ctx| {
        Box::pin(auth::end_session(ctx))
    })],
    deploy: Deploy::API,
};

pub static MEMBERS: Route = Route {
    name: "members",
    path: "/api/v1/members",
    methods: &[
        Endpoint::get(Requires(ReadRecords), |ctx| Box::pin(members::list(ctx))),
        Endpoint::post(Requires(ManageMembers), |ctx| {
            Box::pin(members::create(ctx))
        }),
    ],
    deploy: Deploy::API,
};

pub static MEMBERS_ID: Route = Route {
    name: "members-id",
    path: "/api/v1/members/{id}",
    methods: &[
        Endpoint::get(Requires(ReadRecords), |ctx| Box::pin(members::get(ctx))),
        Endpoint::patch(Requires(ManageMembers), |ctx| {
            Box::pin(members::update(ctx))
        }),
        Endpoint::delete(Requires(ManageMembers), |ctx| {
            Box::pin(members::remove(ctx))
        }),
    ],
    deploy: Deploy::API,
};

pub static INVITATIONS: Route = Route {
    name: "invitations",
    path: "/api/v1/invitations",
    methods: &[
        Endpoint::get(Requires(ManageMembers), |ctx| {
            Box::pin(invitations::list(ctx))
        }),
        Endpoint::post(Requires(ManageMembers), |ctx| {
            Box::pin(invitations::create(ctx))
        }),
    ],
    deploy: Deploy::API,
};

pub static INVITATIONS_ACCEPT: Route = Route {
    name: "invitations-accept",
    path: "/api/v1/invitations/accept",
    methods: &[Endpoint::post(
        Throttled(LimitedAction::InvitationAccept),
        |ctx| Box::pin(invitations::accept(ctx)),
    )],
    deploy: Deploy::API,
};

pub static INVITATIONS_ID: Route = Route {
    name: "invitations-id",
    path: "/api/v1/invitations/{id}",
    methods: &[Endpoint::delete(Requires(ManageMembers), |ctx| {
        Box::pin(invitations::item(ctx))
    })],
    deploy: Deploy::API,
};

pub static ORGANIZATION: Route = Route {
    name: "organization",
    path: "/api/v1/organization",
    methods: &[
        Endpoint::get(Requires(ReadRecords), |ctx| {
            Box::pin(organization::get(ctx))
        }),
        Endpoint::patch(Requires(ManageMembers), |ctx| {
            Box::pin(organization::update(ctx))
        }),
        Endpoint::delete(Requires(ManageOrganization), |ctx| {
            Box::pin(organization::delete(ctx))
        }),
    ],
    deploy: Deploy::API,
};

pub static ORGANIZATION_PLAN: Route = Route {
    name: "organization-plan",
    path: "/api/v1/organization/plan",
    methods: &[Endpoint::put(Requires(ManageOrganization), |ctx| {
        Box::pin(organization::plan(ctx))
    })],
    deploy: Deploy::API,
};

pub static ORGANIZATION_TRANSFER_OWNERSHIP: Route = Route {
    name: "organization-transfer-ownership",
    path: "/api/v1/organization/transfer-ownership",
    methods: &[Endpoint::post(Requires(ManageOrganization), |ctx| {
        Box::pin(organization::transfer_ownership(ctx))
    })],
    deploy: Deploy::API,
};

/// The three routes of a CRM entity: its collection (list, create), one
/// record (read, update, soft delete) and restore.
macro_rules! entity_routes {
    ($list:ident, $item:ident, $restore:ident, $plural:literal, $entity:ident) => {
        pub static $list: Route = Route {
            name: $plural,
            path: concat!("/api/v1/", $plural),
            methods: &[
                Endpoint::get(Requires(ReadRecords), |ctx| {
                    Box::pin(records::handle_list(ctx, &$entity))
                }),
                Endpoint::post(Requires(CreateRecords), |ctx| {
                    Box::pin(records::handle_create(ctx, &$entity))
                }),
            ],
            deploy: Deploy::API,
        };

        pub static $item: Route = Route {
            name: concat!($plural, "-id"),
            path: concat!("/api/v1/", $plural, "/{id}"),
            methods: &[
                Endpoint::get(Requires(ReadRecords), |ctx| {
                    Box::pin(records::handle_get(ctx, &$entity))
                }),
                Endpoint::patch(Requires(UpdateRecords), |ctx| {
                    Box::pin(records::handle_update(ctx, &$entity))
                }),
                Endpoint::delete(Requires(DeleteRecords), |ctx| {
                    Box::pin(records::handle_delete(ctx, &$entity))
                }),
            ],
            deploy: Deploy::API,
        };

        pub static $restore: Route = Route {
            name: concat!($plural, "-id-restore"),
            path: concat!("/api/v1/", $plural, "/{id}/restore"),
            methods: &[Endpoint::post(Requires(DeleteRecords), |ctx| {
                Box::pin(records::restore(ctx, &$entity))
            })],
            deploy: Deploy::API,
        };
    };
}

entity_routes!(
    ACCOUNTS,
    ACCOUNTS_ID,
    ACCOUNTS_ID_RESTORE,
    "accounts",
    ACCOUNT
);
entity_routes!(
    CONTACTS,
    CONTACTS_ID,
    CONTACTS_ID_RESTORE,
    "contacts",
    CONTACT
);
entity_routes!(LEADS, LEADS_ID, LEADS_ID_RESTORE, "leads", LEAD);
entity_routes!(
    OPPORTUNITIES,
    OPPORTUNITIES_ID,
    OPPORTUNITIES_ID_RESTORE,
    "opportunities",
    OPPORTUNITY
);
entity_routes!(TASKS, TASKS_ID, TASKS_ID_RESTORE, "tasks", TASK);
entity_routes!(
    PRODUCTS,
    PRODUCTS_ID,
    PRODUCTS_ID_RESTORE,
    "products",
    PRODUCT
);

pub static LEADS_ID_CONVERT: Route = Route {
    name: "leads-id-convert",
    path: "/api/v1/leads/{id}/convert",
    methods: &[Endpoint::post(Requires(UpdateRecords), |ctx| {
        Box::pin(crate::leads::convert::handle(ctx))
    })],
    deploy: Deploy::API,
};

pub static OPPORTUNITIES_SUMMARY: Route = Route {
    name: "opportunities-summary",
    path: "/api/v1/opportunities/summary",
    methods: &[Endpoint::get(Requires(ReadRecords), |ctx| {
        Box::pin(crate::opportunities::summary(ctx))
    })],
    deploy: Deploy::API,
};

pub static EXPORTS: Route = Route {
    name: "exports",
    path: "/api/v1/exports",
    methods: &[Endpoint::post(Requires(ExportData), |ctx| {
        Box::pin(crate::transfer::export(ctx))
    })],
    deploy: Deploy::API,
};

pub static IMPORTS: Route = Route {
    name: "imports",
    path: "/api/v1/imports",
    methods: &[Endpoint::post(Requires(ImportData), |ctx| {
        Box::pin(crate::transfer::import(ctx))
    })],
    deploy: Deploy::API,
};

pub static UPLOADS: Route = Route {
    name: "uploads",
    path: "/api/v1/uploads",
    methods: &[Endpoint::post(Requires(CreateRecords), |ctx| {
        Box::pin(documents::upload(ctx))
    })],
    deploy: Deploy::storage(&[PutObject]),
};

pub static DOCUMENTS: Route = Route {
    name: "documents",
    path: "/api/v1/documents",
    methods: &[Endpoint::get(Requires(ReadRecords), |ctx| {
        Box::pin(documents::list(ctx))
    })],
    deploy: Deploy::API,
};

/// DELETE needs only MEMBER here: MEMBERs delete their own documents, the
/// handler asks more of anyone else.
pub static DOCUMENTS_ID: Route = Route {
    name: "documents-id",
    path: "/api/v1/documents/{id}",
    methods: &[
        Endpoint::get(Requires(ReadRecords), |ctx| Box::pin(documents::get(ctx))),
        Endpoint::patch(Requires(UpdateRecords), |ctx| {
            Box::pin(documents::update(ctx))
        }),
        Endpoint::delete(Requires(CreateRecords), |ctx| {
            Box::pin(documents::delete(ctx))
        }),
    ],
    deploy: Deploy::storage(&[GetObject]),
};

pub static DOCUMENTS_ID_COMPLETE: Route = Route {
    name: "documents-id-complete",
    path: "/api/v1/documents/{id}/complete",
    methods: &[Endpoint::post(Requires(UpdateRecords), |ctx| {
        Box::pin(documents::complete(ctx))
    })],
    // ListBucket makes S3 answer a HEAD of a missing object 404, not 403.
    deploy: Deploy::storage(&[GetObject, ListBucket]),
};

pub static DOCUMENTS_ID_RESTORE: Route = Route {
    name: "documents-id-restore",
    path: "/api/v1/documents/{id}/restore",
    methods: &[Endpoint::post(Requires(DeleteRecords), |ctx| {
        Box::pin(records::restore(ctx, &documents::DOCUMENT))
    })],
    deploy: Deploy::API,
};

/// The scheduled functions: EventBridge runs them on Lambda, Vercel's crons
/// call these paths with `Bearer $CRON_SECRET`.
macro_rules! job_route {
    ($route:ident, $name:literal, $cron:literal, $run:path, $storage:expr) => {
        pub static $route: Route = Route {
            name: $name,
            path: concat!("/api/cron/", $name),
            methods: &[Endpoint::get(Cron, shared::runtime::run_job)],
            deploy: Deploy::storage($storage).scheduled(Schedule {
                cron: $cron,
                run: $run,
            }),
        };
    };
}

job_route!(
    CLEANUP_ORGANIZATIONS,
    "cleanup-organizations",
    "15 3 * * *",
    cleanup::run_organizations,
    &[ListBucket, DeleteObject]
);
job_route!(
    CLEANUP_AUDIT_LOGS,
    "cleanup-audit-logs",
    "45 3 * * *",
    cleanup::run_audit_logs,
    &[]
);
job_route!(
    CLEANUP_SESSIONS,
    "cleanup-sessions",
    "5 * * * *",
    cleanup::run_sessions,
    &[DeleteObject]
);

/// Every CRM entity, for exports and imports.
pub static ENTITIES: &[&Entity] = &[&ACCOUNT, &CONTACT, &LEAD, &OPPORTUNITY, &TASK, &PRODUCT];

/// Every route. Matching is by specificity (`shared::runtime::RouteTable`),
/// so the order here is only the order of listings and deploy files.
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
    &UPLOADS,
    &DOCUMENTS,
    &DOCUMENTS_ID,
    &DOCUMENTS_ID_COMPLETE,
    &DOCUMENTS_ID_RESTORE,
    &CLEANUP_ORGANIZATIONS,
    &CLEANUP_AUDIT_LOGS,
    &CLEANUP_SESSIONS,
];
