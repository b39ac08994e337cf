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
    fn roles_round_trip_through_their_names() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("owner"), None);
    }
}
