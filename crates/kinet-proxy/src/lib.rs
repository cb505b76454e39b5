//! kube-proxy's pure core: Services and EndpointSlices in, the rulesets
//! upstream kube-proxy writes out — iptables-restore input for its iptables
//! mode (MicroK8s's), an `nft -f` script for its nftables mode — plus packet
//! tracers over that output for tests. All of that is pure (no I/O); [`run`]
//! is the `kinet proxy` component that watches the API and applies the rules
//! in the node it runs in.

#![forbid(unsafe_code)]

#[cfg(test)]
mod behaviours;
pub mod fixtures;
pub mod iptables;
pub mod iptables_trace;
pub mod model;
pub mod names;
pub mod nftables;
pub mod nftables_trace;
pub mod run;
pub mod topology;

pub use iptables::{Config, Ruleset};
pub use model::{Endpoint, ProxyState, ServicePortInfo, ServicePortName};
