//! kinet's integration tests, one binary: real labs driven by the machine's
//! kubectl, kube-rs and the course's commands. Run as root:
//! `cargo test -p kinet --test integration -- --test-threads=2`.
//!
//! One module per subject; `common` holds the shared harness. To add a module,
//! put `NAME.rs` beside this file, start it with `use crate::common::*;` and
//! add `mod NAME;` below.

mod common;

mod api_robustness;
mod boundary;
mod churn;
mod course;
mod dns;
mod endpoints;
mod field_types;
mod host_fs;
mod interactive;
mod internet;
mod kube_rs;
mod kubectl;
mod lab;
mod list_params;
mod mtu;
mod policy;
mod services;
mod services_api;
mod ssh;
mod streaming;
mod volumes;
