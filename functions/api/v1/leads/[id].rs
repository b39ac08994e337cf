//! `GET|PATCH|DELETE /api/v1/leads/{id}`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::LEADS_ID).await
}
