//! The event recorder, now `kinet_registry::events`, under its old name for the
//! callers not yet switched (workloads, the node agent). To be removed once they are.

pub use kinet_registry::events::{Source, record};
