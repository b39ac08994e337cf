//! `DELETE /api/v1/auth/sessions/{id}`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::AUTH_SESSIONS_ID).await
}
