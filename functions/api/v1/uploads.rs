//! `POST /api/v1/uploads`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::UPLOADS).await
}
