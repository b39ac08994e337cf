//! `GET|PATCH|DELETE /api/v1/documents/{id}`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::DOCUMENTS_ID).await
}
