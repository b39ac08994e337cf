//! `GET|PATCH|DELETE /api/v1/accounts/{id}`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::ACCOUNTS_ID).await
}
