//! The transfer context's routes: exports and imports.

use shared::handler;
use shared::rbac::Access::Requires;
use shared::rbac::Permission::*;
use shared::runtime::openapi::Tag;
use shared::runtime::{Deploy, Endpoint, Route, Sizing};

pub static EXPORTS: Route = Route {
    name: "exports",
    path: "/api/v1/exports",
    methods: &[
        Endpoint::post(Requires(ExportData), handler!(crate::transfer::export))
            .write("exports")
            .op(&crate::transfer::contract::EXPORTS_POST),
    ],
    deploy: Deploy::API.sized(Sizing::BULK),
};

pub static IMPORTS: Route = Route {
    name: "imports",
    path: "/api/v1/imports",
    methods: &[
        Endpoint::post(Requires(ImportData), handler!(crate::transfer::import))
            .write("imports")
            .op(&crate::transfer::contract::IMPORTS_POST),
    ],
    deploy: Deploy::API.sized(Sizing::BULK),
};

shared::named_routes! {
    routes {
        EXPORTS,
        IMPORTS,
    }
}

/// This context's tags in the OpenAPI document (its group: Operations).
pub static TAGS: &[Tag] = &[
    Tag {
        name: "exports",
        description: "A whole entity as CSV or JSON (ADMIN+).",
    },
    Tag {
        name: "imports",
        description: "CSV rows into an entity, checked row by row (ADMIN+).",
    },
];
