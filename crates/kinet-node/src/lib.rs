//! The node agent (kubelet + CNI) of a kinet lab node: pod sandboxes as network
//! namespaces wired the Calico way, containers as host processes chosen by the
//! image catalog, pod status, logs and graceful termination. Also the lab's
//! network plan and its application.

#![forbid(unsafe_code)]

pub mod agent;
pub mod attach;
pub mod catalog;
pub mod env;
pub mod exec;
pub mod fieldpath;
pub mod files;
pub mod internet;
pub mod lab;
pub mod node;
pub mod plan;
mod pod;
pub mod podvolumes;
pub mod probe;
mod runner;
pub mod sandbox;
pub mod sources;
pub mod status;
mod stdio;
pub mod volumes;
