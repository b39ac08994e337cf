//! The OpenAPI contract of the identity context's routes (sign-up and
//! sign-in, the caller's own account and sessions, members, invitations,
//! the organization and its audit log): one [`Op`] per route method, named
//! `<ROUTE>_<METHOD>` after its static in [`super::routes`].
//!
//! The API's OpenAPI document is generated from these declarations
//! (`shared::runtime::openapi`), and schemathesis checks the running server
//! against that document; so each one says exactly what its handler (in
//! `super::handlers`, `super::audit_log`) accepts and
//! answers. A handler that changes its input or its answer changes its
//! declaration here too.

use shared::runtime::openapi::{Body, Op, Param, Prop, Reply, Schema};

// ---------------------------------------------------------------------------
// Shared pieces.
// ---------------------------------------------------------------------------

/// Every role, as users carry it.
const ROLES: &[&str] = &["VIEWER", "MEMBER", "ADMIN", "OWNER"];
/// The roles a member or an invitation may be given directly (OWNER comes
/// only by transferring ownership).
const ASSIGNABLE_ROLES: &[&str] = &["VIEWER", "MEMBER", "ADMIN"];
const USER_STATUSES: &[&str] = &["PENDING", "ACTIVE", "INACTIVE"];
const PLANS: &[&str] = &["FREE", "PRO", "ENTERPRISE"];

/// A name part, an organization name: trimmed, 1 to 100 characters, no
/// control characters (`shared::validate::text`).
const NAME: Schema = Schema::Text { min: 1, max: 100 };
/// A new password: 10 to 71 bytes (bcrypt's input limit; refused, never
/// truncated). The limits are in bytes: multi-byte characters count more.
const NEW_PASSWORD: Schema = Schema::Text { min: 10, max: 71 };

/// A user as `shared::auth::User::to_json` renders it (never the password
/// hash).
const USER: Schema = Schema::Object(&[
    Prop::req("id", Schema::ID),
    Prop::req("organizationId", Schema::ID),
    Prop::req("email", Schema::STRING),
    Prop::req("firstName", Schema::STRING),
    Prop::req("lastName", Schema::STRING),
    Prop::req("role", Schema::Enum(ROLES)),
    Prop::req("status", Schema::Enum(USER_STATUSES)),
    Prop::req("createdAt", Schema::TIME),
    Prop::req("lastLoginAt", Schema::Nullable(&Schema::TIME)),
    Prop::req("emailVerified", Schema::Bool),
]);

/// `settings` as stored and shown: only the keys that were set.
const SETTINGS: Schema = Schema::Object(&[
    Prop::opt("timezone", Schema::STRING),
    Prop::opt("currency", Schema::STRING),
    Prop::opt("locale", Schema::STRING),
    Prop::opt(
        "workingHours",
        Schema::Map(&Schema::Nullable(&Schema::Array(&Schema::STRING))),
    ),
    Prop::opt("bays", Schema::Array(&Schema::STRING)),
    Prop::opt("address", Schema::STRING),
    Prop::opt("phone", Schema::STRING),
    Prop::opt("logoUrl", Schema::STRING),
    Prop::opt("logoDocumentId", Schema::ID),
    Prop::opt("shareUrlTemplate", Schema::STRING),
    Prop::opt("documents", Schema::Any),
    Prop::opt("timeClock", Schema::Any),
    Prop::opt("fees", Schema::Array(&FEE_RULE)),
    Prop::opt("serviceReminders", SERVICE_REMINDERS),
    // Set by the server when the time zone changes (read-only).
    Prop::opt("timezoneChangedAt", Schema::TIME),
]);

/// `settings.serviceReminders` (see `crate::reminder_settings`).
const SERVICE_REMINDERS: Schema = Schema::Object(&[
    Prop::opt("enabled", Schema::Bool),
    Prop::opt("defaultDailyDistance", Schema::Int { min: 1, max: 2_000 }),
    Prop::opt("declinedFollowUpDays", Schema::Int { min: 1, max: 730 }),
    Prop::opt("requireMarketingConsent", Schema::Bool),
]);

/// A fee rule of `settings.fees` (see `crate::fees`).
const FEE_RULE: Schema = Schema::Object(&[
    Prop::req("name", Schema::Text { min: 1, max: 100 }),
    Prop::req("basis", Schema::Enum(crate::fees::FeeBasis::NAMES)),
    Prop::req("percent", Schema::Number),
    Prop::opt("min", MONEY),
    Prop::opt("max", MONEY),
    Prop::req("taxable", Schema::Bool),
    Prop::opt(
        "taxRate",
        Schema::Int {
            min: 0,
            max: 10_000,
        },
    ),
]);

const MONEY: Schema = Schema::Int {
    min: 0,
    max: 1_000_000_000_000_000,
};

/// An organization as `shared::auth::Organization::to_json` renders it.
const ORGANIZATION: Schema = Schema::Object(&[
    Prop::req("id", Schema::ID),
    Prop::req("name", Schema::STRING),
    Prop::req("slug", Schema::STRING),
    Prop::req("plan", Schema::Enum(PLANS)),
    Prop::req("isActive", Schema::Bool),
    Prop::req("settings", SETTINGS),
    Prop::req("deleteScheduledAt", Schema::Nullable(&Schema::TIME)),
    Prop::req("createdAt", Schema::TIME),
]);

/// The answer to a sign-in (`handlers::auth::login`): a token pair and the
/// user; the refresh token is also set as the HttpOnly cookie.
const SIGN_IN: Schema = Schema::Object(&[
    Prop::req("accessToken", Schema::STRING),
    Prop::req("refreshToken", Schema::STRING),
    Prop::req("expiresIn", Schema::COUNT),
    Prop::req("user", Schema::Named("User")),
]);

/// The answer to a sign-in that made the account (register, an accepted
/// invitation: `handlers::auth::signed_in`): the token pair, the user and
/// the organization; the refresh token is also set as the cookie.
const SIGN_UP: Schema = Schema::Object(&[
    Prop::req("accessToken", Schema::STRING),
    Prop::req("refreshToken", Schema::STRING),
    Prop::req("expiresIn", Schema::COUNT),
    Prop::req("user", Schema::Named("User")),
    Prop::req("organization", Schema::Named("Organization")),
]);

/// An invitation as `super::invitations::to_json` renders it (never its
/// token hash).
const INVITATION: Schema = Schema::Object(&[
    Prop::req("id", Schema::ID),
    Prop::req("email", Schema::STRING),
    Prop::req("role", Schema::Enum(ASSIGNABLE_ROLES)),
    Prop::req("status", Schema::Enum(&["PENDING", "ACCEPTED", "REVOKED"])),
    Prop::req("invitedBy", Schema::Nullable(&Schema::ID)),
    Prop::req("createdAt", Schema::Nullable(&Schema::TIME)),
    Prop::req("expiresAt", Schema::Nullable(&Schema::TIME)),
]);

/// An audit log entry as `shared::records::render` shows the stored
/// document (`shared::audit::AuditEntry::into_document`).
const AUDIT_ENTRY: Schema = Schema::Object(&[
    Prop::req("id", Schema::ID),
    Prop::opt("userId", Schema::Nullable(&Schema::ID)),
    Prop::req("action", Schema::STRING),
    Prop::req("resource", Schema::STRING),
    Prop::opt("resourceId", Schema::Nullable(&Schema::STRING)),
    Prop::opt("changes", Schema::Nullable(&Schema::Map(&Schema::Any))),
    Prop::opt("ipAddress", Schema::Nullable(&Schema::STRING)),
    Prop::opt("userAgent", Schema::Nullable(&Schema::STRING)),
    Prop::opt("requestId", Schema::STRING),
    Prop::req("createdAt", Schema::TIME),
]);

/// The schemas the operations below name with [`Schema::Named`].
pub static COMPONENTS: &[(&str, Schema)] = &[
    ("User", USER),
    ("Organization", ORGANIZATION),
    ("SignIn", SIGN_IN),
    ("SignUp", SIGN_UP),
    ("Invitation", INVITATION),
    ("AuditEntry", AUDIT_ENTRY),
];

/// `{detail}`: a sentence for the user.
const DETAIL: Schema = Schema::Object(&[Prop::req("detail", Schema::STRING)]);

// ---------------------------------------------------------------------------
// Health.
// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// Sign-up and sign-in.
// ---------------------------------------------------------------------------

pub static AUTH_REGISTER_POST: Op = Op {
    summary: "Create an organization and its owner",
    description: "The organization starts on the FREE plan; its OWNER is signed in at once (tokens, and the refresh cookie) and is sent an email verification link. Throttled per client address. When the address belongs to an account that never proved it (one an administrator made, an unapproved join request), the answer is 202: the registration waits for the link emailed to the address (`POST /api/v1/auth/verify-email`), which releases that account and creates the organization; the owner then signs in. An address a proven account holds is 409.",
    body: Body::Json(Schema::Object(&[
        Prop::req("organizationName", NAME),
        Prop::req("email", Schema::EMAIL),
        Prop::req("password", NEW_PASSWORD),
        Prop::req("firstName", NAME),
        Prop::req("lastName", NAME),
    ])),
    reply: Reply::Json(201, Schema::Named("SignUp")),
    also: &[Reply::Json(
        202,
        Schema::Object(&[Prop::req("detail", Schema::STRING)]),
    )],
    ..Op::DEFAULTS
};

pub static AUTH_JOIN_POST: Op = Op {
    summary: "Ask to join an organization",
    description: "Creates a PENDING VIEWER of the organization with this slug (422 `ORGANIZATION_NOT_FOUND` if no active one has it); no tokens: an administrator must approve the account before it can sign in. Throttled per client address.",
    body: Body::Json(Schema::Object(&[
        Prop::req("organizationSlug", Schema::Text { min: 1, max: 64 }),
        Prop::req("email", Schema::EMAIL),
        Prop::req("password", NEW_PASSWORD),
        Prop::req("firstName", NAME),
        Prop::req("lastName", NAME),
    ])),
    reply: Reply::Json(
        201,
        Schema::Object(&[
            Prop::req("user", Schema::Named("User")),
            Prop::req("detail", Schema::STRING),
        ]),
    ),
    ..Op::DEFAULTS
};

pub static AUTH_LOGIN_POST: Op = Op {
    summary: "Sign in with email and password",
    description: "Answers a token pair and sets the refresh cookie. An unknown email and a wrong password are both 401 `INVALID_CREDENTIALS`; failures are throttled per email and per client address (429); a pending or deactivated account is 403 only after a correct password.",
    body: Body::Json(Schema::Object(&[
        Prop::req("email", Schema::Text { min: 1, max: 254 }),
        Prop::req("password", Schema::STRING),
    ])),
    reply: Reply::Json(200, Schema::Named("SignIn")),
    errors: &[401],
    ..Op::DEFAULTS
};

pub static AUTH_REFRESH_POST: Op = Op {
    summary: "Exchange a refresh token for a new token pair",
    description: "The refresh token comes from the body or, when the body has none, from the refresh cookie (the body may then be empty). Every use rotates it; a reused one ends its session (401 `REFRESH_TOKEN_REUSED`).",
    body: Body::Optional(Schema::Object(&[Prop::opt(
        "refreshToken",
        Schema::Nullable(&Schema::STRING),
    )])),
    reply: Reply::Json(
        200,
        Schema::Object(&[
            Prop::req("accessToken", Schema::STRING),
            Prop::req("refreshToken", Schema::STRING),
            Prop::req("expiresIn", Schema::COUNT),
        ]),
    ),
    errors: &[401],
    refresh_cookie: true,
    ..Op::DEFAULTS
};

pub static AUTH_LOGOUT_POST: Op = Op {
    summary: "Sign out",
    description: "Ends the caller's session (and that of the refresh token presented in the body or the cookie, when it is the caller's), or with `allSessions: true` every session of the caller; clears the refresh cookie. The body may be empty.",
    body: Body::Optional(Schema::Object(&[
        Prop::opt("refreshToken", Schema::Nullable(&Schema::STRING)),
        Prop::opt("allSessions", Schema::Bool),
    ])),
    reply: Reply::Empty(204),
    ..Op::DEFAULTS
};

// ---------------------------------------------------------------------------
// The caller's own account.
// ---------------------------------------------------------------------------

pub static AUTH_ME_GET: Op = Op {
    summary: "Get the caller, their organization, role and plan",
    description: "`banner` is something for the app to show (an unverified email address, with the request that resends the link), or null.",
    reply: Reply::Json(
        200,
        Schema::Object(&[
            Prop::req("user", Schema::Named("User")),
            Prop::req("organization", Schema::Named("Organization")),
            Prop::req("role", Schema::Enum(ROLES)),
            Prop::req("plan", Schema::Enum(PLANS)),
            Prop::req(
                "banner",
                Schema::Nullable(&Schema::Object(&[
                    Prop::req("code", Schema::Enum(&["EMAIL_UNVERIFIED"])),
                    Prop::req("message", Schema::STRING),
                    Prop::req(
                        "action",
                        Schema::Object(&[
                            Prop::req("method", Schema::STRING),
                            Prop::req("path", Schema::STRING),
                        ]),
                    ),
                ])),
            ),
        ]),
    ),
    ..Op::DEFAULTS
};

pub static AUTH_ME_PATCH: Op = Op {
    summary: "Change the caller's own name",
    description: "Send `firstName`, `lastName` or both; neither can be cleared (null is 422), and a body with neither is 422 `NOTHING_TO_UPDATE`.",
    body: Body::Json(Schema::Object(&[
        Prop::opt("firstName", NAME),
        Prop::opt("lastName", NAME),
    ])),
    reply: Reply::Json(200, Schema::Named("User")),
    errors: &[422],
    ..Op::DEFAULTS
};

pub static AUTH_PASSWORD_POST: Op = Op {
    summary: "Change the caller's password",
    description: "Needs the current password (422 `INVALID_CURRENT_PASSWORD`; wrong guesses count against the email's failed sign-in limit, 429). Every other session of the caller ends; the caller's refresh token stays valid for a new access token. `newPassword` is 10 to 71 bytes.",
    body: Body::Json(Schema::Object(&[
        Prop::req("currentPassword", Schema::STRING),
        Prop::req("newPassword", NEW_PASSWORD),
    ])),
    reply: Reply::Empty(204),
    ..Op::DEFAULTS
};

pub static AUTH_PASSWORD_RESET_POST: Op = Op {
    summary: "Set a new password with a reset token",
    description: "No sign-in: the token (emailed, or issued by an operator) works once and expires; an invalid one is 400 `INVALID_RESET_TOKEN`. Every session of the user ends, and the email address counts as verified.",
    body: Body::Json(Schema::Object(&[
        Prop::req("token", Schema::STRING),
        Prop::req("newPassword", NEW_PASSWORD),
    ])),
    reply: Reply::Empty(204),
    ..Op::DEFAULTS
};

pub static AUTH_PASSWORD_RESET_REQUEST_POST: Op = Op {
    summary: "Ask for a password reset link by email",
    description: "No sign-in. Answers 202 alike (and in the same time) for every well-formed email, whether or not it has an account; an ACTIVE user of an active organization gets a link valid 30 minutes.",
    body: Body::Json(Schema::Object(&[Prop::req("email", Schema::EMAIL)])),
    reply: Reply::Json(202, DETAIL),
    ..Op::DEFAULTS
};

pub static AUTH_VERIFY_EMAIL_POST: Op = Op {
    summary: "Verify an email address with the emailed token",
    description: "No sign-in; the token works once and expires after 24 hours (400 `INVALID_VERIFICATION_TOKEN`). A registration's confirmation link creates its organization and owner here (409 when the address was taken meanwhile).",
    body: Body::Json(Schema::Object(&[Prop::req("token", Schema::STRING)])),
    reply: Reply::Empty(204),
    ..Op::DEFAULTS
};

pub static AUTH_VERIFY_EMAIL_RESEND_POST: Op = Op {
    summary: "Send the caller a new email verification link",
    description: "Takes no input (an empty body or `{}`). 202 when a new link is on its way, 200 `{emailVerified: true}` when there is nothing to verify; at most 5 links an hour (429).",
    reply: Reply::Json(
        202,
        Schema::Object(&[
            Prop::req("emailVerified", Schema::Bool),
            Prop::req("detail", Schema::STRING),
        ]),
    ),
    also: &[Reply::Json(
        200,
        Schema::Object(&[Prop::req("emailVerified", Schema::Bool)]),
    )],
    ..Op::DEFAULTS
};

/// A signed-in session as `super::profile::sessions` shows it.
const SESSION: Schema = Schema::Object(&[
    Prop::req("id", Schema::Nullable(&Schema::ID)),
    Prop::req("current", Schema::Bool),
    Prop::req("lastUsedAt", Schema::Nullable(&Schema::TIME)),
    Prop::req("expiresAt", Schema::Nullable(&Schema::TIME)),
    Prop::req("ipAddress", Schema::Nullable(&Schema::STRING)),
    Prop::req("userAgent", Schema::Nullable(&Schema::STRING)),
]);

pub static AUTH_SESSIONS_GET: Op = Op {
    summary: "List the caller's live sessions",
    description: "Newest first, at most 200, in one page (`nextCursor` is always null); `current` marks the session of this access token.",
    reply: Reply::Json(200, Schema::Page(&SESSION)),
    ..Op::DEFAULTS
};

pub static AUTH_SESSIONS_ID_DELETE: Op = Op {
    summary: "Sign out one of the caller's sessions",
    description: "404 when the caller has no live session with this id.",
    reply: Reply::Empty(204),
    ..Op::DEFAULTS
};

// ---------------------------------------------------------------------------
// Members.
// ---------------------------------------------------------------------------

pub static MEMBERS_GET: Op = Op {
    summary: "List the organization's members",
    description: "Every member whatever their status (PENDING, ACTIVE, INACTIVE), by cursor.",
    list: Some(&super::members::LIST),
    reply: Reply::Json(200, Schema::Page(&Schema::Named("User"))),
    ..Op::DEFAULTS
};

pub static MEMBERS_POST: Op = Op {
    summary: "Add an ACTIVE member directly",
    description: "ADMINs add VIEWERs and MEMBERs; only an OWNER adds an ADMIN (403 otherwise). OWNERs are made by transferring ownership. An email that already has an account is 409.",
    body: Body::Json(Schema::Object(&[
        Prop::req("email", Schema::EMAIL),
        Prop::req("firstName", NAME),
        Prop::req("lastName", NAME),
        Prop::req("role", Schema::Enum(ASSIGNABLE_ROLES)),
        Prop::req("password", NEW_PASSWORD),
    ])),
    reply: Reply::Json(201, Schema::Named("User")),
    ..Op::DEFAULTS
};

pub static MEMBERS_ID_GET: Op = Op {
    summary: "Get a member",
    reply: Reply::Json(200, Schema::Named("User")),
    ..Op::DEFAULTS
};

pub static MEMBERS_ID_PATCH: Op = Op {
    summary: "Change a member's role or status",
    description: "Approve a PENDING member (`status: ACTIVE`), deactivate (ends their sessions) or reactivate, or change the role. Anything involving an ADMIN or OWNER is an OWNER's (403); nobody changes themselves (422 `SELF_CHANGE`); the last ACTIVE OWNER stays (409 `LAST_OWNER`).",
    body: Body::Json(Schema::Object(&[
        Prop::opt("role", Schema::Nullable(&Schema::Enum(ASSIGNABLE_ROLES))),
        Prop::opt(
            "status",
            Schema::Nullable(&Schema::Enum(&["ACTIVE", "INACTIVE"])),
        ),
    ])),
    reply: Reply::Json(200, Schema::Named("User")),
    errors: &[409, 422],
    ..Op::DEFAULTS
};

pub static MEMBERS_ID_DELETE: Op = Op {
    summary: "Remove a member",
    description: "Ends their sessions; the records they created stay. Nobody removes themselves (422 `SELF_CHANGE`); the last ACTIVE OWNER stays (409 `LAST_OWNER`).",
    reply: Reply::Empty(204),
    errors: &[409, 422],
    ..Op::DEFAULTS
};

// ---------------------------------------------------------------------------
// Invitations.
// ---------------------------------------------------------------------------

pub static INVITATIONS_GET: Op = Op {
    summary: "List the pending invitations",
    description: "Unexpired PENDING invitations, newest first, at most 500, in one page (`nextCursor` is always null).",
    reply: Reply::Json(200, Schema::Page(&Schema::Named("Invitation"))),
    ..Op::DEFAULTS
};

pub static INVITATIONS_POST: Op = Op {
    summary: "Invite an email address to the organization",
    description: "The invitee gets a link valid 7 days by email; inviting an email again replaces its pending invitation. Only an OWNER invites an ADMIN, and only an OWNER may ask for the one-time `token` in the answer (`returnToken=true`; 403 for anyone else). An email that already has an account is 409.",
    query: &[Param::opt(
        "returnToken",
        Schema::Bool,
        "`true` (OWNER only): include the invitation's one-time token in the answer.",
    )],
    body: Body::Json(Schema::Object(&[
        Prop::req("email", Schema::EMAIL),
        Prop::req("role", Schema::Enum(ASSIGNABLE_ROLES)),
    ])),
    reply: Reply::Json(
        201,
        Schema::Object(&[
            Prop::req("id", Schema::ID),
            Prop::req("email", Schema::STRING),
            Prop::req("role", Schema::Enum(ASSIGNABLE_ROLES)),
            Prop::req("status", Schema::Enum(&["PENDING"])),
            Prop::req("invitedBy", Schema::Nullable(&Schema::ID)),
            Prop::req("createdAt", Schema::Nullable(&Schema::TIME)),
            Prop::req("expiresAt", Schema::Nullable(&Schema::TIME)),
            Prop::opt("token", Schema::STRING),
        ]),
    ),
    ..Op::DEFAULTS
};

pub static INVITATIONS_ACCEPT_POST: Op = Op {
    summary: "Accept an invitation and sign in",
    description: "No sign-in: creates the ACTIVE member with the invitation's email and role and signs them in (tokens, and the refresh cookie). An unknown token is 400 `INVALID_INVITATION`; a used, revoked or expired one 409. Throttled per client address.",
    body: Body::Json(Schema::Object(&[
        Prop::req("token", Schema::STRING),
        Prop::req("password", NEW_PASSWORD),
        Prop::req("firstName", NAME),
        Prop::req("lastName", NAME),
    ])),
    reply: Reply::Json(201, Schema::Named("SignUp")),
    ..Op::DEFAULTS
};

pub static INVITATIONS_ID_DELETE: Op = Op {
    summary: "Revoke a pending invitation",
    description: "404 when no pending invitation has this id.",
    reply: Reply::Empty(204),
    ..Op::DEFAULTS
};

// ---------------------------------------------------------------------------
// The organization.
// ---------------------------------------------------------------------------

pub static ORGANIZATION_GET: Op = Op {
    summary: "Get the caller's organization",
    reply: Reply::Json(200, Schema::Named("Organization")),
    ..Op::DEFAULTS
};

pub static ORGANIZATION_PATCH: Op = Op {
    summary: "Change the organization's name or settings",
    description: "`settings` changes the keys it sends and keeps the others; a key sent as null is cleared, and `settings: null` clears them all. `name` cannot be cleared. A body that changes nothing is 422 `NOTHING_TO_UPDATE`.",
    body: Body::Json(Schema::Object(&[
        Prop::opt("name", NAME),
        Prop::opt(
            "settings",
            Schema::Nullable(&Schema::Object(&[
                Prop::opt(
                    "timezone",
                    Schema::Nullable(&Schema::Text { min: 1, max: 64 }),
                ),
                Prop::opt(
                    "currency",
                    Schema::Nullable(&Schema::Pattern("^[A-Z]{3}$")),
                ),
                Prop::opt(
                    "locale",
                    Schema::Nullable(&Schema::Pattern("^[A-Za-z0-9-]{2,35}$")),
                ),
                Prop::opt(
                    "workingHours",
                    Schema::Nullable(&Schema::Object(&[
                        Prop::opt("mon", HOURS),
                        Prop::opt("tue", HOURS),
                        Prop::opt("wed", HOURS),
                        Prop::opt("thu", HOURS),
                        Prop::opt("fri", HOURS),
                        Prop::opt("sat", HOURS),
                        Prop::opt("sun", HOURS),
                    ])),
                ),
                Prop::opt(
                    "bays",
                    Schema::Nullable(&Schema::Array(&Schema::Text { min: 1, max: 50 })),
                ),
                Prop::opt("address", Schema::Nullable(&Schema::Text { min: 0, max: 500 })),
                Prop::opt("phone", Schema::Nullable(&Schema::Text { min: 1, max: 40 })),
                Prop::opt("logoUrl", Schema::Nullable(&Schema::Format("uri"))),
                Prop::opt("logoDocumentId", Schema::Nullable(&Schema::ID)),
                Prop::opt("shareUrlTemplate", Schema::Nullable(&Schema::Pattern("^https?://.*\\{token\\}"))),
                Prop::opt(
                    "documents",
                    Schema::Nullable(&Schema::Object(&[
                        Prop::opt("taxId", Schema::Text { min: 0, max: 50 }),
                        Prop::opt("footer", Schema::Text { min: 0, max: 500 }),
                        Prop::opt("legalText", Schema::Text { min: 0, max: 1_000 }),
                    ])),
                ),
                Prop::opt(
                    "timeClock",
                    Schema::Nullable(&Schema::Object(&[Prop::req("autoStartShift", Schema::Bool)])),
                ),
                Prop::opt("fees", Schema::Nullable(&Schema::Array(&FEE_RULE))),
                Prop::opt("serviceReminders", Schema::Nullable(&SERVICE_REMINDERS)),
            ])),
        ),
    ])),
    reply: Reply::Json(200, Schema::Named("Organization")),
    errors: &[422],
    ..Op::DEFAULTS
};

/// A day's opening hours in `settings.workingHours`: `["HH:MM", "HH:MM"]`,
/// opening before closing (`24:00` for midnight), or null for closed.
const HOURS: Schema = Schema::Nullable(&Schema::Array(&Schema::Pattern(
    "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$",
)));

pub static ORGANIZATION_DELETE: Op = Op {
    summary: "Delete the organization",
    description: "OWNER only; `confirm` must be the organization's slug (422 otherwise). Deactivates the organization at once, ends every member's sessions and schedules the purge of its data.",
    body: Body::Json(Schema::Object(&[Prop::req("confirm", Schema::STRING)])),
    reply: Reply::Empty(204),
    errors: &[422],
    ..Op::DEFAULTS
};

pub static ORGANIZATION_PLAN_PUT: Op = Op {
    summary: "Move the organization to a smaller plan",
    description: "OWNER only. A move down, or to the current plan (which changes nothing); a move up goes through billing: 403 `PLAN_CHANGE_REQUIRES_BILLING`, nothing changed. The new limits apply from the next request.",
    body: Body::Json(Schema::Object(&[Prop::req("plan", Schema::Enum(PLANS))])),
    reply: Reply::Json(200, Schema::Named("Organization")),
    errors: &[422],
    ..Op::DEFAULTS
};

pub static ORGANIZATION_RATE_LIMITS_GET: Op = Op {
    summary: "Get the organization's rate-limit buckets",
    description: "Each per-organization bucket with its limit (the plan's, or an operator's override), what is used in the current window, and when the window resets.",
    reply: Reply::Json(
        200,
        Schema::Object(&[Prop::req(
            "data",
            Schema::Array(&Schema::Object(&[
                Prop::req(
                    "bucket",
                    Schema::Enum(&["API", "UPLOADS", "EXPORTS", "INVITATIONS", "WEBHOOK_SENDS"]),
                ),
                Prop::req("windowSeconds", Schema::COUNT),
                Prop::req("limit", Schema::COUNT),
                Prop::req("used", Schema::COUNT),
                Prop::req("remaining", Schema::COUNT),
                Prop::req("resetAt", Schema::TIME),
            ])),
        )]),
    ),
    ..Op::DEFAULTS
};

pub static ORGANIZATION_USAGE_GET: Op = Op {
    summary: "Get the organization's usage",
    description: "Members (any status), live records per entity (by its path segment), stored documents and their bytes, and API requests in the current window against the limit.",
    reply: Reply::Json(
        200,
        Schema::Object(&[
            Prop::req("members", Schema::COUNT),
            Prop::req("records", Schema::Map(&Schema::COUNT)),
            Prop::req("documents", Schema::COUNT),
            Prop::req("storedBytes", Schema::COUNT),
            Prop::req("requestsThisWindow", Schema::COUNT),
            Prop::req("requestLimit", Schema::COUNT),
        ]),
    ),
    ..Op::DEFAULTS
};

pub static ORGANIZATION_TRANSFER_OWNERSHIP_POST: Op = Op {
    summary: "Transfer ownership to another member",
    description: "OWNER only: the member (ACTIVE, else 422 `MEMBER_NOT_ACTIVE`; 404 if not one of the organization's) becomes OWNER and the caller ADMIN, in one transaction. Answers the new OWNER.",
    body: Body::Json(Schema::Object(&[Prop::req("memberId", Schema::ID)])),
    reply: Reply::Json(200, Schema::Named("User")),
    errors: &[404],
    ..Op::DEFAULTS
};

// ---------------------------------------------------------------------------
// The audit log.
// ---------------------------------------------------------------------------

pub static AUDIT_LOG_GET: Op = Op {
    summary: "List the organization's audit log",
    description: "Newest first by cursor, filtered by action, user, resource, record, client address and time.",
    list: Some(&super::audit_log::AUDIT_LOG),
    reply: Reply::Json(200, Schema::Page(&Schema::Named("AuditEntry"))),
    ..Op::DEFAULTS
};

pub static AUDIT_LOG_SUMMARY_GET: Op = Op {
    summary: "Summarize the audit log since a time",
    description: "Entries since `since` (default: the last 24 hours) counted by action, and by client address with the actions seen from each, most first.",
    query: &[Param::opt(
        "since",
        Schema::TIME,
        "The start of the window (default: 24 hours ago).",
    )],
    reply: Reply::Json(
        200,
        Schema::Object(&[
            Prop::req("since", Schema::TIME),
            Prop::req(
                "byAction",
                Schema::Array(&Schema::Object(&[
                    Prop::req("action", Schema::Nullable(&Schema::STRING)),
                    Prop::req("count", Schema::COUNT),
                ])),
            ),
            Prop::req(
                "byIpAddress",
                Schema::Array(&Schema::Object(&[
                    Prop::req("ipAddress", Schema::STRING),
                    Prop::req("count", Schema::COUNT),
                    Prop::req("actions", Schema::Map(&Schema::COUNT)),
                ])),
            ),
        ]),
    ),
    ..Op::DEFAULTS
};

// ---------------------------------------------------------------------------
// API keys.
// ---------------------------------------------------------------------------

/// An API key as `super::api_keys` shows it (never its hash).
const API_KEY: Schema = Schema::Object(&[
    Prop::req("id", Schema::ID),
    Prop::req("name", Schema::STRING),
    Prop::req("display", Schema::STRING),
    Prop::req("scopes", Schema::Array(&Schema::STRING)),
    Prop::req("allowedIps", Schema::Array(&Schema::STRING)),
    Prop::req(
        "rateLimitPerMinute",
        Schema::Nullable(&Schema::Int {
            min: 1,
            max: 100_000,
        }),
    ),
    Prop::req("status", Schema::Enum(&["ACTIVE", "EXPIRED", "REVOKED"])),
    Prop::req("createdBy", Schema::Nullable(&Schema::ID)),
    Prop::req("createdAt", Schema::Nullable(&Schema::TIME)),
    Prop::req("expiresAt", Schema::Nullable(&Schema::TIME)),
    Prop::req("revokedAt", Schema::Nullable(&Schema::TIME)),
    Prop::req("lastUsedAt", Schema::Nullable(&Schema::TIME)),
    Prop::req("lastUsedIp", Schema::Nullable(&Schema::STRING)),
    Prop::req("rotatedTo", Schema::Nullable(&Schema::ID)),
    Prop::req("rotatedFrom", Schema::Nullable(&Schema::ID)),
    Prop::req(
        "version",
        Schema::Nullable(&Schema::Int {
            min: 1,
            max: i64::MAX,
        }),
    ),
]);

/// An API key with the key itself, answered once.
const ISSUED_KEY: Schema = Schema::Object(&[
    Prop::req("id", Schema::ID),
    Prop::req("key", Schema::Nullable(&Schema::STRING)),
    Prop::req("display", Schema::STRING),
    Prop::req("scopes", Schema::Array(&Schema::STRING)),
    Prop::req("status", Schema::Enum(&["ACTIVE", "EXPIRED", "REVOKED"])),
    Prop::req("expiresAt", Schema::Nullable(&Schema::TIME)),
]);

const SCOPES: Schema = Schema::Array(&Schema::Pattern("^(\\*|[a-z0-9-]{1,40}):(read|write)$"));

pub static API_KEYS_GET: Op = Op {
    summary: "List the organization's API keys",
    description: "Newest first, at most 400, in one page (`nextCursor` is always null): metadata only (the display form `wcrm_7Hq2…9X0`, scopes, creator, last use and from where, expiry), never a key or its hash.",
    reply: Reply::Json(200, Schema::Page(&API_KEY)),
    ..Op::DEFAULTS
};

pub static API_KEYS_POST: Op = Op {
    summary: "Issue an API key",
    description: "Answers the key once (`wcrm_` + 8-character id + 32 random characters + a 6-character CRC-32 checksum, base62); only its keyed hash is stored. `Authorization: Bearer wcrm_...` then works on every operation whose `x-required-scope` the key holds (`<resource>:read|write`, write implies read; `*:read`, `*:write`); operations whose `x-required-scope` is null refuse keys. The key acts with the creator's role. `expiresInDays` 1-366 (default 90); `allowedIps` IPv4 and IPv6 addresses or CIDR networks (empty: any); `rateLimitPerMinute` a limit of the key's own beside the plan's. A retry with the same Idempotency-Key answers `key: null`: the key is kept nowhere. At most 200 live keys per organization.",
    body: Body::Json(Schema::Object(&[
        Prop::req("name", NAME),
        Prop::req("scopes", SCOPES),
        Prop::opt("expiresInDays", Schema::Int { min: 1, max: 366 }),
        Prop::opt("allowedIps", Schema::Array(&Schema::STRING)),
        Prop::opt("rateLimitPerMinute", Schema::Nullable(&Schema::Int { min: 1, max: 100_000 })),
    ])),
    reply: Reply::Json(201, ISSUED_KEY),
    errors: &[409],
    ..Op::DEFAULTS
};

pub static API_KEYS_ID_GET: Op = Op {
    summary: "One API key's metadata",
    description: "Never the key or its hash.",
    reply: Reply::Json(200, API_KEY),
    errors: &[404],
    ..Op::DEFAULTS
};

pub static API_KEYS_ID_PATCH: Op = Op {
    summary: "Rename an API key, narrow its scopes, set its networks or its limit",
    description: "Scopes can only be narrowed (a scope the key does not hold is 422). Applies at once on the instance that answers and within `API_KEY_CACHE_SECONDS` (30 s) everywhere.",
    body: Body::Json(Schema::Object(&[
        Prop::opt("name", NAME),
        Prop::opt("scopes", SCOPES),
        Prop::opt("allowedIps", Schema::Array(&Schema::STRING)),
        Prop::opt("rateLimitPerMinute", Schema::Nullable(&Schema::Int { min: 1, max: 100_000 })),
    ])),
    reply: Reply::Json(200, API_KEY),
    errors: &[404, 409],
    ..Op::DEFAULTS
};

pub static API_KEYS_ID_DELETE: Op = Op {
    summary: "Revoke an API key",
    description: "A revoked key is 401 `API_KEY_REVOKED`: at once on the instance that answers, within 30 s on every other. Revoking a revoked key changes nothing.",
    reply: Reply::Empty(204),
    errors: &[404],
    ..Op::DEFAULTS
};

pub static API_KEYS_ID_ROTATE_POST: Op = Op {
    summary: "Rotate an API key",
    description: "Issues a successor (same name, scopes, networks and limit, a lifetime as long as the original's) and answers its key once; the original works until `gracePeriodHours` (0-168, default 24) have passed. A key already rotated, revoked or expired is 409.",
    body: Body::Json(Schema::Object(&[Prop::opt(
        "gracePeriodHours",
        Schema::Int { min: 0, max: 168 },
    )])),
    reply: Reply::Json(201, ISSUED_KEY),
    errors: &[404, 409],
    ..Op::DEFAULTS
};

// ---------------------------------------------------------------------------
// Webhooks.
// ---------------------------------------------------------------------------

/// A webhook endpoint as `super::webhooks` shows it (never its secret).
const WEBHOOK: Schema = Schema::Object(&[
    Prop::req("id", Schema::ID),
    Prop::req("url", Schema::Format("uri")),
    Prop::req("events", Schema::Array(&Schema::STRING)),
    Prop::req("description", Schema::Nullable(&Schema::STRING)),
    Prop::req("status", Schema::Enum(&["ENABLED", "DISABLED"])),
    Prop::req("disabledAt", Schema::Nullable(&Schema::TIME)),
    Prop::req(
        "disabledReason",
        Schema::Nullable(&Schema::Enum(&["GONE", "FAILING"])),
    ),
    Prop::req("failingSince", Schema::Nullable(&Schema::TIME)),
    Prop::req(
        "failedMessages",
        Schema::Int {
            min: 0,
            max: i64::MAX,
        },
    ),
    Prop::req("previousSecretExpiresAt", Schema::Nullable(&Schema::TIME)),
    Prop::req("createdBy", Schema::Nullable(&Schema::ID)),
    Prop::req("createdAt", Schema::Nullable(&Schema::TIME)),
    Prop::req("updatedAt", Schema::Nullable(&Schema::TIME)),
    Prop::req(
        "version",
        Schema::Nullable(&Schema::Int {
            min: 1,
            max: i64::MAX,
        }),
    ),
]);

/// An endpoint with its signing secret, answered once.
const NEW_WEBHOOK: Schema = Schema::Object(&[
    Prop::req("id", Schema::ID),
    Prop::req("url", Schema::Format("uri")),
    Prop::req("events", Schema::Array(&Schema::STRING)),
    Prop::req(
        "secret",
        Schema::Nullable(&Schema::Pattern("^whsec_[A-Za-z0-9+/=]+$")),
    ),
    Prop::req("status", Schema::Enum(&["ENABLED", "DISABLED"])),
]);

const EVENT_SELECTORS: Schema = Schema::Array(&Schema::Text { min: 1, max: 100 });
const TARGET: Schema = Schema::Text { min: 1, max: 2048 };

pub static WEBHOOKS_GET: Op = Op {
    summary: "List the organization's webhook endpoints",
    description: "Newest first, at most 100, in one page (`nextCursor` is always null); never a signing secret.",
    reply: Reply::Json(200, Schema::Page(&WEBHOOK)),
    ..Op::DEFAULTS
};

pub static WEBHOOKS_POST: Op = Op {
    summary: "Add a webhook endpoint",
    description: "Answers the signing secret once (`whsec_` + base64 of 32 random bytes; kept sealed, since signing needs it). `url` is https; a host that is an address literal in any notation (`2130706433`, `0x7f.1`, `[::ffff:169.254.169.254]`) must not be loopback, private, link-local, CGNAT or unique-local, and a URL carries no credentials. `events` names event types (`GET /api/v1/webhook-event-types`), `*`, or `<record>.*`. A retry with the same Idempotency-Key answers `secret: null`. At most 100 endpoints per organization.",
    body: Body::Json(Schema::Object(&[
        Prop::req("url", TARGET),
        Prop::req("events", EVENT_SELECTORS),
        Prop::opt("description", Schema::Text { min: 0, max: 500 }),
    ])),
    reply: Reply::Json(201, NEW_WEBHOOK),
    errors: &[409],
    ..Op::DEFAULTS
};

pub static WEBHOOKS_ID_GET: Op = Op {
    summary: "One webhook endpoint",
    description: "Never its signing secret.",
    reply: Reply::Json(200, WEBHOOK),
    errors: &[404],
    ..Op::DEFAULTS
};

pub static WEBHOOKS_ID_PATCH: Op = Op {
    summary: "Change a webhook endpoint's URL, events or description",
    description: "The same rules as adding one.",
    body: Body::Json(Schema::Object(&[
        Prop::opt("url", TARGET),
        Prop::opt("events", EVENT_SELECTORS),
        Prop::opt("description", Schema::Text { min: 0, max: 500 }),
    ])),
    reply: Reply::Json(200, WEBHOOK),
    errors: &[404],
    ..Op::DEFAULTS
};

pub static WEBHOOKS_ID_DELETE: Op = Op {
    summary: "Remove a webhook endpoint",
    description: "The endpoint and its secret are gone.",
    reply: Reply::Empty(204),
    errors: &[404],
    ..Op::DEFAULTS
};

const EVENT_TYPE: Schema = Schema::Object(&[
    Prop::req("type", Schema::STRING),
    Prop::req("description", Schema::STRING),
]);

pub static WEBHOOK_EVENT_TYPES_GET: Op = Op {
    summary: "The webhook event catalogue",
    description: "`<record>.created|updated|deleted|restored` for every record type, then the domain's own events, in one page.",
    reply: Reply::Json(200, Schema::Page(&EVENT_TYPE)),
    ..Op::DEFAULTS
};

/// One message to one endpoint, with its attempts.
const DELIVERY: Schema = Schema::Object(&[
    Prop::req("id", Schema::ID),
    Prop::req("webhookId", Schema::Pattern("^msg_[0-9a-f]{24}$")),
    Prop::req("eventId", Schema::Nullable(&Schema::ID)),
    Prop::req("type", Schema::STRING),
    Prop::req(
        "status",
        Schema::Enum(&["PENDING", "SENDING", "DELIVERED", "FAILED", "SKIPPED"]),
    ),
    Prop::req("createdAt", Schema::Nullable(&Schema::TIME)),
    Prop::req("nextAttemptAt", Schema::Nullable(&Schema::TIME)),
    Prop::req("deliveredAt", Schema::Nullable(&Schema::TIME)),
    Prop::req("attempts", Schema::Array(&ATTEMPT)),
]);

const ATTEMPT: Schema = Schema::Object(&[
    Prop::req("at", Schema::Nullable(&Schema::TIME)),
    Prop::req(
        "durationMs",
        Schema::Int {
            min: 0,
            max: i64::MAX,
        },
    ),
    Prop::req(
        "statusCode",
        Schema::Nullable(&Schema::Int { min: 100, max: 599 }),
    ),
    Prop::req(
        "error",
        Schema::Nullable(&Schema::Enum(&[
            "timeout", "dns", "tls", "connect", "blocked", "internal",
        ])),
    ),
    Prop::req("responseBody", Schema::Nullable(&Schema::STRING)),
]);

pub static WEBHOOKS_ID_DELIVERIES_GET: Op = Op {
    summary: "An endpoint's delivery log",
    description: "One message per event the endpoint took, newest first by cursor, filtered by `status`, `type`, `since` and `until`; per attempt its time, duration, and the status code or the error class (`timeout`, `dns`, `tls`, `connect`, `blocked`), with the first KiB of a failure's text body from a public address.",
    reply: Reply::Json(200, Schema::Page(&DELIVERY)),
    errors: &[404],
    ..Op::DEFAULTS
};

pub static WEBHOOKS_ID_DELIVERIES_RETRY_POST: Op = Op {
    summary: "Send a message again",
    description: "A FAILED, SKIPPED or DELIVERED message is queued again with a fresh schedule (same `webhook-id`) and attempted at once; answers it as it then stands. One waiting or being sent is 409 `MESSAGE_IN_FLIGHT`; a disabled endpoint is 409 `ENDPOINT_DISABLED`.",
    reply: Reply::Json(202, DELIVERY),
    errors: &[404, 409],
    ..Op::DEFAULTS
};

pub static WEBHOOKS_ID_RECOVER_POST: Op = Op {
    summary: "Send again what an endpoint missed",
    description: "Every FAILED or SKIPPED message created from `since` (until `until`) is queued once more and sent by `send-webhooks`, oldest first; answers how many. A disabled endpoint is 409 `ENDPOINT_DISABLED`: enable it first.",
    body: Body::Json(Schema::Object(&[
        Prop::req("since", Schema::TIME),
        Prop::opt("until", Schema::TIME),
    ])),
    reply: Reply::Json(
        202,
        Schema::Object(&[Prop::req(
            "queued",
            Schema::Int {
                min: 0,
                max: i64::MAX,
            },
        )]),
    ),
    errors: &[404, 409],
    ..Op::DEFAULTS
};

pub static WEBHOOKS_ID_TEST_POST: Op = Op {
    summary: "Send a test message",
    description: "A `webhook.test` event to this endpoint alone, attempted at once; answers its message as it then stands.",
    reply: Reply::Json(202, DELIVERY),
    errors: &[404, 409],
    ..Op::DEFAULTS
};

pub static WEBHOOKS_ID_ROTATE_SECRET_POST: Op = Op {
    summary: "Rotate an endpoint's signing secret",
    description: "Answers the new secret once; for `gracePeriodHours` (0-72, default 24) every message carries a signature by the old secret too. A retry with the same Idempotency-Key answers `secret: null`.",
    body: Body::Json(Schema::Object(&[Prop::opt(
        "gracePeriodHours",
        Schema::Int { min: 0, max: 72 },
    )])),
    reply: Reply::Json(
        200,
        Schema::Object(&[
            Prop::req("id", Schema::ID),
            Prop::req(
                "secret",
                Schema::Nullable(&Schema::Pattern("^whsec_[A-Za-z0-9+/=]+$")),
            ),
            Prop::req("previousSecretExpiresAt", Schema::Nullable(&Schema::TIME)),
        ]),
    ),
    errors: &[404, 409],
    ..Op::DEFAULTS
};

pub static WEBHOOKS_ID_ENABLE_POST: Op = Op {
    summary: "Enable an endpoint",
    description: "A disabled endpoint takes messages again, its failure counts cleared; what it skipped stays for `recover`.",
    reply: Reply::Json(200, WEBHOOK),
    errors: &[404],
    ..Op::DEFAULTS
};
