//! `DELETE /api/v1/invitations/{id}`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::INVITATIONS_ID).await
}
