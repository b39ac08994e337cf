//! The service itself, beside the contexts: its health check, and the
//! API's contract for its clients (the OpenAPI document and its reference
//! page). [`routes`] serves them.

pub mod docs;
pub mod health;
pub mod routes;
