//! Preview deployments: a branch's function works on its own database,
//! migrated on its first cold start, and never on production's.

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
    let port = tests::net::free_port();
    let _child = tokio::process::Command::new(tests::lambda::function_binary("health", "debug"))
        .env_clear()
        .envs(&env)
        .env("PORT", port.to_string())
        .env("LOG_LEVEL", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("function starts");
    tests::net::wait_for_port(port).await;
    let status = reqwest::get(format!("http://127.0.0.1:{port}/api/v1/health"))
        .await
        .unwrap()
        .status();
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
