//! `TestApp::spawn()`: a fresh database on the real MongoDB-wire server, the
//! migration applied, every route served on a free local port with a
//! stopped rate-limit clock, and actors made on first use (an owner, an
//! admin, a member and a viewer of one organization, and the owner of
//! another), with request helpers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use tokio::sync::OnceCell;

use bson::oid::ObjectId;
use bson::{doc, Document};
use futures_util::TryStreamExt;
use serde_json::{json, Value};
use shared::config::Config;
use shared::State;

pub const JWT_SECRET: &str = "test-secret-0123456789abcdef0123456789";
pub const PASSWORD: &str = "correct horse battery";
pub const ORIGIN: &str = "https://app.example.test";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A test server whose database commands all pass through a counting
/// (and, when asked, delaying) wire proxy in front of the suite's server.
pub async fn spawn_behind_proxy(
    overrides: &[(&str, &str)],
) -> (TestApp, std::sync::Arc<tests::wire_proxy::WireProxy>) {
    let upstream = mongodb_uri()
        .trim_start_matches("mongodb://")
        .split(['/', '?'])
        .next()
        .unwrap()
        .parse()
        .expect("MONGODB_URI names one host:port");
    let proxy = tests::wire_proxy::WireProxy::start(upstream).await;
    let uri = proxy.uri();
    let mut env = vec![("MONGODB_URI", uri.as_str())];
    env.extend_from_slice(overrides);
    let app = TestApp::spawn_with(&env).await;
    (app, proxy)
}

pub fn mongodb_uri() -> String {
    std::env::var("MONGODB_URI")
        .expect("MONGODB_URI is not set: run the suite with scripts/test.sh, which starts a server")
}

/// A signed-in user.
#[derive(Clone, Debug)]
pub struct Actor {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub token: String,
    pub refresh: String,
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub db: mongodb::Database,
    pub env: HashMap<String, String>,
    /// The server's rate-limit clock: stopped at the start of an hour (so
    /// a burst of requests never straddles a window), moved on by hand.
    pub clock: shared::time::Clock,
    /// The server's state, for tests that call the platform directly.
    pub state: Arc<State>,
    // The actors, each made on first use: see [`TestApp::owner`].
    owner: OnceCell<Actor>,
    admin: OnceCell<Actor>,
    member: OnceCell<Actor>,
    viewer: OnceCell<Actor>,
    other: OnceCell<Actor>,
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    /// A string field of the JSON body (panics, naming it, when absent).
    #[track_caller]
    pub fn str(&self, key: &str) -> String {
        self.body[key]
            .as_str()
            .unwrap_or_else(|| panic!("no string {key:?} in {}", self.text))
            .to_string()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The problem document's field errors, as `field` names.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["field"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        assert_eq!(
            self.body["code"], code,
            "unexpected code; body: {}",
            self.text
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "not problem+json: {}",
            self.text
        );
        assert_eq!(self.body["status"], status);
        assert!(self.body["requestId"].is_string());
    }
}

/// The storage variables scripts/test.sh exported for its S3-compatible server.
pub const STORAGE_VARS: [&str; 5] = [
    "S3_ENDPOINT",
    "S3_BUCKET",
    "S3_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
];

/// One test's configuration: its own database and its own object-key prefix.
pub fn test_env(db_name: &str) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = [
        ("MONGODB_URI", mongodb_uri()),
        ("MONGODB_DB", db_name.to_string()),
        ("JWT_SECRET", JWT_SECRET.to_string()),
        ("BCRYPT_COST", "4".to_string()),
        ("ALLOWED_ORIGINS", ORIGIN.to_string()),
        ("S3_KEY_PREFIX", format!("{db_name}/")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    // Emails go to the suite's SMTP server (a maildir tests read). Its
    // answers are quick, but a machine busy with the whole suite can make a
    // send outlast the production budget (300 ms): the tests wait longer,
    // so a send seldom runs on beside the test's next requests. The tests
    // of the budget itself set it back.
    if let Ok(url) = std::env::var("SMTP_URL") {
        env.insert("SMTP_URL".to_string(), url);
    }
    env.insert("EMAIL_INLINE_BUDGET_MS".to_string(), "2000".to_string());
    // The database timeout is also the driver's heartbeat timeout: a
    // one-process test server busy with the whole suite has answered a
    // heartbeat later than the production 2 s, and the driver then drops
    // every connection in use. The tests of the timeout itself set theirs.
    env.insert("DB_TIMEOUT_MS".to_string(), "5000".to_string());
    for name in STORAGE_VARS {
        let value = std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: run the suite with scripts/test.sh, which starts an S3-compatible server")
        });
        env.insert(name.to_string(), value);
    }
    env
}

pub fn unique_db_name() -> String {
    format!(
        "t_{}_{}",
        ObjectId::new().to_hex(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(&[]).await
    }

    /// Like [`TestApp::spawn`], with extra or replaced environment variables.
    pub async fn spawn_with(overrides: &[(&str, &str)]) -> TestApp {
        // The server's warnings and errors go to the test's captured
        // output, so a failing test shows why its request failed.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
            .try_init();
        let db_name = unique_db_name();
        let mut env = test_env(&db_name);
        for (k, v) in overrides {
            env.insert(k.to_string(), v.to_string());
        }
        let lookup = env.clone();
        let config = Config::from_lookup(|k| lookup.get(k).cloned()).expect("test config");
        let clock = shared::time::Clock::stopped_at(next_hour());
        let state: Arc<State> = State::from_config_with_clock(
            config,
            Some(shared::storage::Storage::s3),
            clock.clone(),
        )
        .await
        .expect("state");
        // A busy test server may miss one handshake deadline: try again.
        let mut attempt = 0;
        while let Err(e) = state.migrate(&functions::indexes::all()).await {
            attempt += 1;
            assert!(attempt < 4, "migration: {e:?}");
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        let addr = shared::runtime::spawn_local(state.clone(), &functions::routes::ROUTES)
            .await
            .expect("bind");
        let client = mongodb::Client::with_uri_str(mongodb_uri())
            .await
            .expect("mongo client");
        let db = client.database(&db_name);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        TestApp {
            addr,
            http,
            db,
            env,
            clock,
            state,
            owner: OnceCell::new(),
            admin: OnceCell::new(),
            member: OnceCell::new(),
            viewer: OnceCell::new(),
            other: OnceCell::new(),
        }
    }

    /// The OWNER of the app's organization ("Acme Garage"), signed up on
    /// first use; [`Self::admin`], [`Self::member`] and [`Self::viewer`] are
    /// members of it, added by the owner on first use, and [`Self::other`]
    /// owns a second organization. A test makes only the actors it names.
    pub async fn owner(&self) -> &Actor {
        self.owner
            .get_or_init(|| self.register("Acme Garage"))
            .await
    }

    pub async fn admin(&self) -> &Actor {
        let owner = self.owner().await;
        self.admin
            .get_or_init(|| self.add_member(owner, "ADMIN"))
            .await
    }

    pub async fn member(&self) -> &Actor {
        let owner = self.owner().await;
        self.member
            .get_or_init(|| self.add_member(owner, "MEMBER"))
            .await
    }

    pub async fn viewer(&self) -> &Actor {
        let owner = self.owner().await;
        self.viewer
            .get_or_init(|| self.add_member(owner, "VIEWER"))
            .await
    }

    /// Makes every actor now (owner, admin, member, viewer, then the other
    /// organization's owner), for a test that is about to change what
    /// making one needs (deactivate the organization, throttle sign-ins,
    /// fail writes) or that counts what they leave behind.
    pub async fn everyone(&self) {
        self.viewer().await;
        self.member().await;
        self.admin().await;
        self.other().await;
    }

    /// The owner of a second organization ("Rival Motors").
    pub async fn other(&self) -> &Actor {
        self.other
            .get_or_init(|| self.register("Rival Motors"))
            .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Registers a new organization; returns its signed-in owner.
    pub async fn register(&self, org_name: &str) -> Actor {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let email = format!("owner{n}.{}@example.test", ObjectId::new().to_hex());
        let r = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "organizationName": org_name, "email": email, "password": PASSWORD,
                        "firstName": "Olga", "lastName": "Owner" }),
            )
            .await;
        assert_eq!(r.status, 201, "register: {}", r.text);
        actor_from(&r.body, &email)
    }

    /// Adds an ACTIVE member with `role` (as `by`) and signs them in.
    pub async fn add_member(&self, by: &Actor, role: &str) -> Actor {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let email = format!(
            "{}{n}.{}@example.test",
            role.to_lowercase(),
            ObjectId::new().to_hex()
        );
        let r = self
            .post(
                "/api/v1/members",
                Some(by),
                json!({ "email": email, "firstName": "Max", "lastName": role, "role": role, "password": PASSWORD }),
            )
            .await;
        assert_eq!(r.status, 201, "add member: {}", r.text);
        self.prove_email(&email).await;
        self.login(&email).await
    }

    /// Marks `email`'s account as having followed its verification link
    /// (what an account an administrator made needs before it signs in;
    /// `email.rs` follows the real link).
    pub async fn prove_email(&self, email: &str) {
        self.db
            .collection::<Document>("users")
            .update_one(
                doc! { "email": email },
                doc! { "$set": { "emailVerified": true } },
            )
            .await
            .unwrap();
    }

    pub async fn login(&self, email: &str) -> Actor {
        let r = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "email": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(r.status, 200, "login: {}", r.text);
        actor_from(&r.body, email)
    }

    /// `POST /api/v1/auth/refresh` with `token` in the body.
    pub async fn refresh(&self, token: &str) -> Resp {
        self.post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refreshToken": token }),
        )
        .await
    }

    /// `POST /api/v1/auth/login`, answered as it comes.
    pub async fn sign_in(&self, email: &str, password: &str) -> Resp {
        self.post(
            "/api/v1/auth/login",
            None,
            json!({ "email": email, "password": password }),
        )
        .await
    }

    /// [`Self::sign_in`] with an `X-Forwarded-For` header (which the
    /// server must not trust for the client address).
    pub async fn sign_in_via(&self, email: &str, password: &str, forwarded_for: &str) -> Resp {
        let body = serde_json::to_vec(&json!({ "email": email, "password": password })).unwrap();
        self.request(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(body),
            &[("x-forwarded-for", forwarded_for)],
        )
        .await
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self.http.request(method, self.url(path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            if !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            {
                rb = rb.header("content-type", "application/json");
            }
            rb = rb.body(b);
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let response = rb.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str, actor: Option<&Actor>) -> Resp {
        self.request("GET", path, actor.map(|a| a.token.as_str()), None, &[])
            .await
    }

    pub async fn post(&self, path: &str, actor: Option<&Actor>, body: Value) -> Resp {
        let bytes = serde_json::to_vec(&body).unwrap();
        self.request(
            "POST",
            path,
            actor.map(|a| a.token.as_str()),
            Some(bytes),
            &[],
        )
        .await
    }

    pub async fn patch(&self, path: &str, actor: Option<&Actor>, body: Value) -> Resp {
        let bytes = serde_json::to_vec(&body).unwrap();
        self.request(
            "PATCH",
            path,
            actor.map(|a| a.token.as_str()),
            Some(bytes),
            &[],
        )
        .await
    }

    pub async fn put(&self, path: &str, actor: Option<&Actor>, body: Value) -> Resp {
        self.send("PUT", path, actor, body).await
    }

    /// Any method with a JSON body.
    pub async fn send(&self, method: &str, path: &str, actor: Option<&Actor>, body: Value) -> Resp {
        let bytes = serde_json::to_vec(&body).unwrap();
        self.request(
            method,
            path,
            actor.map(|a| a.token.as_str()),
            Some(bytes),
            &[],
        )
        .await
    }

    pub async fn delete(&self, path: &str, actor: Option<&Actor>) -> Resp {
        self.request("DELETE", path, actor.map(|a| a.token.as_str()), None, &[])
            .await
    }

    /// Creates an account as `actor`; returns its id.
    pub async fn create_account(&self, actor: &Actor, name: &str) -> String {
        let r = self
            .post("/api/v1/accounts", Some(actor), json!({ "name": name }))
            .await;
        assert_eq!(r.status, 201, "create account: {}", r.text);
        r.str("id")
    }

    pub async fn count(&self, collection: &str, filter: Document) -> u64 {
        self.db
            .collection::<Document>(collection)
            .count_documents(filter)
            .await
            .unwrap()
    }

    pub async fn find(&self, collection: &str, filter: Document) -> Vec<Document> {
        self.db
            .collection::<Document>(collection)
            .find(filter)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap()
    }

    /// The audit entries with `action`, oldest first.
    pub async fn audits(&self, action: &str) -> Vec<Document> {
        self.find("audit_log", doc! { "action": action }).await
    }

    /// Makes the server fail `command` for this app's connections only (by
    /// their `appName`): the next matching command after `skip` of them
    /// answers with error code 2. Needs a server with test commands enabled.
    /// The server has one `failCommand` fail point, which each configuration
    /// replaces: a test holds [`FailPoints`] while it uses it.
    pub async fn fail_command(&self, _held: &FailPoints, command: &str, skip: u32) {
        let app_name = self.env["MONGODB_URI"]
            .split("appName=")
            .nth(1)
            .expect("spawn the app with TestApp::spawn_isolated to use fail_command")
            .to_string();
        self.db
            .client()
            .database("admin")
            .run_command(doc! {
                "configureFailPoint": "failCommand",
                "mode": { "skip": skip as i32, "times": 1 },
                "data": { "failCommands": [command], "errorCode": 2, "appName": app_name },
            })
            .await
            .expect("configureFailPoint (the server must run with test commands enabled)");
    }

    /// A TestApp whose server connections carry their own `appName`, so
    /// [`TestApp::fail_command`] affects nothing else.
    pub async fn spawn_isolated() -> TestApp {
        let uri = format!("{}&appName=t{}", mongodb_uri(), ObjectId::new().to_hex());
        Self::spawn_with(&[("MONGODB_URI", &uri)]).await
    }

    pub async fn set_user(&self, actor: &Actor, set: Document) {
        let id = ObjectId::parse_str(&actor.id).unwrap();
        self.db
            .collection::<Document>("users")
            .update_one(doc! { "_id": id }, doc! { "$set": set })
            .await
            .unwrap();
    }
}

fn actor_from(body: &Value, email: &str) -> Actor {
    Actor {
        id: body["user"]["id"].as_str().expect("user id").to_string(),
        org_id: body["user"]["organizationId"]
            .as_str()
            .expect("org id")
            .to_string(),
        email: email.to_string(),
        token: body["accessToken"]
            .as_str()
            .expect("access token")
            .to_string(),
        refresh: body["refreshToken"]
            .as_str()
            .expect("refresh token")
            .to_string(),
    }
}

/// Every entity of the registry: its path segment and a minimal body made
/// from its declaration (`shared::fields::sample_without_references`, with
/// a fresh suffix on unique fields so each body can be created again),
/// so a new entity needs no fixture here. Its required references are
/// not in it: [`TestApp::minimal_body`] adds them.
pub fn entities() -> Vec<(&'static str, Value)> {
    functions::registry::ENTITY_PATHS
        .iter()
        .map(|(plural, e)| {
            let mut body = shared::fields::sample_without_references(e.fields)
                .unwrap_or_else(|| panic!("{plural} has a field with no sample value"));
            // A rule across optional fields: a service rule needs an interval.
            if *plural == "service-rules" {
                body["everyMonths"] = json!(12);
            }
            for field in e.unique {
                if let Some(text) = body[*field].as_str() {
                    let n = NEXT.fetch_add(1, Ordering::Relaxed);
                    body[*field] = json!(format!("{text} {n}"));
                }
            }
            (*plural, body)
        })
        .collect()
}

impl TestApp {
    /// A minimal valid body of the entity at `plural` in the organization
    /// of `owner`: the declaration's sample, and for each required
    /// reference a live record `owner` creates first.
    pub async fn minimal_body(&self, owner: &Actor, plural: &str) -> Value {
        let paths = &functions::registry::ENTITY_PATHS;
        let (_, e) = paths
            .iter()
            .find(|(p, _)| *p == plural)
            .unwrap_or_else(|| panic!("no entity {plural}"));
        let mut body = entities()
            .into_iter()
            .find(|(p, _)| *p == plural)
            .map(|(_, body)| body)
            .unwrap();
        for (field, collection) in shared::fields::required_references(e.fields) {
            let (target, _) = paths
                .iter()
                .find(|(_, t)| t.collection == collection)
                .unwrap_or_else(|| panic!("{plural}.{field} names no entity's collection"));
            let target_body = Box::pin(self.minimal_body(owner, target)).await;
            body[field] = json!(self.create_record(owner, target, target_body).await);
        }
        body
    }

    /// Creates a record of the entity at `plural` as `actor`; returns its id.
    pub async fn create_record(&self, actor: &Actor, plural: &str, body: Value) -> String {
        let r = self
            .post(&format!("/api/v1/{plural}"), Some(actor), body)
            .await;
        assert_eq!(r.status, 201, "create {plural}: {}", r.text);
        r.str("id")
    }
}

pub fn oid(s: &str) -> ObjectId {
    ObjectId::parse_str(s).unwrap()
}

/// The next full hour, in seconds since the epoch: a stopped clock set
/// there starts every rate-limit window (minute, hour) afresh, and the
/// buckets it writes expire in the future for the server's TTL monitor.
pub fn next_hour() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    (now / 3600 + 1) * 3600
}

/// A PNG-ish payload of `n` bytes.
pub fn file_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

impl TestApp {
    /// `POST /api/v1/uploads` for a file of `bytes.len()` bytes.
    pub async fn request_upload(
        &self,
        actor: &Actor,
        file_name: &str,
        content_type: &str,
        size: usize,
    ) -> Resp {
        self.post(
            "/api/v1/uploads",
            Some(actor),
            json!({ "fileName": file_name, "contentType": content_type, "size": size }),
        )
        .await
    }

    /// Sends `bytes` to the presigned URL of an upload answer, with the
    /// headers it lists; returns the storage server's status and body.
    pub async fn put_presigned(&self, upload: &Value, bytes: Vec<u8>) -> (u16, String) {
        let mut rb = self
            .http
            .put(upload["uploadUrl"].as_str().expect("uploadUrl"));
        for (k, v) in upload["headers"].as_object().expect("headers") {
            rb = rb.header(k.as_str(), v.as_str().unwrap());
        }
        let r = rb.body(bytes).send().await.expect("PUT sent");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }

    /// `POST /api/v1/documents/{id}/complete` as `actor`.
    pub async fn complete(&self, actor: &Actor, id: &str) -> Resp {
        self.post(
            &format!("/api/v1/documents/{id}/complete"),
            Some(actor),
            json!({}),
        )
        .await
    }

    /// The whole upload flow (request, PUT, complete) as `actor`; returns the document id.
    pub async fn upload_document(&self, actor: &Actor, file_name: &str, bytes: Vec<u8>) -> String {
        let r = self
            .request_upload(actor, file_name, "application/pdf", bytes.len())
            .await;
        assert_eq!(r.status, 201, "upload request: {}", r.text);
        let (status, text) = self.put_presigned(&r.body, bytes).await;
        assert_eq!(status, 200, "PUT to storage: {text}");
        let id = r.str("documentId");
        let done = self.complete(actor, &id).await;
        assert_eq!(done.status, 200, "complete: {}", done.text);
        id
    }

    /// A storage client with this app's configuration, to look at objects directly.
    pub fn storage(&self) -> shared::storage::Storage {
        let env = self.env.clone();
        let config = Config::from_lookup(|k| env.get(k).cloned()).expect("config");
        shared::storage::Storage::s3(config.storage.as_ref().expect("storage configured"))
    }

    /// The object key the database keeps for document `id`.
    pub async fn storage_key(&self, id: &str) -> String {
        let d = self.find("documents", doc! { "_id": oid(id) }).await;
        d[0].get_str("storageKey").unwrap().to_string()
    }
}

/// The time `days` days ago (negative: in the future).
pub fn days_ago(days: i64) -> bson::DateTime {
    bson::DateTime::from_millis(bson::DateTime::now().timestamp_millis() - days * 86_400_000)
}

impl TestApp {
    /// Deletes the organization of `owner` (the API's soft delete) and
    /// backdates the deletion by `days`.
    pub async fn schedule_deletion(&self, owner: &Actor, days: i64) {
        let slug = self
            .get("/api/v1/organization", Some(owner))
            .await
            .str("slug");
        let r = self
            .send(
                "DELETE",
                "/api/v1/organization",
                Some(owner),
                json!({ "confirm": slug }),
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
        self.db
            .collection::<Document>("organizations")
            .update_one(
                doc! { "_id": oid(&owner.org_id) },
                doc! { "$set": { "deleteScheduledAt": days_ago(days) } },
            )
            .await
            .unwrap();
    }
}

/// The server's one `failCommand` fail point, held by one test at a time
/// (tests of this binary run concurrently; a second configuration would
/// replace the first before its command came).
pub struct FailPoints(#[allow(dead_code)] tokio::sync::MutexGuard<'static, ()>);

impl FailPoints {
    pub async fn take() -> FailPoints {
        static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        FailPoints(LOCK.lock().await)
    }
}
