//! The CRM context: the record entities a workshop keeps about its
//! customers and sales (accounts, contacts, leads, opportunities, tasks,
//! products), each one declaration the record engine serves, plus what is
//! particular to some: a lead's conversion (`leads::convert`) and the
//! opportunity pipeline summary (`opportunities::summary`), and the public
//! forms that post leads from a workshop's website ([`forms`]); a
//! contact's email consent and one-click unsubscribe ([`consent`]).

pub mod accounts;
pub mod collections;
pub mod consent;
pub mod contacts;
pub mod contract;
pub mod forms;
pub mod leads;
pub mod opportunities;
pub mod products;
pub mod routes;
pub mod tasks;
