//! `GET|POST /api/v1/accounts`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::ACCOUNTS).await
}
