//! The route table's vocabulary: a [`Route`] (a path, one [`Endpoint`] per
//! method, what its function needs to be deployed) and the [`RouteTable`]
//! that matches a path to its route by specificity.

use std::sync::Arc;

use http::Method;

use super::openapi::{Doc, Op};
use super::{BoxFuture, Handler};
use crate::error::ApiError;
use crate::http::percent_decode;
use crate::rbac::{Access, KeyScope};
use crate::state::State;
use crate::storage::S3Permission;

/// One entry of the route table: a path and, for each method, who may call
/// it and the function that answers it. The table in `functions::routes` is
/// the single source of truth for the local server, the function binaries
/// and the deployment files.
pub struct Route {
    /// The function's name (binary, Lambda function, Vercel function).
    pub name: &'static str,
    /// The path pattern, with `{name}` for a path parameter.
    pub path: &'static str,
    pub methods: &'static [Endpoint],
    pub deploy: Deploy,
}

/// One method of a route: its own handler, so no handler switches on the
/// method.
pub struct Endpoint {
    pub method: Method,
    pub access: Access,
    pub handler: Handler,
    /// Its contract in the OpenAPI document (see [`super::openapi`]).
    pub doc: Doc,
    /// What the handler reads first, read in the same round trip as the
    /// caller (within the token's organization, once its signature is
    /// verified) and handed to the handler only when the caller is let
    /// through: never what a write decides on alone.
    pub prefetch: Option<Prefetch>,
    /// What an API key must hold to call it (every method that needs a
    /// signed-in caller declares one; the OpenAPI document shows it as
    /// `x-required-scope`).
    pub scope: KeyScope,
}

/// What an endpoint reads beside the caller.
#[derive(Clone, Copy)]
pub enum Prefetch {
    /// The live record of this entity named by the path's `{id}`.
    Record(&'static crate::records::Entity),
    /// The page of this entity's list the query string asks for.
    Page(&'static crate::records::Entity),
}

impl Endpoint {
    pub const fn get(access: Access, handler: Handler) -> Endpoint {
        Endpoint {
            method: Method::GET,
            access,
            handler,
            doc: Doc::Missing,
            prefetch: None,
            scope: KeyScope::Undeclared,
        }
    }

    pub const fn post(access: Access, handler: Handler) -> Endpoint {
        Endpoint {
            method: Method::POST,
            access,
            handler,
            doc: Doc::Missing,
            prefetch: None,
            scope: KeyScope::Undeclared,
        }
    }

    pub const fn put(access: Access, handler: Handler) -> Endpoint {
        Endpoint {
            method: Method::PUT,
            access,
            handler,
            doc: Doc::Missing,
            prefetch: None,
            scope: KeyScope::Undeclared,
        }
    }

    pub const fn patch(access: Access, handler: Handler) -> Endpoint {
        Endpoint {
            method: Method::PATCH,
            access,
            handler,
            doc: Doc::Missing,
            prefetch: None,
            scope: KeyScope::Undeclared,
        }
    }

    /// An `OPTIONS` the route answers itself (a CORS preflight that depends
    /// on the record addressed); without one the CORS layer answers.
    pub const fn options(access: Access, handler: Handler) -> Endpoint {
        Endpoint {
            method: Method::OPTIONS,
            access,
            handler,
            doc: Doc::Hidden,
            prefetch: None,
            scope: KeyScope::Undeclared,
        }
    }

    /// The same endpoint with its contract.
    pub const fn doc(mut self, doc: Doc) -> Endpoint {
        self.doc = doc;
        self
    }

    /// The same endpoint reading its `{id}` record of `e` beside the
    /// caller's read (see [`Endpoint::prefetch`]).
    pub const fn prefetch(mut self, e: &'static crate::records::Entity) -> Endpoint {
        self.prefetch = Some(Prefetch::Record(e));
        self
    }

    /// The same endpoint reading the page of `e`'s list it is asked for
    /// beside the caller's read (see [`Endpoint::prefetch`]).
    pub const fn prefetch_page(mut self, e: &'static crate::records::Entity) -> Endpoint {
        self.prefetch = Some(Prefetch::Page(e));
        self
    }

    /// The same endpoint open to API keys holding `<resource>:read`.
    pub const fn read(mut self, resource: &'static str) -> Endpoint {
        self.scope = KeyScope::Read(resource);
        self
    }

    /// The same endpoint open to API keys holding `<resource>:write`.
    pub const fn write(mut self, resource: &'static str) -> Endpoint {
        self.scope = KeyScope::Write(resource);
        self
    }

    /// The same endpoint refusing API keys: a person's route.
    pub const fn no_keys(mut self) -> Endpoint {
        self.scope = KeyScope::Refused;
        self
    }

    /// The same endpoint with a declared operation.
    pub const fn op(self, op: &'static Op) -> Endpoint {
        self.doc(Doc::Op(op))
    }

    pub const fn delete(access: Access, handler: Handler) -> Endpoint {
        Endpoint {
            method: Method::DELETE,
            access,
            handler,
            doc: Doc::Missing,
            prefetch: None,
            scope: KeyScope::Undeclared,
        }
    }
}

/// What a route's function needs beyond HTTP: storage and a schedule.
#[derive(Clone, Copy, Debug)]
pub struct Deploy {
    /// What the function may do in the bucket. Non-empty: it builds the
    /// storage client at cold start (and gets exactly these IAM actions).
    pub storage: &'static [S3Permission],
    /// A scheduled function: run by EventBridge on Lambda and by a cron
    /// request (`GET` with `Bearer $CRON_SECRET`) elsewhere.
    pub schedule: Option<Schedule>,
    /// How the function builds its storage client at cold start: set with
    /// [`Deploy::storage`], so only a binary whose route declares storage
    /// names (and links) the S3 client.
    pub open_storage: Option<crate::storage::Opener>,
    /// The memory and timeout it gets on either platform.
    pub sizing: Sizing,
}

/// What a function gets on either platform: memory (Lambda gives CPU in
/// proportion to it) and the longest a request may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizing {
    pub memory_mb: u32,
    pub timeout_s: u32,
}

impl Sizing {
    /// An API function: answers in milliseconds with about 15 MiB resident.
    pub const API: Sizing = Sizing {
        memory_mb: 256,
        timeout_s: 10,
    };
    /// A function that runs bcrypt on its request, which wants CPU.
    pub const PASSWORD: Sizing = Sizing {
        memory_mb: 512,
        timeout_s: 10,
    };
    /// A function that moves up to 50,000 rows per request; API Gateway's
    /// HTTP API waits 30 s for an integration at most.
    pub const BULK: Sizing = Sizing {
        memory_mb: 1024,
        timeout_s: 29,
    };
    /// A scheduled function, running batches for minutes.
    pub const SCHEDULED: Sizing = Sizing {
        memory_mb: 512,
        timeout_s: 300,
    };
}

impl Deploy {
    /// An API function: no storage, no schedule.
    pub const API: Deploy = Deploy {
        storage: &[],
        schedule: None,
        open_storage: None,
        sizing: Sizing::API,
    };

    /// A function that handles files with these permissions.
    pub const fn storage(storage: &'static [S3Permission]) -> Deploy {
        Deploy {
            storage,
            schedule: None,
            open_storage: if storage.is_empty() {
                None
            } else {
                Some(crate::storage::Storage::s3)
            },
            sizing: Sizing::API,
        }
    }

    /// The same function, run on a schedule (and sized for it).
    pub const fn scheduled(self, schedule: Schedule) -> Deploy {
        Deploy {
            schedule: Some(schedule),
            sizing: Sizing::SCHEDULED,
            ..self
        }
    }

    /// The same function with `sizing`.
    pub const fn sized(self, sizing: Sizing) -> Deploy {
        Deploy { sizing, ..self }
    }
}

/// When and what a scheduled function runs.
#[derive(Clone, Copy)]
pub struct Schedule {
    /// Five-field cron in UTC, as Vercel takes it (`0 3 * * *`).
    pub cron: &'static str,
    pub run: Job,
}

/// A scheduled job: does one bounded run and reports what it did.
pub type Job = fn(Arc<State>) -> BoxFuture<Result<crate::jobs::Report, ApiError>>;

impl std::fmt::Debug for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schedule")
            .field("cron", &self.cron)
            .finish()
    }
}

impl Schedule {
    /// The same schedule as an EventBridge expression: `cron(0 3 * * ? *)`.
    pub fn eventbridge(&self) -> String {
        let f: Vec<&str> = self.cron.split_whitespace().collect();
        let (dom, dow) = if f[4] == "*" {
            (f[2], "?")
        } else {
            ("?", f[4])
        };
        format!("cron({} {} {dom} {} {dow} *)", f[0], f[1], f[3])
    }
}

/// The routes one process serves, matched by specificity (matchit, as
/// axum does): a static segment wins over a parameter whatever the order of
/// the table, and two patterns that would match the same paths are refused
/// when the table is built, not discovered by a request.
pub struct RouteTable {
    router: matchit::Router<&'static Route>,
    len: usize,
}

impl RouteTable {
    /// Builds the table once per process (it lives as long as the process).
    pub fn leak(routes: &[&'static Route]) -> Result<&'static RouteTable, String> {
        let mut router = matchit::Router::new();
        for route in routes {
            router
                .insert(route.path, *route)
                .map_err(|e| format!("route {} ({}): {e}", route.name, route.path))?;
        }
        Ok(Box::leak(Box::new(RouteTable {
            router,
            len: routes.len(),
        })))
    }

    /// The route `path` names, with its path parameters percent-decoded. A
    /// trailing slash is ignored; an empty parameter matches nothing.
    pub fn find(&self, path: &str) -> Option<(&'static Route, Vec<(String, String)>)> {
        let path = path
            .strip_suffix('/')
            .filter(|p| !p.is_empty())
            .unwrap_or(path);
        let matched = self.router.at(path).ok()?;
        let params = matched
            .params
            .iter()
            .map(|(k, v)| (k.to_string(), percent_decode(v, false)))
            .collect();
        Some((*matched.value, params))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Route {
    /// The endpoint of `method`, if the route has one.
    pub fn endpoint(&self, method: &Method) -> Option<&'static Endpoint> {
        self.methods.iter().find(|e| e.method == *method)
    }

    /// The platform's time limit for one request of this route (its
    /// function's timeout): a request still at work past it has been cut
    /// off, so an Idempotency-Key it held may be taken over then.
    pub fn hard_limit(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.deploy.sizing.timeout_s))
    }

    /// The `Allow` header value.
    pub fn allow(&self) -> String {
        let mut verbs: Vec<&str> = self.methods.iter().map(|e| e.method.as_str()).collect();
        if !verbs.contains(&"OPTIONS") {
            verbs.push("OPTIONS");
        }
        verbs.join(", ")
    }
}

/// A route with the Rust path of its static (what its function binary
/// names): a context's table is a list of these.
pub type Named = (&'static Route, &'static str);

/// A context's route table: `pub static ROUTES: &[Named]`, its own route
/// statics and, for each entity line (`accounts = "accounts" =>
/// crate::crm::accounts::ACCOUNT`), the three routes
/// [`crate::entity_routes!`] makes for it, each with the Rust path of its
/// static; and `pub static ENTITIES`, each entity with its path segment
/// (the entity registry concatenates these).
#[macro_export]
macro_rules! named_routes {
    (
        routes { $($route:ident),* $(,)? }
        $(entities { $($module:ident = $plural:literal => $entity:path),* $(,)? })?
    ) => {
        $($($crate::entity_routes!($module = $plural => $entity);)*)?

        /// Every route of this context, with the Rust path of its static.
        pub static ROUTES: &[$crate::runtime::Named] = &[
            $((&$route, concat!(module_path!(), "::", stringify!($route))),)*
            $($(
                (&$module::LIST, concat!(module_path!(), "::", stringify!($module), "::LIST")),
                (&$module::ITEM, concat!(module_path!(), "::", stringify!($module), "::ITEM")),
                (&$module::RESTORE, concat!(module_path!(), "::", stringify!($module), "::RESTORE")),
            )*)?
        ];

        /// This context's entities, each with its path segment
        /// (`/api/v1/<segment>`).
        pub static ENTITIES: &[(&str, &$crate::records::Entity)] = &[
            $($(($plural, &$entity),)*)?
        ];
    };
}

/// The routes of a declared entity, in a module of its name:
/// `accounts::LIST` (`GET|POST /api/v1/accounts`), `accounts::ITEM`
/// (`GET|PATCH|DELETE /api/v1/accounts/{id}`) and `accounts::RESTORE`
/// (`POST /api/v1/accounts/{id}/restore`), answered by
/// [`crate::runtime::entity`]'s handlers, each method needing its record
/// permission (`Configure` for an `admin_only` entity).
#[macro_export]
macro_rules! entity_routes {
    ($module:ident = $plural:literal => $entity:path) => {
        pub mod $module {
            use $crate::rbac::Permission::{
                CreateRecords, DeleteRecords, ReadRecords, UpdateRecords,
            };
            use $crate::runtime::entity::{
                handle_create, handle_delete, handle_get, handle_list, handle_restore,
                handle_update,
            };
            use $crate::runtime::openapi::Doc;
            use $crate::runtime::{Deploy, Endpoint, Route};

            pub static LIST: Route = Route {
                name: $plural,
                path: concat!("/api/v1/", $plural),
                methods: &[
                    Endpoint::get(
                        $entity.access(ReadRecords),
                        $crate::handler!(handle_list, &$entity),
                    )
                    .prefetch_page(&$entity)
                    .read($plural)
                    .doc(Doc::List(&$entity)),
                    Endpoint::post(
                        $entity.access(CreateRecords),
                        $crate::handler!(handle_create, &$entity),
                    )
                    .write($plural)
                    .doc(Doc::Create(&$entity)),
                ],
                deploy: Deploy::API,
            };

            pub static ITEM: Route = Route {
                name: concat!($plural, "-id"),
                path: concat!("/api/v1/", $plural, "/{id}"),
                methods: &[
                    Endpoint::get(
                        $entity.access(ReadRecords),
                        $crate::handler!(handle_get, &$entity),
                    )
                    .prefetch(&$entity)
                    .read($plural)
                    .doc(Doc::Get(&$entity)),
                    Endpoint::patch(
                        $entity.access(UpdateRecords),
                        $crate::handler!(handle_update, &$entity),
                    )
                    .prefetch(&$entity)
                    .write($plural)
                    .doc(Doc::Update(&$entity)),
                    Endpoint::delete(
                        $entity.access(DeleteRecords),
                        $crate::handler!(handle_delete, &$entity),
                    )
                    .write($plural)
                    .doc(Doc::Delete(&$entity)),
                ],
                deploy: Deploy::API,
            };

            pub static RESTORE: Route = Route {
                name: concat!($plural, "-id-restore"),
                path: concat!("/api/v1/", $plural, "/{id}/restore"),
                methods: &[Endpoint::post(
                    $entity.access(DeleteRecords),
                    $crate::handler!(handle_restore, &$entity),
                )
                .write($plural)
                .doc(Doc::Restore(&$entity))],
                deploy: Deploy::API,
            };
        }
    };
}
