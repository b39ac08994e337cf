//! The platform every function stands on.
//!
//! A request travels through these modules in this order:
//!
//! - [`runtime`]: the adapter (AWS Lambda or a local HTTP server) turns the
//!   platform's event into an [`http::ApiRequest`], runs the pipeline (request
//!   id, CORS, body limit, method check, authentication, rate limit,
//!   authorization) and hands a [`runtime::Ctx`] to the route's handler.
//! - [`auth`]: tokens, passwords and the sign-in flows; it turns a bearer token
//!   into a [`auth::Caller`] by re-reading the user and organization.
//! - [`ratelimit`]: plan buckets kept in MongoDB, shared by every instance.
//! - [`rbac`]: roles and permissions; the only place that builds a
//!   [`db::Scope`], the organization-scoped data handle.
//! - [`db`] and [`records`]: organization-scoped reads and transactional writes,
//!   each mutation with its [`audit`] entry in the same transaction.
//! - [`error`]: the one error type, rendered as `application/problem+json`.
//! - [`storage`] and [`documents`]: files in S3-compatible storage through
//!   presigned URLs, and the `documents` records that track them.
//! - [`cleanup`]: the scheduled jobs (tenant purge, audit retention, session
//!   and file sweeps) that the route table schedules.
//!
//! Function code never touches the MongoDB driver: it goes through [`db::Scope`]
//! (tenant data) or the flows in [`auth`] and [`members`].

pub mod admin;
pub mod audit;
pub mod auth;
pub mod cleanup;
pub mod config;
pub mod cursor;
pub mod db;
pub mod documents;
pub mod error;
pub mod fields;
pub mod http;
pub mod idempotency;
pub mod invitations;
pub mod logging;
pub mod members;
pub mod migrate;
pub mod organization;
pub mod ratelimit;
pub mod rbac;
pub mod records;
pub mod runtime;
pub mod seed;
pub mod state;
pub mod storage;
pub mod transfer;
pub mod validate;

pub use bson;
pub use error::ApiError;
pub use state::State;
