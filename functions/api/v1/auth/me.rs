//! `GET|PATCH /api/v1/auth/me`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::AUTH_ME).await
}
