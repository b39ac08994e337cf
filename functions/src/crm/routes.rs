//! The CRM context's routes: its entities (accounts, contacts, leads,
//! opportunities, tasks, products, forms), a lead's conversion and
//! submissions, the pipeline summary, and the public form endpoint.

use shared::handler;
use shared::rbac::Access::{Link, Public, Requires};
use shared::rbac::Permission::*;
use shared::runtime::openapi::Tag;
use shared::runtime::{Deploy, Endpoint, Route};

pub static LEADS_ID_CONVERT: Route = Route {
    name: "leads-id-convert",
    path: "/api/v1/leads/{id}/convert",
    methods: &[Endpoint::post(
        Requires(UpdateRecords),
        handler!(crate::crm::leads::convert::handle),
    )
    .write("leads")
    .op(&crate::crm::contract::LEADS_ID_CONVERT_POST)],
    deploy: Deploy::API,
};

pub static LEADS_ID_SUBMISSIONS: Route = Route {
    name: "leads-id-submissions",
    path: "/api/v1/leads/{id}/submissions",
    methods: &[Endpoint::get(
        Requires(ReadRecords),
        handler!(crate::crm::forms::lead_submissions),
    )
    .read("leads")
    .op(&crate::crm::contract::LEADS_ID_SUBMISSIONS_GET)],
    deploy: Deploy::API,
};

pub static OPPORTUNITIES_SUMMARY: Route = Route {
    name: "opportunities-summary",
    path: "/api/v1/opportunities/summary",
    methods: &[Endpoint::get(
        Requires(ReadRecords),
        handler!(crate::crm::opportunities::summary),
    )
    .read("opportunities")
    .op(&crate::crm::contract::OPPORTUNITIES_SUMMARY_GET)],
    deploy: Deploy::API,
};

pub static FORMS_ID_ROTATE_KEY: Route = Route {
    name: "forms-id-rotate-key",
    path: "/api/v1/forms/{id}/rotate-key",
    methods: &[
        Endpoint::post(Requires(Configure), handler!(crate::crm::forms::rotate_key))
            .write("forms")
            .op(&crate::crm::contract::FORMS_ID_ROTATE_KEY_POST),
    ],
    deploy: Deploy::API,
};

pub static FORMS_ID_SUBMISSIONS: Route = Route {
    name: "forms-id-submissions",
    path: "/api/v1/forms/{id}/submissions",
    methods: &[Endpoint::get(
        Requires(Configure),
        handler!(crate::crm::forms::submissions),
    )
    .read("forms")
    .op(&crate::crm::contract::FORMS_ID_SUBMISSIONS_GET)],
    deploy: Deploy::API,
};

pub static PUBLIC_FORMS_SUBMISSIONS: Route = Route {
    name: "public-forms-publicid-submissions",
    path: "/api/v1/public/forms/{publicId}/submissions",
    methods: &[
        Endpoint::post(Public, handler!(crate::crm::forms::submit))
            .op(&crate::crm::contract::PUBLIC_FORMS_SUBMISSIONS_POST),
        Endpoint::options(Public, handler!(crate::crm::forms::preflight)),
    ],
    deploy: Deploy::API,
};

pub static PUBLIC_UNSUBSCRIBE: Route = Route {
    name: "public-unsubscribe-token",
    path: "/api/v1/public/unsubscribe/{token}",
    methods: &[
        Endpoint::get(Link, handler!(crate::crm::consent::page))
            .op(&crate::crm::contract::PUBLIC_UNSUBSCRIBE_GET),
        Endpoint::post(Link, handler!(crate::crm::consent::unsubscribe))
            .op(&crate::crm::contract::PUBLIC_UNSUBSCRIBE_POST),
    ],
    deploy: Deploy::API,
};

shared::named_routes! {
    routes {
        LEADS_ID_CONVERT,
        LEADS_ID_SUBMISSIONS,
        OPPORTUNITIES_SUMMARY,
        FORMS_ID_ROTATE_KEY,
        FORMS_ID_SUBMISSIONS,
        PUBLIC_FORMS_SUBMISSIONS,
        PUBLIC_UNSUBSCRIBE,
    }
    entities {
        accounts = "accounts" => crate::crm::accounts::ACCOUNT,
        contacts = "contacts" => crate::crm::contacts::CONTACT,
        leads = "leads" => crate::crm::leads::LEAD,
        opportunities = "opportunities" => crate::crm::opportunities::OPPORTUNITY,
        tasks = "tasks" => crate::crm::tasks::TASK,
        products = "products" => crate::crm::products::PRODUCT,
        forms = "forms" => crate::crm::forms::FORM,
    }
}

/// This context's tags in the OpenAPI document (its group: CRM).
pub static TAGS: &[Tag] = &[
    Tag {
        name: "accounts",
        description: "Customers: companies and private persons.",
    },
    Tag {
        name: "contacts",
        description: "People at an account.",
    },
    Tag {
        name: "leads",
        description:
            "Prospects, from the team or from a public form, until converted into an account.",
    },
    Tag {
        name: "opportunities",
        description: "Deals in the pipeline, and the pipeline's summary.",
    },
    Tag {
        name: "tasks",
        description: "Things to do, assigned and related to a record.",
    },
    Tag {
        name: "products",
        description: "What the workshop sells, with prices.",
    },
    Tag {
        name: "forms",
        description: "Lead forms for a website, their keys and submissions.",
    },
];
