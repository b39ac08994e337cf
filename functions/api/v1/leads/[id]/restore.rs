//! `POST /api/v1/leads/{id}/restore`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::LEADS_ID_RESTORE).await
}
