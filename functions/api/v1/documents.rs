//! `GET /api/v1/documents`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::DOCUMENTS).await
}
