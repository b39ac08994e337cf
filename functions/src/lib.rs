//! The domain: one folder per context, and the route table they are
//! served from.
//!
//! - [`identity`]: sign-up, sign-in, sessions, profile, invitations,
//!   members, the organization (rules, and their routes' `handlers`).
//! - [`crm`]: the record entities, a lead's conversion, the pipeline summary.
//! - [`workshop`]: vehicles and their odometer readings.
//! - [`files`]: documents in object storage.
//! - [`transfer`]: exports and imports.
//! - [`maintenance`]: scheduled cleanups, operator tasks, the demo seed.
//!
//! [`routes`] is the registry and route table (every route with the
//! permission each method needs and its contract, each context's
//! `contract` module); [`deploy`] makes the deployment files from it and
//! [`docs`] the OpenAPI document. The binaries under `api/` are one `main` each, handing their
//! route to `shared::runtime::serve`; `crm-local` serves the whole table in
//! one process. Domain code reaches data only through `shared`'s tenant
//! `Scope` or its `Unscoped` capability.

pub mod crm;
pub mod deploy;
pub mod docs;
pub mod emails;
pub mod files;
pub mod health;
pub mod identity;
pub mod maintenance;
pub mod routes;
pub mod transfer;
pub mod workshop;
