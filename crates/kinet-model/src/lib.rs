//! Kubernetes objects for kinet: resource registry, selectors, validation,
//! defaulting, server-side table columns, patches and allocators. Pure: no I/O.

#![forbid(unsafe_code)]

pub mod admission;
pub mod alloc;
pub mod defaults;
pub mod ipam;
pub mod json;
pub mod lab;
pub mod names;
pub mod patch;
pub mod pod;
pub mod proto;
pub mod quantity;
pub mod quote;
pub mod resources;
pub mod secret;
pub mod selector;
pub mod table;
pub mod validation;
