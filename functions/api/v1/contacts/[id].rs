//! `GET|PATCH|DELETE /api/v1/contacts/{id}`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::CONTACTS_ID).await
}
