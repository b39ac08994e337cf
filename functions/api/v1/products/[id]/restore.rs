//! `POST /api/v1/products/{id}/restore`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::PRODUCTS_ID_RESTORE).await
}
