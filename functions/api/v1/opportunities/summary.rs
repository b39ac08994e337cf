//! `GET /api/v1/opportunities/summary`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::OPPORTUNITIES_SUMMARY).await
}
