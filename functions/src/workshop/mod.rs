//! The workshop context: the vehicles a workshop services, with their
//! odometer readings and service history ([`vehicles`]), and its parts
//! inventory, whose stock moves only by recorded movements ([`parts`]),
//! the work orders of its visits ([`work_orders`], [`lines`],
//! [`invoices`]) and the calendar of its bays ([`appointments`]).

pub mod appointments;
pub mod contract;
pub mod invoices;
pub mod lines;
pub mod parts;
pub mod vehicles;
pub mod work_orders;

/// The indexes this context needs beyond its entities' own (those come
/// from the declarations).
pub fn indexes() -> Vec<shared::migrate::Index> {
    let mut all = vehicles::indexes();
    all.extend(parts::indexes());
    all.extend(appointments::indexes());
    all
}
