//! `POST /api/v1/documents/{id}/complete`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::DOCUMENTS_ID_COMPLETE).await
}
