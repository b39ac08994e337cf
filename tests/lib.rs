//! Support shared by the integration tests (`api/`) and the benchmark
//! (`bench.rs`): a Lambda Runtime API emulator and API Gateway event builders.

pub mod lambda;
