//! The route table: every context's routes (its `routes.rs`, where each
//! route names its path, the access each method needs, its handler and
//! its contract), concatenated. The local server serves from [`ROUTES`];
//! `cargo run --bin deploy-files` makes one function binary per route (the
//! Rust path of its static from [`NAMED_ROUTES`]) and the deployment files
//! and OpenAPI document; tests check all of them agree with it. Matching is
//! by specificity (`shared::runtime::RouteTable`), so the order is only
//! that of listings and deploy files.

use std::sync::LazyLock;

use shared::runtime::{Named, Route};

/// Every route with the Rust path of its static.
pub static NAMED_ROUTES: LazyLock<Vec<Named>> = LazyLock::new(|| {
    [
        crate::service::routes::ROUTES,
        crate::identity::routes::ROUTES,
        crate::crm::routes::ROUTES,
        crate::workshop::routes::ROUTES,
        crate::files::routes::ROUTES,
        crate::transfer::routes::ROUTES,
        crate::maintenance::routes::ROUTES,
    ]
    .concat()
});

/// Every route.
pub static ROUTES: LazyLock<Vec<&'static Route>> =
    LazyLock::new(|| NAMED_ROUTES.iter().map(|(route, _)| *route).collect());
