//! `POST /api/v1/auth/login`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::AUTH_LOGIN).await
}
