//! `POST /api/v1/documents/{id}/restore`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::DOCUMENTS_ID_RESTORE).await
}
