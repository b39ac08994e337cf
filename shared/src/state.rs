//! What a function builds once per cold start and reuses across invocations.

use std::sync::Arc;
use std::time::Duration;

use mongodb::options::ClientOptions;
use mongodb::{Client, Database};

use crate::config::{Config, ConfigError};
use crate::cursor::CursorKey;
use crate::error::ApiError;
use crate::error::Code;
use crate::jwt::JwtKeys;
use crate::storage::Storage;

pub struct State {
    pub config: Config,
    pub(crate) client: Client,
    pub(crate) db: Database,
    pub(crate) jwt: JwtKeys,
    pub(crate) cursor: CursorKey,
    /// Built only for functions that handle files (`Route::storage`).
    pub(crate) storage: Option<Storage>,
    /// A bcrypt hash of a random password at the configured cost: unknown
    /// emails are verified against it so they take as long as wrong passwords.
    pub(crate) dummy_hash: tokio::sync::OnceCell<String>,
    /// What rate-limit windows are counted by (the system clock outside tests).
    pub(crate) clock: crate::time::Clock,
    /// The blocked client networks and when they were read
    /// (`runtime::layers::blocklist`).
    pub(crate) ip_blocks: tokio::sync::RwLock<Option<IpBlocks>>,
    /// The API keys this instance has read lately, by key id
    /// (`auth::apikeys`).
    pub(crate) api_keys: crate::apikey::Cache,
    /// Addresses whose invalid API keys spent their bucket (`auth::apikeys`).
    pub(crate) key_refusals: crate::apikey::Refusals,
}

/// When the blocklist was read, and the networks on it.
pub(crate) type IpBlocks = (std::time::Instant, Arc<Vec<ipnet::IpNet>>);

impl State {
    /// Reads the environment and builds the MongoDB client (a function
    /// binary then warms it: [`State::warm`]). A configuration error stops
    /// start-up; an unreachable database does not (the function still answers, with 503s, until it is back).
    /// With a storage opener (the route handles files), also builds the
    /// object-storage client, and refuses to start if storage is not
    /// configured.
    pub async fn init(
        storage: Option<crate::storage::Opener>,
        indexes: fn() -> Vec<crate::migrate::Index>,
    ) -> Result<Arc<State>, ConfigError> {
        crate::logging::init();
        let config = Config::from_env()?;
        let state = Self::from_config(config, storage).await?;
        if let crate::config::Deployment::Preview { branch } = &state.config.deployment {
            // A new branch's preview works with no manual step: its database
            // gets its indexes on the first cold start (idempotent after that).
            match state.migrate(&indexes()).await {
                Ok(applied) => tracing::info!(branch = %branch, database = state.database_name(),
                    applied = ?applied, "[MIGRATION] preview database ready"),
                Err(e) => {
                    tracing::error!(branch = %branch, error = %e, "[MIGRATION] preview migration failed")
                }
            }
        }
        Ok(state)
    }

    /// Builds the state without pinging (tests and tools that ping themselves).
    pub async fn from_config(
        config: Config,
        storage: Option<crate::storage::Opener>,
    ) -> Result<Arc<State>, ConfigError> {
        Self::from_config_with_clock(config, storage, crate::time::Clock::system()).await
    }

    /// [`State::from_config`] with the clock rate-limit windows are counted
    /// by (tests stop it at a window's start).
    pub async fn from_config_with_clock(
        config: Config,
        storage: Option<crate::storage::Opener>,
        clock: crate::time::Clock,
    ) -> Result<Arc<State>, ConfigError> {
        let storage = match (storage, &config.storage) {
            (None, _) => None,
            (Some(open), Some(s)) => Some(open(s)),
            (Some(_), None) => {
                return Err(ConfigError(
                    "S3_BUCKET is not set: this function stores files and needs a bucket".into(),
                ))
            }
        };
        let client = connect(&config).await?;
        let db = client.database(&config.mongodb_db);
        let jwt = JwtKeys::new(&config);
        let cursor = CursorKey::rotated(
            config.jwt_secret.expose(),
            config.jwt_secret_previous.as_ref().map(|p| p.expose()),
        );
        Ok(Arc::new(State {
            config,
            client,
            db,
            jwt,
            cursor,
            storage,
            dummy_hash: tokio::sync::OnceCell::new(),
            clock,
            ip_blocks: tokio::sync::RwLock::new(None),
            api_keys: Default::default(),
            key_refusals: Default::default(),
        }))
    }

    /// Opens connections the first request will use, so it does not pay
    /// for their handshakes: `pings` pings at once, up to the pool's size
    /// (the pool opens a connection for each, concurrently, as
    /// `max_connecting` allows), which costs the cold start one handshake
    /// and one round trip whatever their number.
    pub async fn warm(&self, pings: usize) {
        let n = pings.min(self.config.mongodb_pool.0 as usize);
        let pings = futures_util::future::join_all((0..n).map(|_| self.ping())).await;
        if let Some(Err(e)) = pings.into_iter().find(|p| p.is_err()) {
            tracing::warn!(
                code = e.code().as_str(),
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
                code: Code::DatabaseUnavailable,
                detail: "The database did not answer in time; retry shortly".into(),
            }),
        }
    }

    /// The storage client, or a 500 if this function was built without one
    /// (its route does not declare `storage`).
    pub fn storage(&self) -> Result<&Storage, ApiError> {
        self.storage
            .as_ref()
            .ok_or_else(|| ApiError::internal("this function was started without storage"))
    }

    /// A collection of the deployment's database, unscoped: for platform code
    /// that works across organizations (operator tasks, cleanups).
    pub(crate) fn collection(&self, name: &str) -> mongodb::Collection<bson::Document> {
        self.db.collection(name)
    }

    /// Applies every pending migration to this state's database and
    /// ensures the `derived` indexes (see [`crate::migrate::run`]); returns
    /// the ids applied.
    pub async fn migrate(
        &self,
        derived: &[crate::migrate::Index],
    ) -> Result<Vec<&'static str>, ApiError> {
        crate::migrate::run(&self.db, derived).await
    }

    /// The expected indexes the database lacks, and those it has that no
    /// migration or declaration calls for (see [`crate::migrate::check`]).
    pub async fn check_indexes(
        &self,
        derived: &[crate::migrate::Index],
    ) -> Result<(Vec<String>, Vec<String>), ApiError> {
        crate::migrate::check(&self.db, derived).await
    }

    /// The winning plan of a find on `collection` with `filter` and `sort`
    /// (a page of 26), as the server's planner chooses it.
    pub async fn explain_find(
        &self,
        collection: &str,
        filter: bson::Document,
        sort: bson::Document,
    ) -> Result<bson::Document, ApiError> {
        let plan = self
            .db
            .run_command(bson::doc! {
                "explain": { "find": collection, "filter": filter, "sort": sort, "limit": 26 },
                "verbosity": "queryPlanner",
            })
            .await?;
        Ok(plan
            .get_document("queryPlanner")
            .and_then(|q| q.get_document("winningPlan"))
            .cloned()
            .unwrap_or_default())
    }

    /// The server's `collStats` of `collection` (count, size, storage and
    /// index bytes).
    pub async fn collection_stats(&self, collection: &str) -> Result<bson::Document, ApiError> {
        Ok(self
            .db
            .run_command(bson::doc! { "collStats": collection })
            .await?)
    }

    /// The server's connection counts (`serverStatus.connections`: current,
    /// available, totalCreated), where the server reports them.
    pub async fn server_connections(&self) -> Result<Option<bson::Document>, ApiError> {
        let status = self
            .db
            .run_command(bson::doc! { "serverStatus": 1 })
            .await?;
        Ok(status.get_document("connections").ok().cloned())
    }

    /// The names of the database's collections.
    pub async fn list_collections(&self) -> Result<Vec<String>, ApiError> {
        Ok(self.db.list_collection_names().await?)
    }

    /// The database name this state works on.
    pub fn database_name(&self) -> &str {
        self.db.name()
    }
}

/// How many connections a cold start opens: the commands a signed-in
/// person's request sends at once on its first round trip (the caller's
/// read, with any record or page read beside it; the rate-limit count; an
/// idempotency reservation). Each is a handshake the local
/// one-command-at-a-time server answers in turn, so no more than that; an
/// API key's request (its use recorded, its own count) opens the rest as
/// it needs them.
pub const WARM_CONNECTIONS: usize = 3;

/// Builds the client with every wait bounded by `db_timeout`.
pub(crate) async fn connect(config: &Config) -> Result<Client, ConfigError> {
    let mut opts = ClientOptions::parse(config.mongodb_uri.expose())
        .await
        .map_err(|e| {
            ConfigError(format!(
                "MONGODB_URI is not a usable MongoDB URI: {}",
                e.kind
            ))
        })?;
    opts.server_selection_timeout = Some(config.db_timeout);
    opts.connect_timeout = Some(config.db_timeout);
    opts.max_idle_time = Some(Duration::from_secs(300));
    // Connections multiply with instances: concurrent instances x this
    // pool must stay under the cluster's connection limit.
    opts.max_pool_size = Some(config.mongodb_pool.0);
    opts.min_pool_size = Some(config.mongodb_pool.1);
    // The driver opens two connections at a time by default; a request's
    // first round trip (and the warm-up) needs up to three at once.
    opts.max_connecting = Some(config.mongodb_pool.0.min(WARM_CONNECTIONS as u32).max(2));
    opts.app_name.get_or_insert_with(|| "workshop-crm".into());
    Client::with_options(opts).map_err(|e| ConfigError(format!("MongoDB client: {}", e.kind)))
}
