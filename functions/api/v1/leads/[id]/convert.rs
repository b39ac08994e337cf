//! `POST /api/v1/leads/{id}/convert`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::LEADS_ID_CONVERT).await
}
