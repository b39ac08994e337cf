//! The route table: the single source of truth for every API route.
//!
//! Each entry names its function (binary, Lambda function, Vercel function),
//! its path pattern, the permission each method needs, and its handler. The
//! local server serves from [`ROUTES`]; the tests walk it and check that
//! `vercel.json`, `template.yaml` and the binaries agree with it.

use crate::maintenance::cleanup;
use shared::ratelimit::LimitedAction;
use shared::rbac::Access::{Cron, Public, Requires, Throttled};
use shared::rbac::Permission::*;
use shared::records::Entity;
use shared::runtime::entity;
use shared::runtime::openapi::Doc;
use shared::runtime::{Deploy, Endpoint, Route, Schedule};
use shared::storage::S3Permission::*;

use crate::files::handlers as documents;
use crate::health;
use crate::identity::handlers::{auth, invitations, members, organization};

pub static HEALTH: Route = Route {
    name: "health",
    path: "/api/v1/health",
    methods: &[Endpoint::get(Public, |ctx| Box::pin(health::handle(ctx)))
        .op(&crate::identity::contract::HEALTH_GET)],
    deploy: Deploy::API,
};

pub static OPENAPI: Route = Route {
    name: "openapi",
    path: "/api/v1/openapi.json",
    methods: &[
        Endpoint::get(Public, |ctx| Box::pin(crate::docs::openapi_json(ctx)))
            .op(&crate::docs::OPENAPI_JSON_GET),
    ],
    deploy: Deploy::API,
};

pub static DOCS: Route = Route {
    name: "docs",
    path: "/api/v1/docs",
    methods: &[
        Endpoint::get(Public, |ctx| Box::pin(crate::docs::page(ctx))).op(&crate::docs::DOCS_GET),
    ],
    deploy: Deploy::API,
};

pub static DOCS_REDOC: Route = Route {
    name: "docs-redoc",
    path: "/api/v1/docs/redoc-2.5.4.js",
    methods: &[
        Endpoint::get(Public, |ctx| Box::pin(crate::docs::redoc(ctx)))
            .op(&crate::docs::DOCS_REDOC_GET),
    ],
    deploy: Deploy::API,
};

pub static AUTH_REGISTER: Route = Route {
    name: "auth-register",
    path: "/api/v1/auth/register",
    methods: &[Endpoint::post(Throttled(LimitedAction::SignUp), |ctx| {
        Box::pin(auth::register(ctx))
    })
    .op(&crate::identity::contract::AUTH_REGISTER_POST)],
    deploy: Deploy::API,
};

pub static AUTH_JOIN: Route = Route {
    name: "auth-join",
    path: "/api/v1/auth/join",
    methods: &[Endpoint::post(Throttled(LimitedAction::Join), |ctx| {
        Box::pin(auth::join(ctx))
    })
    .op(&crate::identity::contract::AUTH_JOIN_POST)],
    deploy: Deploy::API,
};

pub static AUTH_LOGIN: Route = Route {
    name: "auth-login",
    path: "/api/v1/auth/login",
    methods: &[Endpoint::post(Public, |ctx| Box::pin(auth::login(ctx)))
        .op(&crate::identity::contract::AUTH_LOGIN_POST)],
    deploy: Deploy::API,
};

pub static AUTH_REFRESH: Route = Route {
    name: "auth-refresh",
    path: "/api/v1/auth/refresh",
    methods: &[Endpoint::post(Throttled(LimitedAction::Refresh), |ctx| {
        Box::pin(auth::refresh(ctx))
    })
    .op(&crate::identity::contract::AUTH_REFRESH_POST)],
    deploy: Deploy::API,
};

pub static AUTH_LOGOUT: Route = Route {
    name: "auth-logout",
    path: "/api/v1/auth/logout",
    methods: &[
        Endpoint::post(Requires(Authenticated), |ctx| Box::pin(auth::logout(ctx)))
            .op(&crate::identity::contract::AUTH_LOGOUT_POST),
    ],
    deploy: Deploy::API,
};

pub static AUTH_ME: Route = Route {
    name: "auth-me",
    path: "/api/v1/auth/me",
    methods: &[
        Endpoint::get(Requires(Authenticated), |ctx| Box::pin(auth::me(ctx)))
            .op(&crate::identity::contract::AUTH_ME_GET),
        Endpoint::patch(Requires(Authenticated), |ctx| {
            Box::pin(auth::update_me(ctx))
        })
        .op(&crate::identity::contract::AUTH_ME_PATCH),
    ],
    deploy: Deploy::API,
};

pub static AUTH_PASSWORD: Route = Route {
    name: "auth-password",
    path: "/api/v1/auth/password",
    methods: &[
        Endpoint::post(Requires(Authenticated), |ctx| Box::pin(auth::password(ctx)))
            .op(&crate::identity::contract::AUTH_PASSWORD_POST),
    ],
    deploy: Deploy::API,
};

pub static AUTH_PASSWORD_RESET: Route = Route {
    name: "auth-password-reset",
    path: "/api/v1/auth/password-reset",
    methods: &[
        Endpoint::post(Throttled(LimitedAction::PasswordReset), |ctx| {
            Box::pin(auth::password_reset(ctx))
        })
        .op(&crate::identity::contract::AUTH_PASSWORD_RESET_POST),
    ],
    deploy: Deploy::API,
};

pub static AUTH_PASSWORD_RESET_REQUEST: Route = Route {
    name: "auth-password-reset-request",
    path: "/api/v1/auth/password-reset/request",
    methods: &[
        Endpoint::post(Throttled(LimitedAction::PasswordReset), |ctx| {
            Box::pin(auth::password_reset_request(ctx))
        })
        .op(&crate::identity::contract::AUTH_PASSWORD_RESET_REQUEST_POST),
    ],
    deploy: Deploy::API,
};

pub static AUTH_VERIFY_EMAIL: Route = Route {
    name: "auth-verify-email",
    path: "/api/v1/auth/verify-email",
    methods: &[
        Endpoint::post(Throttled(LimitedAction::PasswordReset), |ctx| {
            Box::pin(auth::verify_email(ctx))
        })
        .op(&crate::identity::contract::AUTH_VERIFY_EMAIL_POST),
    ],
    deploy: Deploy::API,
};

pub static AUTH_VERIFY_EMAIL_RESEND: Route = Route {
    name: "auth-verify-email-resend",
    path: "/api/v1/auth/verify-email/resend",
    methods: &[Endpoint::post(Requires(Authenticated), |ctx| {
        Box::pin(auth::resend_verification(ctx))
    })
    .op(&crate::identity::contract::AUTH_VERIFY_EMAIL_RESEND_POST)],
    deploy: Deploy::API,
};

pub static AUTH_SESSIONS: Route = Route {
    name: "auth-sessions",
    path: "/api/v1/auth/sessions",
    methods: &[
        Endpoint::get(Requires(Authenticated), |ctx| Box::pin(auth::sessions(ctx)))
            .op(&crate::identity::contract::AUTH_SESSIONS_GET),
    ],
    deploy: Deploy::API,
};

pub static AUTH_SESSIONS_ID: Route = Route {
    name: "auth-sessions-id",
    path: "/api/v1/auth/sessions/{id}",
    methods: &[Endpoint::delete(Requires(Authenticated), |ctx| {
        Box::pin(auth::end_session(ctx))
    })
    .op(&crate::identity::contract::AUTH_SESSIONS_ID_DELETE)],
    deploy: Deploy::API,
};

pub static MEMBERS: Route = Route {
    name: "members",
    path: "/api/v1/members",
    methods: &[
        Endpoint::get(Requires(ReadRecords), |ctx| Box::pin(members::list(ctx)))
            .op(&crate::identity::contract::MEMBERS_GET),
        Endpoint::post(Requires(ManageMembers), |ctx| {
            Box::pin(members::create(ctx))
        })
        .op(&crate::identity::contract::MEMBERS_POST),
    ],
    deploy: Deploy::API,
};

pub static MEMBERS_ID: Route = Route {
    name: "members-id",
    path: "/api/v1/members/{id}",
    methods: &[
        Endpoint::get(Requires(ReadRecords), |ctx| Box::pin(members::get(ctx)))
            .op(&crate::identity::contract::MEMBERS_ID_GET),
        Endpoint::patch(Requires(ManageMembers), |ctx| {
            Box::pin(members::update(ctx))
        })
        .op(&crate::identity::contract::MEMBERS_ID_PATCH),
        Endpoint::delete(Requires(ManageMembers), |ctx| {
            Box::pin(members::remove(ctx))
        })
        .op(&crate::identity::contract::MEMBERS_ID_DELETE),
    ],
    deploy: Deploy::API,
};

pub static INVITATIONS: Route = Route {
    name: "invitations",
    path: "/api/v1/invitations",
    methods: &[
        Endpoint::get(Requires(ManageMembers), |ctx| {
            Box::pin(invitations::list(ctx))
        })
        .op(&crate::identity::contract::INVITATIONS_GET),
        Endpoint::post(Requires(ManageMembers), |ctx| {
            Box::pin(invitations::create(ctx))
        })
        .op(&crate::identity::contract::INVITATIONS_POST),
    ],
    deploy: Deploy::API,
};

pub static INVITATIONS_ACCEPT: Route = Route {
    name: "invitations-accept",
    path: "/api/v1/invitations/accept",
    methods: &[
        Endpoint::post(Throttled(LimitedAction::InvitationAccept), |ctx| {
            Box::pin(invitations::accept(ctx))
        })
        .op(&crate::identity::contract::INVITATIONS_ACCEPT_POST),
    ],
    deploy: Deploy::API,
};

pub static INVITATIONS_ID: Route = Route {
    name: "invitations-id",
    path: "/api/v1/invitations/{id}",
    methods: &[Endpoint::delete(Requires(ManageMembers), |ctx| {
        Box::pin(invitations::item(ctx))
    })
    .op(&crate::identity::contract::INVITATIONS_ID_DELETE)],
    deploy: Deploy::API,
};

pub static ORGANIZATION: Route = Route {
    name: "organization",
    path: "/api/v1/organization",
    methods: &[
        Endpoint::get(Requires(ReadRecords), |ctx| {
            Box::pin(organization::get(ctx))
        })
        .op(&crate::identity::contract::ORGANIZATION_GET),
        Endpoint::patch(Requires(ManageMembers), |ctx| {
            Box::pin(organization::update(ctx))
        })
        .op(&crate::identity::contract::ORGANIZATION_PATCH),
        Endpoint::delete(Requires(ManageOrganization), |ctx| {
            Box::pin(organization::delete(ctx))
        })
        .op(&crate::identity::contract::ORGANIZATION_DELETE),
    ],
    deploy: Deploy::API,
};

pub static ORGANIZATION_PLAN: Route = Route {
    name: "organization-plan",
    path: "/api/v1/organization/plan",
    methods: &[Endpoint::put(Requires(ManageOrganization), |ctx| {
        Box::pin(organization::plan(ctx))
    })
    .op(&crate::identity::contract::ORGANIZATION_PLAN_PUT)],
    deploy: Deploy::API,
};

pub static ORGANIZATION_RATE_LIMITS: Route = Route {
    name: "organization-rate-limits",
    path: "/api/v1/organization/rate-limits",
    methods: &[Endpoint::get(Requires(Configure), |ctx| {
        Box::pin(organization::rate_limits(ctx))
    })
    .op(&crate::identity::contract::ORGANIZATION_RATE_LIMITS_GET)],
    deploy: Deploy::API,
};

pub static ORGANIZATION_USAGE: Route = Route {
    name: "organization-usage",
    path: "/api/v1/organization/usage",
    methods: &[Endpoint::get(Requires(ManageOrganization), |ctx| {
        Box::pin(organization::usage(ctx))
    })
    .op(&crate::identity::contract::ORGANIZATION_USAGE_GET)],
    deploy: Deploy::API,
};

pub static ORGANIZATION_TRANSFER_OWNERSHIP: Route = Route {
    name: "organization-transfer-ownership",
    path: "/api/v1/organization/transfer-ownership",
    methods: &[Endpoint::post(Requires(ManageOrganization), |ctx| {
        Box::pin(organization::transfer_ownership(ctx))
    })
    .op(&crate::identity::contract::ORGANIZATION_TRANSFER_OWNERSHIP_POST)],
    deploy: Deploy::API,
};

pub static LEADS_ID_CONVERT: Route = Route {
    name: "leads-id-convert",
    path: "/api/v1/leads/{id}/convert",
    methods: &[Endpoint::post(Requires(UpdateRecords), |ctx| {
        Box::pin(crate::crm::leads::convert::handle(ctx))
    })
    .op(&crate::crm::contract::LEADS_ID_CONVERT_POST)],
    deploy: Deploy::API,
};

pub static LEADS_ID_SUBMISSIONS: Route = Route {
    name: "leads-id-submissions",
    path: "/api/v1/leads/{id}/submissions",
    methods: &[Endpoint::get(Requires(ReadRecords), |ctx| {
        Box::pin(crate::crm::forms::lead_submissions(ctx))
    })
    .op(&crate::crm::contract::LEADS_ID_SUBMISSIONS_GET)],
    deploy: Deploy::API,
};

pub static OPPORTUNITIES_SUMMARY: Route = Route {
    name: "opportunities-summary",
    path: "/api/v1/opportunities/summary",
    methods: &[Endpoint::get(Requires(ReadRecords), |ctx| {
        Box::pin(crate::crm::opportunities::summary(ctx))
    })
    .op(&crate::crm::contract::OPPORTUNITIES_SUMMARY_GET)],
    deploy: Deploy::API,
};

pub static EXPORTS: Route = Route {
    name: "exports",
    path: "/api/v1/exports",
    methods: &[Endpoint::post(Requires(ExportData), |ctx| {
        Box::pin(crate::transfer::export(ctx))
    })
    .op(&crate::transfer::contract::EXPORTS_POST)],
    deploy: Deploy::API,
};

pub static IMPORTS: Route = Route {
    name: "imports",
    path: "/api/v1/imports",
    methods: &[Endpoint::post(Requires(ImportData), |ctx| {
        Box::pin(crate::transfer::import(ctx))
    })
    .op(&crate::transfer::contract::IMPORTS_POST)],
    deploy: Deploy::API,
};

pub static VEHICLES_ID_ODOMETER: Route = Route {
    name: "vehicles-id-odometer",
    path: "/api/v1/vehicles/{id}/odometer",
    methods: &[
        Endpoint::get(Requires(ReadRecords), |ctx| {
            Box::pin(crate::workshop::vehicles::readings(ctx))
        })
        .op(&crate::workshop::contract::VEHICLES_ID_ODOMETER_GET),
        Endpoint::post(Requires(CreateRecords), |ctx| {
            Box::pin(crate::workshop::vehicles::add_reading(ctx))
        })
        .op(&crate::workshop::contract::VEHICLES_ID_ODOMETER_POST),
    ],
    deploy: Deploy::API,
};

pub static VEHICLES_ID_HISTORY: Route = Route {
    name: "vehicles-id-history",
    path: "/api/v1/vehicles/{id}/history",
    methods: &[Endpoint::get(Requires(ReadRecords), |ctx| {
        Box::pin(crate::workshop::vehicles::history(ctx))
    })
    .op(&crate::workshop::contract::VEHICLES_ID_HISTORY_GET)],
    deploy: Deploy::API,
};

pub static PARTS_ID_ADJUSTMENTS: Route = Route {
    name: "parts-id-adjustments",
    path: "/api/v1/parts/{id}/adjustments",
    methods: &[Endpoint::post(Requires(UpdateAnyRecord), |ctx| {
        Box::pin(crate::workshop::parts::adjust(ctx))
    })
    .op(&crate::workshop::contract::PARTS_ID_ADJUSTMENTS_POST)],
    deploy: Deploy::API,
};

pub static PARTS_ID_MOVEMENTS: Route = Route {
    name: "parts-id-movements",
    path: "/api/v1/parts/{id}/movements",
    methods: &[Endpoint::get(Requires(ReadRecords), |ctx| {
        Box::pin(crate::workshop::parts::movements(ctx))
    })
    .op(&crate::workshop::contract::PARTS_ID_MOVEMENTS_GET)],
    deploy: Deploy::API,
};

pub static WORK_ORDERS_ID_TRANSITION: Route = Route {
    name: "work-orders-id-transition",
    path: "/api/v1/work-orders/{id}/transition",
    methods: &[Endpoint::post(Requires(UpdateRecords), |ctx| {
        Box::pin(crate::workshop::work_orders::transition(ctx))
    })
    .op(&crate::workshop::contract::WORK_ORDERS_ID_TRANSITION_POST)],
    deploy: Deploy::API,
};

pub static WORK_ORDERS_ID_LINES: Route = Route {
    name: "work-orders-id-lines",
    path: "/api/v1/work-orders/{id}/lines",
    methods: &[Endpoint::post(Requires(UpdateRecords), |ctx| {
        Box::pin(crate::workshop::lines::add(ctx))
    })
    .op(&crate::workshop::contract::WORK_ORDERS_ID_LINES_POST)],
    deploy: Deploy::API,
};

pub static WORK_ORDERS_ID_LINES_ID: Route = Route {
    name: "work-orders-id-lines-lineid",
    path: "/api/v1/work-orders/{id}/lines/{lineId}",
    methods: &[
        Endpoint::patch(Requires(UpdateRecords), |ctx| {
            Box::pin(crate::workshop::lines::update(ctx))
        })
        .op(&crate::workshop::contract::WORK_ORDERS_ID_LINES_ID_PATCH),
        Endpoint::delete(Requires(UpdateRecords), |ctx| {
            Box::pin(crate::workshop::lines::remove(ctx))
        })
        .op(&crate::workshop::contract::WORK_ORDERS_ID_LINES_ID_DELETE),
    ],
    deploy: Deploy::API,
};

pub static WORK_ORDERS_ID_APPROVAL: Route = Route {
    name: "work-orders-id-approval",
    path: "/api/v1/work-orders/{id}/approval",
    methods: &[Endpoint::post(Requires(UpdateRecords), |ctx| {
        Box::pin(crate::workshop::lines::approve(ctx))
    })
    .op(&crate::workshop::contract::WORK_ORDERS_ID_APPROVAL_POST)],
    deploy: Deploy::API,
};

pub static WORK_ORDERS_ID_INVOICE: Route = Route {
    name: "work-orders-id-invoice",
    path: "/api/v1/work-orders/{id}/invoice",
    methods: &[Endpoint::get(Requires(ReadRecords), |ctx| {
        Box::pin(crate::workshop::invoices::show(ctx))
    })
    .op(&crate::workshop::contract::WORK_ORDERS_ID_INVOICE_GET)],
    deploy: Deploy::API,
};

pub static WORK_ORDERS_ID_PAYMENTS: Route = Route {
    name: "work-orders-id-payments",
    path: "/api/v1/work-orders/{id}/payments",
    methods: &[Endpoint::post(Requires(UpdateAnyRecord), |ctx| {
        Box::pin(crate::workshop::invoices::pay(ctx))
    })
    .op(&crate::workshop::contract::WORK_ORDERS_ID_PAYMENTS_POST)],
    deploy: Deploy::API,
};

pub static APPOINTMENTS_AVAILABILITY: Route = Route {
    name: "appointments-availability",
    path: "/api/v1/appointments/availability",
    methods: &[Endpoint::get(Requires(ReadRecords), |ctx| {
        Box::pin(crate::workshop::appointments::availability(ctx))
    })
    .op(&crate::workshop::contract::APPOINTMENTS_AVAILABILITY_GET)],
    deploy: Deploy::API,
};

pub static FORMS_ID_ROTATE_KEY: Route = Route {
    name: "forms-id-rotate-key",
    path: "/api/v1/forms/{id}/rotate-key",
    methods: &[Endpoint::post(Requires(Configure), |ctx| {
        Box::pin(crate::crm::forms::rotate_key(ctx))
    })
    .op(&crate::crm::contract::FORMS_ID_ROTATE_KEY_POST)],
    deploy: Deploy::API,
};

pub static FORMS_ID_SUBMISSIONS: Route = Route {
    name: "forms-id-submissions",
    path: "/api/v1/forms/{id}/submissions",
    methods: &[Endpoint::get(Requires(Configure), |ctx| {
        Box::pin(crate::crm::forms::submissions(ctx))
    })
    .op(&crate::crm::contract::FORMS_ID_SUBMISSIONS_GET)],
    deploy: Deploy::API,
};

pub static PUBLIC_FORMS_SUBMISSIONS: Route = Route {
    name: "public-forms-publicid-submissions",
    path: "/api/v1/public/forms/{publicId}/submissions",
    methods: &[
        Endpoint::post(Public, |ctx| Box::pin(crate::crm::forms::submit(ctx)))
            .op(&crate::crm::contract::PUBLIC_FORMS_SUBMISSIONS_POST),
        Endpoint::options(Public, |ctx| Box::pin(crate::crm::forms::preflight(ctx))),
    ],
    deploy: Deploy::API,
};

pub static AUDIT_LOG: Route = Route {
    name: "audit-log",
    path: "/api/v1/audit-log",
    methods: &[Endpoint::get(Requires(ReadAuditLog), |ctx| {
        Box::pin(crate::identity::audit_log::list(ctx))
    })
    .op(&crate::identity::contract::AUDIT_LOG_GET)],
    deploy: Deploy::API,
};

pub static AUDIT_LOG_SUMMARY: Route = Route {
    name: "audit-log-summary",
    path: "/api/v1/audit-log/summary",
    methods: &[Endpoint::get(Requires(ReadAuditLog), |ctx| {
        Box::pin(crate::identity::audit_log::summary(ctx))
    })
    .op(&crate::identity::contract::AUDIT_LOG_SUMMARY_GET)],
    deploy: Deploy::API,
};

pub static UPLOADS: Route = Route {
    name: "uploads",
    path: "/api/v1/uploads",
    methods: &[Endpoint::post(Requires(CreateRecords), |ctx| {
        Box::pin(documents::upload(ctx))
    })
    .op(&crate::files::contract::UPLOADS_POST)],
    deploy: Deploy::storage(&[PutObject]),
};

pub static DOCUMENTS: Route = Route {
    name: "documents",
    path: "/api/v1/documents",
    methods: &[
        Endpoint::get(Requires(ReadRecords), |ctx| Box::pin(documents::list(ctx)))
            .op(&crate::files::contract::DOCUMENTS_GET),
    ],
    deploy: Deploy::API,
};

/// DELETE needs only MEMBER here: MEMBERs delete their own documents, the
/// handler asks more of anyone else.
pub static DOCUMENTS_ID: Route = Route {
    name: "documents-id",
    path: "/api/v1/documents/{id}",
    methods: &[
        Endpoint::get(Requires(ReadRecords), |ctx| Box::pin(documents::get(ctx)))
            .op(&crate::files::contract::DOCUMENTS_ID_GET),
        Endpoint::patch(Requires(UpdateRecords), |ctx| {
            Box::pin(documents::update(ctx))
        })
        .op(&crate::files::contract::DOCUMENTS_ID_PATCH),
        Endpoint::delete(Requires(CreateRecords), |ctx| {
            Box::pin(documents::delete(ctx))
        })
        .op(&crate::files::contract::DOCUMENTS_ID_DELETE),
    ],
    deploy: Deploy::storage(&[GetObject]),
};

pub static DOCUMENTS_ID_COMPLETE: Route = Route {
    name: "documents-id-complete",
    path: "/api/v1/documents/{id}/complete",
    methods: &[Endpoint::post(Requires(UpdateRecords), |ctx| {
        Box::pin(documents::complete(ctx))
    })
    .op(&crate::files::contract::DOCUMENTS_ID_COMPLETE_POST)],
    // ListBucket makes S3 answer a HEAD of a missing object 404, not 403.
    deploy: Deploy::storage(&[GetObject, ListBucket]),
};

pub static DOCUMENTS_ID_RESTORE: Route = Route {
    name: "documents-id-restore",
    path: "/api/v1/documents/{id}/restore",
    methods: &[Endpoint::post(Requires(DeleteRecords), |ctx| {
        Box::pin(entity::handle_restore(ctx, &documents::DOCUMENT))
    })
    .doc(Doc::Restore(&documents::DOCUMENT))],
    deploy: Deploy::API,
};

/// The scheduled functions: EventBridge runs them on Lambda, Vercel's crons
/// call these paths with `Bearer $CRON_SECRET`.
macro_rules! job_route {
    ($route:ident, $name:literal, $cron:literal, $run:path, $storage:expr) => {
        pub static $route: Route = Route {
            name: $name,
            path: concat!("/api/cron/", $name),
            methods: &[Endpoint::get(Cron, shared::runtime::run_job).doc(Doc::Job)],
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
    SEND_EMAILS,
    "send-emails",
    "* * * * *",
    crate::maintenance::emails::run,
    &[]
);
job_route!(
    CLEANUP_SESSIONS,
    "cleanup-sessions",
    "5 * * * *",
    cleanup::run_sessions,
    &[DeleteObject]
);

/// The registry: every entity (one line each: its module, its path
/// segment, its declaration) and every other route. An entity's line gives
/// it three routes, in a module of its name (`accounts::LIST` for `GET|POST
/// /api/v1/accounts`, `accounts::ITEM` for `/api/v1/accounts/{id}`,
/// `accounts::RESTORE`), a place in [`ENTITIES`] (exports, imports) and in
/// [`ROUTES`]; `cargo run --bin deploy-files` then writes their binaries and
/// deploy files.
macro_rules! registry {
    (
        entities { $($module:ident = $plural:literal => $entity:path,)* }
        routes { $($route:ident,)* }
    ) => {
        $(
            pub mod $module {
                use super::*;

                pub static LIST: Route = Route {
                    name: $plural,
                    path: concat!("/api/v1/", $plural),
                    methods: &[
                        Endpoint::get(Requires(if $entity.admin_only { Configure } else { ReadRecords }), |ctx| {
                            Box::pin(entity::handle_list(ctx, &$entity))
                        }).doc(Doc::List(&$entity)),
                        Endpoint::post(Requires(if $entity.admin_only { Configure } else { CreateRecords }), |ctx| {
                            Box::pin(entity::handle_create(ctx, &$entity))
                        }).doc(Doc::Create(&$entity)),
                    ],
                    deploy: Deploy::API,
                };

                pub static ITEM: Route = Route {
                    name: concat!($plural, "-id"),
                    path: concat!("/api/v1/", $plural, "/{id}"),
                    methods: &[
                        Endpoint::get(Requires(if $entity.admin_only { Configure } else { ReadRecords }), |ctx| {
                            Box::pin(entity::handle_get(ctx, &$entity))
                        }).doc(Doc::Get(&$entity)),
                        Endpoint::patch(Requires(if $entity.admin_only { Configure } else { UpdateRecords }), |ctx| {
                            Box::pin(entity::handle_update(ctx, &$entity))
                        }).doc(Doc::Update(&$entity)),
                        Endpoint::delete(Requires(if $entity.admin_only { Configure } else { DeleteRecords }), |ctx| {
                            Box::pin(entity::handle_delete(ctx, &$entity))
                        }).doc(Doc::Delete(&$entity)),
                    ],
                    deploy: Deploy::API,
                };

                pub static RESTORE: Route = Route {
                    name: concat!($plural, "-id-restore"),
                    path: concat!("/api/v1/", $plural, "/{id}/restore"),
                    methods: &[Endpoint::post(Requires(if $entity.admin_only { Configure } else { DeleteRecords }), |ctx| {
                        Box::pin(entity::handle_restore(ctx, &$entity))
                    }).doc(Doc::Restore(&$entity))],
                    deploy: Deploy::API,
                };
            }
        )*

        /// Every entity, in registry order.
        pub static ENTITIES: &[&Entity] = &[$(&$entity),*];

        /// Every entity with its path segment (`/api/v1/<segment>`).
        pub static ENTITY_PATHS: &[(&str, &Entity)] = &[$(($plural, &$entity)),*];

        /// Every route with the Rust path of its static (what its binary
        /// names). Matching is by specificity (`shared::runtime::RouteTable`),
        /// so the order is only that of listings and deploy files.
        pub static NAMED_ROUTES: &[(&Route, &str)] = &[
            $((&$route, stringify!($route)),)*
            $(
                (&$module::LIST, concat!(stringify!($module), "::LIST")),
                (&$module::ITEM, concat!(stringify!($module), "::ITEM")),
                (&$module::RESTORE, concat!(stringify!($module), "::RESTORE")),
            )*
        ];

        /// The indexes the registry's declarations call for.
        pub fn indexes() -> Vec<shared::migrate::Index> {
            let mut all = shared::records::indexes_of(ENTITIES);
            all.extend(crate::workshop::indexes());
            all.extend(crate::crm::forms::indexes());
            all.extend(crate::identity::audit_log::indexes());
            all
        }

        /// Every route.
        pub static ROUTES: &[&Route] = &[
            $(&$route,)*
            $(&$module::LIST, &$module::ITEM, &$module::RESTORE,)*
        ];
    };
}

registry! {
    entities {
        accounts = "accounts" => crate::crm::accounts::ACCOUNT,
        contacts = "contacts" => crate::crm::contacts::CONTACT,
        leads = "leads" => crate::crm::leads::LEAD,
        opportunities = "opportunities" => crate::crm::opportunities::OPPORTUNITY,
        tasks = "tasks" => crate::crm::tasks::TASK,
        products = "products" => crate::crm::products::PRODUCT,
        forms = "forms" => crate::crm::forms::FORM,
        vehicles = "vehicles" => crate::workshop::vehicles::VEHICLE,
        parts = "parts" => crate::workshop::parts::PART,
        work_orders = "work-orders" => crate::workshop::work_orders::WORK_ORDER,
        appointments = "appointments" => crate::workshop::appointments::APPOINTMENT,
    }
    routes {
        HEALTH,
        OPENAPI,
        DOCS,
        DOCS_REDOC,
        AUTH_REGISTER,
        AUTH_JOIN,
        AUTH_LOGIN,
        AUTH_REFRESH,
        AUTH_LOGOUT,
        AUTH_ME,
        AUTH_PASSWORD,
        AUTH_PASSWORD_RESET,
        AUTH_PASSWORD_RESET_REQUEST,
        AUTH_VERIFY_EMAIL,
        AUTH_VERIFY_EMAIL_RESEND,
        AUTH_SESSIONS,
        AUTH_SESSIONS_ID,
        MEMBERS,
        MEMBERS_ID,
        INVITATIONS,
        INVITATIONS_ACCEPT,
        INVITATIONS_ID,
        ORGANIZATION,
        ORGANIZATION_PLAN,
        ORGANIZATION_RATE_LIMITS,
        ORGANIZATION_USAGE,
        ORGANIZATION_TRANSFER_OWNERSHIP,
        EXPORTS,
        IMPORTS,
        LEADS_ID_CONVERT,
        LEADS_ID_SUBMISSIONS,
        OPPORTUNITIES_SUMMARY,
        VEHICLES_ID_ODOMETER,
        VEHICLES_ID_HISTORY,
        PARTS_ID_ADJUSTMENTS,
        PARTS_ID_MOVEMENTS,
        WORK_ORDERS_ID_TRANSITION,
        WORK_ORDERS_ID_LINES,
        WORK_ORDERS_ID_LINES_ID,
        WORK_ORDERS_ID_APPROVAL,
        WORK_ORDERS_ID_INVOICE,
        WORK_ORDERS_ID_PAYMENTS,
        APPOINTMENTS_AVAILABILITY,
        FORMS_ID_ROTATE_KEY,
        FORMS_ID_SUBMISSIONS,
        PUBLIC_FORMS_SUBMISSIONS,
        AUDIT_LOG,
        AUDIT_LOG_SUMMARY,
        UPLOADS,
        DOCUMENTS,
        DOCUMENTS_ID,
        DOCUMENTS_ID_COMPLETE,
        DOCUMENTS_ID_RESTORE,
        CLEANUP_ORGANIZATIONS,
        CLEANUP_AUDIT_LOGS,
        CLEANUP_SESSIONS,
        SEND_EMAILS,
    }
}
