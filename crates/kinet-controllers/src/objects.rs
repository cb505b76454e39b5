//! The registry's helpers under their old names, for the callers not yet switched
//! to `kinet_registry` (workloads, the node agent). To be removed once they are.

pub use kinet_registry::{create, key_of, now, resource};
