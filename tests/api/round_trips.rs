//! What a request costs in production, where every database command is a
//! network round trip: one request of every route family through the
//! counting and delaying wire proxy (`tests::wire_proxy`), against the
//! budget declared for it below. Each command is held `DELAY_MS`, and the
//! sequential round trips are the waves its commands arrive in (commands
//! sent together arrive together, one sent after an answer at least the
//! delay later), so however loaded the machine, only counts are asserted.

use std::collections::BTreeMap;

use serde_json::json;
use tests::wire_proxy::WireProxy;

use crate::helpers::*;

const DELAY_MS: u64 = 150;

/// One request of a route family, its commands and its sequential round
/// trips at most: what it costs now, so a change that adds one fails here.
/// Every family is within the targets (README, "Round trips per request"):
/// 2 round trips for a read (1 now: the record or page is read in the
/// caller's own command, beside the rate-limit count), 4 for a write with its commit (a keyed create
/// included), 4 for sign-in besides bcrypt, 3 for a refresh.
struct Budget {
    family: &'static str,
    commands: u32,
    round_trips: u32,
}

const BUDGETS: &[Budget] = &[
    Budget {
        family: "GET /accounts",
        commands: 2,
        round_trips: 1,
    },
    Budget {
        family: "GET /accounts/{id}",
        commands: 2,
        round_trips: 1,
    },
    Budget {
        family: "POST /accounts",
        commands: 5,
        round_trips: 4,
    },
    Budget {
        family: "POST /accounts (Idempotency-Key)",
        commands: 6,
        round_trips: 4,
    },
    Budget {
        family: "PATCH /accounts/{id}",
        commands: 5,
        round_trips: 4,
    },
    Budget {
        family: "DELETE /accounts/{id}",
        commands: 5,
        round_trips: 4,
    },
    Budget {
        family: "POST /auth/login",
        commands: 8,
        round_trips: 4,
    },
    Budget {
        family: "POST /auth/refresh",
        commands: 4,
        round_trips: 3,
    },
];

struct Family {
    app: TestApp,
    owner: Actor,
    accounts: Vec<String>,
    refresh: tokio::sync::Mutex<String>,
}

impl Family {
    /// The `i`-th request of `family` (each on its own data); its status.
    async fn perform(&self, family: &str, i: usize) -> u16 {
        let app = &self.app;
        let owner = Some(&self.owner);
        let account = &self.accounts[i];
        match family {
            "GET /accounts" => app.get("/api/v1/accounts", owner).await.status,
            "GET /accounts/{id}" => {
                app.get(&format!("/api/v1/accounts/{account}"), owner)
                    .await
                    .status
            }
            "POST /accounts" => {
                app.post(
                    "/api/v1/accounts",
                    owner,
                    json!({ "name": format!("Budget {i}") }),
                )
                .await
                .status
            }
            "POST /accounts (Idempotency-Key)" => {
                let key = format!("budget-{}-{i}", bson::oid::ObjectId::new().to_hex());
                let body = serde_json::to_vec(&json!({ "name": format!("Keyed {i}") })).unwrap();
                app.request(
                    "POST",
                    "/api/v1/accounts",
                    Some(&self.owner.token),
                    Some(body),
                    &[("idempotency-key", &key)],
                )
                .await
                .status
            }
            "PATCH /accounts/{id}" => {
                app.patch(
                    &format!("/api/v1/accounts/{account}"),
                    owner,
                    json!({ "industry": format!("Industry {i}") }),
                )
                .await
                .status
            }
            "DELETE /accounts/{id}" => {
                app.delete(&format!("/api/v1/accounts/{account}"), owner)
                    .await
                    .status
            }
            "POST /auth/login" => app.sign_in(&self.owner.email, PASSWORD).await.status,
            "POST /auth/refresh" => {
                let mut token = self.refresh.lock().await;
                let r = app.refresh(&token).await;
                if r.status == 200 {
                    *token = r.str("refreshToken");
                }
                r.status
            }
            other => panic!("no such family {other}"),
        }
    }
}

/// The commands (by name, and in order) and the sequential round trips of
/// one request of `family`, each command held `DELAY_MS`.
async fn measure(
    proxy: &WireProxy,
    f: &Family,
    family: &str,
    run: &mut usize,
) -> (BTreeMap<String, u32>, Vec<String>, u32) {
    // The first request of a family (no delay) warms the pool. Of three
    // measured requests the cheapest counts: on a server shared with other
    // tests a transaction may run again after a write conflict, or the
    // driver retry a read, and the budget is the cost of the request, not
    // of the retry.
    let mut best: Option<(BTreeMap<String, u32>, Vec<String>, u32)> = None;
    for attempt in 0..4 {
        proxy.set_delay(if attempt == 0 { 0 } else { DELAY_MS });
        proxy.take();
        *run += 1;
        let status = f.perform(family, *run).await;
        assert!((200..300).contains(&status), "{family}: {status}");
        if attempt == 0 {
            continue;
        }
        let (sequence, waves) = (proxy.sequence(), proxy.waves());
        let counts = proxy.take();
        let cost = |c: &BTreeMap<String, u32>, w: u32| (c.values().sum::<u32>(), w);
        if best
            .as_ref()
            .is_none_or(|(c, _, w)| cost(&counts, waves) < cost(c, *w))
        {
            best = Some((counts, sequence, waves));
        }
    }
    proxy.set_delay(0);
    best.expect("three measured requests")
}

fn spelled(commands: &BTreeMap<String, u32>) -> String {
    let parts: Vec<String> = commands.iter().map(|(k, n)| format!("{k} {n}")).collect();
    parts.join(", ")
}

#[tokio::test]
async fn every_route_family_stays_within_its_round_trip_budget() {
    let (app, proxy) = spawn_behind_proxy(&[]).await;
    let owner = app.owner().await.clone();
    let mut accounts = vec![];
    for i in 0..10 {
        accounts.push(app.create_account(&owner, &format!("Budgeted {i}")).await);
    }
    let refresh = tokio::sync::Mutex::new(owner.refresh.clone());
    let family = Family {
        app,
        owner,
        accounts,
        refresh,
    };
    let mut report = vec![];
    let mut over = vec![];
    for budget in BUDGETS {
        // DELETE takes a different account each time; the rest reuse #0..3.
        let mut run = 0;
        let (by_name, sequence, round_trips) =
            measure(&proxy, &family, budget.family, &mut run).await;
        let commands: u32 = by_name.values().sum();
        report.push(format!(
            "| {} | {commands} ({}) | {round_trips} | {} / {} |",
            budget.family,
            spelled(&by_name),
            budget.commands,
            budget.round_trips
        ));
        if commands > budget.commands || round_trips > budget.round_trips {
            over.push(format!("{}: {}", budget.family, sequence.join(", ")));
        }
        if std::env::var_os("ROUND_TRIPS_VERBOSE").is_some() {
            println!("{}: {}", budget.family, sequence.join(", "));
        }
    }
    assert_eq!(
        proxy.unparsed(),
        0,
        "messages the proxy could not read were not counted"
    );
    println!("| request | commands | sequential round trips | budget |\n|---|---|---|---|");
    println!("{}", report.join("\n"));
    assert!(
        over.is_empty(),
        "over budget (commands in order):\n{}\n{}",
        over.join("\n"),
        report.join("\n")
    );
}
