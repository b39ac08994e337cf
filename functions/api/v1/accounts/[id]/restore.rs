//! `POST /api/v1/accounts/{id}/restore`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::ACCOUNTS_ID_RESTORE).await
}
