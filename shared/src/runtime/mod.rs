//! The runtime: the request pipeline and the platform adapters.
//!
//! A function binary calls [`serve`] with its [`Route`]. The adapter
//! ([`adapters`]) picks its platform from the environment (the Lambda
//! Runtime API, Vercel's Rust runtime, or a plain HTTP server on `PORT`),
//! and every request becomes an [`ApiRequest`] that [`handle`] walks down
//! the [`layers`], one module each, in this order:
//!
//! request id -> address blocklist -> CORS preflight -> body limit ->
//! method -> authenticate and rate limit (at once, with the idempotency
//! reservation and the endpoint's prefetched read) -> authorize (an API
//! key's scope, then the role) ->
//! idempotency -> handler
//!
//! and back out through [`layers::respond`] (problem+json, idempotent
//! answer stored, RateLimit, security, CORS and request-id headers, one
//! JSON log line). A layer never calls an earlier one.

mod adapters;
pub mod entity;
pub(crate) mod layers;
/// The client-address blocklist's form of a network (operators block with it).
pub use layers::blocklist::normalize as ip_network;
pub mod openapi;
mod route;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::oid::ObjectId;
use http::{Method, StatusCode};

pub use self::adapters::{
    init_or_exit, serve, serve_local, serve_local_on_port, spawn_local, Platform,
};
use self::layers::respond::{Incoming, Trail};
pub use self::route::{
    Deploy, Endpoint, Job, Named, Prefetch, Route, RouteTable, Schedule, Sizing,
};
use crate::db::{RequestMeta, Scope};
use crate::error::ApiError;
use crate::http::{ApiRequest, ApiResponse};
use crate::idempotency::{Begin, Reserved};
use crate::rbac::Access;
use crate::state::State;
use crate::validate;

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type HandlerResult = Result<ApiResponse, ApiError>;
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
/// The handler of one method of a route.
pub type Handler = fn(Ctx) -> BoxFuture<HandlerResult>;

/// A [`Handler`] from an async function of the [`Ctx`] (and of constant
/// arguments after it): `handler!(auth::login)`,
/// `handler!(entity::handle_get, &ACCOUNT)`.
#[macro_export]
macro_rules! handler {
    ($f:path $(, $arg:expr)* $(,)?) => {
        |ctx| ::std::boxed::Box::pin($f(ctx $(, $arg)*))
    };
}

/// What a handler receives.
pub struct Ctx {
    pub state: Arc<State>,
    pub req: ApiRequest,
    /// The route being served.
    pub route: &'static Route,
    scope: Option<Scope>,
    /// What the endpoint declared to [`Endpoint::prefetch`], read beside
    /// the caller: the record (none or one) or the page's documents.
    prefetched: Option<Vec<bson::Document>>,
}

impl Ctx {
    /// The organization-scoped data handle; present on every route method
    /// that declares a permission.
    pub fn scope(&self) -> Result<&Scope, ApiError> {
        self.scope
            .as_ref()
            .ok_or_else(|| ApiError::internal("handler asked for a scope on a public route"))
    }

    /// The record the endpoint declared to [`Endpoint::prefetch`], as read
    /// beside the caller (`Some(None)`: not there), once; `None` when it was
    /// not read (the handler reads it itself).
    pub fn take_prefetched(&mut self) -> Option<Option<bson::Document>> {
        self.prefetched.take().map(|docs| docs.into_iter().next())
    }

    /// The documents of the page the endpoint declared to
    /// [`Endpoint::prefetch_page`], as read beside the caller, once; `None`
    /// when they were not read (the handler reads them itself).
    pub fn take_prefetched_page(&mut self) -> Option<Vec<bson::Document>> {
        self.prefetched.take()
    }

    /// The `{id}` path parameter as an ObjectId (400 if malformed).
    pub fn path_id(&self) -> Result<ObjectId, ApiError> {
        validate::object_id("id", self.req.param("id").unwrap_or(""))
    }

    pub fn meta(&self) -> RequestMeta {
        meta_of(&self.req)
    }
}

pub(crate) fn meta_of(req: &ApiRequest) -> RequestMeta {
    RequestMeta {
        request_id: req.request_id.clone(),
        method: req.method.to_string(),
        path: crate::auth::links::redacted(&req.path),
        ip: req.client_ip.map(|ip| ip.to_string()),
        user_agent: req.user_agent(),
        api_key: None,
        link: None,
    }
}

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

pub fn ok(value: serde_json::Value) -> HandlerResult {
    Ok(ApiResponse::json(StatusCode::OK, &value))
}

/// Runs the pipeline for one request. `route` is `None` when no route matched.
pub async fn handle(
    state: Arc<State>,
    route: Option<&'static Route>,
    req: ApiRequest,
) -> ApiResponse {
    run(state, route, req, None).await
}

/// [`handle`] on a platform that cuts a request off at its function's
/// timeout (Lambda, Vercel): the request is answered 503 a second before
/// that, rather than not at all, should the database stop answering
/// mid-command (a partition, where a stopped server refuses at once). The
/// local server has no such limit: a slow machine only makes it slow.
pub(crate) async fn handle_within_limit(
    state: Arc<State>,
    route: Option<&'static Route>,
    req: ApiRequest,
) -> ApiResponse {
    let limit = route
        .map(Route::hard_limit)
        .unwrap_or(Duration::from_secs(10))
        .saturating_sub(Duration::from_secs(1));
    run(state, route, req, Some(limit)).await
}

async fn run(
    state: Arc<State>,
    route: Option<&'static Route>,
    mut req: ApiRequest,
    limit: Option<Duration>,
) -> ApiResponse {
    let started = Instant::now();
    layers::request_id::assign(&mut req);
    let incoming = Incoming::of(&req, started);
    let mut trail = Trail::default();
    let walked = walk(&state, route, req, &mut trail);
    let result = match limit {
        None => walked.await,
        Some(limit) => match tokio::time::timeout(limit, walked).await {
            Ok(result) => result,
            Err(_) => {
                tracing::error!("[DATABASE_ERROR] request cut off at its time limit");
                Err(ApiError::database_unavailable())
            }
        },
    };
    layers::respond::finish(&state, result, trail, incoming).await
}

/// The layers down to the handler; what the way out needs goes in `trail`.
async fn walk(
    state: &Arc<State>,
    route: Option<&'static Route>,
    req: ApiRequest,
    trail: &mut Trail,
) -> HandlerResult {
    layers::blocklist::check(state, &req).await?;
    let route = route.ok_or(ApiError::NotFound { resource: "route" })?;
    let own_preflight = route.methods.iter().any(|e| e.method == Method::OPTIONS);
    if req.method == Method::OPTIONS && !own_preflight {
        return layers::cors::preflight(state, route, req.header("origin"));
    }
    layers::body_limit::check(&req)?;
    let endpoint = layers::method::endpoint(route, &req.method)?;
    layers::body_limit::media_type(&req, endpoint)?;
    let mut prefetched = None;
    let scope = match endpoint.access {
        Access::Public => None,
        Access::Throttled(action) => {
            let d = layers::rate_limit::client(state, action, &req).await?;
            trail.decision = Some(d);
            layers::rate_limit::enforce_client(&req, d)?;
            None
        }
        Access::Cron => {
            layers::cron::check(state, &req)?;
            None
        }
        Access::Link => {
            // The address is counted with the link's read and judged
            // first; then the link's own count with its organization.
            use crate::auth::links;
            use crate::ratelimit::LimitedAction;
            trail.public = true;
            let token = req.param("token").unwrap_or("");
            let (d, link) = tokio::join!(
                layers::rate_limit::client(state, LimitedAction::LinkClient, &req),
                links::find(state, token)
            );
            let d = d?;
            trail.decision = Some(d);
            layers::rate_limit::enforce_client(&req, d)?;
            let link = link?;
            let limit = crate::ratelimit::platform_limit(state, LimitedAction::LinkToken);
            let key = link.id.to_hex();
            let (org, counted) = tokio::join!(
                links::organization(state, &link),
                crate::ratelimit::check(state, LimitedAction::LinkToken, &key, limit)
            );
            counted?;
            let org = org?;
            trail.caller = Some((link.id, org.id));
            let caller = crate::auth::links::caller(&link, org);
            let mut meta = meta_of(&req);
            meta.link = Some(link.id);
            Some(Scope::new(state.clone(), caller, meta, None))
        }
        Access::Requires(permission) => {
            let token = crate::auth::identify(state, &req).await?;
            // The Idempotency-Key is reserved in the same round trip as
            // the caller's read and count, and released if they refuse.
            // So is the record the handler reads first, if it declares one.
            let lease = route.hard_limit();
            let beside = prefetch(state, endpoint, token.org_id, &req);
            let ((authenticated, read), reserved) = tokio::join!(
                layers::rate_limit::authenticate(state, &token, req.client_ip, beside),
                crate::idempotency::reserve(state, token.user_id, token.org_id, &req, lease),
            );
            prefetched = read;
            let mut meta = meta_of(&req);
            meta.api_key = token.key().map(|key| key.id);
            let admitted = async {
                let (caller, d) = authenticated?;
                trail.caller = Some((caller.user.id, caller.org.id));
                trail.decision = Some(d);
                layers::rate_limit::enforce(state, &caller, &meta, d).await?;
                crate::auth::require_scope(&state.db, &caller, &meta, endpoint.scope).await?;
                crate::auth::require(&state.db, &caller, &meta, permission).await?;
                Ok::<_, ApiError>(caller)
            }
            .await;
            let caller = match admitted {
                Ok(caller) => caller,
                Err(refused) => {
                    // With the database unreachable the release would wait
                    // out its timeout again; the reservation lapses instead.
                    if let (Ok(Reserved::Held(pending)), false) =
                        (&reserved, refused.is_unavailable())
                    {
                        crate::idempotency::release(state, pending).await;
                    }
                    return Err(refused);
                }
            };
            let pending = match crate::idempotency::settle(state, reserved?).await? {
                Begin::Replay(answer) => return Ok(answer),
                Begin::Run(pending) => pending,
            };
            trail.idempotency = pending.clone();
            Some(Scope::new(state.clone(), caller, meta, pending))
        }
    };
    let ctx = Ctx {
        state: state.clone(),
        req,
        route,
        scope,
        prefetched,
    };
    (endpoint.handler)(ctx).await
}

/// What the endpoint declared to [`Endpoint::prefetch`], within the
/// organization the verified token names: the live record of its `{id}`,
/// or the page of the list its query string asks for, to be read in the
/// caller's own command ([`crate::auth::caller`]). `None` when there is
/// nothing to read (a malformed id or query, a sync, a text search: the
/// handler reports or reads it itself). A refused caller's answer waits
/// for this read too: one indexed page, the price of the round trip it
/// saves every admitted one.
fn prefetch(
    state: &State,
    endpoint: &Endpoint,
    org: ObjectId,
    req: &ApiRequest,
) -> Option<crate::auth::Beside> {
    let (e, mut filter, sort, limit) = match endpoint.prefetch? {
        Prefetch::Record(e) => {
            let id = ObjectId::parse_str(req.param("id")?).ok()?;
            (e, bson::doc! { "_id": id, "deletedAt": null }, None, 1)
        }
        // A text search scans the organization's records: not for a
        // caller who may yet be refused.
        Prefetch::Page(_) if req.query.iter().any(|(k, _)| k == "q") => return None,
        Prefetch::Page(e) => {
            let plan = crate::records::list_query(req, &state.cursor, e).ok()??;
            (e, plan.filter, Some(plan.sort), plan.limit + 1)
        }
    };
    filter.insert(crate::store::ORG_FIELD, org);
    Some(crate::auth::Beside {
        collection: e.collection,
        filter,
        sort,
        limit,
    })
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
