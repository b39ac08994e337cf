//! `GET|POST /api/v1/contacts`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::CONTACTS).await
}
