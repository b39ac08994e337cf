//! `GET|POST /api/v1/tasks`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::TASKS).await
}
