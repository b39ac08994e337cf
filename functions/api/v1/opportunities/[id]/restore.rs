//! `POST /api/v1/opportunities/{id}/restore`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::OPPORTUNITIES_ID_RESTORE).await
}
