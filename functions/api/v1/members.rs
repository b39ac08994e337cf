//! `GET|POST /api/v1/members`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::MEMBERS).await
}
