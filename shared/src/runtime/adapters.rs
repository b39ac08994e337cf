//! The platform adapters: each turns its platform's request into an
//! [`ApiRequest`], walks it down the pipeline ([`super::handle`]) and turns
//! the [`ApiResponse`] back. Lambda (lambda_http: API Gateway REST and HTTP
//! APIs, ALB, function URLs; EventBridge events for scheduled functions),
//! Vercel's Rust runtime, and a plain HTTP server (hyper) for local work
//! and tests.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use super::{handle, handle_within_limit, Error, Route, RouteTable};
use crate::http::{parse_query, ApiRequest, ApiResponse, MAX_BODY_BYTES};
use crate::state::State;

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
/// opens the connections its first request will use, then serves `route` as its platform expects. `indexes` gives the
/// indexes the entity registry calls for, which a preview's first cold start
/// creates (called only then).
pub async fn serve(
    route: &'static Route,
    indexes: fn() -> Vec<crate::migrate::Index>,
) -> Result<(), Error> {
    let state = init_or_exit(route.deploy.open_storage, indexes).await;
    // The connections of the first request's first round trip, one of them
    // reading the address blocklist its first layer needs.
    tokio::join!(
        state.warm(crate::state::WARM_CONNECTIONS - 1),
        super::layers::blocklist::preload(&state)
    );
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
    let (head, body) = req.into_parts();
    let mut api = ApiRequest::new(head.method.clone(), head.uri.path());
    api.query = head.uri.query().map(parse_query).unwrap_or_default();
    api.headers = head.headers;
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
    let (route, params) = match table.find(head.uri.path()) {
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

/// A binary built without `--cfg vercel` started on Vercel: says how to
/// build it, and stops.
#[cfg(not(feature = "vercel"))]
async fn run_vercel(_: Arc<State>, route: &'static Route) -> Result<(), Error> {
    let message = format!(
        "{} was built without the Vercel adapter: set RUSTFLAGS=\"--cfg vercel\" in the Vercel project's environment and deploy again",
        route.name
    );
    tracing::error!("[CONFIG] {message}");
    Err(message.into())
}

/// Under Vercel's Rust runtime: HTTP on `127.0.0.1:$VERCEL_DEV_PORT`, with
/// the platform told over `VERCEL_IPC_PATH` (both handled by vercel_runtime).
/// The client address is the one Vercel's edge puts in `x-real-ip`. A
/// dynamic segment (`[id].rs`) also arrives as a query parameter of its
/// name; the path is matched first, the query parameter is the fallback.
#[cfg(feature = "vercel")]
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
                let response = handle_within_limit(state, matched, api).await;
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

#[cfg_attr(not(feature = "vercel"), allow(dead_code))]
fn path_param_names(route: &Route) -> Vec<&'static str> {
    route
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

/// The route's path parameters taken from query parameters of the same
/// names (how Vercel's file-system routing passes `[id]`); all or nothing.
#[cfg_attr(not(feature = "vercel"), allow(dead_code))]
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
    let (head, body) = event.into_parts();
    let mut api = ApiRequest::new(head.method, &path);
    api.query = query;
    api.headers = head.headers;
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
    let response = handle_within_limit(state, matched, api).await;
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
