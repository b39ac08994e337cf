//! Real browsers: headless Chromium (Debian's, driven by `playwright-core`
//! from `tests/browser/`) loads pages from origins of their own and talks
//! to the API the way a workshop's website does. `scripts/test.sh`
//! installs both and sets `CHROMIUM` and `BROWSER_TESTS`.

use std::path::PathBuf;

use bson::doc;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

/// The page a [`static_site`] serves; set it once the site's origin is known.
pub type Page = std::sync::Arc<std::sync::Mutex<String>>;

/// Serves `page` for every GET on 127.0.0.1 (a website of its own origin);
/// returns the port.
pub async fn static_site(page: Page) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let html = page.lock().unwrap().clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut got = 0;
                while got < buf.len() {
                    let n = socket.read(&mut buf[got..]).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    got += n;
                    if buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    html.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(html.as_bytes()).await;
            });
        }
    });
    port
}

/// Runs `tests/browser/{script}` with node and `env`; returns what it
/// printed last, as JSON.
pub async fn run_browser(script: &str, env: &[(&str, String)]) -> Value {
    let chromium = std::env::var("CHROMIUM").expect(
        "CHROMIUM is not set: run the suite with scripts/test.sh, which installs Debian's chromium",
    );
    let dir = std::env::var("BROWSER_TESTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser"));
    let out = tokio::process::Command::new("node")
        .arg(dir.join(script))
        .current_dir(&dir)
        .env("CHROMIUM", chromium)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("the script prints JSON")
}

fn form_page(action: &str) -> String {
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>Book a service</title>
<script>window.FORM_URL = "{action}";</script></head><body>
<form method="post" action="{action}">
  <input name="firstName" placeholder="First name">
  <input name="email" type="email" required placeholder="Email">
  <input name="_gotcha" tabindex="-1" autocomplete="off" style="display:none">
  <label><input type="checkbox" name="consent"> You may contact me.</label>
  <input type="hidden" name="consentText" value="You may contact me.">
  <button type="submit">Send</button>
</form></body></html>"#
    )
}

#[tokio::test]
async fn a_form_posted_by_chromium_from_its_site_makes_a_lead_and_from_another_site_nothing() {
    let app = TestApp::spawn().await;
    // Two websites: the workshop's (allowed) and someone else's.
    let page = Page::default();
    let (allowed, other) = (
        static_site(page.clone()).await,
        static_site(page.clone()).await,
    );
    let r = app
        .post(
            "/api/v1/forms",
            Some(app.admin().await),
            json!({
                "name": "Book a service",
                "fields": [{ "field": "email", "required": true }, { "field": "firstName" }],
                "allowedOrigins": [format!("http://localhost:{allowed}")],
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let action = app.url(&format!(
        "/api/v1/public/forms/{}/submissions",
        r.str("publicId")
    ));
    *page.lock().unwrap() = form_page(&action);

    let n = bson::oid::ObjectId::new().to_hex();
    let email = |k: &str| format!("{k}.{n}@browser.test");
    let seen = run_browser(
        "forms.mjs",
        &[
            ("ALLOWED_PAGE", format!("http://localhost:{allowed}/book")),
            ("OTHER_PAGE", format!("http://127.0.0.1:{other}/book")),
            ("EMAIL_ALLOWED_POST", email("post")),
            ("EMAIL_ALLOWED_FETCH", email("fetch")),
            ("EMAIL_OTHER_POST", email("other-post")),
            ("EMAIL_OTHER_FETCH", email("other-fetch")),
            ("EMAIL_OTHER_SIMPLE", email("other-simple")),
        ],
    )
    .await;

    // The plain post lands on the thank-you page; the fetch gets JSON.
    assert_eq!(seen["allowedPost"]["status"], 200, "{seen}");
    assert!(
        seen["allowedPost"]["text"]
            .as_str()
            .unwrap()
            .contains("Thank you"),
        "{seen}"
    );
    assert_eq!(seen["allowedFetch"]["status"], 201, "{seen}");
    // From the other site: the plain post is refused by the server, the
    // scripts by the browser (CORS) and the server.
    assert_eq!(seen["otherPost"]["status"], 403, "{seen}");
    assert!(seen["otherFetch"]["error"].is_string(), "{seen}");
    assert!(seen["otherSimpleFetch"]["error"].is_string(), "{seen}");

    let lead = |k: &str| app.count("leads", doc! { "email": email(k) });
    assert_eq!(lead("post").await, 1);
    assert_eq!(lead("fetch").await, 1);
    let made = &app.find("leads", doc! { "email": email("post") }).await[0];
    assert_eq!(made.get_str("firstName").unwrap(), "Paula");
    for k in ["other-post", "other-fetch", "other-simple"] {
        assert_eq!(lead(k).await, 0, "{k} made a lead");
    }
    let submissions = app.find("form_submissions", doc! {}).await;
    assert_eq!(
        submissions.len(),
        2,
        "refused posts are not kept: {submissions:?}"
    );
    let consent = submissions
        .iter()
        .find(|s| s.get_document("payload").unwrap().get_str("email") == Ok(&email("post")))
        .unwrap()
        .get_document("consent")
        .unwrap()
        .clone();
    assert_eq!(consent.get_bool("given"), Ok(true), "{consent:?}");
}
