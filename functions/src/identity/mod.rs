//! The identity context's rules: signing up, joining and signing in
//! ([`flows`]), the caller's own account ([`profile`]), invitations
//! ([`invitations`]), the organization's members (direct creation, role and
//! status changes, removal), the organization itself (settings, plan,
//! soft delete, ownership transfer) and its audit log for its admins
//! ([`audit_log`]). The [`handlers`] parse requests and
//! shape answers; these modules decide, through the tenant `Scope`, or
//! before there is a tenant through an `Unscoped` handle.

pub mod api_keys;
pub mod audit_log;
pub mod contract;
pub mod flows;
pub mod handlers;
pub mod invitations;
pub mod members;
pub mod organization;
pub mod profile;
pub mod routes;
pub mod webhooks;
