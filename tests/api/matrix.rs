//! The RBAC matrix: every method of every route of the route table, tried
//! as anonymous, VIEWER, MEMBER, ADMIN, OWNER and the owner of another
//! organization, against the permission the route declares and the README's
//! role table. Prints the matrix it checked.

use crate::helpers::*;
use shared::rbac::{Access, Permission, Role};

/// The README's role table: the lowest role that holds each permission.
const ROLE_TABLE: [(Permission, Role); 12] = [
    (Permission::Authenticated, Role::Viewer),
    (Permission::ReadRecords, Role::Viewer),
    (Permission::CreateRecords, Role::Member),
    (Permission::UpdateRecords, Role::Member),
    (Permission::UpdateAnyRecord, Role::Admin),
    (Permission::DeleteRecords, Role::Admin),
    (Permission::ExportData, Role::Admin),
    (Permission::ImportData, Role::Admin),
    (Permission::ReadAuditLog, Role::Admin),
    (Permission::ManageMembers, Role::Admin),
    (Permission::ManageOrganization, Role::Owner),
    (Permission::Configure, Role::Admin),
];

#[test]
fn every_permission_has_designs_minimum_role() {
    for (permission, role) in ROLE_TABLE {
        assert_eq!(permission.min_role(), role, "{permission:?}");
    }
}

/// A webhook message no organization has (the routes under
/// `.../deliveries/{messageId}` answer 404 for it once allowed).
const NO_MESSAGE: &str = "65a1b2c3d4e5f60718293a4b";

/// The id to put in a route's `{id}`: a record of the first organization
/// of the kind the route serves, created by `creator` when it may create
/// records (so record-level ownership does not hide the route's permission).
pub(crate) async fn fixture_id(
    app: &TestApp,
    path: &str,
    creator: Option<(&Actor, Role)>,
) -> String {
    let plural = path
        .trim_start_matches("/api/v1/")
        .split('/')
        .next()
        .unwrap_or("");
    if let Some((_, e)) = functions::registry::ENTITY_PATHS
        .iter()
        .find(|(p, _)| *p == plural)
    {
        let may_create = if e.admin_creates() {
            Role::Admin
        } else {
            Role::Member
        };
        let by = match creator {
            Some((actor, role)) if role >= may_create => actor,
            _ => app.owner().await,
        };
        let body = app.minimal_body(app.owner().await, plural).await;
        app.create_record(by, plural, body).await
    } else if plural == "documents" {
        let by = match creator {
            Some((actor, role)) if role >= Role::Member => actor,
            _ => app.owner().await,
        };
        let r = app
            .request_upload(by, "estimate.pdf", "application/pdf", 10)
            .await;
        assert_eq!(r.status, 201, "upload: {}", r.text);
        r.str("documentId")
    } else if path.starts_with("/api/v1/members/") {
        app.add_member(app.owner().await, "VIEWER").await.id
    } else if path.starts_with("/api/v1/auth/sessions/") {
        let session = app.login(&app.owner().await.email).await;
        let r = app
            .request(
                "GET",
                "/api/v1/auth/sessions",
                Some(&session.token),
                None,
                &[],
            )
            .await;
        let current = r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["current"] == true)
            .expect("current session");
        current["id"].as_str().unwrap().to_string()
    } else if path.starts_with("/api/v1/invitations/") {
        let n = bson::oid::ObjectId::new().to_hex();
        let r = app
            .post(
                "/api/v1/invitations",
                Some(app.owner().await),
                serde_json::json!({ "email": format!("{n}@example.test"), "role": "VIEWER" }),
            )
            .await;
        r.body["id"].as_str().expect("invitation id").to_string()
    } else if path.starts_with("/api/v1/webhooks/") {
        let r = app
            .post(
                "/api/v1/webhooks",
                Some(app.owner().await),
                // Only test messages: the walk's changes fan out to no fixture.
                serde_json::json!({ "url": "https://hooks.example.com/fixture", "events": ["webhook.test"] }),
            )
            .await;
        r.body["id"].as_str().expect("webhook id").to_string()
    } else if path.starts_with("/api/v1/api-keys/") {
        let r = app
            .post(
                "/api/v1/api-keys",
                Some(app.owner().await),
                serde_json::json!({ "name": "fixture", "scopes": ["*:read"] }),
            )
            .await;
        r.body["id"].as_str().expect("api key id").to_string()
    } else if plural == "share-links" {
        // Made by the caller where they may: a MEMBER revokes the links of
        // their own work orders.
        let by = match creator {
            Some((actor, role)) if role >= Role::Member => actor,
            _ => app.owner().await,
        };
        let body = app.minimal_body(app.owner().await, "work-orders").await;
        let order = app.create_record(by, "work-orders", body).await;
        let r = app
            .post(
                &format!("/api/v1/work-orders/{order}/share-links"),
                Some(by),
                serde_json::json!({ "purpose": "ESTIMATE" }),
            )
            .await;
        r.body["id"].as_str().expect("share link id").to_string()
    } else if plural == "time-entries" {
        // A closed shift of the owner's: ADMIN+ correct it.
        let owner = app.owner().await;
        let r = app
            .post(
                "/api/v1/time-entries/clock-in",
                Some(owner),
                serde_json::json!({ "kind": "SHIFT", "technicianId": owner.id }),
            )
            .await;
        let id = r.body["id"].as_str().expect("time entry id").to_string();
        app.post(
            "/api/v1/time-entries/clock-out",
            Some(owner),
            serde_json::json!({ "kind": "SHIFT" }),
        )
        .await;
        id
    } else if plural == "service-reminders" {
        // A vehicle's reminder of a rule, as the list computes it.
        let owner = app.owner().await;
        let rule = app.minimal_body(owner, "service-rules").await;
        app.create_record(owner, "service-rules", rule).await;
        let vehicle = app.minimal_body(owner, "vehicles").await;
        let vehicle = app.create_record(owner, "vehicles", vehicle).await;
        let r = app
            .get(
                &format!("/api/v1/service-reminders?vehicleId={vehicle}"),
                Some(owner),
            )
            .await;
        r.body["data"][0]["id"]
            .as_str()
            .expect("service reminder id")
            .to_string()
    } else {
        panic!("the matrix test does not know which record {path} takes: add it to fixture_id")
    }
}

#[tokio::test]
async fn every_route_answers_every_role_as_its_declaration_says() {
    // The walk makes a few hundred requests; the plan's limit is not under test here.
    let app = TestApp::spawn_with(&[("RATE_LIMIT_API_FREE", "100000")]).await;
    let actors = [
        ("VIEWER", Some(Role::Viewer), app.viewer().await),
        ("MEMBER", Some(Role::Member), app.member().await),
        ("ADMIN", Some(Role::Admin), app.admin().await),
        ("OWNER", Some(Role::Owner), app.owner().await),
        ("OTHER", None, app.other().await),
    ];
    let mut matrix = vec![format!(
        "{:<44} {:<7} {:>5} {:>6} {:>6} {:>6} {:>6} {:>6}",
        "route", "method", "anon", "VIEWER", "MEMBER", "ADMIN", "OWNER", "OTHER"
    )];
    for route in functions::routes::ROUTES.iter() {
        assert!(
            !route.methods.is_empty(),
            "route {} declares no methods",
            route.name
        );
        for endpoint in route.methods {
            let (verb, access) = (&endpoint.method, &endpoint.access);
            let Access::Requires(permission) = access else {
                continue;
            };
            let mut row = vec![];
            // Anonymous first.
            let path = if route.path.contains("{id}") {
                route
                    .path
                    .replace("{id}", &fixture_id(&app, route.path, None).await)
                    .replace("{messageId}", NO_MESSAGE)
                    .replace("{inspectionId}", NO_MESSAGE)
                    .replace("{itemId}", NO_MESSAGE)
            } else {
                route.path.to_string()
            };
            let anon = app
                .request(verb.as_str(), &path, None, Some(b"{}".to_vec()), &[])
                .await;
            assert_eq!(
                anon.status,
                401,
                "{} {path} anonymous: {}",
                verb.as_str(),
                anon.text
            );
            row.push(anon.status);
            for (name, role, actor) in &actors {
                // A fresh record per actor, so one actor's DELETE does not change the next one's answer.
                let path = if route.path.contains("{id}") {
                    route
                        .path
                        .replace(
                            "{id}",
                            &fixture_id(&app, route.path, role.map(|r| (*actor, r))).await,
                        )
                        .replace("{messageId}", NO_MESSAGE)
                        .replace("{inspectionId}", NO_MESSAGE)
                        .replace("{itemId}", NO_MESSAGE)
                } else {
                    route.path.to_string()
                };
                let r = app
                    .request(
                        verb.as_str(),
                        &path,
                        Some(&actor.token),
                        Some(b"{}".to_vec()),
                        &[],
                    )
                    .await;
                match role {
                    Some(role) if *role < permission.min_role() => {
                        r.assert_problem(403, "PERMISSION_DENIED");
                        assert_eq!(r.body["requiredRole"], permission.min_role().as_str());
                    }
                    Some(_) => assert!(
                        r.status != 401 && r.status != 403,
                        "{} {path} as {name} must be allowed: {}",
                        verb.as_str(),
                        r.text
                    ),
                    // Another organization's owner: another tenant's record is a 404;
                    // a route without a record acts on their own organization.
                    None if route.path.contains("{id}") => {
                        r.assert_problem(404, "NOT_FOUND");
                    }
                    None => assert!(
                        r.status != 401 && r.status != 403,
                        "{} {path} as OTHER: {}",
                        verb.as_str(),
                        r.text
                    ),
                }
                row.push(r.status);
            }
            matrix.push(format!(
                "{:<44} {:<7} {:>5} {:>6} {:>6} {:>6} {:>6} {:>6}",
                route.path,
                verb.as_str(),
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                row[5]
            ));
        }
    }
    println!("{}", matrix.join("\n"));
}

/// Restores and upload completions take no body, so malformed or unknown
/// input cannot reach them.
fn bodyless(method: &str, path: &str) -> bool {
    method == "POST"
        && [
            "/{id}/restore",
            "/{id}/complete",
            "/{id}/rotate-key",
            "/{id}/test",
            "/{id}/enable",
            "/{messageId}/retry",
            "/{inspectionId}/complete",
            "/{inspectionId}/reopen",
        ]
        .iter()
        .any(|end| path.ends_with(end))
}

#[tokio::test]
async fn every_route_rejects_malformed_bodies_unknown_fields_and_bad_ids() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_API_FREE", "100000")]).await;
    let mut checked = 0;
    for route in functions::routes::ROUTES.iter() {
        for endpoint in route.methods {
            let (verb, access) = (&endpoint.method, &endpoint.access);
            let method = verb.as_str();
            let token = match access {
                Access::Public | Access::Throttled(_) => None,
                Access::Requires(_) => Some(app.owner().await.token.as_str()),
                // Scheduled jobs take no input; `cleanup` tests their authorization.
                Access::Cron => continue,
                // A link's token is its credential: `share_links` tests its
                // bodies against a real one.
                Access::Link => continue,
            };
            if route.path.contains("{id}") {
                let path = route
                    .path
                    .replace("{id}", "not-an-id")
                    .replace("{messageId}", NO_MESSAGE)
                    .replace("{inspectionId}", NO_MESSAGE)
                    .replace("{itemId}", NO_MESSAGE);
                let r = app
                    .request(method, &path, token, Some(b"{}".to_vec()), &[])
                    .await;
                r.assert_problem(400, "INVALID_ID");
                checked += 1;
            }
            if !matches!(method, "POST" | "PATCH" | "PUT") || bodyless(method, route.path) {
                continue;
            }
            let path = if route.path.contains("{id}") {
                route
                    .path
                    .replace("{id}", &fixture_id(&app, route.path, None).await)
                    .replace("{messageId}", NO_MESSAGE)
                    .replace("{inspectionId}", NO_MESSAGE)
                    .replace("{itemId}", NO_MESSAGE)
            } else if route.path.contains("{publicId}") {
                let form = app.minimal_body(app.owner().await, "forms").await;
                let r = app
                    .post("/api/v1/forms", Some(app.owner().await), form)
                    .await;
                route.path.replace("{publicId}", &r.str("publicId"))
            } else {
                route.path.to_string()
            };
            let r = app
                .request(method, &path, token, Some(b"{\"oops\": ".to_vec()), &[])
                .await;
            r.assert_problem(400, "MALFORMED_JSON");
            // A public form drops what it does not ask for, by design.
            if route.path.contains("{publicId}") {
                checked += 1;
                continue;
            }
            let r = app
                .request(
                    method,
                    &path,
                    token,
                    Some(br#"{"unexpectedField": 1}"#.to_vec()),
                    &[],
                )
                .await;
            r.assert_problem(422, "VALIDATION_FAILED");
            assert!(
                r.error_fields().contains(&"unexpectedField".to_string()),
                "{method} {path}: {}",
                r.text
            );
            checked += 2;
        }
    }
    println!("{checked} bad-input checks");
    assert!(checked > 30);
}
