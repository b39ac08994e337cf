//! The OpenAPI contract of the files context's routes: the presigned
//! upload, the documents' list, read, change and delete, and the upload's
//! completion.
//!
//! The document is generated from these declarations and schemathesis
//! checks the server against it, so each says exactly what its handler
//! takes and answers: change one with its handler.

use shared::runtime::openapi::{Body, Op, Param, Prop, Reply, Schema};

use super::handlers::{DOCUMENT, UPLOAD_FIELDS};

/// The record types a document may be attached to.
const RELATED_TYPES: &[&str] = &[
    "account",
    "contact",
    "lead",
    "opportunity",
    "task",
    "work_order",
];

/// A document as the API renders it, with `$extra` properties after its own.
macro_rules! document {
    ($($extra:expr),* $(,)?) => {
        Schema::Object(&[
            Prop::req("id", Schema::ID),
            Prop::req("fileName", Schema::STRING),
            Prop::req("contentType", Schema::STRING),
            Prop::req("size", Schema::COUNT),
            Prop::opt(
                "relatedTo",
                Schema::Nullable(&Schema::Object(&[
                    Prop::req("type", Schema::Enum(RELATED_TYPES)),
                    Prop::req("id", Schema::ID),
                ])),
            ),
            Prop::req("status", Schema::Enum(&["PENDING", "UPLOADED"])),
            Prop::opt("uploadedAt", Schema::TIME),
            Prop::req("version", Schema::Int { min: 1, max: i64::MAX }),
            Prop::req("createdAt", Schema::TIME),
            Prop::req("updatedAt", Schema::TIME),
            Prop::opt("createdBy", Schema::ID),
            Prop::opt("deletedAt", Schema::Nullable(&Schema::TIME)),
            Prop::opt("deletedBy", Schema::Nullable(&Schema::ID)),
            $($extra),*
        ])
    };
}

const DOCUMENT_RECORD: Schema = document!();

/// An item of a list page: a document, or in a sync a deleted one's
/// tombstone `{id, deletedAt}`.
const DOCUMENT_OR_TOMBSTONE: Schema = Schema::Object(&[
    Prop::req("id", Schema::ID),
    Prop::req("deletedAt", Schema::Nullable(&Schema::TIME)),
    Prop::opt("fileName", Schema::STRING),
    Prop::opt("contentType", Schema::STRING),
    Prop::opt("size", Schema::COUNT),
    Prop::opt("status", Schema::Enum(&["PENDING", "UPLOADED"])),
    Prop::opt(
        "version",
        Schema::Int {
            min: 1,
            max: i64::MAX,
        },
    ),
    Prop::opt("createdAt", Schema::TIME),
    Prop::opt("updatedAt", Schema::TIME),
]);

pub static UPLOADS_POST: Op = Op {
    summary: "Request an upload",
    description:
        "Checks the declared type (the accepted types, else 422 `UNSUPPORTED_FILE_TYPE`), \
        size (the plan's limit, else 422 `FILE_TOO_LARGE`) and `relatedTo`, creates the document \
        PENDING and answers a presigned request: send the file to `uploadUrl` with `method` and \
        exactly `headers` before `expiresAt`, then complete the document. Spends the plan's \
        uploads budget.",
    body: Body::Json(Schema::Fields(UPLOAD_FIELDS)),
    reply: Reply::Json(
        201,
        Schema::Object(&[
            Prop::req("documentId", Schema::ID),
            Prop::req("uploadUrl", Schema::Format("uri")),
            Prop::req("method", Schema::Enum(&["PUT"])),
            Prop::req("headers", Schema::Map(&Schema::STRING)),
            Prop::req("expiresAt", Schema::TIME),
            Prop::req("document", DOCUMENT_RECORD),
        ]),
    ),
    ..Op::DEFAULTS
};

pub static DOCUMENTS_GET: Op = Op {
    summary: "List documents",
    description: "Newest first unless sorted, paged by cursor, with search and filters; or, with \
        `updatedSince`, a delta sync (only `limit` and `cursor` besides): every document created, \
        changed or deleted since (deleted ones as tombstones `{id, deletedAt}`), the last page \
        carrying the next `syncToken` (410 `RESYNC_REQUIRED` past 30 days).",
    list: Some(&DOCUMENT.list),
    query: &[Param::opt(
        "updatedSince",
        Schema::STRING,
        "Delta sync: `0` for a first, full sync, else the `syncToken` of the last one. Takes \
        only `limit` and `cursor` besides.",
    )],
    reply: Reply::Json(
        200,
        Schema::Object(&[
            Prop::req("data", Schema::Array(&DOCUMENT_OR_TOMBSTONE)),
            Prop::req("nextCursor", Schema::Nullable(&Schema::STRING)),
            Prop::opt("syncToken", Schema::Nullable(&Schema::STRING)),
        ]),
    ),
    errors: &[410],
    ..Op::DEFAULTS
};

pub static DOCUMENTS_ID_GET: Op = Op {
    summary: "Get a document",
    description: "Once UPLOADED, with a short-lived presigned `downloadUrl` (each read is audited \
        as a download).",
    reply: Reply::Json(
        200,
        document!(
            Prop::opt("downloadUrl", Schema::Format("uri")),
            Prop::opt("downloadExpiresAt", Schema::TIME),
        ),
    ),
    ..Op::DEFAULTS
};

pub static DOCUMENTS_ID_PATCH: Op = Op {
    summary: "Rename or relink a document",
    description: "Only the fields sent change; `null` clears `relatedTo`. MEMBERs change only \
        their own documents. `If-Match: <version>` makes the change conditional (412 if the \
        document has moved on).",
    body: Body::Json(Schema::Patch(DOCUMENT.fields)),
    reply: Reply::Json(200, DOCUMENT_RECORD),
    errors: &[409, 412, 422],
    ..Op::DEFAULTS
};

pub static DOCUMENTS_ID_DELETE: Op = Op {
    summary: "Delete a document",
    description: "A soft delete, restorable for 30 days, after which the file is removed. MEMBERs \
        delete only the documents they uploaded.",
    reply: Reply::Empty(204),
    errors: &[409],
    ..Op::DEFAULTS
};

pub static DOCUMENTS_ID_COMPLETE_POST: Op = Op {
    summary: "Complete a document's upload",
    description: "Checks the stored file against the declared size and type and marks the \
        document UPLOADED; an UPLOADED document is answered as it is. 409 `UPLOAD_NOT_FOUND` \
        before the file is stored, `UPLOAD_MISMATCH` for another size or type, `UPLOAD_EXPIRED` \
        past 24 hours.",
    reply: Reply::Json(200, DOCUMENT_RECORD),
    ..Op::DEFAULTS
};
