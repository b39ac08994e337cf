//! The webhook benchmark (`scripts/bench.sh webhooks`), through a release
//! `crm-local` with a receiver on 127.0.0.1 (`WEBHOOKS_ALLOW_NETWORKS`):
//!
//! - what a webhook adds to the write that triggers it: p50/p99 of
//!   `POST /accounts` with no endpoint, with one endpoint that selects it,
//!   and with `BENCH_WEBHOOK_ENDPOINTS` (default 100) that all do
//!   (`BENCH_WEBHOOK_REQUESTS` samples each, default 50, each after the
//!   deliveries of the one before);
//! - throughput: `BENCH_WEBHOOK_EVENTS` (default 20) creates, 10 at a
//!   time, to that many endpoints, timed from the first request to the last
//!   delivery the receiver has checked the signature of (events and
//!   deliveries per second).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::json;
use tests::bench_support::{number, p50_p99, Bench};

/// A receiver that checks each delivery's signature against the secret of
/// the endpoint its path names (`/hooks/<n>`) and counts the good ones.
struct Receiver {
    port: u16,
    secrets: Arc<std::sync::RwLock<Vec<String>>>,
    verified: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let secrets: Arc<std::sync::RwLock<Vec<String>>> = Arc::default();
        let (verified, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (s, v, r) = (secrets.clone(), verified.clone(), refused.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (s, v, r) = (s.clone(), v.clone(), r.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: http::Request<hyper::body::Incoming>| {
                            let (s, v, r) = (s.clone(), v.clone(), r.clone());
                            async move {
                                let n: usize = req
                                    .uri()
                                    .path()
                                    .rsplit('/')
                                    .next()
                                    .and_then(|n| n.parse().ok())
                                    .unwrap_or(usize::MAX);
                                let header = |k: &str| {
                                    req.headers()
                                        .get(k)
                                        .and_then(|v| v.to_str().ok())
                                        .unwrap_or("")
                                        .to_string()
                                };
                                let (id, ts, sig) = (
                                    header("webhook-id"),
                                    header("webhook-timestamp"),
                                    header("webhook-signature"),
                                );
                                let body = req.into_body().collect().await.unwrap().to_bytes();
                                let secret = s.read().unwrap().get(n).cloned();
                                let good = secret.is_some_and(|secret| {
                                    ts.parse::<i64>().ok().and_then(|t| {
                                        shared::signature::sign(&[&secret], &id, t, &body)
                                    }) == Some(sig)
                                });
                                if good { &v } else { &r }.fetch_add(1, Ordering::Relaxed);
                                Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                                    Bytes::new(),
                                )))
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver {
            port,
            secrets,
            verified,
            refused,
        }
    }
}

/// `samples` sequential account creates: their latencies. Each waits for
/// the `fanout` deliveries of the one before to be verified, so a sample
/// measures one write and its own webhooks, not the backlog of earlier
/// ones (the throughput run measures that).
async fn creates(
    bench: &Bench,
    receiver: &Receiver,
    label: &str,
    samples: usize,
    fanout: u64,
) -> Vec<Duration> {
    let mut out = Vec::with_capacity(samples);
    for i in 0..samples {
        let want = receiver.verified.load(Ordering::Relaxed) + fanout;
        let started = Instant::now();
        bench
            .call(
                "POST",
                "/accounts",
                Some(json!({ "name": format!("{label} {i}") })),
                201,
            )
            .await;
        out.push(started.elapsed());
        let waiting = Instant::now();
        while receiver.verified.load(Ordering::Relaxed) < want
            && waiting.elapsed() < Duration::from_secs(60)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    out
}

#[tokio::main]
async fn main() {
    let endpoints = number("BENCH_WEBHOOK_ENDPOINTS", 100);
    let events = number("BENCH_WEBHOOK_EVENTS", 20);
    let samples = number("BENCH_WEBHOOK_REQUESTS", 50);
    let bench = Bench::start_with(
        "bench_webhooks",
        &[("WEBHOOKS_ALLOW_NETWORKS", "127.0.0.0/8")],
    )
    .await;
    let receiver = Receiver::start().await;
    let add = |n: usize| {
        let (bench, port) = (&bench, receiver.port);
        async move {
            let r = bench
                .call(
                    "POST",
                    "/webhooks",
                    Some(json!({ "url": format!("http://127.0.0.1:{port}/hooks/{n}"), "events": ["account.created"] })),
                    201,
                )
                .await;
            r["secret"].as_str().unwrap().to_string()
        }
    };
    creates(&bench, &receiver, "warm-up", 20, 0).await;
    let mut rows = vec![];
    let mut none = creates(&bench, &receiver, "none", samples, 0).await;
    rows.push(("no endpoint".to_string(), p50_p99(&mut none)));
    let first = add(0).await;
    receiver.secrets.write().unwrap().push(first);
    let mut one = creates(&bench, &receiver, "one", samples, 1).await;
    rows.push(("1 endpoint".to_string(), p50_p99(&mut one)));
    for n in 1..endpoints {
        let secret = add(n).await;
        receiver.secrets.write().unwrap().push(secret);
    }
    let mut many = creates(&bench, &receiver, "many", samples, endpoints as u64).await;
    rows.push((format!("{endpoints} endpoints"), p50_p99(&mut many)));

    // Throughput: let what the samples queued drain first.
    let expected_before = (samples + samples * endpoints) as u64;
    let drained = Instant::now();
    while receiver.verified.load(Ordering::Relaxed) < expected_before
        && drained.elapsed() < Duration::from_secs(300)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = receiver.verified.load(Ordering::Relaxed);
    let started = Instant::now();
    futures_util::stream::iter(0..events)
        .map(|i| {
            let bench = &bench;
            async move {
                bench
                    .call(
                        "POST",
                        "/accounts",
                        Some(json!({ "name": format!("burst {i}") })),
                        201,
                    )
                    .await
            }
        })
        .buffer_unordered(10)
        .count()
        .await;
    let want = before + (events * endpoints) as u64;
    while receiver.verified.load(Ordering::Relaxed) < want
        && started.elapsed() < Duration::from_secs(600)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    let delivered = receiver.verified.load(Ordering::Relaxed) - before;

    println!("## Webhooks ({samples} sequential creates per row)\n");
    println!("| POST /accounts | p50 / p99 |");
    println!("|---|---|");
    for (label, value) in rows {
        println!("| {label} | {value} |");
    }
    println!(
        "\n{events} events (10 creates at a time) to {endpoints} endpoints: {delivered} deliveries verified in {:.2} s = {:.1} events/s, {:.0} deliveries/s; signatures refused: {}",
        took.as_secs_f64(),
        events as f64 / took.as_secs_f64(),
        delivered as f64 / took.as_secs_f64(),
        receiver.refused.load(Ordering::Relaxed)
    );
    bench.stop().await;
}
