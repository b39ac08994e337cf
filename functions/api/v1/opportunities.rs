//! `GET|POST /api/v1/opportunities`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::OPPORTUNITIES).await
}
