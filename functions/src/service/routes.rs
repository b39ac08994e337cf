//! The service's own routes: its health, its OpenAPI document and the
//! reference page that renders it.

use shared::handler;
use shared::rbac::Access::Public;
use shared::runtime::{Deploy, Endpoint, Route};

use crate::service::{docs, health};

pub static HEALTH: Route = Route {
    name: "health",
    path: "/api/v1/health",
    methods: &[Endpoint::get(Public, handler!(health::handle)).op(&docs::HEALTH_GET)],
    deploy: Deploy::API,
};

pub static OPENAPI: Route = Route {
    name: "openapi",
    path: "/api/v1/openapi.json",
    methods: &[Endpoint::get(Public, handler!(docs::openapi_json)).op(&docs::OPENAPI_JSON_GET)],
    deploy: Deploy::API,
};

pub static DOCS: Route = Route {
    name: "docs",
    path: "/api/v1/docs",
    methods: &[Endpoint::get(Public, handler!(docs::page)).op(&docs::DOCS_GET)],
    deploy: Deploy::API,
};

pub static DOCS_REDOC: Route = Route {
    name: "docs-redoc",
    path: "/api/v1/docs/redoc-2.5.4.js",
    methods: &[Endpoint::get(Public, handler!(docs::redoc)).op(&docs::DOCS_REDOC_GET)],
    deploy: Deploy::API,
};

shared::named_routes! {
    routes {
        HEALTH,
        OPENAPI,
        DOCS,
        DOCS_REDOC,
    }
}
