//! Documents: files (damage photos, signed estimates, invoices, proposals)
//! attached to CRM records, uploaded and downloaded with presigned URLs.

use shared::db::collections;
use shared::fields::{Field, Kind};
use shared::records::{Entity, Filter, FilterKind, ListSpec};
use shared::runtime::{Ctx, HandlerResult};

const RELATED_TO: Kind = Kind::RelatedTo(&[
    ("account", crate::crm::collections::ACCOUNTS),
    ("contact", crate::crm::collections::CONTACTS),
    ("lead", crate::crm::collections::LEADS),
    ("opportunity", crate::crm::collections::OPPORTUNITIES),
    ("task", crate::crm::collections::TASKS),
    // The workshop's collection, named here: files import no workshop
    // module (the workshop's inspection photos import files).
    ("work_order", "work_orders"),
]);

const FILE_NAME: Kind = Kind::Text { min: 1, max: 255 };

/// The body of `POST /api/v1/uploads`.
pub static UPLOAD_FIELDS: &[Field] = &[
    Field::required("fileName", FILE_NAME),
    Field::required("contentType", Kind::Text { min: 3, max: 255 }),
    Field::required(
        "size",
        Kind::Integer {
            min: 1,
            max: i64::MAX,
        },
    ),
    Field::optional("relatedTo", RELATED_TO),
];

/// Lists, reads and PATCHes (rename, relink) go through the shared record
/// semantics; the file itself is never changed in place.
pub static DOCUMENT: Entity = Entity {
    collection: collections::DOCUMENTS,
    resource: "document",
    list: ListSpec {
        sort_fields: &["createdAt", "updatedAt", "fileName"],
        default_sort: "-createdAt",
        search_fields: &["fileName"],
        filters: &[
            Filter {
                param: "relatedToType",
                field: "relatedTo.type",
                kind: FilterKind::Text,
            },
            Filter {
                param: "relatedToId",
                field: "relatedTo.id",
                kind: FilterKind::Id,
            },
            Filter::text("contentType"),
            Filter::text("status"),
        ],
    },
    fields: &[
        Field::required("fileName", FILE_NAME),
        Field::optional("relatedTo", RELATED_TO),
    ],
    ..Entity::DEFAULTS
};

/// `POST /api/v1/uploads`.
pub async fn upload(ctx: Ctx) -> HandlerResult {
    crate::files::documents::request_upload(&ctx.req, ctx.scope()?, &DOCUMENT, UPLOAD_FIELDS).await
}

/// `GET /api/v1/documents`.
pub async fn list(ctx: Ctx) -> HandlerResult {
    shared::runtime::entity::handle_list(ctx, &DOCUMENT).await
}

/// `GET /api/v1/documents/{id}`, with a download URL once uploaded.
pub async fn get(ctx: Ctx) -> HandlerResult {
    crate::files::documents::get(ctx.scope()?, &DOCUMENT, ctx.path_id()?).await
}

/// `PATCH /api/v1/documents/{id}`: rename or relink.
pub async fn update(ctx: Ctx) -> HandlerResult {
    shared::runtime::entity::handle_update(ctx, &DOCUMENT).await
}

/// `DELETE /api/v1/documents/{id}`.
pub async fn delete(ctx: Ctx) -> HandlerResult {
    crate::files::documents::delete(ctx.scope()?, &DOCUMENT, ctx.path_id()?).await
}

/// `POST /api/v1/documents/{id}/complete`.
pub async fn complete(ctx: Ctx) -> HandlerResult {
    let id = ctx.path_id()?;
    crate::files::documents::complete(ctx.scope()?, &DOCUMENT, id).await
}
