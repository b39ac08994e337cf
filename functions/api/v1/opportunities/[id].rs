//! `GET|PATCH|DELETE /api/v1/opportunities/{id}`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::OPPORTUNITIES_ID).await
}
