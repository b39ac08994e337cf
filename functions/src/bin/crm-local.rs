//! The whole API in one local process: migrates the database, seeds the demo
//! organization when `--seed` is given, then serves every route of the route
//! table on http://127.0.0.1:$PORT (default 3000) until Ctrl-C. Like the
//! deployed schedule, it retries unsent emails (`send-emails`) and sends
//! due webhook messages (`send-webhooks`) every minute.

#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    let seed = std::env::args().any(|a| a == "--seed");
    let state =
        shared::runtime::init_or_exit(Some(shared::storage::Storage::s3), functions::indexes::all)
            .await;
    let applied = state.migrate(&functions::indexes::all()).await?;
    if !applied.is_empty() {
        println!("migrations applied: {}", applied.join(", "));
    }
    if seed {
        println!(
            "demo organization (slug {}), one user per role:",
            functions::maintenance::seed::DEMO_SLUG
        );
        let demo = functions::maintenance::seed::demo(&state).await?;
        for user in &demo.users {
            println!("  {:<6}  {:<32}  {}", user.role, user.email, user.password);
        }
        let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
        println!("share links of the demo work orders (no sign-in needed):");
        for (purpose, path) in &demo.links {
            println!("  {purpose:<8}  http://127.0.0.1:{port}{path}");
        }
    }
    let retries = state.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            if let Err(e) = functions::maintenance::emails::run(retries.clone()).await {
                eprintln!("send-emails: {e}");
            }
            if let Err(e) = functions::maintenance::webhooks::run(retries.clone()).await {
                eprintln!("send-webhooks: {e}");
            }
        }
    });
    println!(
        "serving {} routes on http://127.0.0.1:{}",
        functions::routes::ROUTES.len(),
        std::env::var("PORT").unwrap_or_else(|_| "3000".into())
    );
    shared::runtime::serve_local_on_port(state, &functions::routes::ROUTES).await
}
