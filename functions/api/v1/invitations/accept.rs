//! `POST /api/v1/invitations/accept`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::INVITATIONS_ACCEPT).await
}
