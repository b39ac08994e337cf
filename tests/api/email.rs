//! Email through a real SMTP server: invitations, self-service password
//! reset, email verification, security alerts and new-lead notices, read
//! back from the server's maildir; the outbox surviving an SMTP outage and
//! never sending one entry twice.

use std::time::{Duration, Instant};

use bson::doc;
use serde_json::json;

use crate::cleanup::CRON_SECRET;
use crate::helpers::*;
use crate::mailbox::{self, wait_for};

/// `POST /api/v1/auth/password-reset/request {email}`.
pub(crate) async fn request_reset(app: &TestApp, email: impl serde::Serialize) -> Resp {
    app.post(
        "/api/v1/auth/password-reset/request",
        None,
        json!({ "email": email }),
    )
    .await
}

pub(crate) fn unique_email(who: &str) -> String {
    format!("{who}.{}@example.test", bson::oid::ObjectId::new().to_hex())
}

#[tokio::test]
async fn an_invitation_is_emailed_and_its_link_works_once() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let invitee = unique_email("invitee");
    let r = app
        .post(
            "/api/v1/invitations",
            Some(owner),
            json!({ "email": invitee, "role": "MEMBER" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(
        r.body.get("token").is_none(),
        "the token is not in the answer: {}",
        r.text
    );
    let mail = wait_for(&invitee, "invited you to Acme Garage").await;
    assert!(mail.text.contains("MEMBER"), "{}", mail.text);
    assert!(mail.html.contains("Acme Garage"), "{}", mail.html);
    let token = mail.token("http://localhost:5173/accept-invitation?token=");
    let accept =
        json!({ "token": token, "password": PASSWORD, "firstName": "Ina", "lastName": "Vite" });
    let r = app
        .post("/api/v1/invitations/accept", None, accept.clone())
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["user"]["email"], invitee.as_str());
    assert_eq!(r.body["user"]["emailVerified"], true);
    let again = app.post("/api/v1/invitations/accept", None, accept).await;
    again.assert_problem(409, "INVITATION_USED");
    let sent = app.find("email_outbox", doc! { "to": &invitee }).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].get_str("status").unwrap(), "SENT");
    assert_eq!(
        sent[0].get("text"),
        Some(&bson::Bson::Null),
        "a sent email drops its bodies"
    );
}

#[tokio::test]
async fn only_an_owner_gets_the_invitation_token_and_only_when_asking() {
    let app = TestApp::spawn().await;
    let (owner, admin) = (app.owner().await, app.admin().await);
    let invitee = unique_email("handed");
    let r = app
        .post(
            "/api/v1/invitations?returnToken=true",
            Some(admin),
            json!({ "email": invitee, "role": "VIEWER" }),
        )
        .await;
    r.assert_problem(403, "PERMISSION_DENIED");
    assert_eq!(
        app.count("invitations", doc! { "email": &invitee }).await,
        0
    );
    assert_eq!(app.count("email_outbox", doc! { "to": &invitee }).await, 0);
    let r = app
        .post(
            "/api/v1/invitations?returnToken=true",
            Some(owner),
            json!({ "email": invitee, "role": "VIEWER" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let token = r.str("token");
    let mail = wait_for(&invitee, "invited you").await;
    assert_eq!(
        mail.token("http://localhost:5173/accept-invitation?token="),
        token
    );
}

#[tokio::test]
async fn a_password_reset_is_requested_by_email_and_its_token_works_once() {
    let app = TestApp::spawn().await;
    let member = app.member().await;
    let started = Instant::now();
    let r = request_reset(&app, member.email.to_uppercase()).await;
    let known = started.elapsed();
    assert_eq!(r.status, 202, "{}", r.text);
    let started = Instant::now();
    let unknown = request_reset(&app, unique_email("nobody")).await;
    let unknown_took = started.elapsed();
    assert_eq!(unknown.status, 202);
    assert_eq!(
        unknown.body, r.body,
        "known and unknown emails answer alike"
    );
    // Both answers wait for the same floor, whatever the work behind them.
    for took in [known, unknown_took] {
        assert!(took >= Duration::from_millis(600), "{took:?}");
    }

    let mail = wait_for(&member.email, "Reset your password").await;
    assert!(mail.text.contains("30 minutes"), "{}", mail.text);
    let token = mail.token("http://localhost:5173/reset-password?token=");
    let reset = json!({ "token": token, "newPassword": "a-brand-new-passphrase-42" });
    let r = app
        .post("/api/v1/auth/password-reset", None, reset.clone())
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    // Every session ended; the new password signs in.
    let me = app.get("/api/v1/auth/me", Some(member)).await;
    assert_eq!(me.status, 401, "{}", me.text);
    let signed = app
        .sign_in(&member.email, "a-brand-new-passphrase-42")
        .await;
    assert_eq!(signed.status, 200, "{}", signed.text);
    let again = app.post("/api/v1/auth/password-reset", None, reset).await;
    again.assert_problem(400, "INVALID_RESET_TOKEN");
    let alert = wait_for(&member.email, "Your password was changed").await;
    assert!(alert.text.contains("with a reset link"), "{}", alert.text);
}

#[tokio::test]
async fn reset_requests_for_accounts_that_cannot_sign_in_send_nothing() {
    let app = TestApp::spawn().await;
    let viewer = app.viewer().await;
    let owner = app.owner().await;
    let r = app
        .patch(
            &format!("/api/v1/members/{}", viewer.id),
            Some(owner),
            json!({ "status": "INACTIVE" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = request_reset(&app, &viewer.email).await;
    assert_eq!(r.status, 202);
    assert_eq!(
        app.count("password_resets", doc! { "userId": oid(&viewer.id) })
            .await,
        0
    );
    // A mailbox cannot be flooded: three links an hour at most.
    let admin = app.admin().await;
    for _ in 0..5 {
        let r = request_reset(&app, &admin.email).await;
        assert_eq!(r.status, 202);
    }
    assert_eq!(
        app.count("password_resets", doc! { "userId": oid(&admin.id) })
            .await,
        3
    );
    let bad = request_reset(&app, "not-an-email").await;
    bad.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(bad.error_fields(), ["email"]);
}

#[tokio::test]
async fn a_new_owner_verifies_the_email_through_the_link() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await;
    let me = app.get("/api/v1/auth/me", Some(owner)).await;
    assert_eq!(me.body["user"]["emailVerified"], false, "{}", me.text);
    assert_eq!(me.body["banner"]["code"], "EMAIL_UNVERIFIED");
    // Unverified owners still use the API.
    assert_eq!(app.get("/api/v1/accounts", Some(owner)).await.status, 200);

    let first = wait_for(&owner.email, "Confirm your email address").await;
    let r = app
        .post("/api/v1/auth/verify-email/resend", Some(owner), json!({}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let mut links = vec![];
    for _ in 0..50 {
        links = mailbox::messages_to(&owner.email)
            .into_iter()
            .filter(|m| m.subject.contains("Confirm"))
            .map(|m| m.token("http://localhost:5173/verify-email?token="))
            .collect();
        if links.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(links.len(), 2, "the resend sent a second link");
    assert!(links.contains(&first.token("http://localhost:5173/verify-email?token=")));
    let token = links.iter().find(|l| **l != links[0]).unwrap_or(&links[1]);

    let r = app
        .post("/api/v1/auth/verify-email", None, json!({ "token": token }))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let me = app.get("/api/v1/auth/me", Some(owner)).await;
    assert_eq!(me.body["user"]["emailVerified"], true, "{}", me.text);
    assert!(me.body["banner"].is_null());
    let again = app
        .post("/api/v1/auth/verify-email", None, json!({ "token": token }))
        .await;
    again.assert_problem(400, "INVALID_VERIFICATION_TOKEN");
    let done = app
        .post("/api/v1/auth/verify-email/resend", Some(owner), json!({}))
        .await;
    assert_eq!(done.status, 200);
    assert_eq!(done.body["emailVerified"], true);
}

#[tokio::test]
async fn security_alerts_reach_the_user() {
    let app = TestApp::spawn().await;
    let member = app.member().await;
    // Signed in from 127.0.0.1 when it was made; 127.0.0.2 is a new address
    // (the local server takes the peer's address, never X-Forwarded-For).
    let from_elsewhere = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let sign_in = || async {
        from_elsewhere
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({ "email": member.email, "password": PASSWORD }))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(sign_in().await, 200);
    let alert = wait_for(&member.email, "New sign-in").await;
    assert!(alert.text.contains("127.0.0.2"), "{}", alert.text);
    assert_eq!(sign_in().await, 200);
    assert_eq!(app.sign_in(&member.email, PASSWORD).await.status, 200);
    let new_sign_ins = || {
        mailbox::messages_to(&member.email)
            .iter()
            .filter(|m| m.subject.contains("New sign-in"))
            .count()
    };
    assert_eq!(new_sign_ins(), 1, "known addresses are not reported again");

    // A password change.
    let r = app
        .post(
            "/api/v1/auth/password",
            Some(member),
            json!({ "currentPassword": PASSWORD, "newPassword": "another-long-passphrase-7" }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let changed = wait_for(&member.email, "Your password was changed").await;
    assert!(changed.text.contains("with the current password"));

    // A refresh token used twice.
    let owner = app.owner().await;
    let rotated = app.refresh(&owner.refresh).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let reused = app.refresh(&owner.refresh).await;
    reused.assert_problem(401, "REFRESH_TOKEN_REUSED");
    let reuse = wait_for(&owner.email, "We signed you out of a session").await;
    assert!(reuse.html.contains("second time"), "{}", reuse.html);
}

/// An app whose SMTP server is down (nothing listens on its port) and
/// retries after a second.
pub(crate) async fn app_with_smtp_down(port: u16, extra: &[(&str, &str)]) -> TestApp {
    let url = format!("smtp://127.0.0.1:{port}");
    let mut env = vec![
        ("SMTP_URL", url.as_str()),
        ("EMAIL_RETRY_BASE_SECONDS", "1"),
        ("CRON_SECRET", CRON_SECRET),
    ];
    env.extend_from_slice(extra);
    TestApp::spawn_with(&env).await
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts aiosmtpd (the suite's SMTP server program) on `port`, writing
/// into `dir`.
async fn start_smtp(port: u16, dir: &std::path::Path) -> tokio::process::Child {
    let python = std::env::var("SMTP_PYTHON").expect("SMTP_PYTHON is set by scripts/test.sh");
    let child = tokio::process::Command::new(python)
        .args(["-m", "aiosmtpd", "-n", "-l"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(dir)
        .kill_on_drop(true)
        .spawn()
        .expect("start aiosmtpd");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("aiosmtpd did not start on {port}");
}

#[tokio::test]
async fn an_smtp_outage_leaves_emails_pending_and_the_next_run_sends_each_once() {
    let port = free_port();
    let app = app_with_smtp_down(port, &[]).await;
    let owner = app.owner().await;
    let invitees: Vec<String> = (0..3).map(|i| unique_email(&format!("later{i}"))).collect();
    for invitee in &invitees {
        let r = app
            .post(
                "/api/v1/invitations",
                Some(owner),
                json!({ "email": invitee, "role": "MEMBER" }),
            )
            .await;
        assert_eq!(r.status, 201, "the action commits without SMTP: {}", r.text);
    }
    for invitee in &invitees {
        let entry = &app.find("email_outbox", doc! { "to": invitee }).await[0];
        assert_eq!(entry.get_str("status").unwrap(), "PENDING");
        assert_eq!(entry.get_i32("attempts").unwrap(), 1);
        assert!(entry.get_str("lastError").is_ok(), "{entry:?}");
    }

    let dir = tempdir("outage");
    let _smtp = start_smtp(port, &dir).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    // Several runs at once (overlapping schedules): each entry goes once.
    let runs: Vec<_> = (0..4).map(|_| app.cron("send-emails")).collect();
    for r in futures_util::future::join_all(runs).await {
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let again = app.cron("send-emails").await;
    assert_eq!(again.status, 200);
    for invitee in &invitees {
        let mail = mailbox::wait_in(&dir, invitee, "invited you").await;
        assert!(mail.message_id.contains('@'));
        assert_eq!(
            mailbox::messages_in(&dir, invitee).len(),
            1,
            "exactly one copy to {invitee}"
        );
        let entry = &app.find("email_outbox", doc! { "to": invitee }).await[0];
        assert_eq!(entry.get_str("status").unwrap(), "SENT");
        assert_eq!(entry.get_i32("attempts").unwrap(), 2);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_email_that_keeps_failing_is_given_up() {
    let port = free_port();
    let app = app_with_smtp_down(port, &[("EMAIL_MAX_ATTEMPTS", "2")]).await;
    let owner = app.owner().await;
    let invitee = unique_email("never");
    let r = app
        .post(
            "/api/v1/invitations",
            Some(owner),
            json!({ "email": invitee, "role": "MEMBER" }),
        )
        .await;
    assert_eq!(r.status, 201);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let r = app.cron("send-emails").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let entry = &app.find("email_outbox", doc! { "to": &invitee }).await[0];
    assert_eq!(entry.get_str("status").unwrap(), "FAILED");
    assert_eq!(entry.get_i32("attempts").unwrap(), 2);
    // A given-up email is not tried again.
    let r = app.cron("send-emails").await;
    assert_eq!(r.status, 200);
    let entry = &app.find("email_outbox", doc! { "to": &invitee }).await[0];
    assert_eq!(entry.get_i32("attempts").unwrap(), 2);
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "crm-mail-{name}-{}",
        bson::oid::ObjectId::new().to_hex()
    ));
    // aiosmtpd makes the maildir itself, where none exists.
    dir
}

/// An SMTP server of the test's own that takes `delay_secs` to answer the
/// end of each message's DATA, then delivers it into the maildir `dir`
/// (aiosmtpd's Mailbox handler, as the suite's server): a slow relay.
async fn start_slow_smtp(
    port: u16,
    dir: &std::path::Path,
    delay_secs: u32,
) -> tokio::process::Child {
    const SLOW: &str = "
import asyncio, sys, threading
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
class Slow(Mailbox):
    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(float(sys.argv[3]))
        return await super().handle_DATA(server, session, envelope)
Controller(Slow(sys.argv[2]), hostname='127.0.0.1', port=int(sys.argv[1])).start()
threading.Event().wait()
";
    let python = std::env::var("SMTP_PYTHON").expect("SMTP_PYTHON is set by scripts/test.sh");
    let child = tokio::process::Command::new(python)
        .args(["-c", SLOW])
        .arg(port.to_string())
        .arg(dir)
        .arg(delay_secs.to_string())
        .kill_on_drop(true)
        .spawn()
        .expect("start the slow SMTP server");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the slow SMTP server did not start on {port}");
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test]
async fn a_relay_that_hangs_holds_no_request_and_every_message_still_arrives_once() {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("slow-smtp-{}", bson::oid::ObjectId::new()));
    let _smtp = start_slow_smtp(port, &dir, 8).await;
    // The production budget (the suite's default waits longer).
    let app = app_with_smtp_down(port, &[("EMAIL_INLINE_BUDGET_MS", "300")]).await;
    let owner = app.owner().await;
    let mut known = vec![];
    for _ in 0..5 {
        known.push(app.add_member(owner, "MEMBER").await.email.clone());
    }

    // A reset request takes as long for a known address (whose email the
    // relay holds for 8 s) as for an unknown one. Each pair is sent at the
    // same moment, so both meet the same load on a busy machine.
    let (mut known_took, mut unknown_took) = (vec![], vec![]);
    let timed = |email: String| {
        let app = &app;
        async move {
            let started = Instant::now();
            assert_eq!(request_reset(app, email).await.status, 202);
            started.elapsed()
        }
    };
    for email in &known {
        let (k, u) = tokio::join!(timed(email.clone()), timed(unique_email("nobody")));
        known_took.push(k);
        unknown_took.push(u);
    }
    let (k, u) = (median(known_took.clone()), median(unknown_took.clone()));
    let gap = k.max(u) - k.min(u);
    assert!(
        gap < Duration::from_millis(100),
        "known {known_took:?} against unknown {unknown_took:?}"
    );
    assert!(k < Duration::from_secs(2), "{known_took:?}");

    // An invitation answers within a second though its email takes 8.
    let invitee = unique_email("invitee");
    let started = Instant::now();
    let r = app
        .post(
            "/api/v1/invitations",
            Some(owner),
            json!({ "email": invitee, "role": "MEMBER" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let invited_in = started.elapsed();
    assert!(invited_in < Duration::from_secs(1), "{invited_in:?}");
    println!(
        "relay answering DATA after 8 s: reset request median known {k:?}, unknown {u:?}; invitation answered in {invited_in:?}"
    );

    // Every message arrives, once: the sends went on past the requests
    // (and the scheduled sender, run meanwhile, sends none of them again).
    // (Each member has a verification email too.)
    let mut recipients = known.clone();
    recipients.push(invitee.clone());
    let queued = app
        .count("email_outbox", doc! { "to": { "$in": &recipients } })
        .await;
    assert_eq!(queued, 2 * known.len() as u64 + 1);
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let arrived: usize = recipients
            .iter()
            .map(|to| mailbox::messages_in(&dir, to).len())
            .sum();
        if arrived as u64 >= queued {
            break;
        }
        assert!(Instant::now() < deadline, "{arrived} of {queued} arrived");
        let r = app.cron("send-emails").await;
        assert_eq!(r.status, 200, "{}", r.text);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(app.cron("send-emails").await.status, 200);
    for to in &recipients {
        let entries = app.find("email_outbox", doc! { "to": to }).await;
        assert_eq!(mailbox::messages_in(&dir, to).len(), entries.len(), "{to}");
        for e in &entries {
            assert_eq!(e.get_str("status").unwrap(), "SENT", "{to}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_sender_whose_lease_ran_out_does_not_mark_another_senders_claim() {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("lease-smtp-{}", bson::oid::ObjectId::new()));
    let _smtp = start_slow_smtp(port, &dir, 6).await;
    let app = app_with_smtp_down(port, &[("EMAIL_INLINE_BUDGET_MS", "300")]).await;
    let owner = app.owner().await;
    let invitee = unique_email("leased");
    let r = app
        .post(
            "/api/v1/invitations",
            Some(owner),
            json!({ "email": invitee, "role": "MEMBER" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // The request's own sender (A) holds the entry and waits on the relay;
    // its lease is made to run out (as a paused function's would).
    let filter = doc! { "to": &invitee };
    let entry = &app.find("email_outbox", filter.clone()).await[0];
    assert_eq!(entry.get_str("status").unwrap(), "SENDING", "{entry:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    app.db
        .collection::<bson::Document>("email_outbox")
        .update_one(
            filter.clone(),
            doc! { "$set": { "leaseUntil": bson::DateTime::from_millis(0) } },
        )
        .await
        .unwrap();
    // The scheduled sender (B) claims it afresh and sends again; when A's
    // send completes meanwhile, the entry must still be B's.
    let watch = async {
        let deadline = Instant::now() + Duration::from_secs(20);
        while mailbox::messages_in(&dir, &invitee).is_empty() {
            assert!(Instant::now() < deadline, "A's send never arrived");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        app.find("email_outbox", filter.clone()).await.remove(0)
    };
    let (run, after_a) = tokio::join!(app.cron("send-emails"), watch);
    assert_eq!(
        after_a.get_str("status").unwrap(),
        "SENDING",
        "A marked B's claim: {after_a:?}"
    );
    assert_eq!(run.status, 200, "{}", run.text);
    let done = &app.find("email_outbox", filter).await[0];
    assert_eq!(done.get_str("status").unwrap(), "SENT", "{done:?}");
    // Both copies left, as one message (the same Message-ID).
    let copies = mailbox::messages_in(&dir, &invitee);
    assert_eq!(copies.len(), 2);
    assert_eq!(copies[0].message_id, copies[1].message_id);
    let _ = std::fs::remove_dir_all(&dir);
}
