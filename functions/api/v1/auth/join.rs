//! `POST /api/v1/auth/join`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::AUTH_JOIN).await
}
