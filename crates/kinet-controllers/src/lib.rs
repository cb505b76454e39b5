//! Reconcile loops that run inside the daemon: the scheduler, namespaces
//! (defaults, service accounts, root CA, deletion) and workloads. They write
//! through `kinet_registry`, as every writer does.

#![forbid(unsafe_code)]

pub mod namespaces;
pub mod scheduler;
pub mod workloads;
