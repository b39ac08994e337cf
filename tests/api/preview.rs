//! Preview deployments: a branch's function works on its own database,
//! migrated on its first cold start, and never on production's.

use std::time::Duration;

use bson::doc;
use shared::config::PreviewNames;

use crate::helpers::*;

#[tokio::test]
async fn a_preview_migrates_its_own_database_on_first_start_and_serves_from_it() {
    let base = format!("p{}", &unique_db_name()[2..14]);
    let mut env = test_env(&base);
    env.insert("VERCEL_ENV".into(), "preview".into());
    env.insert(
        "VERCEL_GIT_COMMIT_REF".into(),
        "feature/Ölwechsel-Termine".into(),
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _child = tokio::process::Command::new(tests::lambda::function_binary("health", "debug"))
        .env_clear()
        .envs(&env)
        .env("PORT", port.to_string())
        .env("LOG_LEVEL", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("function starts");
    let client = reqwest::Client::new();
    let mut status = 0;
    for _ in 0..200 {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/api/v1/health"))
            .send()
            .await
        {
            status = r.status().as_u16();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 200);

    let names = PreviewNames::derive(&base, "feature/Ölwechsel-Termine");
    assert!(names
        .database
        .starts_with(&format!("{base}_preview_feature-lwechsel-termine_")));
    let mongo = mongodb::Client::with_uri_str(mongodb_uri()).await.unwrap();
    let applied = mongo
        .database(&names.database)
        .collection::<bson::Document>("schema_migrations")
        .count_documents(doc! {})
        .await
        .unwrap();
    assert!(applied >= 5, "the preview database was migrated: {applied}");
    let production = mongo
        .database(&base)
        .collection::<bson::Document>("schema_migrations")
        .count_documents(doc! {})
        .await
        .unwrap();
    assert_eq!(
        production, 0,
        "the configured (production) database was not touched"
    );
}
