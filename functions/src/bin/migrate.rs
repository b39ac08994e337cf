//! Applies the idempotent migration (every index) to `MONGODB_DB` and exits:
//! run on deploy and by the local stack.

#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    let state = shared::runtime::init_or_exit(None, functions::indexes::all).await;
    let applied = state.migrate(&functions::indexes::all()).await?;
    println!(
        "database {}: {}",
        state.database_name(),
        if applied.is_empty() {
            "up to date".to_string()
        } else {
            format!("applied {}", applied.join(", "))
        }
    );
    Ok(())
}
