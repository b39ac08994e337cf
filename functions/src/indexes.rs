//! Every index the migration creates: those the registry's entity
//! declarations call for, and those the contexts need beyond them (the
//! workshop's, the forms', the audit log's). Every function binary hands
//! [`all`] to the runtime (a preview deployment's first cold start creates them);
//! it names no handler, so a binary links no other route through it. No
//! module imports this one.

/// The indexes the migration creates, in one list.
pub fn all() -> Vec<shared::migrate::Index> {
    let mut all = shared::records::indexes_of(&crate::registry::ENTITIES);
    all.extend(crate::workshop::indexes());
    all.extend(crate::crm::forms::indexes());
    all.extend(crate::identity::audit_log::indexes());
    all.extend(crate::identity::webhooks::indexes());
    all
}
