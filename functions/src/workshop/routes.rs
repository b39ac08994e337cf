//! The workshop context's routes: its entities (vehicles, parts, work
//! orders, appointments), odometer readings and history, stock
//! adjustments, a work order's transitions, lines, approval, invoice and
//! payments, and the bays' availability.

use shared::handler;
use shared::rbac::Access::{Link, Public, Requires};
use shared::rbac::Permission::*;
use shared::runtime::openapi::Tag;
use shared::runtime::{Deploy, Endpoint, Route};
use shared::storage::S3Permission::{DeleteObject, GetObject, ListBucket, PutObject};

pub static VEHICLES_ID_ODOMETER: Route = Route {
    name: "vehicles-id-odometer",
    path: "/api/v1/vehicles/{id}/odometer",
    methods: &[
        Endpoint::get(
            Requires(ReadRecords),
            handler!(crate::workshop::vehicles::readings),
        )
        .read("vehicles")
        .op(&crate::workshop::contract::VEHICLES_ID_ODOMETER_GET),
        Endpoint::post(
            Requires(CreateRecords),
            handler!(
                crate::workshop::reminders::recomputing,
                crate::workshop::reminders::Source::Reading
            ),
        )
        .write("vehicles")
        .op(&crate::workshop::contract::VEHICLES_ID_ODOMETER_POST),
    ],
    deploy: Deploy::API,
};

pub static VEHICLES_ID_HISTORY: Route = Route {
    name: "vehicles-id-history",
    path: "/api/v1/vehicles/{id}/history",
    methods: &[Endpoint::get(
        Requires(ReadRecords),
        handler!(crate::workshop::vehicles::history),
    )
    .read("vehicles")
    .op(&crate::workshop::contract::VEHICLES_ID_HISTORY_GET)],
    deploy: Deploy::API,
};

pub static PARTS_ID_ADJUSTMENTS: Route = Route {
    name: "parts-id-adjustments",
    path: "/api/v1/parts/{id}/adjustments",
    methods: &[Endpoint::post(
        Requires(UpdateAnyRecord),
        handler!(crate::workshop::parts::adjust),
    )
    .write("parts")
    .op(&crate::workshop::contract::PARTS_ID_ADJUSTMENTS_POST)],
    deploy: Deploy::API,
};

pub static PARTS_ID_MOVEMENTS: Route = Route {
    name: "parts-id-movements",
    path: "/api/v1/parts/{id}/movements",
    methods: &[Endpoint::get(
        Requires(ReadRecords),
        handler!(crate::workshop::parts::movements),
    )
    .read("parts")
    .op(&crate::workshop::contract::PARTS_ID_MOVEMENTS_GET)],
    deploy: Deploy::API,
};

pub static WORK_ORDERS_ID_TRANSITION: Route = Route {
    name: "work-orders-id-transition",
    path: "/api/v1/work-orders/{id}/transition",
    methods: &[Endpoint::post(
        Requires(UpdateRecords),
        handler!(
            crate::workshop::reminders::recomputing,
            crate::workshop::reminders::Source::Transition
        ),
    )
    .write("work-orders")
    .op(&crate::workshop::contract::WORK_ORDERS_ID_TRANSITION_POST)],
    deploy: Deploy::API,
};

pub static WORK_ORDERS_ID_LINES: Route = Route {
    name: "work-orders-id-lines",
    path: "/api/v1/work-orders/{id}/lines",
    methods: &[Endpoint::post(
        Requires(UpdateRecords),
        handler!(crate::workshop::lines::add),
    )
    .write("work-orders")
    .op(&crate::workshop::contract::WORK_ORDERS_ID_LINES_POST)],
    deploy: Deploy::API,
};

pub static WORK_ORDERS_ID_LINES_ID: Route = Route {
    name: "work-orders-id-lines-lineid",
    path: "/api/v1/work-orders/{id}/lines/{lineId}",
    methods: &[
        Endpoint::patch(
            Requires(UpdateRecords),
            handler!(crate::workshop::lines::update),
        )
        .write("work-orders")
        .op(&crate::workshop::contract::WORK_ORDERS_ID_LINES_ID_PATCH),
        Endpoint::delete(
            Requires(UpdateRecords),
            handler!(crate::workshop::lines::remove),
        )
        .write("work-orders")
        .op(&crate::workshop::contract::WORK_ORDERS_ID_LINES_ID_DELETE),
    ],
    deploy: Deploy::API,
};

pub static WORK_ORDERS_ID_APPROVAL: Route = Route {
    name: "work-orders-id-approval",
    path: "/api/v1/work-orders/{id}/approval",
    methods: &[Endpoint::post(
        Requires(UpdateRecords),
        handler!(
            crate::workshop::reminders::recomputing,
            crate::workshop::reminders::Source::Approval
        ),
    )
    .write("work-orders")
    .op(&crate::workshop::contract::WORK_ORDERS_ID_APPROVAL_POST)],
    deploy: Deploy::API,
};

pub static WORK_ORDERS_ID_INVOICE: Route = Route {
    name: "work-orders-id-invoice",
    path: "/api/v1/work-orders/{id}/invoice",
    methods: &[Endpoint::get(
        Requires(ReadRecords),
        handler!(crate::workshop::invoices::show),
    )
    .read("work-orders")
    .op(&crate::workshop::contract::WORK_ORDERS_ID_INVOICE_GET)],
    deploy: Deploy::API,
};

pub static WORK_ORDERS_ID_PAYMENTS: Route = Route {
    name: "work-orders-id-payments",
    path: "/api/v1/work-orders/{id}/payments",
    methods: &[Endpoint::post(
        Requires(UpdateAnyRecord),
        handler!(crate::workshop::invoices::pay),
    )
    .write("work-orders")
    .op(&crate::workshop::contract::WORK_ORDERS_ID_PAYMENTS_POST)],
    deploy: Deploy::API,
};

pub static APPOINTMENTS_AVAILABILITY: Route = Route {
    name: "appointments-availability",
    path: "/api/v1/appointments/availability",
    methods: &[Endpoint::get(
        Requires(ReadRecords),
        handler!(crate::workshop::appointments::availability),
    )
    .read("appointments")
    .op(&crate::workshop::contract::APPOINTMENTS_AVAILABILITY_GET)],
    deploy: Deploy::API,
};

pub static WORK_ORDERS_ID_SHARE_LINKS: Route = Route {
    name: "work-orders-id-share-links",
    path: "/api/v1/work-orders/{id}/share-links",
    methods: &[
        Endpoint::get(
            Requires(ReadRecords),
            handler!(crate::workshop::share::list),
        )
        .read("work-orders")
        .op(&crate::workshop::contract::WORK_ORDERS_ID_SHARE_LINKS_GET),
        Endpoint::post(
            Requires(UpdateRecords),
            handler!(crate::workshop::share::create),
        )
        .write("work-orders")
        .op(&crate::workshop::contract::WORK_ORDERS_ID_SHARE_LINKS_POST),
    ],
    deploy: Deploy::API,
};

pub static SHARE_LINKS_ID: Route = Route {
    name: "share-links-id",
    path: "/api/v1/share-links/{id}",
    methods: &[Endpoint::delete(
        Requires(UpdateRecords),
        handler!(crate::workshop::share::revoke),
    )
    .write("work-orders")
    .op(&crate::workshop::contract::SHARE_LINKS_ID_DELETE)],
    deploy: Deploy::API,
};

pub static PUBLIC_SHARE: Route = Route {
    name: "public-share-token",
    path: "/api/v1/public/share/{token}",
    methods: &[
        Endpoint::get(Link, handler!(crate::workshop::share::view))
            .op(&crate::workshop::contract::PUBLIC_SHARE_GET),
        Endpoint::options(Public, handler!(crate::workshop::share::preflight)),
    ],
    // The inspection photos' short-lived URLs are signed here.
    deploy: Deploy::storage(&[GetObject]),
};

pub static PUBLIC_SHARE_DECISIONS: Route = Route {
    name: "public-share-token-decisions",
    path: "/api/v1/public/share/{token}/decisions",
    methods: &[
        Endpoint::post(
            Link,
            handler!(
                crate::workshop::reminders::recomputing,
                crate::workshop::reminders::Source::Decision
            ),
        )
        .op(&crate::workshop::contract::PUBLIC_SHARE_DECISIONS_POST),
        Endpoint::options(Public, handler!(crate::workshop::share::preflight)),
    ],
    // The signature is stored as a document of the work order (and an
    // unused one removed); the view's photo URLs are signed here.
    deploy: Deploy::storage(&[GetObject, PutObject, DeleteObject]),
};

pub static WORK_ORDERS_ID_INSPECTIONS_PHOTOS: Route = Route {
    name: "work-orders-id-inspections-photos",
    path: "/api/v1/work-orders/{id}/inspections/{inspectionId}/items/{itemId}/photos",
    methods: &[Endpoint::post(
        Requires(UpdateRecords),
        handler!(crate::workshop::inspections::request_photo),
    )
    .write("work-orders")
    .op(&crate::workshop::contract::INSPECTION_PHOTOS_POST)],
    deploy: Deploy::storage(&[PutObject]),
};

pub static WORK_ORDERS_ID_INSPECTIONS: Route = Route {
    name: "work-orders-id-inspections",
    path: "/api/v1/work-orders/{id}/inspections",
    methods: &[
        Endpoint::get(
            Requires(ReadRecords),
            handler!(crate::workshop::inspections::list),
        )
        .read("work-orders")
        .op(&crate::workshop::contract::WORK_ORDERS_ID_INSPECTIONS_GET),
        Endpoint::post(
            Requires(UpdateRecords),
            handler!(crate::workshop::inspections::create),
        )
        .write("work-orders")
        .op(&crate::workshop::contract::WORK_ORDERS_ID_INSPECTIONS_POST),
    ],
    deploy: Deploy::API,
};

pub static WORK_ORDERS_ID_INSPECTIONS_ITEM: Route = Route {
    name: "work-orders-id-inspections-item",
    path: "/api/v1/work-orders/{id}/inspections/{inspectionId}/items/{itemId}",
    methods: &[Endpoint::patch(
        Requires(UpdateRecords),
        handler!(crate::workshop::inspections::update_item),
    )
    .write("work-orders")
    .op(&crate::workshop::contract::INSPECTION_ITEM_PATCH)],
    deploy: Deploy::API,
};

pub static WORK_ORDERS_ID_INSPECTIONS_RECOMMENDATION: Route = Route {
    name: "work-orders-id-inspections-recommendation",
    path: "/api/v1/work-orders/{id}/inspections/{inspectionId}/items/{itemId}/recommendation",
    methods: &[Endpoint::post(
        Requires(UpdateRecords),
        handler!(crate::workshop::inspections::recommend),
    )
    .write("work-orders")
    .op(&crate::workshop::contract::INSPECTION_RECOMMENDATION_POST)],
    deploy: Deploy::API,
};

pub static WORK_ORDERS_ID_INSPECTIONS_COMPLETE: Route = Route {
    name: "work-orders-id-inspections-complete",
    path: "/api/v1/work-orders/{id}/inspections/{inspectionId}/complete",
    methods: &[Endpoint::post(
        Requires(UpdateRecords),
        handler!(crate::workshop::inspections::complete),
    )
    .write("work-orders")
    .op(&crate::workshop::contract::INSPECTION_COMPLETE_POST)],
    deploy: Deploy::API,
};

pub static WORK_ORDERS_ID_INSPECTIONS_REOPEN: Route = Route {
    name: "work-orders-id-inspections-reopen",
    path: "/api/v1/work-orders/{id}/inspections/{inspectionId}/reopen",
    methods: &[Endpoint::post(
        Requires(UpdateAnyRecord),
        handler!(crate::workshop::inspections::reopen),
    )
    .write("work-orders")
    .op(&crate::workshop::contract::INSPECTION_REOPEN_POST)],
    deploy: Deploy::API,
};

pub static WORK_ORDERS_ID_ESTIMATE_PDF: Route = Route {
    name: "work-orders-id-estimate-pdf",
    path: "/api/v1/work-orders/{id}/estimate.pdf",
    methods: &[Endpoint::get(
        Requires(ReadRecords),
        handler!(crate::workshop::printouts::estimate),
    )
    .read("work-orders")
    .op(&crate::workshop::contract::ESTIMATE_PDF_GET)],
    deploy: Deploy::storage(&[GetObject, PutObject, ListBucket]),
};

pub static WORK_ORDERS_ID_INVOICE_PDF: Route = Route {
    name: "work-orders-id-invoice-pdf",
    path: "/api/v1/work-orders/{id}/invoice.pdf",
    methods: &[Endpoint::get(
        Requires(ReadRecords),
        handler!(crate::workshop::printouts::invoice),
    )
    .read("work-orders")
    .op(&crate::workshop::contract::INVOICE_PDF_GET)],
    deploy: Deploy::storage(&[GetObject, PutObject, ListBucket]),
};

pub static PUBLIC_SHARE_DOCUMENT: Route = Route {
    name: "public-share-token-document",
    path: "/api/v1/public/share/{token}/document.pdf",
    methods: &[
        Endpoint::get(Link, handler!(crate::workshop::printouts::shared))
            .op(&crate::workshop::contract::SHARED_PDF_GET),
        Endpoint::options(Public, handler!(crate::workshop::share::preflight)),
    ],
    deploy: Deploy::storage(&[GetObject, PutObject, ListBucket]),
};

pub static TIME_ENTRIES_CLOCK_IN: Route = Route {
    name: "time-entries-clock-in",
    path: "/api/v1/time-entries/clock-in",
    methods: &[Endpoint::post(
        Requires(CreateRecords),
        handler!(crate::workshop::time_clock::clock_in),
    )
    .write("time-entries")
    .op(&crate::workshop::contract::TIME_ENTRIES_CLOCK_IN_POST)],
    deploy: Deploy::API,
};

pub static TIME_ENTRIES_CLOCK_OUT: Route = Route {
    name: "time-entries-clock-out",
    path: "/api/v1/time-entries/clock-out",
    methods: &[Endpoint::post(
        Requires(CreateRecords),
        handler!(crate::workshop::time_clock::clock_out),
    )
    .write("time-entries")
    .op(&crate::workshop::contract::TIME_ENTRIES_CLOCK_OUT_POST)],
    deploy: Deploy::API,
};

pub static TIME_ENTRIES: Route = Route {
    name: "time-entries",
    path: "/api/v1/time-entries",
    methods: &[Endpoint::get(
        Requires(ReadRecords),
        handler!(crate::workshop::time_clock::list),
    )
    .read("time-entries")
    .op(&crate::workshop::contract::TIME_ENTRIES_GET)],
    deploy: Deploy::API,
};

pub static TIME_ENTRIES_ID: Route = Route {
    name: "time-entries-id",
    path: "/api/v1/time-entries/{id}",
    methods: &[Endpoint::patch(
        Requires(UpdateAnyRecord),
        handler!(crate::workshop::time_clock::edit),
    )
    .write("time-entries")
    .op(&crate::workshop::contract::TIME_ENTRIES_ID_PATCH)],
    deploy: Deploy::API,
};

pub static WORK_ORDERS_ID_CANNED_JOBS: Route = Route {
    name: "work-orders-id-canned-jobs",
    path: "/api/v1/work-orders/{id}/canned-jobs",
    methods: &[Endpoint::post(
        Requires(UpdateRecords),
        handler!(crate::workshop::canned_jobs::apply),
    )
    .write("work-orders")
    .op(&crate::workshop::contract::WORK_ORDERS_ID_CANNED_JOBS_POST)],
    deploy: Deploy::API,
};

pub static REPORTS_NAME: Route = Route {
    name: "reports-name",
    path: "/api/v1/reports/{name}",
    methods: &[Endpoint::get(
        Requires(ExportData),
        handler!(crate::workshop::reports::report),
    )
    .read("reports")
    .op(&crate::workshop::contract::REPORTS_NAME_GET)],
    deploy: Deploy::API,
};

pub static PURCHASE_ORDERS_ID_TRANSITION: Route = Route {
    name: "purchase-orders-id-transition",
    path: "/api/v1/purchase-orders/{id}/transition",
    methods: &[Endpoint::post(
        Requires(UpdateAnyRecord),
        handler!(crate::workshop::purchasing::transition),
    )
    .write("purchase-orders")
    .op(&crate::workshop::contract::PURCHASE_ORDERS_ID_TRANSITION_POST)],
    deploy: Deploy::API,
};

pub static PURCHASE_ORDERS_ID_RECEIPTS: Route = Route {
    name: "purchase-orders-id-receipts",
    path: "/api/v1/purchase-orders/{id}/receipts",
    methods: &[Endpoint::post(
        Requires(UpdateAnyRecord),
        handler!(crate::workshop::purchasing::receive),
    )
    .write("purchase-orders")
    .op(&crate::workshop::contract::PURCHASE_ORDERS_ID_RECEIPTS_POST)],
    deploy: Deploy::API,
};

pub static PARTS_REORDER_SUGGESTIONS: Route = Route {
    name: "parts-reorder-suggestions",
    path: "/api/v1/parts/reorder-suggestions",
    methods: &[Endpoint::get(
        Requires(ReadRecords),
        handler!(crate::workshop::purchasing::reorder_suggestions),
    )
    .read("parts")
    .op(&crate::workshop::contract::PARTS_REORDER_SUGGESTIONS_GET)],
    deploy: Deploy::API,
};

pub static VEHICLES_ID_SERVICE_DUE: Route = Route {
    name: "vehicles-id-service-due",
    path: "/api/v1/vehicles/{id}/service-due",
    methods: &[Endpoint::get(
        Requires(ReadRecords),
        handler!(crate::workshop::reminders::due),
    )
    .read("vehicles")
    .op(&crate::workshop::contract::VEHICLES_ID_SERVICE_DUE_GET)],
    deploy: Deploy::API,
};

pub static VEHICLES_ID_SERVICE_HISTORY: Route = Route {
    name: "vehicles-id-service-history",
    path: "/api/v1/vehicles/{id}/service-history",
    methods: &[
        Endpoint::get(
            Requires(ReadRecords),
            handler!(crate::workshop::reminders::history),
        )
        .read("vehicles")
        .op(&crate::workshop::contract::VEHICLES_ID_SERVICE_HISTORY_GET),
        Endpoint::post(
            Requires(CreateRecords),
            handler!(crate::workshop::reminders::add_history),
        )
        .write("vehicles")
        .op(&crate::workshop::contract::VEHICLES_ID_SERVICE_HISTORY_POST),
    ],
    deploy: Deploy::API,
};

pub static SERVICE_REMINDERS: Route = Route {
    name: "service-reminders",
    path: "/api/v1/service-reminders",
    methods: &[Endpoint::get(
        Requires(ReadRecords),
        handler!(crate::workshop::reminders::list),
    )
    .read("service-reminders")
    .op(&crate::workshop::contract::SERVICE_REMINDERS_GET)],
    deploy: Deploy::API,
};

pub static SERVICE_REMINDERS_ID_SEND: Route = Route {
    name: "service-reminders-id-send",
    path: "/api/v1/service-reminders/{id}/send",
    methods: &[Endpoint::post(
        Requires(CreateRecords),
        handler!(crate::workshop::reminders::send),
    )
    .write("service-reminders")
    .op(&crate::workshop::contract::SERVICE_REMINDERS_ID_SEND_POST)],
    deploy: Deploy::API,
};

shared::named_routes! {
    routes {
        VEHICLES_ID_ODOMETER,
        VEHICLES_ID_HISTORY,
        PARTS_ID_ADJUSTMENTS,
        PARTS_ID_MOVEMENTS,
        WORK_ORDERS_ID_TRANSITION,
        WORK_ORDERS_ID_LINES,
        WORK_ORDERS_ID_LINES_ID,
        WORK_ORDERS_ID_APPROVAL,
        WORK_ORDERS_ID_INVOICE,
        WORK_ORDERS_ID_PAYMENTS,
        APPOINTMENTS_AVAILABILITY,
        WORK_ORDERS_ID_SHARE_LINKS,
        SHARE_LINKS_ID,
        PUBLIC_SHARE,
        PUBLIC_SHARE_DECISIONS,
        WORK_ORDERS_ID_INSPECTIONS,
        WORK_ORDERS_ID_INSPECTIONS_ITEM,
        WORK_ORDERS_ID_INSPECTIONS_RECOMMENDATION,
        WORK_ORDERS_ID_INSPECTIONS_COMPLETE,
        WORK_ORDERS_ID_INSPECTIONS_REOPEN,
        WORK_ORDERS_ID_INSPECTIONS_PHOTOS,
        WORK_ORDERS_ID_ESTIMATE_PDF,
        WORK_ORDERS_ID_INVOICE_PDF,
        PUBLIC_SHARE_DOCUMENT,
        TIME_ENTRIES_CLOCK_IN,
        TIME_ENTRIES_CLOCK_OUT,
        TIME_ENTRIES,
        TIME_ENTRIES_ID,
        WORK_ORDERS_ID_CANNED_JOBS,
        REPORTS_NAME,
        PURCHASE_ORDERS_ID_TRANSITION,
        PURCHASE_ORDERS_ID_RECEIPTS,
        PARTS_REORDER_SUGGESTIONS,
        VEHICLES_ID_SERVICE_DUE,
        VEHICLES_ID_SERVICE_HISTORY,
        SERVICE_REMINDERS,
        SERVICE_REMINDERS_ID_SEND,
    }
    entities {
        vehicles = "vehicles" => crate::workshop::vehicles::VEHICLE,
        parts = "parts" => crate::workshop::parts::PART,
        work_orders = "work-orders" => crate::workshop::work_orders::WORK_ORDER,
        appointments = "appointments" => crate::workshop::appointments::APPOINTMENT,
        inspection_templates = "inspection-templates" => crate::workshop::inspections::INSPECTION_TEMPLATE,
        canned_jobs = "canned-jobs" => crate::workshop::canned_jobs::CANNED_JOB,
        vendors = "vendors" => crate::workshop::purchasing::VENDOR,
        purchase_orders = "purchase-orders" => crate::workshop::purchasing::PURCHASE_ORDER,
        service_rules = "service-rules" => crate::workshop::reminders::SERVICE_RULE,
    }
}

/// This context's tags in the OpenAPI document (its group: Workshop).
pub static TAGS: &[Tag] = &[
    Tag {
        name: "vehicles",
        description: "Customers' vehicles, their odometer readings and service history.",
    },
    Tag {
        name: "parts",
        description: "The parts inventory and its stock movements.",
    },
    Tag {
        name: "work-orders",
        description: "Visits: estimate, approval, lines, work, invoice and payments.",
    },
    Tag {
        name: "appointments",
        description: "The bays' calendar and its availability.",
    },
    Tag {
        name: "inspection-templates",
        description: "Checklists an inspection is copied from (ADMIN+ to write).",
    },
    Tag {
        name: "canned-jobs",
        description: "Ready-made packages of lines added to a work order as one group (ADMIN+ to write).",
    },
    Tag {
        name: "vendors",
        description: "Who the shop buys parts from (ADMIN+ to write).",
    },
    Tag {
        name: "purchase-orders",
        description: "Parts ordered from vendors and received into stock at their moving average cost (ADMIN+ to write).",
    },
    Tag {
        name: "service-rules",
        description: "When vehicles are due for service: every N months and/or N km or mi (ADMIN+ to write).",
    },
    Tag {
        name: "service-reminders",
        description: "Every vehicle's due services and declined work to follow up, and their emails.",
    },
    Tag {
        name: "reports",
        description: "The owner's figures, each with its formula, in integers.",
    },
    Tag {
        name: "time-entries",
        description: "The technicians' time clock: shifts, jobs on work-order lines, corrections.",
    },
    Tag {
        name: "share-links",
        description: "A work order's estimate or invoice opened by its customer without an account, and the customer's decisions.",
    },
];
