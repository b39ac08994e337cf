//! The runtime adapter and the request pipeline.
//!
//! A function binary calls [`serve`] with its [`Route`]. The adapter picks its
//! mode from the environment: with `AWS_LAMBDA_RUNTIME_API` set it runs under
//! the Lambda Runtime API (lambda_http: API Gateway REST and HTTP APIs, ALB,
//! function URLs); otherwise it is a plain HTTP server on `PORT`. Either way
//! the request becomes an [`ApiRequest`] and goes through [`handle`]:
//!
//! request id -> CORS preflight -> body limit -> method -> authenticate ->
//! rate limit -> authorize -> handler -> problem+json, request id, CORS and
//! RateLimit headers, one JSON log line.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use bson::oid::ObjectId;
use http::{Method, StatusCode};
use rand::RngCore;

use crate::audit::{self, Action, AuditEntry};
use crate::db::{RequestMeta, Scope};
use crate::error::ApiError;
use crate::http::{parse_query, percent_decode, ApiRequest, ApiResponse, MAX_BODY_BYTES};
use crate::rbac::Access;
use crate::state::State;
use crate::storage::S3Permission;
use crate::validate;

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type HandlerResult = Result<ApiResponse, ApiError>;
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
/// The handler of one method of a route.
pub type Handler = fn(Ctx) -> BoxFuture<HandlerResult>;

/// One entry of the route table: a path and, for each method, who may call
/// it and the function that answers it. The table in `functions::routes` is
/// the single source of truth for the local server, the function binaries
/// and the deployment files.
pub struct Route {
    /// The function's name (binary, Lambda function, Vercel function).
    pub name: &'static str,
    /// The path pattern, with `{name}` for a path parameter.
    pub path: &'static str,
    pub methods: &'static [Endpoint],
    pub deploy: Deploy,
}

/// One method of a route: its own handler, so no handler switches on the
/// method.
pub struct Endpoint {
    pub method: Method,
    pub access: Access,
    pub handler: Handler,
}

impl Endpoint {
    pub const fn get(access: Access, handler: Handler) -> Endpoint {
        Endpoint {
            method: Method::GET,
            access,
            handler,
        }
    }

    pub const fn post(access: Access, handler: Handler) -> Endpoint {
        Endpoint {
            method: Method::POST,
            access,
            handler,
        }
    }

    pub const fn put(access: Access, handler: Handler) -> Endpoint {
        Endpoint {
            method: Method::PUT,
            access,
            handler,
        }
    }

    pub const fn patch(access: Access, handler: Handler) -> Endpoint {
        Endpoint {
            method: Method::PATCH,
            access,
            handler,
        }
    }

    pub const fn delete(access: Access, handler: Handler) -> Endpoint {
        Endpoint {
            method: Method::DELETE,
            access,
            handler,
        }
    }
}

/// What a route's function needs beyond HTTP: storage and a schedule.
#[derive(Clone, Copy, Debug)]
pub struct Deploy {
    /// What the function may do in the bucket. Non-empty: it builds the
    /// storage client at cold start (and gets exactly these IAM actions).
    pub storage: &'static [S3Permission],
    /// A scheduled function: run by EventBridge on Lambda and by a cron
    /// request (`GET` with `Bearer $CRON_SECRET`) elsewhere.
    pub schedule: Option<Schedule>,
    /// How the function builds its storage client at cold start: set with
    /// [`Deploy::storage`], so only a binary whose route declares storage
    /// names (and links) the S3 client.
    pub open_storage: Option<crate::storage::Opener>,
}

impl Deploy {
    /// An API function: no storage, no schedule.
    pub const API: Deploy = Deploy {
        storage: &[],
        schedule: None,
        open_storage: None,
    };

    /// A function that handles files with these permissions.
    pub const fn storage(storage: &'static [S3Permission]) -> Deploy {
        Deploy {
            storage,
            schedule: None,
            open_storage: if storage.is_empty() {
                None
            } else {
                Some(crate::storage::Storage::s3)
            },
        }
    }

    /// The same function, run on a schedule.
    pub const fn scheduled(self, schedule: Schedule) -> Deploy {
        Deploy {
            schedule: Some(schedule),
            ..self
        }
    }
}

/// When and what a scheduled function runs.
#[derive(Clone, Copy)]
pub struct Schedule {
    /// Five-field cron in UTC, as Vercel takes it (`0 3 * * *`).
    pub cron: &'static str,
    pub run: Job,
}

/// A scheduled job: does one bounded run and reports what it did.
pub type Job = fn(Arc<State>) -> BoxFuture<Result<crate::jobs::Report, ApiError>>;

impl std::fmt::Debug for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schedule")
            .field("cron", &self.cron)
            .finish()
    }
}

impl Schedule {
    /// The same schedule as an EventBridge expression: `cron(0 3 * * ? *)`.
    pub fn eventbridge(&self) -> String {
        let f: Vec<&str> = self.cron.split_whitespace().collect();
        let (dom, dow) = if f[4] == "*" {
            (f[2], "?")
        } else {
            ("?", f[4])
        };
        format!("cron({} {} {dom} {} {dow} *)", f[0], f[1], f[3])
    }
}

/// The routes one process serves, matched by specificity (matchit, as
/// axum does): a static segment wins over a parameter whatever the order of
/// the table, and two patterns that would match the same paths are refused
/// when the table is built, not discovered by a request.
pub struct RouteTable {
    router: matchit::Router<&'static Route>,
    len: usize,
}

impl RouteTable {
    /// Builds the table once per process (it lives as long as the process).
    pub fn leak(routes: &[&'static Route]) -> Result<&'static RouteTable, String> {
        let mut router = matchit::Router::new();
        for route in routes {
            router
                .insert(route.path, *route)
                .map_err(|e| format!("route {} ({}): {e}", route.name, route.path))?;
        }
        Ok(Box::leak(Box::new(RouteTable {
            router,
            len: routes.len(),
        })))
    }

    /// The route `path` names, with its path parameters percent-decoded. A
    /// trailing slash is ignored; an empty parameter matches nothing.
    pub fn find(&self, path: &str) -> Option<(&'static Route, Vec<(String, String)>)> {
        let path = path
            .strip_suffix('/')
            .filter(|p| !p.is_empty())
            .unwrap_or(path);
        let matched = self.router.at(path).ok()?;
        let params = matched
            .params
            .iter()
            .map(|(k, v)| (k.to_string(), percent_decode(v, false)))
            .collect();
        Some((*matched.value, params))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Route {
    /// The endpoint of `method`, if the route has one.
    pub fn endpoint(&self, method: &Method) -> Option<&'static Endpoint> {
        self.methods.iter().find(|e| e.method == *method)
    }

    /// The `Allow` header value.
    pub fn allow(&self) -> String {
        let mut verbs: Vec<&str> = self.methods.iter().map(|e| e.method.as_str()).collect();
        verbs.push("OPTIONS");
        verbs.join(", ")
    }
}

/// What a handler receives.
pub struct Ctx {
    pub state: Arc<State>,
    pub req: ApiRequest,
    /// The route being served.
    pub route: &'static Route,
    scope: Option<Scope>,
}

impl Ctx {
    /// The organization-scoped data handle; present on every route method
    /// that declares a permission.
    pub fn scope(&self) -> Result<&Scope, ApiError> {
        self.scope
            .as_ref()
            .ok_or_else(|| ApiError::internal("handler asked for a scope on a public route"))
    }

    /// The `{id}` path parameter as an ObjectId (400 if malformed).
    pub fn path_id(&self) -> Result<ObjectId, ApiError> {
        validate::object_id("id", self.req.param("id").unwrap_or(""))
    }

    pub fn meta(&self) -> RequestMeta {
        meta_of(&self.req)
    }
}

fn meta_of(req: &ApiRequest) -> RequestMeta {
    RequestMeta {
        request_id: req.request_id.clone(),
        method: req.method.to_string(),
        path: req.path.clone(),
        ip: req.client_ip.map(|ip| ip.to_string()),
        user_agent: req.user_agent(),
    }
}

fn request_id(req: &ApiRequest) -> String {
    let given = req.header("x-request-id").unwrap_or("");
    let ok = !given.is_empty()
        && given.len() <= 128
        && given
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    if ok {
        given.to_string()
    } else {
        let mut b = [0u8; 12];
        rand::rng().fill_bytes(&mut b);
        crate::hex::hex(&b)
    }
}

/// Runs the pipeline for one request. `route` is `None` when no route matched.
pub async fn handle(
    state: Arc<State>,
    route: Option<&'static Route>,
    mut req: ApiRequest,
) -> ApiResponse {
    let started = Instant::now();
    req.request_id = request_id(&req);
    let rid = req.request_id.clone();
    let origin = req.header("origin").map(str::to_string);
    let method = req.method.clone();
    let path = req.path.clone();
    let mut decision = None;
    let mut ids: Option<(ObjectId, ObjectId)> = None;
    let mut idempotency: Option<crate::idempotency::Pending> = None;

    let result: HandlerResult = async {
        let Some(route) = route else {
            return Err(ApiError::NotFound { resource: "route" });
        };
        if method == Method::OPTIONS {
            return preflight(&state, route, origin.as_deref());
        }
        if req.oversize || req.body.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES });
        }
        let endpoint = route
            .endpoint(&method)
            .ok_or_else(|| ApiError::MethodNotAllowed { allow: route.allow() })?;
        let scope = match endpoint.access {
            Access::Public => None,
            Access::Throttled(action) => {
                let d = crate::ratelimit::hit_client(&state, action, req.client_ip).await?;
                decision = Some(d);
                if !d.allowed() {
                    tracing::warn!(requestId = %rid, bucket = action.name(), limit = d.limit,
                        ip = ?req.client_ip, "[RATE_LIMIT] public endpoint throttled");
                    return Err(d.error());
                }
                None
            }
            Access::Cron => {
                check_cron_secret(&state, &req)?;
                None
            }
            Access::Requires(permission) => {
                let (caller, d) = crate::auth::authenticate(&state, &req).await?;
                decision = Some(d);
                ids = Some((caller.user.id, caller.org.id));
                let meta = meta_of(&req);
                if !d.allowed() {
                    tracing::warn!(requestId = %rid, userId = %caller.user.id, organizationId = %caller.org.id,
                        bucket = d.action.name(), limit = d.limit, "[RATE_LIMIT] request refused");
                    if d.first_refusal() {
                        let entry = AuditEntry::new(Action::RateLimitExceeded, "rate_limit").changes(bson::doc! {
                            "bucket": d.action.name(), "limit": d.limit as i64, "windowResetsAt": d.reset_at as i64,
                        });
                        audit::write_direct(&state.db, entry.into_document(Some(caller.org.id), Some(caller.user.id), &meta)).await;
                    }
                    return Err(d.error());
                }
                if !permission.allows(caller.role) {
                    return Err(crate::db::deny(&state, &caller, &meta, permission).await);
                }
                let key = if method == Method::POST { crate::idempotency::key_of(&req)? } else { None };
                if let Some(key) = key {
                    match crate::idempotency::begin(&state, &caller, &key, &req).await? {
                        crate::idempotency::Begin::Replay(r) => return Ok(r),
                        crate::idempotency::Begin::Run(p) => idempotency = Some(p),
                    }
                }
                Some(Scope::new(state.clone(), caller, meta))
            }
        };
        let ctx = Ctx { state: state.clone(), req, route, scope };
        (endpoint.handler)(ctx).await
    }
    .await;

    let mut response = match result {
        Ok(r) => r,
        Err(e) => e.to_response(&rid),
    };
    if let Some(pending) = &idempotency {
        crate::idempotency::complete(&state, pending, &response).await;
    }
    if let Some(d) = decision {
        d.apply_headers(&mut response);
    }
    if response.header("cache-control").is_none() {
        // Answers are a caller's data or a moment's state: no cache keeps them.
        response.set_header("cache-control", "no-store");
    }
    response.set_header("x-content-type-options", "nosniff");
    cors_headers(&state, origin.as_deref(), &mut response);
    response.set_header("x-request-id", &rid);
    let (user, org) = ids
        .map(|(u, o)| (u.to_hex(), o.to_hex()))
        .unwrap_or_default();
    tracing::info!(
        requestId = %rid, userId = %user, organizationId = %org, method = %method, path = %path,
        status = response.status.as_u16(), durationMs = started.elapsed().as_millis() as u64,
        "[REQUEST] {method} {path} {}", response.status.as_u16()
    );
    response
}

/// A cron request carries `Authorization: Bearer $CRON_SECRET` (Vercel sends
/// exactly that); anything else, or no secret configured, is a 401.
fn check_cron_secret(state: &State, req: &ApiRequest) -> Result<(), ApiError> {
    let given = req
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let ok = match &state.config.cron_secret {
        Some(secret) => constant_time_eq(given.as_bytes(), secret.expose().as_bytes()),
        None => {
            tracing::error!("[CONFIG] CRON_SECRET is not set: cron requests are refused");
            false
        }
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::unauthenticated(
            "CRON_UNAUTHORIZED",
            "This endpoint is for the scheduler: send Authorization: Bearer $CRON_SECRET",
        ))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The handler of every scheduled route: one bounded run of its job, the
/// report as the response.
pub fn run_job(ctx: Ctx) -> BoxFuture<HandlerResult> {
    Box::pin(async move {
        let schedule = ctx
            .route
            .deploy
            .schedule
            .ok_or_else(|| ApiError::internal("run_job on a route without a schedule"))?;
        let report = (schedule.run)(ctx.state.clone()).await?;
        ok(report.to_json())
    })
}

fn origin_allowed(state: &State, origin: &str) -> bool {
    state
        .config
        .allowed_origins
        .iter()
        .any(|o| o.eq_ignore_ascii_case(origin))
}

fn preflight(state: &State, route: &Route, origin: Option<&str>) -> HandlerResult {
    let mut r = ApiResponse::no_content();
    r.set_header("allow", &route.allow());
    match origin {
        None => Ok(r),
        Some(o) if origin_allowed(state, o) => {
            r.set_header("access-control-allow-methods", &route.allow());
            r.set_header(
                "access-control-allow-headers",
                "authorization, content-type, if-match, idempotency-key, x-request-id",
            );
            r.set_header("access-control-max-age", "600");
            Ok(r)
        }
        Some(_) => Err(ApiError::forbidden(
            "CORS_ORIGIN_DENIED",
            "This origin is not allowed to call the API",
        )),
    }
}

fn cors_headers(state: &State, origin: Option<&str>, r: &mut ApiResponse) {
    r.append_header("vary", "Origin");
    if let Some(o) = origin.filter(|o| origin_allowed(state, o)) {
        r.set_header("access-control-allow-origin", o);
        r.set_header("access-control-allow-credentials", "true");
        r.set_header(
            "access-control-expose-headers",
            "x-request-id, ratelimit-limit, ratelimit-remaining, ratelimit-reset, retry-after, location",
        );
    }
}

/// Where a function binary runs, from its environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    /// `AWS_LAMBDA_RUNTIME_API` is set (and no Vercel variable).
    Lambda,
    /// `VERCEL=1` or `VERCEL_IPC_PATH` (Vercel sets them in functions and `vercel dev`).
    Vercel,
    /// A plain HTTP server on `PORT`.
    Local,
}

impl Platform {
    /// Vercel first: its functions run on AWS infrastructure and may see
    /// Lambda's variables too, but never the other way round.
    pub fn detect(lookup: impl Fn(&str) -> Option<String>) -> Platform {
        if lookup("VERCEL").as_deref() == Some("1") || lookup("VERCEL_IPC_PATH").is_some() {
            Platform::Vercel
        } else if lookup("AWS_LAMBDA_RUNTIME_API").is_some_and(|v| !v.is_empty()) {
            Platform::Lambda
        } else {
            Platform::Local
        }
    }
}

/// Entry point of a function binary: builds the state once (cold start),
/// then serves `route` as its platform expects. `indexes` gives the
/// indexes the entity registry calls for, which a preview's first cold start
/// creates (called only then).
pub async fn serve(
    route: &'static Route,
    indexes: fn() -> Vec<crate::migrate::Index>,
) -> Result<(), Error> {
    let state = init_or_exit(route.deploy.open_storage, indexes).await;
    match Platform::detect(|k| std::env::var(k).ok()) {
        Platform::Lambda if route.deploy.schedule.is_some() => run_lambda_job(state, route).await,
        Platform::Lambda => run_lambda(state, route).await,
        Platform::Vercel => run_vercel(state, route).await,
        Platform::Local => serve_local_on_port(state, only(route)).await,
    }
}

/// Builds the state; on a configuration error prints it and exits 1, so a
/// missing or weak secret stops start-up with a message naming it.
pub async fn init_or_exit(
    storage: Option<crate::storage::Opener>,
    indexes: fn() -> Vec<crate::migrate::Index>,
) -> Arc<State> {
    match State::init(storage, indexes).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("[CONFIG] {e}");
            eprintln!("configuration error: {e}");
            std::process::exit(1);
        }
    }
}

/// Serves every route locally on `PORT` (default 3000) until Ctrl-C.
pub async fn serve_local_on_port(
    state: Arc<State>,
    routes: &'static [&'static Route],
) -> Result<(), Error> {
    let table = RouteTable::leak(routes)?;
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .map_err(|_| format!("PORT must be a port number, got {p:?}"))?,
        Err(_) => 3000,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!(
        port,
        routes = routes.len(),
        "[STARTUP] listening on http://127.0.0.1:{port}"
    );
    serve_local(state, table, listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    Ok(())
}

/// Serves `table` on `listener` until `shutdown` resolves.
pub async fn serve_local(
    state: Arc<State>,
    table: &'static RouteTable,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()>,
) {
    use hyper::server::conn::http1;
    use hyper_util::rt::TokioIo;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = &mut shutdown => return,
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(local_request(state, table, peer, req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn local_request(
    state: Arc<State>,
    table: &'static RouteTable,
    peer: SocketAddr,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<http_body_util::Full<hyper::body::Bytes>> {
    let (api, route) = read_hyper(table, req, Some(peer.ip())).await;
    to_hyper(handle(state, route, api).await)
}

/// Reads a hyper request (local server, Vercel) into an [`ApiRequest`] and
/// finds its route; a body over the limit is marked, not read.
async fn read_hyper(
    table: &'static RouteTable,
    req: hyper::Request<hyper::body::Incoming>,
    client_ip: Option<IpAddr>,
) -> (ApiRequest, Option<&'static Route>) {
    use http_body_util::BodyExt;
    let (parts, body) = req.into_parts();
    let mut api = ApiRequest::new(parts.method.clone(), parts.uri.path());
    api.query = parts.uri.query().map(parse_query).unwrap_or_default();
    api.headers = parts.headers;
    api.client_ip = client_ip;
    let declared = api
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    if declared > MAX_BODY_BYTES {
        api.oversize = true;
    } else {
        match http_body_util::Limited::new(body, MAX_BODY_BYTES)
            .collect()
            .await
        {
            Ok(collected) => api.body = collected.to_bytes().to_vec(),
            Err(_) => api.oversize = true,
        }
    }
    let (route, params) = match table.find(parts.uri.path()) {
        Some((route, params)) => (Some(route), params),
        None => (None, vec![]),
    };
    api.path_params = params;
    (api, route)
}

fn to_hyper(response: ApiResponse) -> hyper::Response<http_body_util::Full<hyper::body::Bytes>> {
    let mut out = hyper::Response::new(http_body_util::Full::new(hyper::body::Bytes::from(
        response.body,
    )));
    *out.status_mut() = response.status;
    *out.headers_mut() = response.headers;
    out
}

/// Under Vercel's Rust runtime: HTTP on `127.0.0.1:$VERCEL_DEV_PORT`, with
/// the platform told over `VERCEL_IPC_PATH` (both handled by vercel_runtime).
/// The client address is the one Vercel's edge puts in `x-real-ip`. A
/// dynamic segment (`[id].rs`) also arrives as a query parameter of its
/// name; the path is matched first, the query parameter is the fallback.
async fn run_vercel(state: Arc<State>, route: &'static Route) -> Result<(), Error> {
    let table = RouteTable::leak(&[route])?;
    // Worked out once per cold start, not per request.
    let names: &'static [&'static str] = Box::leak(path_param_names(route).into_boxed_slice());
    vercel_runtime::run(vercel_runtime::service_fn(
        move |req: vercel_runtime::Request| {
            let state = state.clone();
            async move {
                let ip = req
                    .headers()
                    .get("x-real-ip")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse().ok());
                let (mut api, mut matched) = read_hyper(table, req, ip).await;
                // The entrypoint's own path (`/api/v1/accounts/[id]`) matches
                // the pattern with a placeholder for a value.
                let placeholder = api
                    .path_params
                    .iter()
                    .any(|(_, v)| v.starts_with('[') && v.ends_with(']'));
                if matched.is_none() || placeholder {
                    if let Some(params) = params_from_query(names, &api.query) {
                        api.path_params = params;
                        matched = Some(route);
                    }
                }
                api.query.retain(|(k, _)| !names.contains(&k.as_str()));
                let response = handle(state, matched, api).await;
                let mut out = vercel_runtime::Response::new(response.body);
                *out.status_mut() = response.status;
                *out.headers_mut() = response.headers;
                Ok::<_, Error>(out)
            }
        },
    ))
    .await
}

/// A one-route table for a function binary, alive for the process.
fn only(route: &'static Route) -> &'static [&'static Route] {
    Box::leak(Box::new([route]))
}

fn path_param_names(route: &Route) -> Vec<&'static str> {
    route
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

/// The route's path parameters taken from query parameters of the same
/// names (how Vercel's file-system routing passes `[id]`); all or nothing.
fn params_from_query(names: &[&str], query: &[(String, String)]) -> Option<Vec<(String, String)>> {
    if names.is_empty() {
        return None;
    }
    names
        .iter()
        .map(|n| {
            query
                .iter()
                .find(|(k, v)| k == n && !v.is_empty())
                .map(|(k, v)| (k.clone(), v.clone()))
        })
        .collect()
}

/// Binds 127.0.0.1 on a free port and serves `routes` in the background
/// (tests, tools). Returns the address.
pub async fn spawn_local(
    state: Arc<State>,
    routes: &'static [&'static Route],
) -> std::io::Result<SocketAddr> {
    let table = RouteTable::leak(routes).map_err(std::io::Error::other)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve_local(state, table, listener, std::future::pending()));
    Ok(addr)
}

/// A scheduled function on Lambda: each EventBridge event (`detail-type`
/// `Scheduled Event`) runs the job once; the report is the invocation's
/// result. Any other event is refused with an error result.
async fn run_lambda_job(state: Arc<State>, route: &'static Route) -> Result<(), Error> {
    use lambda_http::lambda_runtime::{self, LambdaEvent};
    let schedule = route.deploy.schedule.ok_or("not a scheduled route")?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<serde_json::Value>| {
            let state = state.clone();
            async move {
                let kind = event.payload["detail-type"].as_str().unwrap_or("");
                if kind != "Scheduled Event" {
                    return Err(Error::from(format!(
                        "{} runs on its schedule only; got an event of type {kind:?}",
                        route.name
                    )));
                }
                match (schedule.run)(state).await {
                    Ok(report) => Ok(report.to_json()),
                    Err(e) => {
                        tracing::error!(job = route.name, error = %e, "[CLEANUP] run failed");
                        Err(Error::from(e.to_string()))
                    }
                }
            }
        },
    ))
    .await
}

async fn run_lambda(state: Arc<State>, route: &'static Route) -> Result<(), Error> {
    let table = RouteTable::leak(&[route])?;
    lambda_http::run(lambda_http::service_fn(
        move |event: lambda_http::Request| {
            let state = state.clone();
            async move { Ok::<_, Infallible>(lambda_request(state, table, event).await) }
        },
    ))
    .await
}

/// The caller's address as the platform recorded it: API Gateway's
/// `sourceIp`, or for an ALB the address it appended last to
/// `X-Forwarded-For`. Never a client-supplied header.
fn lambda_client_ip(event: &lambda_http::Request) -> Option<IpAddr> {
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;
    let ip = match event.request_context_ref()? {
        RequestContext::ApiGatewayV2(c) => c.http.source_ip.clone(),
        RequestContext::ApiGatewayV1(c) => c.identity.source_ip.clone(),
        RequestContext::Alb(_) => event
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .last()
            .map(|s| s.trim().to_string()),
        _ => None,
    }?;
    ip.parse().ok()
}

async fn lambda_request(
    state: Arc<State>,
    table: &'static RouteTable,
    event: lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body> {
    use lambda_http::RequestExt;
    let client_ip = lambda_client_ip(&event);
    let raw = event.raw_http_path().to_string();
    let path = if raw.is_empty() {
        event.uri().path().to_string()
    } else {
        raw
    };
    let query = event.uri().query().map(parse_query).unwrap_or_default();
    let (parts, body) = event.into_parts();
    let mut api = ApiRequest::new(parts.method, &path);
    api.query = query;
    api.headers = parts.headers;
    api.client_ip = client_ip;
    api.body = match body {
        lambda_http::Body::Empty => vec![],
        lambda_http::Body::Text(t) => t.into_bytes(),
        lambda_http::Body::Binary(b) => b,
        _ => vec![],
    };
    // A named API Gateway stage prefixes the path (`/prod/api/v1/...`).
    let found = table.find(&path).or_else(|| {
        let rest = path.trim_start_matches('/').split_once('/')?.1;
        table.find(&format!("/{rest}"))
    });
    let matched = found.as_ref().map(|(route, _)| *route);
    api.path_params = found.map(|(_, params)| params).unwrap_or_default();
    let response = handle(state, matched, api).await;
    let body = if response.body.is_empty() {
        lambda_http::Body::Empty
    } else {
        match String::from_utf8(response.body) {
            Ok(text) => lambda_http::Body::Text(text),
            Err(e) => lambda_http::Body::Binary(e.into_bytes()),
        }
    };
    let mut out = lambda_http::Response::new(body);
    *out.status_mut() = response.status;
    *out.headers_mut() = response.headers;
    out
}

/// A 200 JSON helper for handlers that only read.
pub fn ok(value: serde_json::Value) -> HandlerResult {
    Ok(ApiResponse::json(StatusCode::OK, &value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_platform_comes_from_the_environment_vercel_first() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            Platform::detect(move |k| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            })
        };
        assert_eq!(env(&[]), Platform::Local);
        assert_eq!(
            env(&[("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")]),
            Platform::Lambda
        );
        assert_eq!(
            env(&[
                ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
                ("VERCEL", "1")
            ]),
            Platform::Vercel
        );
        assert_eq!(env(&[("VERCEL_IPC_PATH", "/tmp/ipc")]), Platform::Vercel);
    }

    fn noop(_: Ctx) -> BoxFuture<HandlerResult> {
        Box::pin(async { Ok(ApiResponse::no_content()) })
    }

    static ITEM: Route = Route {
        name: "things-id",
        path: "/api/v1/things/{id}",
        methods: &[Endpoint::get(Access::Public, noop)],
        deploy: Deploy::API,
    };

    static ACCEPT: Route = Route {
        name: "things-accept",
        path: "/api/v1/things/accept",
        methods: &[Endpoint::post(Access::Public, noop)],
        deploy: Deploy::API,
    };

    fn names(table: &RouteTable, path: &str) -> Option<(&'static str, Vec<(String, String)>)> {
        table.find(path).map(|(r, p)| (r.name, p))
    }

    #[test]
    fn a_pattern_captures_its_path_parameters() {
        let table = RouteTable::leak(&[&ITEM]).unwrap();
        assert_eq!(
            names(table, "/api/v1/things/abc"),
            Some(("things-id", vec![("id".to_string(), "abc".to_string())]))
        );
        assert_eq!(
            names(table, "/api/v1/things/a%20b/"),
            Some(("things-id", vec![("id".to_string(), "a b".to_string())]))
        );
    }

    #[test]
    fn a_pattern_does_not_match_longer_shorter_or_empty_paths() {
        let table = RouteTable::leak(&[&ITEM]).unwrap();
        for path in [
            "/api/v1/things",
            "/api/v1/things/",
            "/api/v1/things/a/b",
            "/api/v1/other/a",
        ] {
            assert!(table.find(path).is_none(), "{path}");
        }
    }

    #[test]
    fn a_static_segment_wins_over_a_parameter_in_any_order() {
        for routes in [[&ITEM, &ACCEPT], [&ACCEPT, &ITEM]] {
            let table = RouteTable::leak(&routes).unwrap();
            assert_eq!(
                names(table, "/api/v1/things/accept").unwrap().0,
                "things-accept"
            );
            assert_eq!(names(table, "/api/v1/things/other").unwrap().0, "things-id");
        }
    }

    #[test]
    fn two_patterns_for_the_same_paths_are_refused_when_the_table_is_built() {
        static TWIN: Route = Route {
            name: "things-twin",
            path: "/api/v1/things/{key}",
            methods: &[Endpoint::get(Access::Public, noop)],
            deploy: Deploy::API,
        };
        let err = RouteTable::leak(&[&ITEM, &TWIN]).err().unwrap();
        assert!(err.contains("things-twin"), "{err}");
    }

    #[test]
    fn the_allow_header_lists_declared_methods_and_options() {
        assert_eq!(ITEM.allow(), "GET, OPTIONS");
    }
}
