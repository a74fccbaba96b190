//! Every moto, cargo-lambda, browser and end-to-end test, in one test binary: the ten AWS SDKs
//! are linked once instead of once a file, and the files' tests share the two cores rather than
//! waiting file by file. `cargo test --workspace --test moto <file>::` runs one file
//! (`--workspace`, so that the features, and the build, are the ones `make unit` made).

mod alerts;
mod audit;
mod cloudwatch_bridge;
mod conformance;
mod cost;
mod custom_resource;
mod data_safety;
mod demo;
mod end_to_end;
mod fault_matrix;
mod harness;
mod html_report;
mod in_use;
mod organization;
mod reactions;
mod resilience;
mod scheduled_run;
