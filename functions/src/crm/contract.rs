//! The OpenAPI contract of the CRM context's own routes: a lead's
//! conversion, the opportunity pipeline summary, and the public forms' key
//! rotation, submission list and public submission (the entities' record
//! routes describe themselves from their declarations).
//!
//! The document is generated from these declarations and schemathesis
//! checks the server against it, so each says exactly what its handler
//! takes and answers: change one with its handler.

use shared::runtime::openapi::{Body, Op, Prop, Reply, Schema};

use super::accounts::ACCOUNT;
use super::contacts::CONTACT;
use super::forms::FORM;
use super::leads::LEAD;
use super::opportunities::OPPORTUNITY;

/// The opportunity a conversion may create, as an opportunity's create
/// takes it (an `accountId` is checked, then replaced by the new account).
static OPPORTUNITY_BODY: Schema = Schema::Fields(OPPORTUNITY.fields);

pub static LEADS_ID_CONVERT_POST: Op = Op {
    summary: "Convert a lead",
    description:
        "Creates an account (named `accountName`, else the lead's company, else its name), \
        a contact and, with `opportunity`, an opportunity of the new account, and marks the lead \
        CONVERTED, all in one transaction. An empty body reads as `{}`. A lead converted before is \
        a 409 `ALREADY_CONVERTED`; MEMBERs convert only the leads they created.",
    body: Body::Optional(Schema::Object(&[
        Prop::opt(
            "accountName",
            Schema::Nullable(&Schema::Text { min: 1, max: 200 }),
        ),
        Prop::opt("opportunity", Schema::Nullable(&OPPORTUNITY_BODY)),
    ])),
    reply: Reply::Json(
        200,
        Schema::Object(&[
            Prop::req("lead", Schema::Record(&LEAD)),
            Prop::req("account", Schema::Record(&ACCOUNT)),
            Prop::req("contact", Schema::Record(&CONTACT)),
            Prop::req(
                "opportunity",
                Schema::Nullable(&Schema::Record(&OPPORTUNITY)),
            ),
        ]),
    ),
    ..Op::DEFAULTS
};

pub static OPPORTUNITIES_SUMMARY_GET: Op = Op {
    summary: "Summarize the opportunity pipeline",
    description: "Count and total amount (minor units) of the organization's live opportunities \
        per stage and currency, ordered by stage then currency; `null` for an opportunity \
        without a stage or currency.",
    reply: Reply::Json(
        200,
        Schema::Object(&[Prop::req(
            "data",
            Schema::Array(&Schema::Object(&[
                Prop::req("stage", Schema::Nullable(&Schema::STRING)),
                Prop::req("currency", Schema::Nullable(&Schema::STRING)),
                Prop::req("count", Schema::COUNT),
                Prop::req("amount", Schema::COUNT),
            ])),
        )]),
    ),
    ..Op::DEFAULTS
};

pub static FORMS_ID_ROTATE_KEY_POST: Op = Op {
    summary: "Give a form a new public id",
    description: "A new random `publicId`; the old one stops working at once (submissions to it \
        get 404), so the website's form must be updated.",
    reply: Reply::Json(200, Schema::Record(&FORM)),
    ..Op::DEFAULTS
};

/// A stored submission as the list renders it.
const SUBMISSION: Schema = Schema::Object(&[
    Prop::req("id", Schema::ID),
    Prop::req("formId", Schema::ID),
    Prop::req("payload", Schema::Map(&Schema::STRING)),
    Prop::req(
        "consent",
        Schema::Object(&[
            Prop::req("given", Schema::Bool),
            Prop::req("text", Schema::Nullable(&Schema::STRING)),
        ]),
    ),
    Prop::req("ipAddress", Schema::STRING),
    Prop::req("userAgent", Schema::Nullable(&Schema::STRING)),
    Prop::req("leadId", Schema::Nullable(&Schema::ID)),
    Prop::req("spam", Schema::Bool),
    Prop::req("origin", Schema::Nullable(&Schema::STRING)),
    Prop::req("createdAt", Schema::TIME),
]);

pub static FORMS_ID_SUBMISSIONS_GET: Op = Op {
    summary: "List a form's submissions",
    description: "Newest first, paged by cursor. `payload` is what was accepted of the form's \
        fields (empty for spam); `leadId` the lead it made or added to (null for spam).",
    list: Some(&super::forms::SUBMISSIONS),
    reply: Reply::Json(200, Schema::Page(&SUBMISSION)),
    ..Op::DEFAULTS
};

pub static LEADS_ID_SUBMISSIONS_GET: Op = Op {
    summary: "List a lead's form submissions",
    description: "The public form submissions filed under the lead, newest first, paged by \
        cursor: the one that made it and every later one with its email. A later submission \
        changes none of the lead's fields; what it sent is here for staff to take over.",
    list: Some(&super::forms::LEAD_SUBMISSIONS),
    reply: Reply::Json(200, Schema::Page(&SUBMISSION)),
    ..Op::DEFAULTS
};

pub static PUBLIC_FORMS_SUBMISSIONS_POST: Op = Op {
    summary: "Submit a public form",
    description: "No authentication; at most 16 KiB. JSON is answered with JSON (201); a plain \
        HTML form post (`application/x-www-form-urlencoded`) with a 303 to the form's \
        `redirectUrl` or a thank-you page (200), and its 403 (anti-spam check) and 422 (entries) \
        with an HTML page too. Only the fields the form names are kept (others are dropped), \
        checked like a lead's; a submission whose email matches a live lead is attached to it \
        (`GET /api/v1/leads/{id}/submissions`) and changes none of its fields. \
        `consent` is `{given, text}` in JSON, `consent=on` with `consentText` in a form post. \
        A filled honeypot (`_gotcha`, or the form's `honeypotField`) gets the success answer but \
        makes no lead. With a Turnstile secret set, `cf-turnstile-response` is required. An \
        `Origin` not among the form's `allowedOrigins` is a 403; an unknown, inactive or deleted \
        form a 404.",
    body: Body::JsonOrForm(Schema::Object(&[
        Prop::opt("firstName", Schema::Text { min: 0, max: 100 }),
        Prop::opt("lastName", Schema::Text { min: 0, max: 100 }),
        Prop::opt("email", Schema::EMAIL),
        Prop::opt("phone", Schema::Text { min: 0, max: 40 }),
        Prop::opt("company", Schema::Text { min: 0, max: 200 }),
        Prop::opt("consent", Schema::Any),
        Prop::opt("consentText", Schema::STRING),
        Prop::opt("_gotcha", Schema::STRING),
        Prop::opt("cf-turnstile-response", Schema::STRING),
    ])),
    reply: Reply::Json(
        201,
        Schema::Object(&[
            Prop::req("received", Schema::Bool),
            Prop::req("submissionId", Schema::ID),
        ]),
    ),
    also: &[
        Reply::Media(
            200,
            "text/html",
            "A form post to a form without `redirectUrl`: a small thank-you page.",
        ),
        Reply::Empty(303),
    ],
    // Listed with the forms it posts to.
    tag: Some("forms"),
    ..Op::DEFAULTS
};

pub static PUBLIC_UNSUBSCRIBE_GET: Op = Op {
    summary: "Open an unsubscribe link",
    description: "No sign-in: the token of a reminder email's link. An HTML page with one \
        button that posts the unsubscribe; opening it changes nothing (mail scanners open \
        links). 404 for an unknown token, 410 once it expired (two years).",
    reply: Reply::Media(
        200,
        "text/html",
        "A page asking to confirm the unsubscribe.",
    ),
    tag: Some("contacts"),
    ..Op::DEFAULTS
};

pub static PUBLIC_UNSUBSCRIBE_POST: Op = Op {
    summary: "Unsubscribe from reminder emails (one click)",
    description: "No sign-in; RFC 8058: mail clients post `List-Unsubscribe=One-Click` \
        (`application/x-www-form-urlencoded`), any body is accepted. The contact's \
        `emailConsent` becomes `{marketing: false, source: UNSUBSCRIBE}` and `unsubscribedAt` \
        is set, audited with the address and user agent it came from, and announced \
        (`contact.unsubscribed`); no reminder goes to the contact from then on. Again: the \
        first unsubscribe stands.",
    body: Body::JsonOrForm(Schema::Object(&[Prop::opt(
        "List-Unsubscribe",
        Schema::STRING,
    )])),
    reply: Reply::Json(
        200,
        Schema::Object(&[
            Prop::req("unsubscribed", Schema::Bool),
            Prop::req("at", Schema::Format("date-time")),
        ]),
    ),
    tag: Some("contacts"),
    ..Op::DEFAULTS
};
