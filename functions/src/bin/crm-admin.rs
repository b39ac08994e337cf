//! `crm-admin`: the on-call command line. Works on the database named by
//! `MONGODB_URI` / `MONGODB_DB` directly (no HTTP). Exit codes: 0 done,
//! 1 failed (not found, not confirmed, database error), 2 usage error.
//! `--json` prints machine-readable output.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use functions::maintenance::admin::{self, AuditSubject, LimitSubject, LoginSubject};
use functions::maintenance::backup::{self, Progress, Quiet};
use serde_json::Value;

const USAGE: &str = "usage: crm-admin [--json] COMMAND

commands:
  migrate                                  create every index (idempotent)
  tenants list                             organizations with user, account and record counts
  db indexes                               every expected index present, none extra (exit 1 otherwise)
  db stats                                 collections by size (documents, data, index bytes); server connections; pool per instance
  db explain ENTITY                        the plan of each list query of ENTITY (e.g. work-orders); exit 1 on a collection scan
  tenants stats                            per organization: users, records per entity, documents, bytes, last activity
  tenants deactivate SLUG                  refuse every member; sign them all out
  tenants reactivate SLUG                  undo a deactivation or a scheduled deletion
  tenants set-plan SLUG PLAN               FREE, PRO or ENTERPRISE (upgrades are the operator's or billing's)
  tenants delete SLUG --now                purge the organization and all its data (asks for the slug again)
  tenants export SLUG --out FILE           every document of the organization and a manifest of its files, as a tar archive
  tenants import FILE [--as NEW_SLUG]      restore an export into an organization that does not exist (--as: new ids)
  cleanup organizations|audit-logs|sessions
                                           one run of a scheduled cleanup, now
  sessions revoke-all [--org SLUG]         sign out every user (of one organization, or of all), access tokens included
  users show EMAIL                         status, role, organization, last sign-in, failed attempts, bucket, sessions
  users revoke-sessions EMAIL              sign the user out everywhere
  users force-password-reset EMAIL         sign out, refuse sign-in, print a one-time reset token
  users set-status EMAIL STATUS            PENDING, ACTIVE or INACTIVE
  users unlock EMAIL                       clear the email's failed sign-in bucket (audited)
  ips block CIDR --reason TEXT [--until DATE]
                                           every function answers the network 403 (within 60 s)
  ips unblock CIDR                         lift a block
  ips list                                 the blocks in force
  audit EMAIL|--org SLUG [--action A] [--since 24h]
                                           audit entries, newest first
  logins EMAIL|--ip IP [--since 24h]       sign-in attempts, newest first
  ratelimit status --org SLUG|--email EMAIL|--ip IP
                                           each bucket's limit, used, remaining, reset (counts nothing)
  ratelimit reset --org SLUG [--bucket API]|--email EMAIL|--ip IP
                                           empty the current window (audited)
  ratelimit override --org SLUG --bucket UPLOADS --limit 5000 --until 2026-12-31
                                           a limit above (or below) the plan's until the end of that day
  forms submissions --by-ip [--org SLUG] [--since 24h]
                                           public form submissions per client address, most first";

enum Outcome {
    Done(Value),
    Failed(String),
    Usage(String),
}

fn usage(message: &str) -> Outcome {
    Outcome::Usage(message.to_string())
}

/// Takes `--name VALUE` out of `args`.
fn option(args: &mut Vec<String>, name: &str) -> Result<Option<String>, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(None),
        Some(i) if i + 1 < args.len() => {
            let value = args.remove(i + 1);
            args.remove(i);
            Ok(Some(value))
        }
        Some(_) => Err(format!("{name} needs a value")),
    }
}

fn flag(args: &mut Vec<String>, name: &str) -> bool {
    let found = args.iter().any(|a| a == name);
    args.retain(|a| a != name);
    found
}

fn confirm(slug: &str) -> bool {
    eprint!("This deletes organization {slug} and all its data for good. Type the slug again to confirm: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).is_ok() && line.trim() == slug
}

/// A progress bar on stderr for long work; indicatif draws nothing when
/// stderr is not a terminal, and `--json` asks for none.
struct Bar(indicatif::ProgressBar);

impl Progress for Bar {
    fn start(&self, total: u64, what: &str) {
        self.0.set_length(total);
        self.0.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} {msg} ({per_sec}, {eta} left)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        self.0.set_message(what.to_string());
    }
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// A spinner with the elapsed time, for work whose size is not known
/// ahead (migrations, cleanups by hand); hidden like [`Bar`].
fn spinner(quiet: bool, what: &str) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_message(what.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

fn progress(quiet: bool) -> Box<dyn Progress> {
    if quiet {
        Box::new(Quiet)
    } else {
        Box::new(Bar(indicatif::ProgressBar::with_draw_target(
            None,
            indicatif::ProgressDrawTarget::stderr(),
        )))
    }
}

async fn run(mut args: Vec<String>, quiet: bool) -> Outcome {
    let since = match option(&mut args, "--since") {
        Err(e) => return usage(&e),
        Ok(None) => std::time::Duration::from_secs(24 * 3600),
        Ok(Some(s)) => match admin::parse_since(&s) {
            Some(d) => d,
            None => return usage("--since takes a duration such as 30m, 24h or 7d"),
        },
    };
    let (org, ip, action) = match (
        option(&mut args, "--org"),
        option(&mut args, "--ip"),
        option(&mut args, "--action"),
    ) {
        (Ok(o), Ok(i), Ok(a)) => (o, i, a),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return usage(&e),
    };
    let (email, bucket, limit, until) = match (
        option(&mut args, "--email"),
        option(&mut args, "--bucket"),
        option(&mut args, "--limit"),
        option(&mut args, "--until"),
    ) {
        (Ok(e), Ok(b), Ok(l), Ok(u)) => (e, b, l, u),
        (Err(e), ..) | (_, Err(e), ..) | (.., Err(e), _) | (.., Err(e)) => return usage(&e),
    };
    let (reason, out, as_slug) = match (
        option(&mut args, "--reason"),
        option(&mut args, "--out"),
        option(&mut args, "--as"),
    ) {
        (Ok(r), Ok(o), Ok(a)) => (r, o, a),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return usage(&e),
    };
    let now = flag(&mut args, "--now");
    let by_ip = flag(&mut args, "--by-ip");
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    if words.is_empty() {
        return usage("no command given");
    }
    // Only the commands that touch files build the storage client.
    let storage = matches!(
        words.as_slice(),
        ["tenants", "delete" | "export", ..] | ["cleanup", "organizations" | "sessions"]
    );
    let state = shared::runtime::init_or_exit(
        storage.then_some(shared::storage::Storage::s3 as _),
        functions::routes::indexes,
    )
    .await;
    let result = match (words.as_slice(), &org, &ip) {
        (["migrate"], None, None) => {
            let bar = spinner(quiet, "migrating");
            let applied = state.migrate(&functions::routes::indexes()).await;
            bar.finish_and_clear();
            applied
        }
        .map(
            |applied| serde_json::json!({ "database": state.database_name(), "applied": applied }),
        ),
        (["tenants", "list"], None, None) => admin::tenants(&state).await.map(Value::from),
        (["tenants", "stats"], None, None) => admin::tenant_stats(&state).await.map(Value::from),
        (["db", "explain", entity], None, None) => match admin::db_explain(&state, entity).await {
            Ok((rows, false)) => Ok(Value::from(rows)),
            Ok((rows, true)) => {
                return Outcome::Failed(format!(
                    "a list query of {entity} scans the collection: {}",
                    Value::from(rows)
                ))
            }
            Err(e) => Err(e),
        },
        (["db", "indexes"], None, None) => {
            match state.check_indexes(&functions::routes::indexes()).await {
                Ok((missing, extra)) if missing.is_empty() && extra.is_empty() => {
                    Ok(serde_json::json!({ "missing": missing, "extra": extra }))
                }
                Ok((missing, extra)) => {
                    return Outcome::Failed(format!(
                        "indexes differ from the declarations (run `crm-admin migrate` for the missing ones)\nmissing: {}\nextra: {}",
                        missing.join("; "),
                        extra.join("; ")
                    ))
                }
                Err(e) => Err(e),
            }
        }
        (["sessions", "revoke-all"], _, None) => {
            admin::revoke_all_sessions(&state, org.as_deref()).await
        }
        (["users", "show", email], None, None) => admin::show_user(&state, email).await,
        (["users", "unlock", email], None, None) => {
            admin::rate_limit_reset(&state, LimitSubject::Email(email), None).await
        }
        (["db", "stats"], None, None) => admin::db_stats(&state).await,
        (["tenants", "export", slug], None, None) => match &out {
            Some(file) => {
                backup::export(&state, slug, std::path::Path::new(file), &*progress(quiet)).await
            }
            None => return usage("tenants export needs --out FILE"),
        },
        (["tenants", "import", file], None, None) => {
            let path = std::path::Path::new(file);
            backup::import(&state, path, as_slug.as_deref(), &*progress(quiet)).await
        }
        (["ips", "block", cidr], None, None) => match &reason {
            Some(r) => admin::ips_block(&state, cidr, r, until.as_deref()).await,
            None => return usage("ips block needs --reason"),
        },
        (["ips", "unblock", cidr], None, None) => admin::ips_unblock(&state, cidr).await,
        (["ips", "list"], None, None) => admin::ips_list(&state).await,
        (["tenants", "deactivate", slug], None, None) => {
            admin::set_tenant_active(&state, slug, false).await
        }
        (["tenants", "reactivate", slug], None, None) => {
            admin::set_tenant_active(&state, slug, true).await
        }
        (["tenants", "set-plan", slug, plan], None, None) => {
            admin::set_plan(&state, slug, plan).await
        }
        (["tenants", "delete", slug], None, None) => {
            if !now {
                return usage("tenants delete purges at once and needs --now");
            }
            if !confirm(slug) {
                return Outcome::Failed("not confirmed; nothing was deleted".into());
            }
            admin::purge_tenant(&state, slug).await
        }
        (["cleanup", job], None, None) => {
            let now = shared::bson::DateTime::now();
            let bar = spinner(quiet, &format!("cleanup {job}"));
            let report = match *job {
                "organizations" => {
                    functions::maintenance::cleanup::organizations(&state, now).await
                }
                "audit-logs" => functions::maintenance::cleanup::audit_logs(&state, now).await,
                "sessions" => functions::maintenance::cleanup::sessions(&state, now).await,
                other => return usage(&format!("unknown cleanup: {other}")),
            };
            bar.finish_and_clear();
            report.map(|r| r.to_json())
        }
        (["users", "revoke-sessions", email], None, None) => {
            admin::revoke_sessions(&state, email).await
        }
        (["users", "force-password-reset", email], None, None) => {
            admin::force_password_reset(&state, email).await
        }
        (["users", "set-status", email, status], None, None) => {
            admin::set_user_status(&state, email, status).await
        }
        (["audit", email], None, None) => {
            admin::audit(&state, AuditSubject::User(email), action.as_deref(), since)
                .await
                .map(Value::from)
        }
        (["audit"], Some(slug), None) => admin::audit(
            &state,
            AuditSubject::Organization(slug),
            action.as_deref(),
            since,
        )
        .await
        .map(Value::from),
        (["logins", email], None, None) => admin::logins(&state, LoginSubject::Email(email), since)
            .await
            .map(Value::from),
        (["logins"], None, Some(ip)) => admin::logins(&state, LoginSubject::Ip(ip), since)
            .await
            .map(Value::from),
        (["ratelimit", verb @ ("status" | "reset")], _, _) => {
            let subject = match (&org, &email, &ip) {
                (Some(o), None, None) => LimitSubject::Organization(o),
                (None, Some(e), None) => LimitSubject::Email(e),
                (None, None, Some(i)) => LimitSubject::Ip(i),
                _ => return usage("name exactly one of --org, --email, --ip"),
            };
            if *verb == "status" {
                admin::rate_limit_status(&state, subject)
                    .await
                    .map(Value::from)
            } else {
                admin::rate_limit_reset(&state, subject, bucket.as_deref()).await
            }
        }
        (["ratelimit", "override"], Some(slug), None) => match (&bucket, &limit, &until) {
            (Some(b), Some(l), Some(u)) => admin::rate_limit_override(&state, slug, b, l, u).await,
            _ => return usage("ratelimit override needs --bucket, --limit and --until"),
        },
        (["forms", "submissions"], _, None) if by_ip => {
            admin::form_submissions_by_ip(&state, org.as_deref(), since)
                .await
                .map(Value::from)
        }
        _ => return usage(&format!("unknown command: {}", words.join(" "))),
    };
    match result {
        Ok(v) => Outcome::Done(v),
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

/// Human output: one line per item of a list, `key: value` lines for an object.
fn print_human(value: &Value) {
    match value {
        Value::Array(items) if items.is_empty() => println!("(none)"),
        Value::Array(items) => {
            for item in items {
                let line: Vec<String> = item
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .filter(|(_, v)| !v.is_null())
                            .map(|(k, v)| format!("{k}={}", plain(v)))
                            .collect()
                    })
                    .unwrap_or_else(|| vec![plain(item)]);
                println!("{}", line.join("  "));
            }
        }
        Value::Object(o) => {
            for (k, v) in o {
                println!("{k}: {}", plain(v));
            }
        }
        other => println!("{}", plain(other)),
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if flag(&mut args, "--help") || flag(&mut args, "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let json = flag(&mut args, "--json");
    match run(args, json).await {
        Outcome::Done(value) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&value).unwrap_or_default()
                );
            } else {
                print_human(&value);
            }
            ExitCode::SUCCESS
        }
        Outcome::Failed(message) => {
            if json {
                println!("{}", serde_json::json!({ "error": message }));
            }
            eprintln!("crm-admin: {message}");
            ExitCode::from(1)
        }
        Outcome::Usage(message) => {
            eprintln!("crm-admin: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
