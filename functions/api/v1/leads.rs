//! `GET|POST /api/v1/leads`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::LEADS).await
}
