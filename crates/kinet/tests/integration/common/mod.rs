//! Shared test harness: real labs (named uniquely, removed even on failure) and
//! the machine's kubectl binaries.

mod lab;

pub use lab::*;
