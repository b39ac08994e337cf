//! `GET|PATCH|DELETE /api/v1/members/{id}`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::MEMBERS_ID).await
}
