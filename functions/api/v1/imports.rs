//! `POST /api/v1/imports`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::IMPORTS).await
}
