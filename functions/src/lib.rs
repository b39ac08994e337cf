//! The API's route handlers and the route table they are served from.
//!
//! Each module handles one resource; [`routes`] lists every route with the
//! permission each method needs. The binaries under `api/` are one `main`
//! each, handing their route to `shared::runtime::serve`; `crm-local` serves
//! the whole table in one process. Handlers reach data only through `shared`.

pub mod accounts;
pub mod auth;
pub mod contacts;
pub mod deploy;
pub mod documents;
pub mod files;
pub mod health;
pub mod identity;
pub mod invitations;
pub mod leads;
pub mod maintenance;
pub mod members;
pub mod opportunities;
pub mod organization;
pub mod products;
pub mod routes;
pub mod tasks;
pub mod transfer;
pub mod workshop;
