//! `GET /api/v1/auth/sessions`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::AUTH_SESSIONS).await
}
