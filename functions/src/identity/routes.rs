//! The identity context's routes: sign-up, sign-in, sessions, profile,
//! members, invitations, the organization, its API keys, webhook endpoints
//! and audit log.

use shared::handler;
use shared::ratelimit::LimitedAction;
use shared::rbac::Access::{Public, Requires, Throttled};
use shared::rbac::Permission::*;
use shared::runtime::openapi::Tag;
use shared::runtime::{Deploy, Endpoint, Route, Sizing};

use crate::identity::handlers::{auth, invitations, members, organization};

pub static AUTH_REGISTER: Route = Route {
    name: "auth-register",
    path: "/api/v1/auth/register",
    methods: &[
        Endpoint::post(Throttled(LimitedAction::SignUp), handler!(auth::register))
            .op(&crate::identity::contract::AUTH_REGISTER_POST),
    ],
    deploy: Deploy::API.sized(Sizing::PASSWORD),
};

pub static AUTH_JOIN: Route = Route {
    name: "auth-join",
    path: "/api/v1/auth/join",
    methods: &[
        Endpoint::post(Throttled(LimitedAction::Join), handler!(auth::join))
            .op(&crate::identity::contract::AUTH_JOIN_POST),
    ],
    deploy: Deploy::API.sized(Sizing::PASSWORD),
};

pub static AUTH_LOGIN: Route = Route {
    name: "auth-login",
    path: "/api/v1/auth/login",
    methods: &[Endpoint::post(Public, handler!(auth::login))
        .op(&crate::identity::contract::AUTH_LOGIN_POST)],
    deploy: Deploy::API.sized(Sizing::PASSWORD),
};

pub static AUTH_REFRESH: Route = Route {
    name: "auth-refresh",
    path: "/api/v1/auth/refresh",
    methods: &[
        Endpoint::post(Throttled(LimitedAction::Refresh), handler!(auth::refresh))
            .op(&crate::identity::contract::AUTH_REFRESH_POST),
    ],
    deploy: Deploy::API,
};

pub static AUTH_LOGOUT: Route = Route {
    name: "auth-logout",
    path: "/api/v1/auth/logout",
    methods: &[
        Endpoint::post(Requires(Authenticated), handler!(auth::logout))
            .no_keys()
            .op(&crate::identity::contract::AUTH_LOGOUT_POST),
    ],
    deploy: Deploy::API,
};

pub static AUTH_ME: Route = Route {
    name: "auth-me",
    path: "/api/v1/auth/me",
    methods: &[
        Endpoint::get(Requires(Authenticated), handler!(auth::me))
            .no_keys()
            .op(&crate::identity::contract::AUTH_ME_GET),
        Endpoint::patch(Requires(Authenticated), handler!(auth::update_me))
            .no_keys()
            .op(&crate::identity::contract::AUTH_ME_PATCH),
    ],
    deploy: Deploy::API,
};

pub static AUTH_PASSWORD: Route = Route {
    name: "auth-password",
    path: "/api/v1/auth/password",
    methods: &[
        Endpoint::post(Requires(Authenticated), handler!(auth::password))
            .no_keys()
            .op(&crate::identity::contract::AUTH_PASSWORD_POST),
    ],
    deploy: Deploy::API.sized(Sizing::PASSWORD),
};

pub static AUTH_PASSWORD_RESET: Route = Route {
    name: "auth-password-reset",
    path: "/api/v1/auth/password-reset",
    methods: &[Endpoint::post(
        Throttled(LimitedAction::PasswordReset),
        handler!(auth::password_reset),
    )
    .op(&crate::identity::contract::AUTH_PASSWORD_RESET_POST)],
    deploy: Deploy::API.sized(Sizing::PASSWORD),
};

pub static AUTH_PASSWORD_RESET_REQUEST: Route = Route {
    name: "auth-password-reset-request",
    path: "/api/v1/auth/password-reset/request",
    methods: &[Endpoint::post(
        Throttled(LimitedAction::PasswordReset),
        handler!(auth::password_reset_request),
    )
    .op(&crate::identity::contract::AUTH_PASSWORD_RESET_REQUEST_POST)],
    deploy: Deploy::API,
};

pub static AUTH_VERIFY_EMAIL: Route = Route {
    name: "auth-verify-email",
    path: "/api/v1/auth/verify-email",
    methods: &[Endpoint::post(
        Throttled(LimitedAction::PasswordReset),
        handler!(auth::verify_email),
    )
    .op(&crate::identity::contract::AUTH_VERIFY_EMAIL_POST)],
    deploy: Deploy::API,
};

pub static AUTH_VERIFY_EMAIL_RESEND: Route = Route {
    name: "auth-verify-email-resend",
    path: "/api/v1/auth/verify-email/resend",
    methods: &[
        Endpoint::post(Requires(Authenticated), handler!(auth::resend_verification))
            .no_keys()
            .op(&crate::identity::contract::AUTH_VERIFY_EMAIL_RESEND_POST),
    ],
    deploy: Deploy::API,
};

pub static AUTH_SESSIONS: Route = Route {
    name: "auth-sessions",
    path: "/api/v1/auth/sessions",
    methods: &[
        Endpoint::get(Requires(Authenticated), handler!(auth::sessions))
            .no_keys()
            .op(&crate::identity::contract::AUTH_SESSIONS_GET),
    ],
    deploy: Deploy::API,
};

pub static AUTH_SESSIONS_ID: Route = Route {
    name: "auth-sessions-id",
    path: "/api/v1/auth/sessions/{id}",
    methods: &[
        Endpoint::delete(Requires(Authenticated), handler!(auth::end_session))
            .no_keys()
            .op(&crate::identity::contract::AUTH_SESSIONS_ID_DELETE),
    ],
    deploy: Deploy::API,
};

pub static MEMBERS: Route = Route {
    name: "members",
    path: "/api/v1/members",
    methods: &[
        Endpoint::get(Requires(ReadRecords), handler!(members::list))
            .no_keys()
            .op(&crate::identity::contract::MEMBERS_GET),
        Endpoint::post(Requires(ManageMembers), handler!(members::create))
            .no_keys()
            .op(&crate::identity::contract::MEMBERS_POST),
    ],
    deploy: Deploy::API.sized(Sizing::PASSWORD),
};

pub static MEMBERS_ID: Route = Route {
    name: "members-id",
    path: "/api/v1/members/{id}",
    methods: &[
        Endpoint::get(Requires(ReadRecords), handler!(members::get))
            .no_keys()
            .op(&crate::identity::contract::MEMBERS_ID_GET),
        Endpoint::patch(Requires(ManageMembers), handler!(members::update))
            .no_keys()
            .op(&crate::identity::contract::MEMBERS_ID_PATCH),
        Endpoint::delete(Requires(ManageMembers), handler!(members::remove))
            .no_keys()
            .op(&crate::identity::contract::MEMBERS_ID_DELETE),
    ],
    deploy: Deploy::API,
};

pub static INVITATIONS: Route = Route {
    name: "invitations",
    path: "/api/v1/invitations",
    methods: &[
        Endpoint::get(Requires(ManageMembers), handler!(invitations::list))
            .no_keys()
            .op(&crate::identity::contract::INVITATIONS_GET),
        Endpoint::post(Requires(ManageMembers), handler!(invitations::create))
            .no_keys()
            .op(&crate::identity::contract::INVITATIONS_POST),
    ],
    deploy: Deploy::API,
};

pub static INVITATIONS_ACCEPT: Route = Route {
    name: "invitations-accept",
    path: "/api/v1/invitations/accept",
    methods: &[Endpoint::post(
        Throttled(LimitedAction::InvitationAccept),
        handler!(invitations::accept),
    )
    .op(&crate::identity::contract::INVITATIONS_ACCEPT_POST)],
    deploy: Deploy::API.sized(Sizing::PASSWORD),
};

pub static INVITATIONS_ID: Route = Route {
    name: "invitations-id",
    path: "/api/v1/invitations/{id}",
    methods: &[
        Endpoint::delete(Requires(ManageMembers), handler!(invitations::item))
            .no_keys()
            .op(&crate::identity::contract::INVITATIONS_ID_DELETE),
    ],
    deploy: Deploy::API,
};

pub static ORGANIZATION: Route = Route {
    name: "organization",
    path: "/api/v1/organization",
    methods: &[
        Endpoint::get(Requires(ReadRecords), handler!(organization::get))
            .no_keys()
            .op(&crate::identity::contract::ORGANIZATION_GET),
        Endpoint::patch(Requires(ManageMembers), handler!(organization::update))
            .no_keys()
            .op(&crate::identity::contract::ORGANIZATION_PATCH),
        Endpoint::delete(Requires(ManageOrganization), handler!(organization::delete))
            .no_keys()
            .op(&crate::identity::contract::ORGANIZATION_DELETE),
    ],
    deploy: Deploy::API,
};

pub static ORGANIZATION_PLAN: Route = Route {
    name: "organization-plan",
    path: "/api/v1/organization/plan",
    methods: &[
        Endpoint::put(Requires(ManageOrganization), handler!(organization::plan))
            .no_keys()
            .op(&crate::identity::contract::ORGANIZATION_PLAN_PUT),
    ],
    deploy: Deploy::API,
};

pub static ORGANIZATION_RATE_LIMITS: Route = Route {
    name: "organization-rate-limits",
    path: "/api/v1/organization/rate-limits",
    methods: &[
        Endpoint::get(Requires(Configure), handler!(organization::rate_limits))
            .no_keys()
            .op(&crate::identity::contract::ORGANIZATION_RATE_LIMITS_GET),
    ],
    deploy: Deploy::API,
};

pub static ORGANIZATION_USAGE: Route = Route {
    name: "organization-usage",
    path: "/api/v1/organization/usage",
    methods: &[
        Endpoint::get(Requires(ManageOrganization), handler!(organization::usage))
            .no_keys()
            .op(&crate::identity::contract::ORGANIZATION_USAGE_GET),
    ],
    deploy: Deploy::API,
};

pub static ORGANIZATION_TRANSFER_OWNERSHIP: Route = Route {
    name: "organization-transfer-ownership",
    path: "/api/v1/organization/transfer-ownership",
    methods: &[Endpoint::post(
        Requires(ManageOrganization),
        handler!(organization::transfer_ownership),
    )
    .no_keys()
    .op(&crate::identity::contract::ORGANIZATION_TRANSFER_OWNERSHIP_POST)],
    deploy: Deploy::API,
};

pub static AUDIT_LOG: Route = Route {
    name: "audit-log",
    path: "/api/v1/audit-log",
    methods: &[Endpoint::get(
        Requires(ReadAuditLog),
        handler!(crate::identity::audit_log::list),
    )
    .read("audit-log")
    .op(&crate::identity::contract::AUDIT_LOG_GET)],
    deploy: Deploy::API,
};

pub static AUDIT_LOG_SUMMARY: Route = Route {
    name: "audit-log-summary",
    path: "/api/v1/audit-log/summary",
    methods: &[Endpoint::get(
        Requires(ReadAuditLog),
        handler!(crate::identity::audit_log::summary),
    )
    .read("audit-log")
    .op(&crate::identity::contract::AUDIT_LOG_SUMMARY_GET)],
    deploy: Deploy::API,
};

pub static API_KEYS: Route = Route {
    name: "api-keys",
    path: "/api/v1/api-keys",
    methods: &[
        Endpoint::get(
            Requires(Configure),
            handler!(crate::identity::api_keys::list),
        )
        .no_keys()
        .op(&crate::identity::contract::API_KEYS_GET),
        Endpoint::post(
            Requires(Configure),
            handler!(crate::identity::api_keys::create),
        )
        .no_keys()
        .op(&crate::identity::contract::API_KEYS_POST),
    ],
    deploy: Deploy::API,
};

pub static API_KEYS_ID: Route = Route {
    name: "api-keys-id",
    path: "/api/v1/api-keys/{id}",
    methods: &[
        Endpoint::get(
            Requires(Configure),
            handler!(crate::identity::api_keys::get),
        )
        .no_keys()
        .op(&crate::identity::contract::API_KEYS_ID_GET),
        Endpoint::patch(
            Requires(Configure),
            handler!(crate::identity::api_keys::update),
        )
        .no_keys()
        .op(&crate::identity::contract::API_KEYS_ID_PATCH),
        Endpoint::delete(
            Requires(Configure),
            handler!(crate::identity::api_keys::revoke),
        )
        .no_keys()
        .op(&crate::identity::contract::API_KEYS_ID_DELETE),
    ],
    deploy: Deploy::API,
};

pub static API_KEYS_ID_ROTATE: Route = Route {
    name: "api-keys-id-rotate",
    path: "/api/v1/api-keys/{id}/rotate",
    methods: &[Endpoint::post(
        Requires(Configure),
        handler!(crate::identity::api_keys::rotate),
    )
    .no_keys()
    .op(&crate::identity::contract::API_KEYS_ID_ROTATE_POST)],
    deploy: Deploy::API,
};

pub static WEBHOOKS: Route = Route {
    name: "webhooks",
    path: "/api/v1/webhooks",
    methods: &[
        Endpoint::get(
            Requires(Configure),
            handler!(crate::identity::webhooks::list),
        )
        .read("webhooks")
        .op(&crate::identity::contract::WEBHOOKS_GET),
        Endpoint::post(
            Requires(Configure),
            handler!(crate::identity::webhooks::create),
        )
        .write("webhooks")
        .op(&crate::identity::contract::WEBHOOKS_POST),
    ],
    deploy: Deploy::API,
};

pub static WEBHOOKS_ID: Route = Route {
    name: "webhooks-id",
    path: "/api/v1/webhooks/{id}",
    methods: &[
        Endpoint::get(
            Requires(Configure),
            handler!(crate::identity::webhooks::get),
        )
        .read("webhooks")
        .op(&crate::identity::contract::WEBHOOKS_ID_GET),
        Endpoint::patch(
            Requires(Configure),
            handler!(crate::identity::webhooks::update),
        )
        .write("webhooks")
        .op(&crate::identity::contract::WEBHOOKS_ID_PATCH),
        Endpoint::delete(
            Requires(Configure),
            handler!(crate::identity::webhooks::delete),
        )
        .write("webhooks")
        .op(&crate::identity::contract::WEBHOOKS_ID_DELETE),
    ],
    deploy: Deploy::API,
};

pub static WEBHOOKS_ID_DELIVERIES: Route = Route {
    name: "webhooks-id-deliveries",
    path: "/api/v1/webhooks/{id}/deliveries",
    methods: &[Endpoint::get(
        Requires(Configure),
        handler!(crate::identity::webhooks::deliveries),
    )
    .read("webhooks")
    .op(&crate::identity::contract::WEBHOOKS_ID_DELIVERIES_GET)],
    deploy: Deploy::API,
};

pub static WEBHOOKS_ID_DELIVERIES_RETRY: Route = Route {
    name: "webhooks-id-deliveries-retry",
    path: "/api/v1/webhooks/{id}/deliveries/{messageId}/retry",
    methods: &[Endpoint::post(
        Requires(Configure),
        handler!(crate::identity::webhooks::retry),
    )
    .write("webhooks")
    .op(&crate::identity::contract::WEBHOOKS_ID_DELIVERIES_RETRY_POST)],
    deploy: Deploy::API,
};

pub static WEBHOOKS_ID_RECOVER: Route = Route {
    name: "webhooks-id-recover",
    path: "/api/v1/webhooks/{id}/recover",
    methods: &[Endpoint::post(
        Requires(Configure),
        handler!(crate::identity::webhooks::recover),
    )
    .write("webhooks")
    .op(&crate::identity::contract::WEBHOOKS_ID_RECOVER_POST)],
    deploy: Deploy::API,
};

pub static WEBHOOKS_ID_TEST: Route = Route {
    name: "webhooks-id-test",
    path: "/api/v1/webhooks/{id}/test",
    methods: &[Endpoint::post(
        Requires(Configure),
        handler!(crate::identity::webhooks::test),
    )
    .write("webhooks")
    .op(&crate::identity::contract::WEBHOOKS_ID_TEST_POST)],
    deploy: Deploy::API,
};

pub static WEBHOOKS_ID_ROTATE_SECRET: Route = Route {
    name: "webhooks-id-rotate-secret",
    path: "/api/v1/webhooks/{id}/rotate-secret",
    methods: &[Endpoint::post(
        Requires(Configure),
        handler!(crate::identity::webhooks::rotate_secret),
    )
    .write("webhooks")
    .op(&crate::identity::contract::WEBHOOKS_ID_ROTATE_SECRET_POST)],
    deploy: Deploy::API,
};

pub static WEBHOOKS_ID_ENABLE: Route = Route {
    name: "webhooks-id-enable",
    path: "/api/v1/webhooks/{id}/enable",
    methods: &[Endpoint::post(
        Requires(Configure),
        handler!(crate::identity::webhooks::enable),
    )
    .write("webhooks")
    .op(&crate::identity::contract::WEBHOOKS_ID_ENABLE_POST)],
    deploy: Deploy::API,
};

pub static WEBHOOK_EVENT_TYPES: Route = Route {
    name: "webhook-event-types",
    path: "/api/v1/webhook-event-types",
    methods: &[Endpoint::get(
        Requires(ReadRecords),
        handler!(crate::identity::webhooks::event_types),
    )
    .read("webhooks")
    .op(&crate::identity::contract::WEBHOOK_EVENT_TYPES_GET)],
    deploy: Deploy::API,
};

shared::named_routes! {
    routes {
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
        AUDIT_LOG,
        AUDIT_LOG_SUMMARY,
        API_KEYS,
        API_KEYS_ID,
        API_KEYS_ID_ROTATE,
        WEBHOOKS,
        WEBHOOKS_ID,
        WEBHOOKS_ID_DELIVERIES,
        WEBHOOKS_ID_DELIVERIES_RETRY,
        WEBHOOKS_ID_RECOVER,
        WEBHOOKS_ID_TEST,
        WEBHOOKS_ID_ROTATE_SECRET,
        WEBHOOKS_ID_ENABLE,
        WEBHOOK_EVENT_TYPES,
    }
}

/// This context's tags in the OpenAPI document (its group: Identity).
pub static TAGS: &[Tag] = &[
    Tag {
        name: "auth",
        description: "Sign-up, sign-in, the session (access token and refresh cookie), the caller's own account, password and email verification.",
    },
    Tag {
        name: "members",
        description: "The organization's members: added directly, their roles and statuses, removal.",
    },
    Tag {
        name: "invitations",
        description: "Invitations by email, their acceptance and revocation.",
    },
    Tag {
        name: "organization",
        description: "The organization: its name and settings, plan, rate limits and usage, ownership, deletion.",
    },
    Tag {
        name: "api-keys",
        description: "Keys for integrations (ADMIN+): scoped, expiring, rotatable, revocable; shown once, stored as keyed hashes.",
    },
    Tag {
        name: "webhooks",
        description: "Where the organization's events are sent (ADMIN+): Standard Webhooks endpoints, their events and signing secrets.",
    },
    Tag {
        name: "webhook-event-types",
        description: "The event types an endpoint may subscribe to.",
    },
    Tag {
        name: "audit-log",
        description: "What happened in the organization, who did it and from where (ADMIN+).",
    },
];
