//! The identity routes' handlers: each reads its request, calls the rules
//! of its context (`super::flows`, `super::profile`, `super::invitations`,
//! `super::members`, `super::organization`) and shapes the answer.

pub mod auth;
pub mod invitations;
pub mod members;
pub mod organization;
