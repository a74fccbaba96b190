//! ecr-keeper's core: the ECR domain without I/O.
//!
//! Everything here is deterministic and tested without a network: time comes in as a value,
//! images come in as data.

pub mod alerts;
pub mod audit;
pub mod config;
pub mod cost;
pub mod custom_resource;
pub mod events;
pub mod findings;
pub mod html;
pub mod image;
pub mod lifecycle;
pub mod markdown;
pub mod metrics;
pub mod organization;
pub mod ports;
pub mod reactions;
pub mod registry;
pub mod repository;
pub mod run;
pub mod scanning;
pub mod tag_match;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod workloads;
