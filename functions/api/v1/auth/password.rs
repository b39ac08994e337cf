//! `POST /api/v1/auth/password`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::AUTH_PASSWORD).await
}
