//! `POST /api/v1/tasks/{id}/restore`
#[tokio::main]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::serve(&functions::routes::TASKS_ID_RESTORE).await
}
