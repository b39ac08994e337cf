//! The CRM entities' collections.

pub const ACCOUNTS: &str = "accounts";
pub const CONTACTS: &str = "contacts";
pub const LEADS: &str = "leads";
pub const OPPORTUNITIES: &str = "opportunities";
pub const TASKS: &str = "tasks";
pub const PRODUCTS: &str = "products";

/// All of them.
pub const ALL: [&str; 6] = [ACCOUNTS, CONTACTS, LEADS, OPPORTUNITIES, TASKS, PRODUCTS];
