//! `GET|PATCH|DELETE /api/v1/tasks/{id}`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::TASKS_ID).await
}
