//! `GET /api/v1/health`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::HEALTH).await
}
