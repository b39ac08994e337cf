//! The emails the product sends, rendered from the templates in
//! `functions/emails/` (a text part and an HTML part each; the text file's
//! first line is the subject). Links open the web app at `APP_URL`. The
//! platform's outbox (`shared::email`) stores and sends what these render.

use shared::config::Config;
use shared::email::{render, Message};

/// A template: its name, text (with the `Subject:` line) and HTML body.
struct Template {
    kind: &'static str,
    text: &'static str,
    html: &'static str,
}

macro_rules! template {
    ($name:literal) => {
        Template {
            kind: $name,
            text: include_str!(concat!("../emails/", $name, ".txt")),
            html: include_str!(concat!("../emails/", $name, ".html")),
        }
    };
}

const LAYOUT: &str = include_str!("../emails/layout.html");
const PRODUCT: &str = "Workshop CRM";

fn compose(template: Template, to: &str, values: &[(&str, &str)]) -> Message {
    let text = render(template.text, values, false);
    let (subject, body) = text
        .split_once('\n')
        .map(|(first, rest)| {
            (
                first.trim_start_matches("Subject:").trim().to_string(),
                rest.trim_start().to_string(),
            )
        })
        .unwrap_or_default();
    let content = render(template.html, values, true);
    let html = render(LAYOUT, &[("subject", &subject), ("product", PRODUCT)], true)
        .replace("{{content}}", &content);
    Message {
        kind: template.kind,
        to: to.to_string(),
        subject,
        text: body,
        html,
        unsubscribe: None,
    }
}

/// `APP_URL` + `path` + `?token=`.
fn link(config: &Config, path: &str, token: &str) -> String {
    format!("{}{path}?token={token}", config.email.app_url)
}

fn when(t: bson::DateTime) -> String {
    shared::time::rfc3339(t)
}

pub fn invitation(
    config: &Config,
    to: &str,
    inviter: &str,
    organization: &str,
    role: &str,
    token: &str,
    expires: bson::DateTime,
) -> Message {
    let link = link(config, "/accept-invitation", token);
    compose(
        template!("invitation"),
        to,
        &[
            ("inviter", inviter),
            ("organization", organization),
            ("role", role),
            ("link", &link),
            ("expires", &when(expires)),
        ],
    )
}

pub fn password_reset(config: &Config, to: &str, name: &str, token: &str) -> Message {
    let link = link(config, "/reset-password", token);
    compose(
        template!("password-reset"),
        to,
        &[("name", name), ("link", &link)],
    )
}

pub fn verify_email(config: &Config, to: &str, name: &str, token: &str) -> Message {
    let link = link(config, "/verify-email", token);
    compose(
        template!("verify-email"),
        to,
        &[("name", name), ("link", &link)],
    )
}

/// `how`: "with your current password", "with a reset link".
pub fn password_changed(config: &Config, to: &str, name: &str, how: &str) -> Message {
    let link = format!("{}/forgot-password", config.email.app_url);
    compose(
        template!("password-changed"),
        to,
        &[
            ("name", name),
            ("when", &when(bson::DateTime::now())),
            ("how", how),
            ("link", &link),
        ],
    )
}

pub fn new_sign_in(config: &Config, to: &str, name: &str, ip: &str, agent: &str) -> Message {
    let link = format!("{}/settings/security", config.email.app_url);
    compose(
        template!("new-sign-in"),
        to,
        &[
            ("name", name),
            ("ip", ip),
            ("agent", agent),
            ("when", &when(bson::DateTime::now())),
            ("link", &link),
        ],
    )
}

pub fn token_reuse(config: &Config, to: &str, name: &str, ip: &str) -> Message {
    let link = format!("{}/settings/security", config.email.app_url);
    compose(
        template!("token-reuse"),
        to,
        &[
            ("name", name),
            ("ip", ip),
            ("when", &when(bson::DateTime::now())),
            ("link", &link),
        ],
    )
}

/// An API key about to expire, for an owner of its organization.
pub struct ExpiringKey<'a> {
    pub organization: &'a str,
    pub name: &'a str,
    pub display: &'a str,
    pub expires_at: bson::DateTime,
    /// "in 14 days", "within a day".
    pub within: &'a str,
}

pub fn api_key_expiring(config: &Config, to: &str, name: &str, key: &ExpiringKey) -> Message {
    let link = format!("{}/settings/api-keys", config.email.app_url);
    compose(
        template!("api-key-expiring"),
        to,
        &[
            ("name", name),
            ("organization", key.organization),
            ("key", key.name),
            ("display", key.display),
            ("when", &when(key.expires_at)),
            ("within", key.within),
            ("link", &link),
        ],
    )
}

/// What a failing webhook endpoint's owners and admins are told.
pub struct FailingEndpoint<'a> {
    pub organization: &'a str,
    pub endpoint_id: &'a str,
    pub url: &'a str,
    pub since: bson::DateTime,
    /// The subject line.
    pub headline: &'a str,
    /// What happened, in a sentence or two.
    pub detail: &'a str,
}

pub fn webhook_failing(config: &Config, to: &str, name: &str, e: &FailingEndpoint) -> Message {
    let link = format!(
        "{}/settings/webhooks/{}",
        config.email.app_url, e.endpoint_id
    );
    let headline = format!("{} ({})", e.headline, e.organization);
    compose(
        template!("webhook-failing"),
        to,
        &[
            ("name", name),
            ("headline", &headline),
            ("detail", e.detail),
            ("url", e.url),
            ("since", &when(e.since)),
            ("link", &link),
        ],
    )
}

/// A lead that arrived through a public form, for the organization's admins.
pub struct NewLead<'a> {
    pub form: &'a str,
    pub lead_id: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    pub company: &'a str,
    pub phone: &'a str,
}

pub fn new_lead(config: &Config, to: &str, lead: &NewLead) -> Message {
    let link = format!("{}/leads/{}", config.email.app_url, lead.lead_id);
    compose(
        template!("new-lead"),
        to,
        &[
            ("form", lead.form),
            ("lead", lead.name),
            ("email", lead.email),
            ("company", lead.company),
            ("phone", lead.phone),
            ("link", &link),
        ],
    )
}

/// A work order's estimate or invoice, shared with its customer by link.
pub struct SharedDocument<'a> {
    pub shop: &'a str,
    pub name: &'a str,
    /// `estimate` or `invoice`.
    pub purpose: &'a str,
    pub vehicle: &'a str,
    pub url: &'a str,
    pub expires: bson::DateTime,
}

pub fn share_link(to: &str, d: &SharedDocument) -> Message {
    let name = if d.name.is_empty() { "there" } else { d.name };
    compose(
        template!("share-link"),
        to,
        &[
            ("shop", d.shop),
            ("name", name),
            ("purpose", d.purpose),
            ("vehicle", d.vehicle),
            ("link", d.url),
            ("expires", &when(d.expires)),
        ],
    )
}

/// A customer's service reminders (one email per account and run).
pub struct ServiceReminder<'a> {
    pub shop: &'a str,
    pub phone: &'a str,
    pub name: &'a str,
    /// One line per reminder.
    pub items: &'a str,
    /// The one-click unsubscribe URL (also its headers).
    pub unsubscribe: &'a str,
}

pub fn service_reminder(to: &str, r: &ServiceReminder) -> Message {
    let name = if r.name.is_empty() { "there" } else { r.name };
    let phone = if r.phone.is_empty() { "us" } else { r.phone };
    let mut m = compose(
        template!("service-reminder"),
        to,
        &[
            ("shop", r.shop),
            ("name", name),
            ("items", r.items),
            ("phone", phone),
            ("unsubscribe", r.unsubscribe),
        ],
    );
    m.unsubscribe = Some(r.unsubscribe.to_string());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::from_lookup(|k| match k {
            "MONGODB_URI" => Some("mongodb://127.0.0.1:1".into()),
            "JWT_SECRET" => Some("x".repeat(40)),
            "APP_URL" => Some("https://app.example.com/".into()),
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn every_template_has_a_subject_a_text_and_an_escaped_html_part() {
        let c = config();
        let m = invitation(
            &c,
            "a@b.test",
            "Olga <script>",
            "Acme & Sons",
            "ADMIN",
            "tok123",
            bson::DateTime::now(),
        );
        assert_eq!(m.subject, "Olga <script> invited you to Acme & Sons");
        assert!(m
            .text
            .contains("https://app.example.com/accept-invitation?token=tok123"));
        assert!(m.html.contains("Olga &lt;script&gt;"));
        assert!(!m.html.contains("<script>"));
        assert!(!m.html.contains("{{"), "{}", m.html);
        for m in [
            password_reset(&c, "a@b.test", "A", "t"),
            verify_email(&c, "a@b.test", "A", "t"),
            password_changed(&c, "a@b.test", "A", "x"),
            new_sign_in(&c, "a@b.test", "A", "1.2.3.4", "curl"),
            token_reuse(&c, "a@b.test", "A", "1.2.3.4"),
        ] {
            assert!(!m.subject.is_empty() && !m.subject.contains("{{"));
            assert!(!m.text.contains("{{") && !m.html.contains("{{"), "{m:?}");
        }
    }
}
