//! ecr-keeper's core: the ECR domain without I/O.
//!
//! Everything here is deterministic and tested without a network: time comes in as a value,
//! images come in as data.

pub mod aws;
pub mod custom_resource;
pub mod image;
pub mod invocation;
pub mod lifecycle;
pub mod ports;
pub mod repository;
