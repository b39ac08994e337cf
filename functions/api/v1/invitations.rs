//! `GET|POST /api/v1/invitations`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::INVITATIONS).await
}
