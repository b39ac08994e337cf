//! `GET|PATCH|DELETE /api/v1/products/{id}`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::PRODUCTS_ID).await
}
