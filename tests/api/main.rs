//! Integration tests: the API over real HTTP against a real MongoDB-wire
//! server (started by `scripts/test.sh`, or any server `MONGODB_URI` names).
//! Every test gets its own database, so tests run in parallel.

mod helpers;
mod mailbox;

mod accounts;
mod addresses;
mod admin_cli;
mod api_keys;
mod appointments;
mod audit_log;
mod auth;
mod bad_input;
mod browser;
mod cleanup;
mod conversion;
mod deploy_files;
mod documents;
mod email;
mod entities;
mod events;
mod faults;
mod forms;
mod hardening;
mod hardening_ii;
mod idempotency;
mod indexes;
mod inspections;
mod invitations;
mod invoices;
mod lambda;
mod matrix;
mod member_admin;
mod members;
mod openapi;
mod organization;
mod parts;
mod platform;
mod preview;
mod printouts;
mod profile;
mod rate_limit;
mod rbac;
mod round_trips;
mod runbook;
mod seed;
mod share_links;
mod sync;
mod tenancy;
mod tokens;
mod transfer;
mod vehicles;
mod webhook_delivery;
mod webhooks;
mod work_order_rules;
mod work_orders;
