//! The platform's vocabulary: roles, plans, user statuses and the actions
//! rate limits count. Plain enums with their wire names (serde) and the
//! facts that belong to them, depending on nothing else in the crate, so
//! every layer above can use them.

use std::fmt;

use crate::time::DAY_SECS;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Role {
    Viewer,
    Member,
    Admin,
    Owner,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Member, Role::Admin, Role::Owner];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "VIEWER",
            Role::Member => "MEMBER",
            Role::Admin => "ADMIN",
            Role::Owner => "OWNER",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum UserStatus {
    Pending,
    Active,
    Inactive,
}

impl UserStatus {
    pub const ALL: [UserStatus; 3] = [
        UserStatus::Pending,
        UserStatus::Active,
        UserStatus::Inactive,
    ];

    pub fn parse(s: &str) -> Option<UserStatus> {
        UserStatus::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Pending => "PENDING",
            UserStatus::Active => "ACTIVE",
            UserStatus::Inactive => "INACTIVE",
        }
    }
}

/// Ordered by what it allows: `Free < Pro < Enterprise` (an OWNER may move
/// down through the API; moving up is the operator's or billing's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Plan {
    Free,
    Pro,
    Enterprise,
}

impl Plan {
    pub const ALL: [Plan; 3] = [Plan::Free, Plan::Pro, Plan::Enterprise];

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "FREE",
            Plan::Pro => "PRO",
            Plan::Enterprise => "ENTERPRISE",
        }
    }

    pub fn parse(s: &str) -> Option<Plan> {
        Plan::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// Every limited action, with its window and its per-plan defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LimitedAction {
    /// API requests per organization per minute.
    Api,
    /// Uploads per organization per hour.
    Uploads,
    /// Exports per organization per hour.
    Exports,
    /// Failed logins per email per 15 minutes.
    FailedLoginEmail,
    /// Failed logins per client IP per 15 minutes.
    FailedLoginIp,
    /// Public form posts per form and IP per hour.
    PublicForm,
    /// Sign-ups (new organizations) per client address per hour.
    SignUp,
    /// Join requests per client address per hour.
    Join,
    /// Password resets per client address per hour.
    PasswordReset,
    /// Invitation acceptances per client address per hour.
    InvitationAccept,
    /// Refresh-token rotations per client address per minute.
    Refresh,
    /// Invitations an organization sends per day.
    Invitations,
    /// Invitation emails one address receives per day, from every
    /// organization together (keyed by the address).
    InvitationEmail,
    /// Webhook messages an organization sends by hand (tests, retries,
    /// recoveries) per hour.
    WebhookSends,
    /// Requests through capability links per client address per hour.
    LinkClient,
    /// Requests through one capability link per hour.
    LinkToken,
    /// Emails staff send one address by hand per day (share links,
    /// service reminders), from every organization together (keyed by the
    /// address).
    ShareEmail,
}

impl LimitedAction {
    pub const ALL: [LimitedAction; 17] = [
        LimitedAction::Api,
        LimitedAction::Uploads,
        LimitedAction::Exports,
        LimitedAction::FailedLoginEmail,
        LimitedAction::FailedLoginIp,
        LimitedAction::PublicForm,
        LimitedAction::SignUp,
        LimitedAction::Join,
        LimitedAction::PasswordReset,
        LimitedAction::InvitationAccept,
        LimitedAction::Refresh,
        LimitedAction::Invitations,
        LimitedAction::InvitationEmail,
        LimitedAction::WebhookSends,
        LimitedAction::LinkClient,
        LimitedAction::LinkToken,
        LimitedAction::ShareEmail,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LimitedAction::Api => "api",
            LimitedAction::Uploads => "uploads",
            LimitedAction::Exports => "exports",
            LimitedAction::FailedLoginEmail => "login_email",
            LimitedAction::FailedLoginIp => "login_ip",
            LimitedAction::PublicForm => "public_form",
            LimitedAction::SignUp => "signup",
            LimitedAction::Join => "join",
            LimitedAction::PasswordReset => "password_reset",
            LimitedAction::InvitationAccept => "invitation_accept",
            LimitedAction::Refresh => "refresh",
            LimitedAction::Invitations => "invitations",
            LimitedAction::InvitationEmail => "invitation_email",
            LimitedAction::WebhookSends => "webhook_sends",
            LimitedAction::LinkClient => "link_client",
            LimitedAction::LinkToken => "link_token",
            LimitedAction::ShareEmail => "share_email",
        }
    }

    pub fn window_secs(self) -> u64 {
        match self {
            LimitedAction::Api | LimitedAction::Refresh => 60,
            LimitedAction::FailedLoginEmail | LimitedAction::FailedLoginIp => 15 * 60,
            LimitedAction::Uploads
            | LimitedAction::Exports
            | LimitedAction::PublicForm
            | LimitedAction::SignUp
            | LimitedAction::Join
            | LimitedAction::PasswordReset
            | LimitedAction::InvitationAccept
            | LimitedAction::WebhookSends
            | LimitedAction::LinkClient
            | LimitedAction::LinkToken => 3600,
            LimitedAction::Invitations
            | LimitedAction::InvitationEmail
            | LimitedAction::ShareEmail => DAY_SECS,
        }
    }

    pub fn default_limit(self, plan: Plan) -> u64 {
        let [free, pro, enterprise] = match self {
            LimitedAction::Api => [100, 1_000, 10_000],
            LimitedAction::Uploads => [100, 1_000, 10_000],
            LimitedAction::Exports => [5, 50, 500],
            LimitedAction::FailedLoginEmail => [10, 10, 10],
            LimitedAction::FailedLoginIp => [100, 100, 100],
            LimitedAction::PublicForm => [20, 20, 20],
            LimitedAction::SignUp | LimitedAction::Join => [20, 20, 20],
            LimitedAction::PasswordReset | LimitedAction::InvitationAccept => [30, 30, 30],
            LimitedAction::Refresh => [120, 120, 120],
            LimitedAction::Invitations => [20, 200, 2_000],
            LimitedAction::InvitationEmail => [3, 3, 3],
            LimitedAction::WebhookSends => [60, 600, 6_000],
            LimitedAction::LinkClient => [300, 300, 300],
            LimitedAction::LinkToken => [120, 120, 120],
            LimitedAction::ShareEmail => [10, 10, 10],
        };
        match plan {
            Plan::Free => free,
            Plan::Pro => pro,
            Plan::Enterprise => enterprise,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            LimitedAction::Api => {
                "Your organization's plan allows no more API requests this minute"
            }
            LimitedAction::Uploads => "Your organization's plan allows no more uploads this hour",
            LimitedAction::Exports => "Your organization's plan allows no more exports this hour",
            LimitedAction::FailedLoginEmail | LimitedAction::FailedLoginIp => {
                "Too many failed sign-in attempts; try again later"
            }
            LimitedAction::PublicForm => "Too many submissions of this form; try again later",
            LimitedAction::SignUp => "Too many sign-ups from this address; try again later",
            LimitedAction::Join => "Too many join requests from this address; try again later",
            LimitedAction::PasswordReset => {
                "Too many password resets from this address; try again later"
            }
            LimitedAction::InvitationAccept => {
                "Too many invitation acceptances from this address; try again later"
            }
            LimitedAction::Refresh => {
                "Too many session refreshes from this address; try again later"
            }
            LimitedAction::Invitations => {
                "Your organization's plan allows no more invitations today"
            }
            LimitedAction::InvitationEmail => {
                "This address has received as many invitations as it takes in a day; try again tomorrow"
            }
            LimitedAction::WebhookSends => {
                "Your organization's plan allows no more test sends, retries or recoveries of webhook messages this hour"
            }
            LimitedAction::LinkClient => "Too many requests from this address; try again later",
            LimitedAction::LinkToken => "This link has been opened too often; try again later",
            LimitedAction::ShareEmail => {
                "This address has received as many shared documents as it takes in a day; try again tomorrow"
            }
        }
    }

    /// Keyed by client (its address, or the email address it writes to)
    /// rather than by organization: the same limit on every plan, set by
    /// `RATE_LIMIT_<ACTION>` alone.
    pub fn per_client(self) -> bool {
        !matches!(
            self,
            LimitedAction::Api
                | LimitedAction::Uploads
                | LimitedAction::Exports
                | LimitedAction::Invitations
                | LimitedAction::WebhookSends
        )
    }
}

/// Where an invitation stands: waiting for its invitee, used, or revoked
/// (by an administrator, or by a newer invitation of the same email).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
}

impl InvitationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationStatus::Pending => "PENDING",
            InvitationStatus::Accepted => "ACCEPTED",
            InvitationStatus::Revoked => "REVOKED",
        }
    }
}

/// Declares an enum of a domain's stored words (statuses, kinds, methods)
/// with its wire names in one place: `ALL` and `NAMES` in declaration
/// order (a field declaration's allowed values take `NAMES`), `as_str`,
/// `parse`, `in_field` (read from a stored document), `Display`, and
/// conversion into the stored `Bson` string.
///
/// ```
/// shared::words! {
///     /// How a bill was paid.
///     pub enum Method { Cash = "CASH", Card = "CARD" }
/// }
/// assert_eq!(Method::parse("CARD"), Some(Method::Card));
/// assert_eq!(Method::NAMES, ["CASH", "CARD"]);
/// ```
#[macro_export]
macro_rules! words {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $name { $($(#[$vmeta])* $variant),* }

        #[allow(dead_code)]
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            pub const NAMES: &'static [&'static str] = &[$($text),*];

            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)* _ => None }
            }

            /// The word stored under `key` in `doc`, if it is one of these.
            pub fn in_field(doc: &$crate::bson::Document, key: &str) -> Option<$name> {
                doc.get_str(key).ok().and_then(Self::parse)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl From<$name> for $crate::bson::Bson {
            fn from(v: $name) -> $crate::bson::Bson {
                $crate::bson::Bson::String(v.as_str().to_string())
            }
        }
    };
}
