//! The files context: documents attached to CRM records, kept in object
//! storage and moved by presigned URLs ([`documents`]). The [`handlers`]
//! declare the entity and parse requests; these rules decide.

pub mod contract;
pub mod documents;
pub mod handlers;
pub mod routes;
