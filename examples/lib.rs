//! The warden examples: the Orders demo's router lives here so the integration tests can drive
//! the same app the demo serves.
#![forbid(unsafe_code)]

pub mod grpc;
pub mod mcp;
pub mod orders;
pub mod startup;
pub mod walkthrough;
