//! warden's integration tests, one binary: each module is a concern, and the helpers they share
//! are the `warden_integration_tests` library (`tests/lib.rs`). One binary links once, which is
//! most of what a clean test build costs; the tests inside still run in parallel.
//!
//! Tests that instrument the whole process (a counting allocator, a tracing subscriber) live in
//! the `process` binary instead, where they run one at a time.

mod attacks;
mod authorization_server;
mod authz;
mod browser;
mod cache;
mod demo;
mod discovery;
mod downstream;
mod dpop;
mod fleet;
mod foundation;
mod grpc;
mod keys;
mod mcp;
mod providers;
mod ssf;
mod testing_guide;
mod vectors;
