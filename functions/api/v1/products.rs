//! `GET|POST /api/v1/products`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::PRODUCTS).await
}
