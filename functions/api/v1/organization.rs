//! `GET|PATCH|DELETE /api/v1/organization`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::ORGANIZATION).await
}
