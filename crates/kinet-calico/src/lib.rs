//! calico-node's job on a kinet node, as Calico does it: routes to the other
//! nodes' pod CIDRs, NAT outgoing for pod traffic leaving the pod CIDR,
//! ip_forward and the pods' MTU. A pure plan (objects in, desired state out)
//! and a thin runner that talks to the API through kube-rs only.
//!
//! ```text
//! plan::NodeInfo::from_node(&Node)                 // spec.podCIDR, InternalIP
//! plan::routes(&nodes, me) -> Vec<NodeRoute>       // `<cidr> via <ip> dev eth0 proto bird`
//! plan::route_diff(want, owned) -> (replace, delete)
//! plan::nat_restore(pool, current_save) -> String  // iptables-restore --noflush input
//! plan::rule_hashes(chain, bodies)                 // felix's `cali:<hash>` comments
//! apply::Target { netns: Option<PathBuf> }         // the node's netns (None = this one)
//!   .routes(&want) / .nat(pool) / .sysctls()       // idempotent, never removes on exit
//! cni::veth_mtu(CNI_MTU, lan_mtu) -> Result<u32>  // calico-config's veth_mtu; "0" = auto (LAN MTU - 0)
//! cni::conflist(node, mtu) / cni::install(dir, text)   // install-cni: /etc/cni/net.d/10-calico.conflist
//! run::node(NodeOptions) / run::controllers(ControllersOptions)   // `kinet calico node|controllers`
//! health::Health, serve(h, host, port), check(host, port, path)  // felix 9099, kube-controllers 9094
//! info!/warning!/error!(pid, "file.go 42", …)      // `2026-12-01 12:00:00.000 [INFO][1] file.go 42: …`
//! ```

#![forbid(unsafe_code)]

pub mod apply;
pub mod cni;
pub mod health;
pub mod log;
pub mod plan;
pub mod policy;
pub mod run;
