//! The files context's routes: uploads through a presigned URL and the
//! documents they become.

use shared::handler;
use shared::rbac::Access::Requires;
use shared::rbac::Permission::*;
use shared::runtime::entity;
use shared::runtime::openapi::{Doc, Tag};
use shared::runtime::{Deploy, Endpoint, Route};
use shared::storage::S3Permission::*;

use crate::files::handlers as documents;

pub static UPLOADS: Route = Route {
    name: "uploads",
    path: "/api/v1/uploads",
    methods: &[
        Endpoint::post(Requires(CreateRecords), handler!(documents::upload))
            .write("documents")
            .op(&crate::files::contract::UPLOADS_POST),
    ],
    deploy: Deploy::storage(&[PutObject]),
};

pub static DOCUMENTS: Route = Route {
    name: "documents",
    path: "/api/v1/documents",
    methods: &[
        Endpoint::get(Requires(ReadRecords), handler!(documents::list))
            .read("documents")
            .op(&crate::files::contract::DOCUMENTS_GET),
    ],
    deploy: Deploy::API,
};

/// DELETE needs only MEMBER here: MEMBERs delete their own documents, the
/// handler asks more of anyone else.
pub static DOCUMENTS_ID: Route = Route {
    name: "documents-id",
    path: "/api/v1/documents/{id}",
    methods: &[
        Endpoint::get(Requires(ReadRecords), handler!(documents::get))
            .read("documents")
            .op(&crate::files::contract::DOCUMENTS_ID_GET),
        Endpoint::patch(Requires(UpdateRecords), handler!(documents::update))
            .write("documents")
            .op(&crate::files::contract::DOCUMENTS_ID_PATCH),
        Endpoint::delete(Requires(CreateRecords), handler!(documents::delete))
            .write("documents")
            .op(&crate::files::contract::DOCUMENTS_ID_DELETE),
    ],
    deploy: Deploy::storage(&[GetObject]),
};

pub static DOCUMENTS_ID_COMPLETE: Route = Route {
    name: "documents-id-complete",
    path: "/api/v1/documents/{id}/complete",
    methods: &[
        Endpoint::post(Requires(UpdateRecords), handler!(documents::complete))
            .write("documents")
            .op(&crate::files::contract::DOCUMENTS_ID_COMPLETE_POST),
    ],
    // ListBucket makes S3 answer a HEAD of a missing object 404, not 403.
    deploy: Deploy::storage(&[GetObject, ListBucket]),
};

pub static DOCUMENTS_ID_RESTORE: Route = Route {
    name: "documents-id-restore",
    path: "/api/v1/documents/{id}/restore",
    methods: &[Endpoint::post(
        Requires(DeleteRecords),
        handler!(entity::handle_restore, &documents::DOCUMENT),
    )
    .write("documents")
    .doc(Doc::Restore(&documents::DOCUMENT))],
    deploy: Deploy::API,
};

shared::named_routes! {
    routes {
        UPLOADS,
        DOCUMENTS,
        DOCUMENTS_ID,
        DOCUMENTS_ID_COMPLETE,
        DOCUMENTS_ID_RESTORE,
    }
}

/// This context's tags in the OpenAPI document (its group: Files).
pub static TAGS: &[Tag] = &[
    Tag {
        name: "uploads",
        description: "Presigned uploads straight to object storage.",
    },
    Tag {
        name: "documents",
        description: "Files attached to records, with short-lived download links.",
    },
];
