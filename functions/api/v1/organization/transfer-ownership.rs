//! `POST /api/v1/organization/transfer-ownership`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::ORGANIZATION_TRANSFER_OWNERSHIP).await
}
