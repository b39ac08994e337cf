//! What a function builds once per cold start and reuses across invocations.

use std::sync::Arc;

use mongodb::{Client, Database};

use crate::auth::jwt::JwtKeys;
use crate::config::{Config, ConfigError};
use crate::cursor::CursorKey;
use crate::db;
use crate::error::ApiError;

pub struct State {
    pub config: Config,
    pub(crate) client: Client,
    pub(crate) db: Database,
    pub(crate) jwt: JwtKeys,
    pub(crate) cursor: CursorKey,
    /// A bcrypt hash of a random password at the configured cost: unknown
    /// emails are verified against it so they take as long as wrong passwords.
    pub(crate) dummy_hash: tokio::sync::OnceCell<String>,
}

impl State {
    /// Reads the environment, builds the MongoDB client and warms it with one
    /// ping. A configuration error stops start-up; an unreachable database
    /// does not (the function still answers, with 503s, until it is back).
    pub async fn init() -> Result<Arc<State>, ConfigError> {
        crate::logging::init();
        let config = Config::from_env()?;
        let state = Self::from_config(config).await?;
        state.warm().await;
        Ok(state)
    }

    /// Builds the state without pinging (tests and tools that ping themselves).
    pub async fn from_config(config: Config) -> Result<Arc<State>, ConfigError> {
        let client = db::connect(&config).await?;
        let db = client.database(&config.mongodb_db);
        let jwt = JwtKeys::new(&config);
        let cursor = CursorKey::derive(config.jwt_secret.expose());
        Ok(Arc::new(State {
            config,
            client,
            db,
            jwt,
            cursor,
            dummy_hash: tokio::sync::OnceCell::new(),
        }))
    }

    /// One ping, so the first request does not pay for the connection handshake.
    pub async fn warm(&self) {
        if let Err(e) = self.ping().await {
            tracing::warn!(
                code = e.code(),
                "[DATABASE_ERROR] warm-up ping failed; serving anyway"
            );
        }
    }

    /// Pings the database, bounded by the configured timeout.
    pub async fn ping(&self) -> Result<(), ApiError> {
        let ping = self.db.run_command(bson::doc! { "ping": 1 });
        match tokio::time::timeout(self.config.db_timeout, ping).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(ApiError::from_db(e)),
            Err(_) => Err(ApiError::Unavailable {
                code: "DATABASE_UNAVAILABLE",
                detail: "The database did not answer in time; retry shortly".into(),
            }),
        }
    }

    /// The database name this state works on.
    pub fn database_name(&self) -> &str {
        self.db.name()
    }
}
