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
    static_site_on(0, page).await
}

/// [`static_site`] on `port` (0: any free one).
pub async fn static_site_on(port: u16, page: Page) -> u16 {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| panic!("port {port} on 127.0.0.1: {e}"));
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

/// The browser client's page: a small app on another origin than the
/// API's, keeping its access token in memory only and its session in the
/// refresh cookie, as the README's browser guide says.
fn client_page(api: &str) -> String {
    r#"<!doctype html><html><head><meta charset="utf-8"><title>Workshop</title>
<script>
const API = "%API%";
let token = null;
async function call(path, opts = {}) {
  try {
    const headers = Object.assign({}, opts.headers || {});
    if (token) headers.authorization = `Bearer ${token}`;
    const r = await fetch(API + path, Object.assign({}, opts, { headers, credentials: "include" }));
    const text = await r.text();
    let body = null;
    try { body = JSON.parse(text); } catch (_) {}
    return { status: r.status, body };
  } catch (e) {
    return { error: String(e) };
  }
}
const json = (method, value, extra = {}) => ({
  method,
  headers: Object.assign({ "content-type": "application/json" }, extra),
  body: JSON.stringify(value),
});
window.client = {
  hasToken: () => token !== null,
  setToken: (t) => { token = t; },
  async signIn(email, password) {
    const r = await call("/api/v1/auth/login", json("POST", { email, password }));
    if (r.body && r.body.accessToken) token = r.body.accessToken;
    return { status: r.status, error: r.error, hasToken: token !== null };
  },
  async resume() {
    const r = await call("/api/v1/auth/refresh", { method: "POST" });
    if (r.body && r.body.accessToken) token = r.body.accessToken;
    return { status: r.status, error: r.error, token: r.body && r.body.accessToken };
  },
  async listAccounts() {
    const r = await call("/api/v1/accounts?limit=100");
    return { status: r.status, error: r.error, names: r.body && r.body.data ? r.body.data.map((a) => a.name) : null };
  },
  // Polls the list cheaply: the second read names the first one's ETag.
  async revalidate() {
    const first = await fetch(API + "/api/v1/accounts?limit=100", { headers: { authorization: `Bearer ${token}` }, cache: "no-store" });
    const etag = first.headers.get("etag");
    const again = await fetch(API + "/api/v1/accounts?limit=100", {
      headers: { authorization: `Bearer ${token}`, "if-none-match": etag }, cache: "no-store",
    });
    return { first: first.status, etag, again: again.status, body: await again.text() };
  },
  async createAccount(name) {
    const r = await call("/api/v1/accounts", json("POST", { name }, { "idempotency-key": crypto.randomUUID() }));
    return { status: r.status, error: r.error, id: r.body && r.body.id };
  },
  async putTo(url, headers, text) {
    const h = {};
    for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() !== "content-length") h[k] = v;
    try {
      const r = await fetch(url, { method: "PUT", headers: h, body: text });
      return { status: r.status };
    } catch (e) {
      return { error: String(e) };
    }
  },
  async upload(fileName, text) {
    const size = new TextEncoder().encode(text).length;
    const asked = await call("/api/v1/uploads", json("POST", { fileName, contentType: "text/plain", size }));
    if (asked.status !== 201) return { askStatus: asked.status, error: asked.error };
    const put = await this.putTo(asked.body.uploadUrl, asked.body.headers, text);
    const done = await call(`/api/v1/documents/${asked.body.documentId}/complete`, json("POST", {}));
    return { askStatus: asked.status, put, completeStatus: done.status, documentId: asked.body.documentId };
  },
  async download(id) {
    const r = await call(`/api/v1/documents/${id}`);
    if (r.status !== 200) return { status: r.status, error: r.error };
    try {
      const file = await fetch(r.body.downloadUrl);
      return { status: file.status, text: await file.text() };
    } catch (e) {
      return { error: String(e) };
    }
  },
};
</script></head><body><h1>Workshop</h1></body></html>"#
        .replace("%API%", api)
}

#[tokio::test]
async fn a_browser_client_on_an_allowed_origin_signs_in_resumes_lists_creates_and_uploads() {
    // The client runs on http://localhost:5173 (the README's example
    // origin, in the local bucket's CORS rules); the API allows only it.
    let client_origin = "http://localhost:5173";
    let app = TestApp::spawn_with(&[("ALLOWED_ORIGINS", client_origin)]).await;
    let owner = app.owner().await;
    let api = format!("http://localhost:{}", app.addr.port());
    let page = Page::default();
    *page.lock().unwrap() = client_page(&api);
    static_site_on(5173, page.clone()).await;
    let other = static_site(page).await;

    // A fresh upload URL the other origin will try to use.
    let stolen = app
        .request_upload(owner, "stolen.txt", "text/plain", 21)
        .await;
    assert_eq!(stolen.status, 201, "{}", stolen.text);
    let n = bson::oid::ObjectId::new().to_hex();
    let file_text = format!("Brake pads, front axle ({n})");
    let seen = run_browser(
        "client.mjs",
        &[
            ("CLIENT_PAGE", format!("{client_origin}/app")),
            ("OTHER_PAGE", format!("http://127.0.0.1:{other}/app")),
            ("API", api.clone()),
            ("EMAIL", owner.email.clone()),
            ("PASSWORD", PASSWORD.to_string()),
            ("ACCOUNT_NAME", format!("Browser Garage {n}")),
            ("OTHER_ACCOUNT_NAME", format!("Other Garage {n}")),
            ("FILE_TEXT", file_text.clone()),
            ("OTHER_UPLOAD_URL", stolen.str("uploadUrl")),
            ("OTHER_UPLOAD_HEADERS", stolen.body["headers"].to_string()),
        ],
    )
    .await;

    // Signed in; the refresh token is a cookie the page's script cannot read,
    // with the attributes the README documents.
    assert_eq!(seen["signIn"]["status"], 200, "{seen}");
    assert_eq!(
        seen["cookie"],
        json!({ "httpOnly": true, "secure": true, "sameSite": "Strict", "path": "/api/v1/auth" }),
        "{seen}"
    );
    assert_eq!(seen["scriptSeesCookie"], false, "{seen}");
    // After a reload the session comes back through the cookie alone.
    assert_eq!(seen["afterReload"], false, "{seen}");
    assert_eq!(seen["resume"]["status"], 200, "{seen}");
    assert!(seen["resume"]["token"].is_string(), "{seen}");
    // Lists and creates across origins (the preflight allows our headers).
    assert_eq!(seen["listBefore"]["status"], 200, "{seen}");
    assert_eq!(seen["create"]["status"], 201, "{seen}");
    assert_eq!(seen["listAfter"]["status"], 200, "{seen}");
    let name = format!("Browser Garage {n}");
    assert!(
        seen["listAfter"]["names"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == name.as_str()),
        "{seen}"
    );
    // The page reads the ETag across origins and revalidates with it.
    assert_eq!(seen["revalidate"]["first"], 200, "{seen}");
    assert!(seen["revalidate"]["etag"].is_string(), "{seen}");
    assert_eq!(seen["revalidate"]["again"], 304, "{seen}");
    assert_eq!(seen["revalidate"]["body"], "", "{seen}");
    // The file went straight to the bucket and came back from it.
    assert_eq!(seen["upload"]["askStatus"], 201, "{seen}");
    assert_eq!(seen["upload"]["put"]["status"], 200, "{seen}");
    assert_eq!(seen["upload"]["completeStatus"], 200, "{seen}");
    assert_eq!(seen["download"]["status"], 200, "{seen}");
    assert_eq!(seen["download"]["text"], file_text.as_str(), "{seen}");
    let storage_host = app.env["S3_ENDPOINT"]
        .trim_start_matches("http://")
        .to_string();
    let hosts: Vec<String> = serde_json::from_value(seen["hosts"].clone()).unwrap();
    let expected = [
        "localhost:5173".to_string(),
        format!("localhost:{}", app.addr.port()),
        storage_host,
    ];
    assert!(
        hosts.iter().all(|h| expected.contains(h)),
        "the page talked to {hosts:?}"
    );

    // The other origin can do none of it.
    for (step, what) in [
        ("signIn", "sign in"),
        ("resume", "resume a session"),
        ("list", "list accounts"),
        ("create", "create an account"),
        ("put", "upload to the bucket"),
    ] {
        let r = &seen["other"][step];
        assert!(
            r["error"]
                .as_str()
                .is_some_and(|e| e.contains("Failed to fetch")),
            "the other origin could {what}: {r}"
        );
    }

    // In the database: the one account, the one uploaded document; the
    // stolen upload URL never got its object.
    let org = oid(&owner.org_id);
    assert_eq!(
        app.count("accounts", doc! { "organizationId": org, "name": &name })
            .await,
        1
    );
    assert_eq!(
        app.count("accounts", doc! { "name": format!("Other Garage {n}") })
            .await,
        0
    );
    let id = seen["upload"]["documentId"].as_str().unwrap();
    let stored = app.find("documents", doc! { "_id": oid(id) }).await;
    assert_eq!(
        stored[0].get_str("status").unwrap(),
        "UPLOADED",
        "{stored:?}"
    );
    let storage = app.storage();
    let key = app.storage_key(&stolen.str("documentId")).await;
    assert!(
        storage.head(&key).await.unwrap().is_none(),
        "the other origin's PUT stored an object"
    );
}

#[tokio::test]
async fn the_reference_page_renders_the_document_from_our_own_deployment_only() {
    let app = TestApp::spawn().await;
    let asset = app.get(functions::service::docs::REDOC_PATH, None).await;
    assert_eq!(asset.status, 200);
    assert_eq!(
        asset.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let page = app.get("/api/v1/docs", None).await;
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-security-policy")
        .is_some_and(|c| c.contains("default-src 'none'") && c.contains("script-src 'self'")));
    let origin = format!("http://127.0.0.1:{}", app.addr.port());
    let seen = run_browser(
        "docs.mjs",
        &[("DOCS_PAGE", format!("{origin}/api/v1/docs"))],
    )
    .await;
    assert_eq!(seen["title"], "Workshop CRM API (0.1.0)", "{seen}");
    assert_eq!(seen["hasLogin"], true, "{seen}");
    // Redoc's one outside reference (its sidebar logo, on a CDN) is
    // refused by the page's Content-Security-Policy before it leaves.
    let requests: Vec<String> = serde_json::from_value(seen["requests"].clone()).unwrap();
    let blocked: Vec<String> = serde_json::from_value(seen["blocked"].clone()).unwrap();
    for u in &requests {
        let ours = u.starts_with(&origin) || u.starts_with("data:") || u.starts_with("blob:");
        assert!(
            ours || blocked.contains(u),
            "the page fetched {u} from elsewhere: {seen}"
        );
    }
    assert!(
        requests.iter().any(|u| u.ends_with("/api/v1/openapi.json")),
        "{requests:?}"
    );
}
