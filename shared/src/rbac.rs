//! Roles and permissions: the RBAC table (the README's API section) as types.
//!
//! Roles are ordered (`Viewer < Member < Admin < Owner`), and every
//! permission names the lowest role that holds it, so a check is one `<`.
//! The route table declares a permission per method; the runtime checks it
//! before the handler runs, and the handler gets a [`crate::db::Scope`] only
//! if the check passed.

use serde::Serialize;

pub use crate::model::Role;

/// What an action needs. Each variant's minimum role is the README's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Permission {
    /// Any signed-in member: own profile, sign out.
    Authenticated,
    ReadRecords,
    CreateRecords,
    /// Update records the caller created (MEMBER); see [`Permission::UpdateAnyRecord`].
    UpdateRecords,
    UpdateAnyRecord,
    DeleteRecords,
    ExportData,
    ImportData,
    ReadAuditLog,
    /// Invite, approve, change roles below ADMIN.
    ManageMembers,
    /// Make ADMINs, change plan, delete the organization, transfer ownership.
    ManageOrganization,
    /// Read and change how the organization meets the outside: its public
    /// forms, and its rate-limit buckets as they stand.
    Configure,
}

impl Permission {
    pub fn min_role(self) -> Role {
        match self {
            Permission::Authenticated | Permission::ReadRecords => Role::Viewer,
            Permission::CreateRecords | Permission::UpdateRecords => Role::Member,
            Permission::UpdateAnyRecord
            | Permission::DeleteRecords
            | Permission::ExportData
            | Permission::ImportData
            | Permission::ReadAuditLog
            | Permission::ManageMembers
            | Permission::Configure => Role::Admin,
            Permission::ManageOrganization => Role::Owner,
        }
    }

    pub fn allows(self, role: Role) -> bool {
        role >= self.min_role()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Authenticated => "AUTHENTICATED",
            Permission::ReadRecords => "READ_RECORDS",
            Permission::CreateRecords => "CREATE_RECORDS",
            Permission::UpdateRecords => "UPDATE_RECORDS",
            Permission::UpdateAnyRecord => "UPDATE_ANY_RECORD",
            Permission::DeleteRecords => "DELETE_RECORDS",
            Permission::ExportData => "EXPORT_DATA",
            Permission::ImportData => "IMPORT_DATA",
            Permission::ReadAuditLog => "READ_AUDIT_LOG",
            Permission::ManageMembers => "MANAGE_MEMBERS",
            Permission::ManageOrganization => "MANAGE_ORGANIZATION",
            Permission::Configure => "CONFIGURE",
        }
    }
}

/// Who may call a method of a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No token needed (health, login).
    Public,
    /// No token needed, but every request counts in this per-client-address
    /// bucket first (sign-up, join, refresh, password reset, invitation
    /// acceptance: each runs bcrypt or creates something for anyone).
    Throttled(crate::model::LimitedAction),
    /// A valid access token of an active member holding this permission.
    Requires(Permission),
    /// A scheduler: `Authorization: Bearer $CRON_SECRET` (Vercel crons).
    Cron,
    /// Anyone holding a capability link (`crate::auth::links`): the path's
    /// `{token}` names it. Counted per client address (`LINK_CLIENT`) and
    /// per link (`LINK_TOKEN`); the handler gets a scope of the link's
    /// organization whose caller is the link.
    Link,
}

/// What an API key must hold to call a route method (every method that
/// needs a signed-in caller declares one; see `crate::auth::apikeys`).
/// A key holds scopes `<resource>:read` and `<resource>:write` (write
/// implies read) and the presets `*:read` and `*:write`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyScope {
    /// Not declared: keys are refused, and the route-table test fails.
    Undeclared,
    /// A person's route (identity, members, invitations, the organization,
    /// plan, sessions, API keys themselves): keys are refused.
    Refused,
    /// `<resource>:read`.
    Read(&'static str),
    /// `<resource>:write`.
    Write(&'static str),
}

impl KeyScope {
    /// The scope as keys hold it (`accounts:read`); `None` for routes that
    /// refuse keys.
    pub fn name(self) -> Option<String> {
        match self {
            KeyScope::Read(r) => Some(format!("{r}:read")),
            KeyScope::Write(r) => Some(format!("{r}:write")),
            KeyScope::Undeclared | KeyScope::Refused => None,
        }
    }

    /// Whether a key holding `held` may call a method declaring this scope.
    pub fn granted_by<S: AsRef<str>>(self, held: &[S]) -> bool {
        match self {
            KeyScope::Read(r) => grants(held, r, false),
            KeyScope::Write(r) => grants(held, r, true),
            KeyScope::Undeclared | KeyScope::Refused => false,
        }
    }
}

/// Whether scopes `held` grant `resource` (`*` only by a preset) for
/// reading, or for writing.
fn grants<S: AsRef<str>>(held: &[S], resource: &str, write: bool) -> bool {
    held.iter().any(|s| match parse_scope(s.as_ref()) {
        Some((r, w)) => (r == "*" || r == resource) && (w || !write),
        None => false,
    })
}

/// Whether the scope `s` is within `held`: what a key's scopes may be
/// narrowed to.
pub fn within<S: AsRef<str>>(s: &str, held: &[S]) -> bool {
    parse_scope(s).is_some_and(|(resource, write)| grants(held, resource, write))
}

/// A scope a key may hold: `(resource or "*", write)`; `None` if it is not
/// of the form `<resource>:read|write` with a resource of lowercase letters,
/// digits and dashes.
pub fn parse_scope(s: &str) -> Option<(&str, bool)> {
    let (resource, level) = s.split_once(':')?;
    let write = match level {
        "read" => false,
        "write" => true,
        _ => return None,
    };
    let well_formed = resource == "*"
        || (!resource.is_empty()
            && resource.len() <= 40
            && resource
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
    well_formed.then_some((resource, write))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_viewer_member_admin_owner() {
        assert!(Role::Viewer < Role::Member);
        assert!(Role::Member < Role::Admin);
        assert!(Role::Admin < Role::Owner);
    }

    #[test]
    fn a_viewer_reads_but_does_not_create() {
        assert!(Permission::ReadRecords.allows(Role::Viewer));
        assert!(!Permission::CreateRecords.allows(Role::Viewer));
    }

    #[test]
    fn a_member_updates_own_records_but_deletes_none() {
        assert!(Permission::UpdateRecords.allows(Role::Member));
        assert!(!Permission::UpdateAnyRecord.allows(Role::Member));
        assert!(!Permission::DeleteRecords.allows(Role::Member));
    }

    #[test]
    fn only_an_owner_manages_the_organization() {
        assert!(!Permission::ManageOrganization.allows(Role::Admin));
        assert!(Permission::ManageOrganization.allows(Role::Owner));
        assert!(Permission::ManageMembers.allows(Role::Admin));
    }

    #[test]
    fn write_implies_read_and_presets_cover_every_resource() {
        let accounts_read = KeyScope::Read("accounts");
        let accounts_write = KeyScope::Write("accounts");
        assert!(accounts_read.granted_by(&["accounts:read"]));
        assert!(!accounts_write.granted_by(&["accounts:read"]));
        assert!(accounts_read.granted_by(&["accounts:write"]));
        assert!(accounts_write.granted_by(&["accounts:write"]));
        assert!(!accounts_read.granted_by(&["contacts:write"]));
        assert!(accounts_read.granted_by(&["*:read"]));
        assert!(!accounts_write.granted_by(&["*:read"]));
        assert!(accounts_write.granted_by(&["*:write"]));
        assert!(!KeyScope::Refused.granted_by(&["*:write"]));
        assert!(!KeyScope::Undeclared.granted_by(&["*:write"]));
        assert!(!accounts_read.granted_by(&["accounts:admin", "accounts"]));
        assert_eq!(accounts_write.name().as_deref(), Some("accounts:write"));
        assert_eq!(KeyScope::Refused.name(), None);
        assert!(within("accounts:read", &["*:read"]));
        assert!(within("*:read", &["*:write"]));
        assert!(!within("*:read", &["accounts:write"]));
        assert!(!within("accounts:write", &["accounts:read"]));
    }

    #[test]
    fn only_resource_colon_level_is_a_scope() {
        assert_eq!(parse_scope("line-items:write"), Some(("line-items", true)));
        assert_eq!(parse_scope("*:read"), Some(("*", false)));
        for bad in [
            "accounts",
            "accounts:",
            ":read",
            "Accounts:read",
            "a b:read",
            "accounts:delete",
            "accounts:read:x",
        ] {
            assert_eq!(parse_scope(bad), None, "{bad}");
        }
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("owner"), None);
    }
}
