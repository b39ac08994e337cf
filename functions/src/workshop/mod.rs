//! The workshop context: the vehicles a workshop services, with their
//! odometer readings and service history ([`vehicles`]), and its parts
//! inventory, whose stock moves only by recorded movements ([`parts`]),
//! the work orders of its visits ([`work_orders`], their statuses moved
//! by [`transitions`], their [`lines`] and [`invoices`], all reading a
//! work order through [`order`]) and the calendar of its bays
//! ([`appointments`]). A work order's [`inspections`] rate the vehicle
//! item by item and recommend work. A work order's estimate or invoice is shared with
//! its customer by link ([`share`]). Technicians clock their shifts and
//! jobs ([`time_clock`]). The shop's [`canned_jobs`] add ready-made
//! groups of lines. The owner's figures are [`reports`], kept by day in
//! [`rollup`]. Parts are bought from vendors by purchase order and
//! received into stock ([`purchasing`]). Vehicles come due for service
//! by the shop's rules, and declined work is followed up
//! ([`reminders`]). [`routes`] serves them.
//!
//! The files import each other one way: `order`, `parts` and `kinds`
//! (the vehicle's words as field kinds) depend on no other workshop file; `vehicles` on `order`; `work_orders` on those;
//! `lines`, `invoices`, `transitions` and `appointments` on `work_orders`;
//! `share`, `inspections` and `canned_jobs` on `lines`; `time_clock` on
//! `order` and `rollup`; `rollup` on `order`; `reports` on `order`,
//! `rollup` and `time_clock`; `purchasing` on `parts`, `order` and
//! `work_orders`; `reminders` on `vehicles`, `order`, `canned_jobs`,
//! `transitions`, `lines` and `share` (it wraps their handlers);
//! `contract` and `routes` on all.

pub mod appointments;
pub mod canned_jobs;
pub mod contract;
pub mod inspections;
pub mod invoices;
pub mod kinds;
pub mod lines;
pub mod order;
pub mod parts;
pub mod pdf;
pub mod printouts;
pub mod purchasing;
pub mod reminders;
pub mod reports;
pub mod rollup;
pub mod routes;
pub mod share;
pub mod time_clock;
pub mod transitions;
pub mod vehicles;
pub mod work_orders;

/// The indexes this context needs beyond its entities' own (those come
/// from the declarations).
pub fn indexes() -> Vec<shared::migrate::Index> {
    let mut all = vehicles::indexes();
    all.extend(parts::indexes());
    all.extend(appointments::indexes());
    all.extend(inspections::indexes());
    all.extend(time_clock::indexes());
    all.extend(reports::indexes());
    all.extend(rollup::indexes());
    all.extend(reminders::indexes());
    all
}
