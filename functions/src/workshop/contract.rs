//! The OpenAPI contract of the workshop context's own routes (odometer
//! readings, service history, stock adjustments and movements, work-order
//! transitions, lines, approval, invoice and payments, appointment
//! availability): one [`Op`] per route method. The API's document is
//! generated from these declarations, and schemathesis checks the running
//! server against that document, so each one says exactly what its
//! handler accepts and answers.

use shared::runtime::openapi::{Body, Op, Param, Prop, Reply, Schema};

use super::invoices::PaymentMethod;
use super::lines::NEW_LINE;
use super::order::{Approval, ApprovalMethod, LineKind, Status};
use super::parts::{ADJUSTMENT, PART};
use super::transitions::TRANSITION;
use super::vehicles::{READING, VEHICLE};
use super::work_orders::WORK_ORDER;

/// What a customer decides on a line (an approval names no PENDING).
const DECISIONS: &[&str] = &[Approval::Approved.as_str(), Approval::Declined.as_str()];
/// The lines of a decision, staff's or a share link's.
const DECIDED_LINES: Schema = Schema::Array(&Schema::Object(&[
    Prop::req("lineId", Schema::ID),
    Prop::req("decision", Schema::Enum(DECISIONS)),
]));

/// The statuses of a work order that has an invoice.
const BILLED: &[&str] = &[Status::Invoiced.as_str(), Status::Paid.as_str()];

/// Any whole number (a stock movement's signed `delta`).
const INTEGER: Schema = Schema::Int {
    min: i64::MIN,
    max: i64::MAX,
};

/// An odometer reading as the API renders it.
const READING_ROW: Schema = Schema::Object(&[
    Prop::req("id", Schema::ID),
    Prop::req("vehicleId", Schema::ID),
    Prop::req("value", Schema::COUNT),
    Prop::req("unit", Schema::Enum(&["km", "mi"])),
    Prop::req("readAt", Schema::TIME),
    Prop::req("correction", Schema::Bool),
    // Null for a reading sent to the vehicle; the work order's for its
    // `odometerIn`; absent on the demo data's opening readings.
    Prop::opt("workOrderId", Schema::Nullable(&Schema::ID)),
    Prop::req("createdBy", Schema::ID),
    Prop::req("createdAt", Schema::TIME),
    Prop::req("organizationId", Schema::ID),
]);

/// The properties of a stock movement as the API renders it.
const MOVEMENT_PROPS: &[Prop] = &[
    Prop::req("id", Schema::ID),
    Prop::req("partId", Schema::ID),
    Prop::req("delta", INTEGER),
    Prop::req(
        "reason",
        Schema::Enum(&["RECEIVED", "COUNT", "DAMAGED", "RETURNED", "CONSUMED"]),
    ),
    Prop::req("note", Schema::Nullable(&Schema::STRING)),
    Prop::req("workOrderId", Schema::Nullable(&Schema::ID)),
    Prop::req("actor", Schema::ID),
    Prop::req("createdAt", Schema::TIME),
];

/// A discount as entered: `{percent}` or `{amount}`.
const DISCOUNT: Schema = Schema::Object(&[
    Prop::opt("percent", Schema::Number),
    Prop::opt("amount", Schema::COUNT),
]);

/// A work-order line as stored on the work order and copied to its invoice.
const LINE: Schema = Schema::Object(&[
    Prop::req("id", Schema::ID),
    Prop::req("type", Schema::Enum(LineKind::NAMES)),
    Prop::opt("description", Schema::STRING),
    Prop::req("quantity", Schema::COUNT),
    // An ADJUSTMENT's price, amount and tax may be negative.
    Prop::req("unitPrice", INTEGER),
    Prop::opt("taxRate", Schema::COUNT),
    Prop::opt("partId", Schema::ID),
    Prop::req("approval", Schema::Enum(Approval::NAMES)),
    Prop::req("amount", INTEGER),
    Prop::req("tax", INTEGER),
    // quantity x unit price; amount = gross - lineDiscount - orderDiscount.
    Prop::opt("gross", INTEGER),
    Prop::opt("discount", DISCOUNT),
    Prop::opt("lineDiscount", Schema::COUNT),
    Prop::opt("orderDiscount", Schema::COUNT),
    // A line a fee rule keeps: the rule's name.
    Prop::opt("feeRule", Schema::STRING),
    Prop::opt(
        "group",
        Schema::Object(&[
            Prop::req("id", Schema::ID),
            Prop::req("cannedJobId", Schema::ID),
            Prop::req("name", Schema::STRING),
        ]),
    ),
    // An ADJUSTMENT line's group as it was added (its lines and their net).
    Prop::opt(
        "package",
        Schema::Object(&[
            Prop::req("lines", Schema::Array(&Schema::ID)),
            Prop::req("net", INTEGER),
            Prop::req("price", INTEGER),
        ]),
    ),
    Prop::opt("clockedMinutes", INTEGER),
    // A PART line's part cost when it was added.
    Prop::opt("unitCost", Schema::COUNT),
    Prop::opt(
        "technicianSplits",
        Schema::Array(&Schema::Object(&[
            Prop::req("technicianId", Schema::ID),
            Prop::req("shareBps", Schema::COUNT),
        ])),
    ),
    Prop::opt("approvedBy", Schema::STRING),
    Prop::opt("approvalMethod", Schema::Enum(ApprovalMethod::NAMES)),
    Prop::opt("approvedAt", Schema::TIME),
    Prop::opt("approvalIp", Schema::Nullable(&Schema::STRING)),
]);

/// A payment taken on an invoiced work order.
const PAYMENT: Schema = Schema::Object(&[
    Prop::req("id", Schema::ID),
    Prop::req("amount", Schema::COUNT),
    Prop::req("method", Schema::Enum(PaymentMethod::NAMES)),
    Prop::req("paidAt", Schema::TIME),
    Prop::req("recordedBy", Schema::ID),
    Prop::req("createdAt", Schema::TIME),
    Prop::opt("reference", Schema::STRING),
]);

/// The invoice as issued (frozen), with the work order's payments so far.
const INVOICE: Schema = Schema::Object(&[
    Prop::req("number", Schema::STRING),
    Prop::req("issuedAt", Schema::TIME),
    Prop::req("workOrderNumber", Schema::STRING),
    Prop::req("currency", Schema::STRING),
    Prop::req(
        "customer",
        Schema::Nullable(&Schema::Object(&[
            Prop::req("id", Schema::ID),
            Prop::opt("name", Schema::STRING),
            Prop::opt("email", Schema::STRING),
            Prop::opt("phone", Schema::STRING),
        ])),
    ),
    Prop::req(
        "vehicle",
        Schema::Nullable(&Schema::Object(&[
            Prop::req("id", Schema::ID),
            Prop::opt("vin", Schema::STRING),
            Prop::opt("plate", Schema::STRING),
            Prop::opt("make", Schema::STRING),
            Prop::opt("model", Schema::STRING),
            Prop::opt("year", Schema::COUNT),
        ])),
    ),
    Prop::req("odometerIn", Schema::Nullable(&Schema::COUNT)),
    Prop::req("lines", Schema::Array(&LINE)),
    Prop::req("subtotal", Schema::COUNT),
    Prop::req("tax", Schema::COUNT),
    Prop::req("total", Schema::COUNT),
    Prop::opt("discountTotal", Schema::COUNT),
    Prop::opt("taxExempt", Schema::Bool),
    Prop::opt("taxExemptReason", Schema::Nullable(&Schema::STRING)),
    Prop::req("workOrderId", Schema::ID),
    Prop::req("status", Schema::Enum(BILLED)),
    Prop::req("payments", Schema::Array(&PAYMENT)),
    Prop::req("amountPaid", Schema::COUNT),
    Prop::req("balance", Schema::COUNT),
]);

/// A free slot of the availability answer.
const SLOT: Schema = Schema::Object(&[
    Prop::req("bay", Schema::STRING),
    Prop::req("startAt", Schema::TIME),
    Prop::req("endAt", Schema::TIME),
]);

pub static VEHICLES_ID_ODOMETER_GET: Op = Op {
    summary: "List a vehicle's odometer readings",
    description: "Newest first, paged by cursor. Includes the readings work orders took as \
        their `odometerIn`.",
    list: Some(&super::vehicles::READINGS_LIST),
    reply: Reply::Json(200, Schema::Page(&READING_ROW)),
    ..Op::DEFAULTS
};

pub static VEHICLES_ID_ODOMETER_POST: Op = Op {
    summary: "Record an odometer reading",
    description: "`readAt` defaults to now and may not be more than 5 minutes ahead. A reading \
        lower than an earlier one (or higher than a later one) is 422 `ODOMETER_DECREASING` \
        unless an ADMIN+ sends `correction: true`. The vehicle shows the newest reading.",
    body: Body::Json(Schema::Fields(READING)),
    reply: Reply::Json(201, READING_ROW),
    ..Op::DEFAULTS
};

pub static VEHICLES_ID_HISTORY_GET: Op = Op {
    summary: "Get a vehicle's service history",
    description: "The vehicle and its live work orders, newest first, paged by cursor.",
    list: Some(&super::vehicles::HISTORY_LIST),
    reply: Reply::Json(
        200,
        Schema::Object(&[
            Prop::req("vehicle", Schema::Record(&VEHICLE)),
            Prop::req("data", Schema::Array(&Schema::Record(&WORK_ORDER))),
            Prop::req("nextCursor", Schema::Nullable(&Schema::STRING)),
        ]),
    ),
    ..Op::DEFAULTS
};

pub static PARTS_ID_ADJUSTMENTS_POST: Op = Op {
    summary: "Adjust a part's stock",
    description: "Moves `onHand` by `quantity` (non-zero; negative removes) and records the \
        movement, in one transaction. 409 `INSUFFICIENT_STOCK` when the stock would fall \
        below what open work orders reserve, or below 0. Answers the movement with the part \
        after it.",
    body: Body::Json(Schema::Fields(ADJUSTMENT)),
    reply: Reply::Json(
        201,
        Schema::Object(&[
            Prop::req("id", Schema::ID),
            Prop::req("partId", Schema::ID),
            Prop::req("delta", INTEGER),
            Prop::req(
                "reason",
                Schema::Enum(&["RECEIVED", "COUNT", "DAMAGED", "RETURNED"]),
            ),
            Prop::req("note", Schema::Nullable(&Schema::STRING)),
            Prop::req("workOrderId", Schema::Nullable(&Schema::ID)),
            Prop::req("actor", Schema::ID),
            Prop::req("createdAt", Schema::TIME),
            Prop::req("part", Schema::Record(&PART)),
        ]),
    ),
    ..Op::DEFAULTS
};

pub static PARTS_ID_MOVEMENTS_GET: Op = Op {
    summary: "List a part's stock movements",
    description: "Newest first, paged by cursor: adjustments, and what work orders consumed \
        (`CONSUMED`, naming the work order).",
    list: Some(&super::parts::MOVEMENTS_LIST),
    reply: Reply::Json(200, Schema::Page(&Schema::Object(MOVEMENT_PROPS))),
    ..Op::DEFAULTS
};

pub static WORK_ORDERS_ID_TRANSITION_POST: Op = Op {
    summary: "Move a work order to another status",
    describe: Some(|| {
        format!(
            "Only along the allowed transitions ({}), else 409 `INVALID_TRANSITION`. \
            IN_PROGRESS needs an approved line, PAID a balance of 0. MEMBERs move only work \
            orders they created or are assigned; invoicing, marking paid and cancelling work in \
            progress need an ADMIN+. COMPLETED consumes the reserved parts, CANCELLED releases \
            them, INVOICED issues the invoice.",
            Status::transitions()
        )
    }),
    body: Body::Json(Schema::Fields(TRANSITION)),
    reply: Reply::Json(200, Schema::Record(&WORK_ORDER)),
    ..Op::DEFAULTS
};

pub static WORK_ORDERS_ID_LINES_POST: Op = Op {
    summary: "Add a line to a work order",
    description: "Before the work order is COMPLETED (else 409). A PART line needs `partId` \
        (and only it takes one), defaults its price, tax rate and description from the part \
        and reserves its quantity (409 `INSUFFICIENT_STOCK`); other lines need `unitPrice`. \
        LABOR quantities are hundredths of an hour. The line starts PENDING approval. \
        Answers the whole work order.",
    body: Body::Json(Schema::Fields(NEW_LINE)),
    reply: Reply::Json(201, Schema::Record(&WORK_ORDER)),
    ..Op::DEFAULTS
};

pub static WORK_ORDERS_ID_LINES_ID_PATCH: Op = Op {
    summary: "Change a work-order line",
    description: "Before the work order is COMPLETED (else 409). Fields cannot be cleared. A \
        changed quantity moves a PART line's reservation (409 `INSUFFICIENT_STOCK`); a changed \
        quantity or price puts an approved line back to PENDING. Answers the whole work order.",
    body: Body::Json(Schema::Object(&[
        Prop::opt("description", Schema::Text { min: 1, max: 500 }),
        Prop::opt(
            "quantity",
            Schema::Int {
                min: 1,
                max: 1_000_000,
            },
        ),
        Prop::opt(
            "unitPrice",
            Schema::Int {
                min: 0,
                max: 1_000_000_000_000_000,
            },
        ),
        Prop::opt(
            "taxRate",
            Schema::Int {
                min: 0,
                max: 10_000,
            },
        ),
    ])),
    reply: Reply::Json(200, Schema::Record(&WORK_ORDER)),
    errors: &[409, 422],
    ..Op::DEFAULTS
};

pub static WORK_ORDERS_ID_LINES_ID_DELETE: Op = Op {
    summary: "Remove a work-order line",
    description: "Before the work order is COMPLETED (else 409); releases the stock a PART \
        line held. Answers the whole work order.",
    reply: Reply::Json(200, Schema::Record(&WORK_ORDER)),
    errors: &[409],
    ..Op::DEFAULTS
};

pub static WORK_ORDERS_ID_APPROVAL_POST: Op = Op {
    summary: "Record the customer's approval of work-order lines",
    description: "1 to 200 decisions on lines of the work order (422 for a line that is not \
        one), with who approved, how, when and from which address. Before the work order is \
        COMPLETED (else 409). Declining a PART line releases its stock; approving a declined \
        one reserves it again (409 `INSUFFICIENT_STOCK`). Answers the whole work order.",
    body: Body::Json(Schema::Object(&[
        Prop::req("lines", DECIDED_LINES),
        Prop::req("approvedBy", Schema::Text { min: 1, max: 200 }),
        Prop::req("method", Schema::Enum(ApprovalMethod::STAFF)),
    ])),
    reply: Reply::Json(200, Schema::Record(&WORK_ORDER)),
    ..Op::DEFAULTS
};

pub static WORK_ORDERS_ID_INVOICE_GET: Op = Op {
    summary: "Get a work order's invoice",
    description: "The invoice as issued when the work order became INVOICED (a frozen copy of \
        its counted lines, totals, customer and vehicle), with the payments so far, the \
        amount paid and the balance. 404 before it is invoiced.",
    reply: Reply::Json(200, INVOICE),
    ..Op::DEFAULTS
};

pub static WORK_ORDERS_ID_PAYMENTS_POST: Op = Op {
    summary: "Take a payment on an invoiced work order",
    description: "Only on an INVOICED work order (else 409). `amount` in minor units, at most \
        the balance (422 `OVERPAYMENT`); `paidAt` defaults to now and may not be more than 5 \
        minutes ahead. The payment that brings the balance to 0 marks the work order PAID. \
        Answers the whole work order.",
    body: Body::Json(Schema::Object(&[
        Prop::req(
            "amount",
            Schema::Int {
                min: 1,
                max: 1_000_000_000_000_000,
            },
        ),
        Prop::req("method", Schema::Enum(PaymentMethod::NAMES)),
        Prop::opt("paidAt", Schema::Nullable(&Schema::TIME)),
        Prop::opt(
            "reference",
            Schema::Nullable(&Schema::Text { min: 0, max: 200 }),
        ),
    ])),
    reply: Reply::Json(201, Schema::Record(&WORK_ORDER)),
    ..Op::DEFAULTS
};

pub static APPOINTMENTS_AVAILABILITY_GET: Op = Op {
    summary: "Find free appointment slots",
    description: "The free slots of one local day (in the organization's time zone), per bay \
        (every bay unless one is named), starting every 15 minutes from opening, each \
        `durationMinutes` long and ending by closing, clashing with no non-cancelled \
        appointment of the bay (nor of the technician, when one is named). A closed day has \
        `open: null` and no slots.",
    query: &[
        Param::req("date", Schema::Format("date"), "The local day, YYYY-MM-DD."),
        Param::req(
            "durationMinutes",
            Schema::Int { min: 5, max: 720 },
            "How long each slot is, in minutes.",
        ),
        Param::opt(
            "bay",
            Schema::STRING,
            "Only this bay (one of the organization's `settings.bays`, else 400).",
        ),
        Param::opt(
            "technicianId",
            Schema::ID,
            "Also leave out the times this technician is booked.",
        ),
    ],
    reply: Reply::Json(
        200,
        Schema::Object(&[
            Prop::req("date", Schema::Format("date")),
            Prop::req("timezone", Schema::STRING),
            // Left out when the day is closed.
            Prop::opt("durationMinutes", Schema::Int { min: 5, max: 720 }),
            Prop::req(
                "open",
                Schema::Nullable(&Schema::Object(&[
                    Prop::req("from", Schema::TIME),
                    Prop::req("to", Schema::TIME),
                ])),
            ),
            Prop::req("slots", Schema::Array(&SLOT)),
        ]),
    ),
    ..Op::DEFAULTS
};

const DATE_TIME: Schema = Schema::Format("date-time");

/// A share link as staff see it (never its token).
const SHARE_LINK: Schema = Schema::Object(&[
    Prop::req("id", Schema::ID),
    Prop::req("workOrderId", Schema::ID),
    Prop::req("purpose", Schema::Enum(super::share::PURPOSES)),
    Prop::req("status", Schema::Enum(&["ACTIVE", "EXPIRED", "REVOKED"])),
    Prop::req("expiresAt", DATE_TIME),
    Prop::req("createdAt", DATE_TIME),
    Prop::opt("createdBy", Schema::ID),
    Prop::opt("sentTo", Schema::Nullable(&Schema::EMAIL)),
    Prop::opt("viewCount", INTEGER),
    Prop::opt("firstViewedAt", DATE_TIME),
    Prop::opt("lastViewedAt", DATE_TIME),
    Prop::opt("decidedAt", DATE_TIME),
    Prop::opt("revokedAt", DATE_TIME),
]);

const NEW_SHARE_LINK: Schema = Schema::Object(&[
    Prop::req("id", Schema::ID),
    Prop::req("url", Schema::Nullable(&Schema::STRING)),
    Prop::req("purpose", Schema::Enum(super::share::PURPOSES)),
    Prop::req("expiresAt", DATE_TIME),
]);

pub static WORK_ORDERS_ID_SHARE_LINKS_POST: Op = Op {
    summary: "Share a work order's estimate or invoice with its customer",
    description: "`purpose` ESTIMATE (not on a CANCELLED work order) or INVOICE (INVOICED or \
        PAID only, else 409); `expiresInHours` 1-720, default 168; `sendTo` emails the link \
        through the outbox. Answers the `url` (from the organization's `shareUrlTemplate`, \
        `{token}` replaced, else `APP_URL/share/{token}`) this once: only the token's hash is \
        kept, and a keyed retry answers `url: null`.",
    body: Body::Json(Schema::Object(&[
        Prop::req("purpose", Schema::Enum(super::share::PURPOSES)),
        Prop::opt("expiresInHours", Schema::Int { min: 1, max: 720 }),
        Prop::opt("sendTo", Schema::EMAIL),
    ])),
    reply: Reply::Json(201, NEW_SHARE_LINK),
    errors: &[409],
    ..Op::DEFAULTS
};

pub static WORK_ORDERS_ID_SHARE_LINKS_GET: Op = Op {
    summary: "List a work order's share links",
    description: "Newest first: purpose, status (ACTIVE, EXPIRED, REVOKED), expiry, when \
        first and last viewed and how often, when decided.",
    reply: Reply::Json(200, Schema::Page(&SHARE_LINK)),
    ..Op::DEFAULTS
};

pub static SHARE_LINKS_ID_DELETE: Op = Op {
    summary: "Revoke a share link",
    description: "The link answers 410 `LINK_REVOKED` from now on.",
    reply: Reply::Empty(204),
    ..Op::DEFAULTS
};

const PUBLIC_LINE: Schema = Schema::Object(&[
    Prop::req("id", Schema::ID),
    Prop::req("type", Schema::Enum(LineKind::NAMES)),
    Prop::opt("description", Schema::Nullable(&Schema::STRING)),
    Prop::req("quantity", INTEGER),
    Prop::opt("unitPrice", Schema::Nullable(&INTEGER)),
    Prop::opt("taxRate", Schema::Nullable(&INTEGER)),
    Prop::req("gross", INTEGER_OR_NULL),
    Prop::req("discount", INTEGER),
    Prop::req("amount", INTEGER),
    Prop::req("tax", INTEGER),
    Prop::req("status", Schema::Enum(Approval::NAMES)),
    Prop::req("decidable", Schema::Bool),
    Prop::req("group", Schema::Nullable(&Schema::STRING)),
]);

const TEXT_OR_NULL: Schema = Schema::Nullable(&Schema::STRING);
const INTEGER_OR_NULL: Schema = Schema::Nullable(&INTEGER);

/// An inspection as its customer sees it: ratings, customer notes, photos.
const PUBLIC_INSPECTION: Schema = Schema::Object(&[
    Prop::req("name", TEXT_OR_NULL),
    Prop::req("status", TEXT_OR_NULL),
    Prop::req(
        "sections",
        Schema::Array(&Schema::Object(&[
            Prop::req("title", TEXT_OR_NULL),
            Prop::req(
                "items",
                Schema::Array(&Schema::Object(&[
                    Prop::req("label", TEXT_OR_NULL),
                    Prop::req(
                        "rating",
                        Schema::Nullable(&Schema::Enum(&["GREEN", "YELLOW", "RED", "NA"])),
                    ),
                    Prop::req(
                        "measurement",
                        Schema::Nullable(&Schema::Object(&[
                            Prop::req("value", INTEGER_OR_NULL),
                            Prop::req("unit", TEXT_OR_NULL),
                        ])),
                    ),
                    Prop::req("noteForCustomer", TEXT_OR_NULL),
                    Prop::req(
                        "photos",
                        Schema::Array(&Schema::Object(&[
                            Prop::req("url", Schema::Format("uri")),
                            Prop::req("contentType", Schema::STRING),
                        ])),
                    ),
                ])),
            ),
        ])),
    ),
]);

/// Everything a share link shows, declared to the last key: the API test
/// walks real answers against this schema, and this schema against the
/// names of what must stay internal.
const SHARED_VIEW: Schema = Schema::Object(&[
    Prop::req("purpose", Schema::Enum(super::share::PURPOSES)),
    Prop::req("expiresAt", DATE_TIME),
    Prop::req(
        "shop",
        Schema::Object(&[
            Prop::req("name", Schema::STRING),
            Prop::req("address", TEXT_OR_NULL),
            Prop::req("phone", TEXT_OR_NULL),
            Prop::req("logoUrl", TEXT_OR_NULL),
            Prop::req("logo", TEXT_OR_NULL),
        ]),
    ),
    Prop::req(
        "customer",
        Schema::Object(&[Prop::req("firstName", TEXT_OR_NULL)]),
    ),
    Prop::req(
        "vehicle",
        Schema::Nullable(&Schema::Object(&[
            Prop::req("year", INTEGER_OR_NULL),
            Prop::req("make", TEXT_OR_NULL),
            Prop::req("model", TEXT_OR_NULL),
            Prop::req("plate", TEXT_OR_NULL),
        ])),
    ),
    Prop::req(
        "workOrder",
        Schema::Object(&[
            Prop::req("number", TEXT_OR_NULL),
            Prop::req("status", Schema::Enum(Status::NAMES)),
            Prop::req("currency", TEXT_OR_NULL),
            Prop::req("version", INTEGER_OR_NULL),
            Prop::req("lines", Schema::Array(&PUBLIC_LINE)),
            Prop::req("subtotal", INTEGER_OR_NULL),
            Prop::req("discountTotal", INTEGER),
            Prop::req("tax", INTEGER_OR_NULL),
            Prop::req("taxExempt", Schema::Bool),
            Prop::req("total", INTEGER),
        ]),
    ),
    Prop::req("inspections", Schema::Array(&PUBLIC_INSPECTION)),
    Prop::req("decisionsOpen", Schema::Bool),
    Prop::opt(
        "invoice",
        Schema::Object(&[
            Prop::req("invoiceNumber", TEXT_OR_NULL),
            Prop::req("issuedAt", Schema::Nullable(&DATE_TIME)),
            Prop::req(
                "payments",
                Schema::Array(&Schema::Object(&[
                    Prop::req("amount", INTEGER_OR_NULL),
                    Prop::req("method", TEXT_OR_NULL),
                    Prop::req("paidAt", Schema::Nullable(&DATE_TIME)),
                ])),
            ),
            Prop::req("amountPaid", INTEGER_OR_NULL),
            Prop::req("balance", INTEGER_OR_NULL),
        ]),
    ),
]);

pub static PUBLIC_SHARE_GET: Op = Op {
    summary: "Open a shared estimate or invoice",
    description: "No account: the link's token is the credential. The shop (name, address, \
        logo), the customer's first name, the vehicle (plate masked but for its last 3 \
        characters), the lines with quantity, unit price, tax and status, the totals, and \
        for an invoice its number, payments and balance; no cost, internal note, technician \
        or other record's id. `ETag` is the work order's version. Throttled per client \
        address and per link; `Cache-Control: no-store`, `Referrer-Policy: no-referrer`. \
        410 `LINK_EXPIRED` or `LINK_REVOKED`; an unknown token is a 404.",
    reply: Reply::Json(200, SHARED_VIEW),
    tag: Some("share-links"),
    ..Op::DEFAULTS
};

pub static PUBLIC_SHARE_DECISIONS_POST: Op = Op {
    summary: "Decide on a shared estimate's lines",
    description: "With `If-Match` (the ETag seen; 428 without): each line APPROVED or \
        DECLINED, recorded with method LINK, the signer, address, user agent and the version \
        seen, under the same stock rules as staff approval. 412 when the estimate changed \
        since; 422 `LINE_NOT_OPEN` once its lines no longer change; the same decisions again \
        change nothing; another decision on a decided line is 409 `DECISION_CONFLICT`. \
        `signaturePng` (base64 PNG, at most 100 KiB) is kept with the decision. An INVOICE \
        link is a 403.",
    body: Body::Json(Schema::Object(&[
        Prop::req("lines", DECIDED_LINES),
        Prop::req("signerName", Schema::Text { min: 1, max: 200 }),
        Prop::opt("signaturePng", Schema::STRING),
    ])),
    reply: Reply::Json(200, SHARED_VIEW),
    errors: &[409, 412, 422, 428],
    tag: Some("share-links"),
    ..Op::DEFAULTS
};

const INSPECTION: Schema = Schema::Object(&[
    Prop::req("id", Schema::ID),
    Prop::req("workOrderId", Schema::ID),
    Prop::req("templateId", Schema::ID),
    Prop::req("name", Schema::STRING),
    Prop::req("status", Schema::Enum(&["IN_PROGRESS", "COMPLETED"])),
    Prop::req("sections", Schema::Array(&Schema::Any)),
    Prop::req("version", INTEGER),
]);

pub static WORK_ORDERS_ID_INSPECTIONS_POST: Op = Op {
    summary: "Start an inspection from a template",
    description: "The template (`inspection-templates`) is copied into the work order: later \
        edits of the template change nothing here. Each item gets an id. Not on a CANCELLED \
        work order (409); a MEMBER only on work orders they may change.",
    body: Body::Json(Schema::Object(&[Prop::req("templateId", Schema::ID)])),
    reply: Reply::Json(201, INSPECTION),
    errors: &[409],
    ..Op::DEFAULTS
};

pub static WORK_ORDERS_ID_INSPECTIONS_GET: Op = Op {
    summary: "List a work order's inspections",
    description: "Oldest first, with every item's rating, measurement and notes.",
    reply: Reply::Json(200, Schema::Page(&INSPECTION)),
    ..Op::DEFAULTS
};

pub static INSPECTION_ITEM_PATCH: Op = Op {
    summary: "Rate an inspection item",
    description: "`rating` GREEN, YELLOW, RED or NA; `measurement` `{value, unit?}` (an \
        integer in the item's unit): without a rating, the item's thresholds suggest one \
        (under `redBelow` RED, under `yellowBelow` YELLOW, else GREEN). Notes for the customer \
        and internal notes up to 2,000 characters. Once the inspection is COMPLETED only the \
        notes change (409 `INSPECTION_COMPLETED`).",
    body: Body::Json(Schema::Object(&[
        Prop::opt("rating", Schema::Enum(super::inspections::RATINGS)),
        Prop::opt(
            "measurement",
            Schema::Object(&[
                Prop::req(
                    "value",
                    Schema::Int {
                        min: -1_000_000_000,
                        max: 1_000_000_000,
                    },
                ),
                Prop::opt("unit", Schema::Text { min: 0, max: 20 }),
            ]),
        ),
        Prop::opt("noteForCustomer", Schema::Text { min: 0, max: 2_000 }),
        Prop::opt("internalNote", Schema::Text { min: 0, max: 2_000 }),
    ])),
    reply: Reply::Json(200, INSPECTION),
    errors: &[409, 422],
    ..Op::DEFAULTS
};

pub static INSPECTION_RECOMMENDATION_POST: Op = Op {
    summary: "Recommend work for an inspection item",
    description: "1 to 20 lines (as `POST /work-orders/{id}/lines` takes them) added PENDING \
        to the work order, each naming the item (`inspectionItemId`) and linked from it, PART \
        lines reserving their stock, all or nothing. Answers the work order.",
    body: Body::Json(Schema::Object(&[Prop::req(
        "lines",
        Schema::Array(&Schema::Fields(NEW_LINE)),
    )])),
    reply: Reply::Json(201, Schema::Record(&WORK_ORDER)),
    errors: &[409, 422],
    ..Op::DEFAULTS
};

pub static INSPECTION_COMPLETE_POST: Op = Op {
    summary: "Complete an inspection",
    description: "Freezes ratings and measurements (notes stay editable); announces \
        `inspection.completed`. 409 unless IN_PROGRESS.",
    reply: Reply::Json(200, INSPECTION),
    errors: &[409],
    ..Op::DEFAULTS
};

pub static INSPECTION_REOPEN_POST: Op = Op {
    summary: "Reopen a completed inspection",
    description: "ADMIN+, audited. 409 unless COMPLETED.",
    reply: Reply::Json(200, INSPECTION),
    errors: &[409],
    ..Op::DEFAULTS
};

pub static INSPECTION_PHOTOS_POST: Op = Op {
    summary: "Upload a photo or video of an inspection item",
    description: "`image/jpeg`, `image/png`, `image/webp` or `image/heic` up to 15 MiB, \
        `video/mp4` up to 100 MiB (422 `UNSUPPORTED_FILE_TYPE` or `FILE_TOO_LARGE`): a document \
        of the work order naming the item, PENDING, and a presigned PUT whose signature binds \
        the type and exact length, so the store refuses any other file. Complete it with `POST \
        /api/v1/documents/{id}/complete`; the customer's view then shows it (a 15-minute URL).",
    body: Body::Json(Schema::Object(&[
        Prop::req("fileName", Schema::Text { min: 1, max: 255 }),
        Prop::req("contentType", Schema::Text { min: 3, max: 255 }),
        Prop::req(
            "size",
            Schema::Int {
                min: 1,
                max: i64::MAX,
            },
        ),
    ])),
    reply: Reply::Json(201, Schema::Any),
    errors: &[409, 422],
    ..Op::DEFAULTS
};

pub static ESTIMATE_PDF_GET: Op = Op {
    summary: "The work order's estimate as PDF",
    description: "A 302 to a 5-minute URL of the PDF: the organization's name, address, phone \
        and `settings.documents` (`taxId`, `footer`, `legalText`), the customer and vehicle, \
        the lines not declined in a table whose header repeats on every page, the totals, \
        page N of M; dates and money in the organization's locale and time zone. Made once \
        per work-order version and document settings and kept in the bucket.",
    reply: Reply::Media(302, "application/pdf", "A redirect to the PDF."),
    ..Op::DEFAULTS
};

pub static INVOICE_PDF_GET: Op = Op {
    summary: "The work order's invoice as PDF",
    description: "As the estimate's, from the invoice as issued, with its number, payments \
        and balance. 404 before the work order is invoiced.",
    reply: Reply::Media(302, "application/pdf", "A redirect to the PDF."),
    ..Op::DEFAULTS
};

pub static SHARED_PDF_GET: Op = Op {
    summary: "The shared estimate or invoice as PDF",
    description: "No account: the link's token is the credential. The link's estimate or \
        invoice, as the staff routes make it (302 to a 5-minute URL).",
    reply: Reply::Media(302, "application/pdf", "A redirect to the PDF."),
    tag: Some("share-links"),
    ..Op::DEFAULTS
};

/// A time entry as the API renders it.
const TIME_ENTRY: Schema = Schema::Object(&[
    Prop::req("id", Schema::ID),
    Prop::req("technicianId", Schema::ID),
    Prop::req("kind", Schema::Enum(super::time_clock::EntryKind::NAMES)),
    Prop::opt("workOrderId", Schema::ID),
    Prop::opt("lineId", Schema::ID),
    Prop::opt("bay", Schema::STRING),
    Prop::opt("activity", Schema::STRING),
    Prop::req("startedAt", DATE_TIME),
    Prop::req("endedAt", Schema::Nullable(&DATE_TIME)),
    Prop::opt("minutes", Schema::COUNT),
    Prop::req("source", Schema::Enum(super::time_clock::Source::NAMES)),
    Prop::opt("editedBy", Schema::ID),
    Prop::opt("editReason", Schema::STRING),
    Prop::req("version", INTEGER),
]);

/// A clock-in's or clock-out's answer: the entry, and the work it closed.
const CLOCKED: Schema = Schema::Object(&[
    Prop::req("id", Schema::ID),
    Prop::req("technicianId", Schema::ID),
    Prop::req("kind", Schema::Enum(super::time_clock::EntryKind::NAMES)),
    Prop::req("startedAt", DATE_TIME),
    Prop::req("endedAt", Schema::Nullable(&DATE_TIME)),
    Prop::req("closed", Schema::Nullable(&TIME_ENTRY)),
]);

pub static TIME_ENTRIES_CLOCK_IN_POST: Op = Op {
    summary: "Clock in",
    description: "A technician clocks themselves (an ADMIN+ may name `technicianId`). A SHIFT, \
        a JOB on a work order not yet COMPLETED (`workOrderId`, optionally one of its LABOR \
        lines as `lineId`), or NON_BILLABLE work (`activity`). At most one open SHIFT and one \
        open piece of work per technician: starting other work closes the open one at the same \
        instant (answered in `closed`); clocking in to what is already open answers it (200). \
        Work needs an open shift (409 `NO_OPEN_SHIFT`) unless `settings.timeClock.autoStartShift` \
        opens one with it.",
    body: Body::Json(Schema::Fields(super::time_clock::CLOCK_IN)),
    reply: Reply::Json(201, CLOCKED),
    also: &[Reply::Json(200, CLOCKED)],
    errors: &[409],
    tag: Some("time-entries"),
    ..Op::DEFAULTS
};

pub static TIME_ENTRIES_CLOCK_OUT_POST: Op = Op {
    summary: "Clock out",
    description: "Closes the open entry of `kind` (a SHIFT closes the open work with it, in \
        `closed`); its minutes count on its LABOR line. 409 `NOT_CLOCKED_IN` when none is open.",
    body: Body::Json(Schema::Fields(super::time_clock::CLOCK_OUT)),
    reply: Reply::Json(200, CLOCKED),
    errors: &[409],
    tag: Some("time-entries"),
    ..Op::DEFAULTS
};

pub static TIME_ENTRIES_GET: Op = Op {
    summary: "List time entries",
    description: "Newest first, paged by cursor; `from`/`to` bound the start. A MEMBER sees \
        their own entries only.",
    list: Some(&super::time_clock::LIST),
    reply: Reply::Json(200, Schema::Page(&TIME_ENTRY)),
    tag: Some("time-entries"),
    ..Op::DEFAULTS
};

pub static TIME_ENTRIES_ID_PATCH: Op = Op {
    summary: "Correct a time entry",
    description: "ADMIN+. `editReason` is required and audited with the change; the entry \
        becomes `source: MANUAL` and closes when given an `endedAt`. An entry lasts at most 24 \
        hours and ends after it starts; 409 `TIME_ENTRY_OVERLAP` when it would overlap another \
        entry of the technician's shift or work; with `If-Match` 412 when it changed since. A \
        JOB's minutes move with it between LABOR lines.",
    body: Body::Json(Schema::Fields(super::time_clock::EDIT)),
    reply: Reply::Json(200, TIME_ENTRY),
    errors: &[409, 412],
    tag: Some("time-entries"),
    ..Op::DEFAULTS
};

pub static WORK_ORDERS_ID_CANNED_JOBS_POST: Op = Op {
    summary: "Add a canned job's lines",
    description: "`{cannedJobId}`: the job's lines are copied as one group (each names it in \
        `group`); PART lines are priced from their part and reserve stock in the same \
        transaction, all or nothing (409 `INSUFFICIENT_STOCK`). With a `packagePrice` an \
        ADJUSTMENT line makes the group's net total exactly that price; it follows the \
        decisions on the group's lines and is not decided on itself. Later edits of the \
        canned job change nothing here.",
    body: Body::Json(Schema::Object(&[Prop::req("cannedJobId", Schema::ID)])),
    reply: Reply::Json(201, Schema::Record(&WORK_ORDER)),
    errors: &[409],
    ..Op::DEFAULTS
};

pub static REPORTS_NAME_GET: Op = Op {
    summary: "A report",
    description: "`name` one of revenue, invoices, parts-margin, effective-labor-rate, \
        technician-efficiency, technician-productivity, bay-utilization (else 404). ADMIN+, or \
        an API key with `reports:read`. Days in the organization's time zone, `from` and `to` \
        included, at most 1,100 days; rows keyed by day (`2026-11-30`), ISO week (`2026-W48`), \
        month (`2026-11`, the default) or technician (their id; invoice figures by the work \
        order's technician). bay-utilization's rows are per period and bay (`2026-11 Bay 1`), or \
        per bay over the span with `groupBy=technician`. Money in minor units, time in minutes, \
        ratios in basis points; `definitions` gives each figure's formula. Invoice figures read \
        the lines frozen on invoices (INVOICED or PAID) by issue time; clock figures closed time \
        entries by start. Cancelled work orders never count.",
    query: &[
        Param::req("from", Schema::Format("date"), "The first local day."),
        Param::req("to", Schema::Format("date"), "The last local day."),
        Param::opt(
            "groupBy",
            Schema::Enum(&["day", "week", "month", "technician"]),
            "How rows are keyed (default month).",
        ),
    ],
    reply: Reply::Json(
        200,
        Schema::Object(&[
            Prop::req("report", Schema::STRING),
            Prop::req("from", Schema::Format("date")),
            Prop::req("to", Schema::Format("date")),
            Prop::req(
                "groupBy",
                Schema::Enum(&["day", "week", "month", "technician"]),
            ),
            Prop::req("timezone", Schema::STRING),
            Prop::req("currency", Schema::STRING),
            Prop::req("rows", Schema::Array(&Schema::Any)),
            Prop::req("definitions", Schema::Map(&Schema::STRING)),
        ]),
    ),
    tag: Some("reports"),
    ..Op::DEFAULTS
};

pub static PURCHASE_ORDERS_ID_TRANSITION_POST: Op = Op {
    summary: "Move a purchase order",
    description: "`{to}`: ORDERED (from DRAFT: its parts count it `onOrder`), CANCELLED (from \
        DRAFT or ORDERED) or CLOSED (from PARTIALLY_RECEIVED or RECEIVED); what was not received \
        leaves `onOrder`. ADMIN+. 409 `INVALID_TRANSITION` otherwise.",
    body: Body::Json(Schema::Fields(super::purchasing::TRANSITION)),
    reply: Reply::Json(200, Schema::Record(&super::purchasing::PURCHASE_ORDER)),
    errors: &[409, 422],
    tag: Some("purchase-orders"),
    ..Op::DEFAULTS
};

pub static PURCHASE_ORDERS_ID_RECEIPTS_POST: Op = Op {
    summary: "Receive a purchase order's parts",
    description: "`{vendorInvoiceNumber, receivedAt, lines: [{lineId, quantity, unitCost?}], \
        allowOverReceipt?}` on an ORDERED or PARTIALLY_RECEIVED order, in one transaction: a \
        RECEIVED stock movement per part line naming the order, the part's moving average cost \
        `(onHand x avg + qty x cost) / (onHand + qty)` (half to even), its `onOrder` lowered, a \
        waiting work-order line marked `partReceivedAt`, the order PARTIALLY_RECEIVED or \
        RECEIVED. More than a line still waits for is 422 unless `allowOverReceipt`. Send an \
        Idempotency-Key: a retried receipt answers the first and moves nothing twice.",
    body: Body::Json(Schema::Fields(super::purchasing::RECEIPT)),
    reply: Reply::Json(201, Schema::Record(&super::purchasing::PURCHASE_ORDER)),
    errors: &[409, 422],
    tag: Some("purchase-orders"),
    ..Op::DEFAULTS
};

pub static PARTS_REORDER_SUGGESTIONS_GET: Op = Op {
    summary: "Parts to reorder",
    description: "Live parts whose position (`onHand + onOrder - reserved`) is below their \
        `reorderLevel`, each with `position` and the `suggestedQuantity` that brings it to \
        `reorderUpTo` (else `reorderQuantity`, else back to the level), most short first; at \
        most 500.",
    reply: Reply::Json(
        200,
        Schema::Object(&[Prop::req("data", Schema::Array(&Schema::Record(&PART)))]),
    ),
    tag: Some("parts"),
    ..Op::DEFAULTS
};

/// A date in the organization's time zone, or none.
const DAY_OR_NULL: Schema = Schema::Nullable(&Schema::Format("date"));
const REMINDER_STATUS: Schema = Schema::Enum(&["OK", "DUE_SOON", "OVERDUE", "UNKNOWN"]);

/// A manual service entry of a vehicle.
const SERVICE_ENTRY: Schema = Schema::Object(&[
    Prop::req("id", Schema::ID),
    Prop::req("vehicleId", Schema::ID),
    Prop::req("ruleId", Schema::ID),
    Prop::req("doneAt", DATE_TIME),
    Prop::opt("odometer", INTEGER_OR_NULL),
    Prop::opt("unit", Schema::Enum(&["km", "mi"])),
    Prop::opt("notes", Schema::Nullable(&Schema::STRING)),
    Prop::req("source", Schema::Enum(&["MANUAL"])),
]);

pub static VEHICLES_ID_SERVICE_HISTORY_GET: Op = Op {
    summary: "List a vehicle's manual service entries",
    description: "Newest first, paged by cursor.",
    list: Some(&super::reminders::HISTORY_LIST),
    reply: Reply::Json(200, Schema::Page(&SERVICE_ENTRY)),
    ..Op::DEFAULTS
};

pub static VEHICLES_ID_SERVICE_HISTORY_POST: Op = Op {
    summary: "Record a service done",
    description: "`{ruleId, doneAt?, odometer?, unit?, notes?}`: a service rule's work done \
        outside the shop's work orders (or before); the rule counts from the latest of these \
        and of the invoiced work orders with its canned job. `doneAt` defaults to now and may \
        not be ahead of it; `unit` to the vehicle's.",
    body: Body::Json(Schema::Fields(super::reminders::HISTORY)),
    reply: Reply::Json(201, SERVICE_ENTRY),
    ..Op::DEFAULTS
};

const SERVICE_DUE_ROW: Schema = Schema::Object(&[
    Prop::req("ruleId", Schema::ID),
    Prop::req("name", Schema::STRING),
    Prop::req("cannedJobId", Schema::Nullable(&Schema::ID)),
    Prop::req("everyMonths", INTEGER_OR_NULL),
    Prop::req("everyDistance", INTEGER_OR_NULL),
    Prop::req("distanceUnit", Schema::Enum(&["km", "mi"])),
    Prop::req(
        "lastDone",
        Schema::Nullable(&Schema::Object(&[
            Prop::req("at", DATE_TIME),
            Prop::req("odometer", INTEGER_OR_NULL),
            Prop::req("source", Schema::Enum(&["MANUAL", "WORK_ORDER"])),
            Prop::req("workOrderId", Schema::Nullable(&Schema::ID)),
        ])),
    ),
    Prop::req("dueByTime", DAY_OR_NULL),
    Prop::req("dueByDistance", DAY_OR_NULL),
    Prop::req("dueOdometer", INTEGER_OR_NULL),
    Prop::req("dueDate", DAY_OR_NULL),
    Prop::req("dueSoonDate", DAY_OR_NULL),
    Prop::req("status", REMINDER_STATUS),
]);

pub static VEHICLES_ID_SERVICE_DUE_GET: Op = Op {
    summary: "When a vehicle is due for each service rule",
    description: "Per rule: the last service (an invoiced work order with the rule's canned \
        job, or a manual entry), the due date by time and by distance, the earlier of the two \
        (`dueDate`) and the status as of today in the organization's time zone (DUE_SOON from \
        `dueSoonDays` or `dueSoonDistance` before, OVERDUE after the due date). The daily \
        distance comes from the readings of the last 365 days (at least 2, 14 or more days \
        apart), else `settings.serviceReminders.defaultDailyDistance` (40 km).",
    reply: Reply::Json(
        200,
        Schema::Object(&[
            Prop::req("vehicleId", Schema::ID),
            Prop::req("asOf", Schema::Format("date")),
            Prop::req("dailyDistance", Schema::Number),
            Prop::req("dailyDistanceUnit", Schema::Enum(&["km"])),
            Prop::req(
                "dailyDistanceSource",
                Schema::Enum(&["READINGS", "DEFAULT"]),
            ),
            Prop::req("data", Schema::Array(&SERVICE_DUE_ROW)),
        ]),
    ),
    tag: Some("vehicles"),
    ..Op::DEFAULTS
};

const SERVICE_REMINDER: Schema = Schema::Object(&[
    Prop::req("id", Schema::ID),
    Prop::req("vehicleId", Schema::ID),
    Prop::opt("accountId", Schema::Nullable(&Schema::ID)),
    Prop::opt("contactId", Schema::Nullable(&Schema::ID)),
    Prop::req("source", Schema::Enum(&["RULE", "DECLINED_WORK"])),
    Prop::opt("ruleId", Schema::Nullable(&Schema::ID)),
    Prop::opt("workOrderId", Schema::Nullable(&Schema::ID)),
    Prop::opt("lineId", Schema::Nullable(&Schema::STRING)),
    Prop::req("name", Schema::STRING),
    Prop::opt("vehicle", Schema::STRING),
    Prop::req("dueDate", DAY_OR_NULL),
    Prop::opt("dueSoonDate", DAY_OR_NULL),
    Prop::opt("dueByTime", DAY_OR_NULL),
    Prop::opt("dueByDistance", DAY_OR_NULL),
    Prop::opt("dueOdometer", INTEGER_OR_NULL),
    Prop::opt(
        "distanceUnit",
        Schema::Nullable(&Schema::Enum(&["km", "mi"])),
    ),
    Prop::opt("lastDoneAt", Schema::Nullable(&DATE_TIME)),
    Prop::req("status", REMINDER_STATUS),
    Prop::opt(
        "outcome",
        Schema::Enum(&["SENT", "NO_CONTACT", "OPTED_OUT", "NO_CONSENT"]),
    ),
    Prop::opt("sentAt", DATE_TIME),
    Prop::opt("sentTo", Schema::Nullable(&Schema::ID)),
]);

pub static SERVICE_REMINDERS_GET: Op = Op {
    summary: "List service reminders",
    description: "Every vehicle's reminders (one per service rule, and one per declined line, \
        due `declinedFollowUpDays` after the decision), by due date, paged by cursor; \
        recomputed first when the rules changed since. `status` filters on the status as of \
        today in the organization's time zone, `dueBefore` on the due date.",
    list: Some(&super::reminders::REMINDERS_LIST),
    query: &[
        Param::opt(
            "status",
            Schema::Enum(&["OK", "DUE_SOON", "OVERDUE", "UNKNOWN"]),
            "Only the reminders with this status today.",
        ),
        Param::opt(
            "dueBefore",
            Schema::Format("date"),
            "Only those due before this local day.",
        ),
    ],
    reply: Reply::Json(
        200,
        Schema::Object(&[
            Prop::req("data", Schema::Array(&SERVICE_REMINDER)),
            Prop::req("nextCursor", Schema::Nullable(&Schema::STRING)),
            Prop::req("asOf", Schema::Format("date")),
        ]),
    ),
    ..Op::DEFAULTS
};

pub static SERVICE_REMINDERS_ID_SEND_POST: Op = Op {
    summary: "Send a service reminder now",
    description: "Emails the reminder to the account's primary contact (else the vehicle's, \
        else the account's first contact with an address), with a one-click unsubscribe, \
        whether or not its cycle was sent. 409 `CONTACT_OPTED_OUT` when the contact \
        unsubscribed, or has not consented where the organization requires it; 422 on \
        `contactId` when no contact has an address. No body, or `{}`.",
    body: Body::Optional(Schema::Object(&[])),
    reply: Reply::Json(200, SERVICE_REMINDER),
    errors: &[409, 422],
    ..Op::DEFAULTS
};
