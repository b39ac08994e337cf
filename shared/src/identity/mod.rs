//! The identity flows: sign-up, join, sign-in, refresh, sign-out and
//! password reset ([`flows`]), and the caller's own account ([`profile`]).
//! They stand on [`crate::auth`] (tokens, passwords, the caller) and never
//! the other way round.

pub mod flows;
pub mod profile;
