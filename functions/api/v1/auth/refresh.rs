//! `POST /api/v1/auth/refresh`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::AUTH_REFRESH).await
}
