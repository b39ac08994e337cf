//! `POST /api/v1/contacts/{id}/restore`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::CONTACTS_ID_RESTORE).await
}
