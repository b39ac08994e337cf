//! `POST /api/v1/auth/password-reset`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::AUTH_PASSWORD_RESET).await
}
