//! `POST /api/v1/exports`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::EXPORTS).await
}
