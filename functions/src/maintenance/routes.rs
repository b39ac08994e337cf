//! The scheduled functions: EventBridge runs them on Lambda, Vercel's
//! crons call these paths with `Bearer $CRON_SECRET`.

use shared::rbac::Access::Cron;
use shared::runtime::openapi::{Doc, Tag};
use shared::runtime::{Deploy, Endpoint, Route, Schedule};
use shared::storage::S3Permission::*;

use super::{cleanup, emails, reminders, webhooks};

/// A scheduled function's route: `GET /api/cron/<name>`, run at `cron`.
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
job_route!(SEND_EMAILS, "send-emails", "* * * * *", emails::run, &[]);
job_route!(
    SEND_WEBHOOKS,
    "send-webhooks",
    "* * * * *",
    webhooks::run,
    &[]
);
job_route!(
    SEND_REMINDERS,
    "send-reminders",
    "20 * * * *",
    reminders::run,
    &[]
);
job_route!(
    CLEANUP_SESSIONS,
    "cleanup-sessions",
    "5 * * * *",
    cleanup::run_sessions,
    &[DeleteObject]
);

shared::named_routes! {
    routes {
        CLEANUP_ORGANIZATIONS,
        CLEANUP_AUDIT_LOGS,
        CLEANUP_SESSIONS,
        SEND_EMAILS,
        SEND_WEBHOOKS,
        SEND_REMINDERS,
    }
}

/// This context's tags in the OpenAPI document (its group: Operations).
pub static TAGS: &[Tag] = &[Tag {
    name: "cron",
    description: "The scheduled functions, called by the platform's scheduler.",
}];
