//! `PUT /api/v1/organization/plan`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::ORGANIZATION_PLAN).await
}
