//! Support shared by the integration tests (`api/`) and the benchmarks:
//! a Lambda Runtime API emulator, API Gateway event builders, loopback ports.

pub mod lambda;
pub mod net;
