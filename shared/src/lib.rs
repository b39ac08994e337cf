//! The platform every function stands on, in layers: a module uses only
//! the layers below its own, so there is no import cycle (the
//! `architecture` test checks it) and the crate reads bottom-up.
//!
//! 1. Vocabulary and errors: [`model`] (roles, plans, user statuses, limited
//!    actions), [`codes`] (every problem `code`), [`response`], [`error`] (the one error type, rendered as
//!    `application/problem+json`), [`rbac`] (permissions and route access),
//!    [`limits`] (rate-limit arithmetic), [`time`], [`validate`],
//!    [`fields`] (the declarative field engine), [`cursor`], [`hex`], [`http`]
//!    (requests, JSON bodies, query strings), [`logging`], [`outbound`]
//!    (calls to other services), [`seal`] (encryption of what is kept at
//!    rest), [`jobs`] (what a scheduled run is and reports), [`apikey`]
//!    (the shape, checksum and stored hash of an API key), [`signature`]
//!    (Standard Webhooks signatures), [`netguard`] (the addresses our own
//!    outbound requests must never reach).
//! 2. Configuration: [`config`], [`jwt`] (access-token keys), [`storage`]
//!    (the S3-compatible client).
//! 3. Stored data: [`store`] (collection names, request metadata, decoding),
//!    [`migrate`] (indexes), [`state`] (what a cold start builds),
//!    [`transaction`] (the one retry-on-conflict helper).
//! 4. Cross-cutting records: [`audit`], [`ratelimit`] (buckets counted in
//!    MongoDB), [`email`] (the outbox and its SMTP delivery), [`webhook`]
//!    (events fanned out to endpoints, signed, sent and retried).
//! 5. The caller: [`auth`] turns a bearer token into an [`auth::Caller`] by
//!    re-reading the user and organization; sessions and refresh tokens;
//!    [`idempotency`] keeps each caller's keyed answers.
//! 6. Tenancy: [`db`], the organization-scoped [`db::Scope`] that only the
//!    runtime builds after authentication and authorization, and
//!    [`unscoped`], the one narrow capability for what runs before there is
//!    a tenant (sign-in, invitations, scheduled jobs, operator commands),
//!    opened with a stated [`unscoped::Purpose`].
//! 7. The record engine: [`records`] (list, get, create, update, delete,
//!    restore of any declared entity).
//! 8. The runtime: [`runtime`] walks each request down the pipeline's
//!    layers, one module each (request id, CORS, body limit, method,
//!    authentication, rate limit, authorization, idempotency, the handler,
//!    and the response on the way out), and adapts Lambda, Vercel and a
//!    local HTTP server to it; an entity's routes as handlers
//!    ([`runtime::entity`]) and the contract every route method declares,
//!    from which the OpenAPI document is generated ([`runtime::openapi`]).
//!
//! The crate owns no domain: identity flows, invitations, documents,
//! transfer, cleanups and operator tasks live in the `functions` library,
//! one folder per context. Outside this crate nothing names the MongoDB
//! driver: domain code goes through [`db::Scope`] or [`unscoped::Unscoped`].

pub mod apikey;
pub mod audit;
pub mod auth;
pub mod codes;
pub mod config;
pub mod cursor;
pub mod db;
pub mod email;
pub mod error;
pub mod fields;
pub mod hex;
pub mod http;
pub mod idempotency;
pub mod jobs;
pub mod jwt;
pub mod limits;
pub mod logging;
pub mod migrate;
pub mod model;
pub mod netguard;
pub mod outbound;
pub mod ratelimit;
pub mod rbac;
pub mod records;
pub mod response;
pub mod runtime;
pub mod seal;
pub mod signature;
pub mod state;
pub mod storage;
pub mod store;
pub mod time;
pub mod transaction;
pub mod unscoped;
pub mod validate;
pub mod webhook;

pub use bson;
pub use error::ApiError;
pub use state::State;
