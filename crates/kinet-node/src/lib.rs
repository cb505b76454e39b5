//! The node agent (kubelet + CNI) of a kinet lab node: pod sandboxes as network
//! namespaces wired the Calico way, containers as host processes chosen by the
//! image catalog, pod status, logs and graceful termination. Also the lab's
//! network plan and its application.

#![forbid(unsafe_code)]

pub mod agent;
pub mod attach;
pub mod catalog;
pub mod exec;
pub mod files;
pub mod lab;
pub mod plan;
pub mod podvolumes;
pub mod probe;
pub mod status;
pub mod volumes;
