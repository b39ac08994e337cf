//! Support shared by the integration tests (`api/`) and the benchmarks:
//! a Lambda Runtime API emulator, API Gateway event builders, loopback ports,
//! a counting and delaying MongoDB wire proxy, and what the at-scale
//! benchmarks share.

pub mod bench_support;
pub mod lambda;
pub mod net;
pub mod wire_proxy;
