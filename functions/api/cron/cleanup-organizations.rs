//! `GET /api/cron/cleanup-organizations` (Vercel cron) or its EventBridge schedule (Lambda)
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::CLEANUP_ORGANIZATIONS).await
}
