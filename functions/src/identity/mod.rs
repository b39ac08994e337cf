//! The identity context's rules: the organization's members (direct
//! creation, role and status changes, removal) and the organization itself
//! (settings, plan, soft delete, ownership transfer). The handlers in
//! `crate::members` and `crate::organization` parse requests and shape
//! answers; these modules decide, through the tenant `Scope` only.

pub mod members;
pub mod organization;
