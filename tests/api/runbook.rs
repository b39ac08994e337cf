//! RUNBOOK.md cannot rot: every `crm-admin` command in its `sh` blocks and
//! every request in its `http` blocks is run here, in the file's order,
//! against a database seeded with the demo workshop, and must succeed.

use std::process::{Command, Stdio};

use std::io::Write;

use crate::helpers::*;

/// One runnable step of the runbook.
#[derive(Debug)]
enum Step {
    /// `crm-admin` arguments, and what `echo X |` feeds it.
    Admin {
        args: Vec<String>,
        stdin: Option<String>,
        line: String,
    },
    /// An API request made as the demo OWNER.
    Http { method: String, path: String },
}

/// Splits a shell line into words, honouring double quotes.
fn words(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut any) = (vec![], String::new(), false, false);
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

fn steps(text: &str) -> Vec<Step> {
    let mut steps = vec![];
    let mut fence: Option<String> = None;
    for raw in text.lines() {
        let line = raw.trim();
        if let Some(lang) = line.strip_prefix("```") {
            fence = match fence {
                Some(_) => None,
                None => Some(lang.to_string()),
            };
            continue;
        }
        // A comment starts at " #" (never inside our commands' arguments).
        let line = line.split(" #").next().unwrap_or("").trim();
        match fence.as_deref() {
            Some("sh") if !line.is_empty() => {
                let (stdin, command) = match line.split_once(" | ") {
                    Some((echo, rest)) => (
                        Some(format!("{}\n", echo.trim_start_matches("echo ").trim())),
                        rest,
                    ),
                    None => (None, line),
                };
                let mut w = words(command);
                assert_eq!(
                    w.first().map(String::as_str),
                    Some("crm-admin"),
                    "a sh line of RUNBOOK.md that is not crm-admin: {line}"
                );
                w.remove(0);
                steps.push(Step::Admin {
                    args: w,
                    stdin,
                    line: line.to_string(),
                });
            }
            Some("http") if !line.is_empty() => {
                let (method, path) = line.split_once(' ').expect("METHOD PATH");
                steps.push(Step::Http {
                    method: method.to_string(),
                    path: path.to_string(),
                });
            }
            _ => {}
        }
    }
    steps
}

#[tokio::test]
async fn every_command_and_request_in_the_runbook_works_on_a_seeded_database() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../RUNBOOK.md"),
    )
    .unwrap();
    let steps = steps(&text);
    let admin_steps = steps
        .iter()
        .filter(|s| matches!(s, Step::Admin { .. }))
        .count();
    assert!(admin_steps >= 30, "the runbook has {admin_steps} commands");

    let app = TestApp::spawn().await;
    let config = shared::config::Config::from_lookup(|k| app.env.get(k).cloned()).unwrap();
    let state = shared::state::State::from_config(config, Some(shared::storage::Storage::s3))
        .await
        .unwrap();
    let demo = functions::maintenance::seed::demo(&state).await.unwrap();
    let owner = demo
        .users
        .iter()
        .find(|u| u.role == shared::rbac::Role::Owner)
        .expect("a demo owner");
    let (email, password) = (owner.email.to_string(), owner.password.to_string());

    let dir = std::env::temp_dir().join(format!(
        "crm-runbook-{}",
        bson::oid::ObjectId::new().to_hex()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let binary = tests::lambda::function_binary("crm-admin", "debug");
    for step in &steps {
        match step {
            Step::Admin { args, stdin, line } => {
                let mut child = Command::new(&binary)
                    .env_clear()
                    .envs(&app.env)
                    .env("LOG_LEVEL", "error")
                    .current_dir(&dir)
                    .args(args)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                let mut input = child.stdin.take().unwrap();
                if let Some(text) = stdin {
                    input.write_all(text.as_bytes()).unwrap();
                }
                drop(input);
                let out = child.wait_with_output().unwrap();
                assert!(
                    out.status.success(),
                    "RUNBOOK.md: `{line}` exited {:?}\n{}\n{}",
                    out.status.code(),
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                assert!(!out.stdout.is_empty(), "`{line}` printed nothing");
            }
            Step::Http { method, path } => {
                // Signed in afresh: earlier steps revoke sessions on purpose.
                let r = app.sign_in(&email, &password).await;
                assert_eq!(r.status, 200, "signing in for {path}: {}", r.text);
                let token = r.body["accessToken"].as_str().unwrap().to_string();
                let got = app.request(method, path, Some(&token), None, &[]).await;
                assert!(
                    (200..300).contains(&got.status),
                    "RUNBOOK.md: {method} {path} answered {}: {}",
                    got.status,
                    got.text
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn runbook_lines_split_like_a_shell() {
    assert_eq!(
        words(r#"crm-admin ips block 1.2.3.0/24 --reason "credential stuffing""#),
        [
            "crm-admin",
            "ips",
            "block",
            "1.2.3.0/24",
            "--reason",
            "credential stuffing"
        ]
    );
    let parsed = steps(
        "```sh\necho x | crm-admin tenants delete x --now   # why\n```\n```http\nGET /a?b=c\n```\n",
    );
    assert!(
        matches!(&parsed[0], Step::Admin { stdin: Some(s), args, .. } if s == "x\n" && args[0] == "tenants")
    );
    assert!(
        matches!(&parsed[1], Step::Http { method, path } if method == "GET" && path == "/a?b=c")
    );
}
