//! The domain: one folder per context, each with its `routes.rs`, and the
//! route table they are served from.
//!
//! - [`identity`]: sign-up, sign-in, sessions, profile, invitations,
//!   members, the organization (rules, and their routes' `handlers`).
//! - [`crm`]: the record entities, a lead's conversion, the pipeline
//!   summary, the public forms.
//! - [`workshop`]: vehicles, parts, work orders and appointments.
//! - [`files`]: documents in object storage.
//! - [`transfer`]: exports and imports.
//! - [`maintenance`]: scheduled cleanups, operator tasks, the demo seed.
//! - [`service`]: the health check and the OpenAPI document.
//!
//! Beside them: [`calendar`] (the organization's time zone, opening hours
//! and bays, which identity accepts and the workshop keeps to), [`fees`]
//! (the fee rules, likewise), [`reminder_settings`] (the service
//! reminders', likewise) and [`emails`] (the templates). [`registry`] lists the entities, [`indexes`]
//! what the migration creates; [`routes`]
//! concatenates the contexts' route tables; [`deploy`] makes the
//! deployment files from it. The binaries under `api/` are one `main`
//! each, handing their route to `shared::runtime::serve`; `crm-local`
//! serves the whole table in one process. Domain code reaches data only
//! through `shared`'s tenant `Scope` or its `Unscoped` capability.

pub mod calendar;
pub mod crm;
pub mod deploy;
pub mod emails;
pub mod fees;
pub mod files;
pub mod identity;
pub mod indexes;
pub mod maintenance;
pub mod registry;
pub mod reminder_settings;
pub mod routes;
pub mod service;
pub mod transfer;
pub mod workshop;
