//! Reconcile loops that run inside the daemon: the scheduler, namespaces
//! (defaults, service accounts, root CA, deletion), workloads, and the
//! endpoints and EndpointSlice controllers. They write
//! through `kinet_registry`, as every writer does.

#![forbid(unsafe_code)]

pub mod endpoints;
mod feed;
pub mod namespaces;
mod queue;
pub mod scheduler;
pub mod workloads;
