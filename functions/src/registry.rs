//! The entity registry: every entity the API serves, each declared in its
//! context (`crm::accounts::ACCOUNT`, ...) and listed once, with the path
//! segment its routes take, in its context's `routes.rs` (whose
//! `shared::named_routes!` makes the routes and that context's
//! `ENTITIES`). This module concatenates those lists. Exports, imports,
//! the tenant purge and the OpenAPI document walk them; [`indexes`] is what
//! the migration creates. Nothing here names a handler, so a function
//! binary that calls [`indexes`] links no other route.

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

/// The indexes the registry's declarations call for, and those the
/// contexts need beyond them.
pub fn indexes() -> Vec<shared::migrate::Index> {
    let mut all = shared::records::indexes_of(&ENTITIES);
    all.extend(crate::workshop::indexes());
    all.extend(crate::crm::forms::indexes());
    all.extend(crate::identity::audit_log::indexes());
    all
}
