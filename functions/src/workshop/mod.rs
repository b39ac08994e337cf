//! The workshop context: the vehicles a workshop services, with their
//! odometer readings and service history ([`vehicles`]), and its parts
//! inventory, whose stock moves only by recorded movements ([`parts`]).

pub mod parts;
pub mod vehicles;

/// The indexes this context needs beyond its entities' own (those come
/// from the declarations).
pub fn indexes() -> Vec<shared::migrate::Index> {
    let mut all = vehicles::indexes();
    all.extend(parts::indexes());
    all
}
