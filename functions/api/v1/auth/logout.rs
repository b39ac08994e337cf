//! `POST /api/v1/auth/logout`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::AUTH_LOGOUT).await
}
