//! `POST /api/v1/auth/register`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::AUTH_REGISTER).await
}
