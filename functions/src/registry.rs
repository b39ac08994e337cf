//! The entity registry: every entity the API serves, each declared in its
//! context (`crm::accounts::ACCOUNT`, ...) and listed once, with the path
//! segment its routes take, in its context's `routes.rs` (whose
//! `shared::named_routes!` makes the routes and that context's
//! `ENTITIES`). This module concatenates those lists. Exports, imports,
//! the tenant purge, the OpenAPI document and `crate::indexes` walk them.
//! Nothing here names a handler or another context's rules: every context
//! may read the registry (the organization's usage counts its entities)
//! without an import cycle.

use std::sync::LazyLock;

use shared::records::Entity;

/// Every context's entities, each with its path segment.
pub static CONTEXTS: &[&[(&str, &Entity)]] = &[
    crate::crm::routes::ENTITIES,
    crate::workshop::routes::ENTITIES,
];

/// Every entity with its path segment (`/api/v1/<segment>`), in registry
/// order.
pub static ENTITY_PATHS: LazyLock<Vec<(&'static str, &'static Entity)>> =
    LazyLock::new(|| CONTEXTS.concat());

/// Every entity, in registry order.
pub static ENTITIES: LazyLock<Vec<&'static Entity>> =
    LazyLock::new(|| ENTITY_PATHS.iter().map(|(_, e)| *e).collect());
