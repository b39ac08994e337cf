//! The workshop context: the vehicles a workshop services, with their
//! odometer readings and service history ([`vehicles`]).

pub mod vehicles;

/// The indexes this context needs beyond its entities' own (those come
/// from the declarations).
pub fn indexes() -> Vec<shared::migrate::Index> {
    vehicles::indexes()
}
