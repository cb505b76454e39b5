//! kinet-linux: the kernel side of kinet — network namespaces, links, addresses, routes,
//! sysctls, nftables, and pod sandbox processes. This is the only kinet crate with
//! `unsafe` code and direct kernel calls.
//!
//! Everything here is **synchronous and blocking**; async callers wrap calls in
//! `tokio::task::spawn_blocking`. No call ever changes the calling thread's namespace:
//! work that must happen inside a namespace runs on a short-lived std thread that
//! `setns()`s into it (sockets opened there stay bound to that namespace), or in a child
//! process between `fork` and `exec`. Nothing spawns `ip`; links, addresses and routes
//! go over rtnetlink directly (one request + ACK per call).
//!
//! A *namespace path* (`ns: &Path`) is a file bound with [`netns::create`] or any
//! `/proc/PID/ns/net`.
//!
//! # API
//!
//! ```text
//! mod netns
//!   create(path: &Path) -> Result<()>              // like `ip netns add`, at any path; EEXIST if present
//!   delete(path: &Path) -> Result<()>              // umount(MNT_DETACH) + unlink; Ok if absent
//!   exists(path: &Path) -> bool                    // path refers to a namespace (nsfs)
//!   inode(path: &Path) -> Result<u64>              // equal inodes = same namespace
//!   run_in<T>(ns, f: FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T>   // f on a thread inside ns
//!
//! struct Netlink                                   // one rtnetlink socket bound to one netns
//!   open(ns: Option<&Path>) -> Result<Netlink>     // None = current netns
//!   veth_add(name, peer, peer_ns: Option<&Path>)   // peer created directly in peer_ns
//!   bridge_add(name) / dummy_add(name)             // EEXIST if present
//!   link_index(name) -> Result<Option<u32>>
//!   link_set_up(name) / link_set_down(name)
//!   link_set_master(name, master) / link_set_nomaster(name)
//!   link_set_netns(name, ns: &Path)
//!   link_set_mac(name, [u8; 6]) / link_set_mtu(name, u32)
//!   link_rename(name, new)                         // link must be down
//!   link_del(name) -> Result<bool>                 // false if it did not exist
//!   links() -> Result<Vec<LinkInfo>>               // name, index, kind, up, lower_up, mac, mtu, master, link
//!   addr_add(dev, IpAddr, prefix)                  // idempotent (EEXIST is Ok)
//!   addr_del(dev, IpAddr, prefix) -> Result<bool>
//!   addrs() -> Result<Vec<AddrInfo>>               // index, addr, prefix
//!   route_replace(&Route)                          // NLM_F_CREATE|NLM_F_REPLACE, idempotent
//!   route_del(&Route) -> Result<bool>              // false if there was no such route
//!   routes() -> Result<Vec<Route>>                 // main table, IPv4 unicast
//!   route_replace_with_protocol(&Route, proto: u8) // `ip route replace … proto 12` (bird)
//!   routes_with_protocol() -> Result<Vec<(Route, u8)>>
//! struct Route { dst: Ipv4Addr, prefix: u8, gateway: Option<Ipv4Addr>, dev: Option<String>,
//!                onlink: bool, src: Option<Ipv4Addr>, scope_link: bool }
//!   Route::new(dst, prefix).via(gw).dev("eth0").onlink().src(ip).scope_link(); Route::default_via(gw)
//!
//! sysctl_set(ns, key, value) -> Result<()>         // key like "net/ipv4/conf/cali1234/proxy_arp"
//! sysctl_set_many(ns, &[(key, value)]) -> Result<()>
//! sysctl_get(ns, key) -> Result<String>            // trailing newline trimmed
//!
//! mod sandbox
//!   struct HolderSpec { hostname: String, binds: Vec<(PathBuf, PathBuf)>, argv: Vec<String>,
//!                       netns: Option<PathBuf>,    // netns: Some = join it (hostNetwork)
//!                       tmpfs: Vec<PathBuf>,       // tmpfs in the pod's mount namespace
//!                       read_only: bool }          // the host's tree read-only in the pod
//!   spawn_holder(&HolderSpec) -> anyhow::Result<u32>        // pid; double-forked, setsid, stdio /dev/null
//!   join(&mut tokio::process::Command, pid, workdir: Option<&Path>) -> anyhow::Result<()>
//!   join_std(&mut std::process::Command, pid, workdir: Option<&Path>) -> anyhow::Result<()>
//!   join_with / join_std_with(cmd, pid, &JoinOptions { workdir, setsid, mounts })
//!   join_container(cmd, pid, &JoinOptions) -> anyhow::Result<mounts::Report>  // explain(err)
//!
//! mod mounts                                        // a container's own mount namespace
//!   struct ContainerMounts { binds: Vec<Bind { source, target, read_only }>, scratch: PathBuf,
//!                            layer: Option<Layer { tmpfs, overlays, private_dev, privileged }> }
//!   plan(&ContainerMounts, mountpoints, &dyn View) -> anyhow::Result<Plan>   // pure
//!   mountpoints(pid) -> anyhow::Result<Vec<PathBuf>>
//!   kill(pid, Signal::{Term,Kill,Int,Hup}) -> Result<()>    // Ok if gone
//!   is_alive(pid) -> bool                                   // false for zombies
//!   terminate(pid, grace: Duration) -> Result<bool>         // TERM, wait, KILL
//!
//! mod cni                                          // Calico's pod wiring, the one routine
//!   wire_pod(node_ns, pod_ns, veth, ip: Ipv4Addr) -> Result<(), WireError>
//!                                                  // veth cali… (proxy ARP, no proxy delay, forwarding,
//!                                                  // MAC ee:ee:…, IP/32 route) <-> pod eth0 (IP/32,
//!                                                  // 169.254.1.1 scope link, default via it onlink, lo up)
//!   wire(node_ns, pod_ns, &PodWiring::new(veth, ip).with_mtu(mtu))   // the same, with an MTU
//!   struct PodWiring { veth, ip }: node_sysctls(), node_route(), pod_routes()   // the pure plan
//!   POD_GATEWAY, POD_IFNAME, NODE_VETH_MAC
//!
//! nft_apply(ns, ruleset: &str) -> anyhow::Result<()>        // `nft -f -` inside ns; Err carries stderr
//! nft_run(ns, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String>   // stdout
//! nft_available() -> bool
//! ```
//!
//! Errors are [`Error`] (with [`Error::errno`], [`Error::is_exists`],
//! [`Error::is_not_found`]) or `anyhow::Error` where a child process is involved.
//!
//! # Example
//!
//! ```no_run
//! use std::path::Path;
//! use kinet_linux::{netns, Netlink, Route, sysctl_set};
//! # fn main() -> anyhow::Result<()> {
//! let (node, pod) = (Path::new("/run/kinet/lab/netns/node1"), Path::new("/run/kinet/lab/netns/pod1"));
//! netns::create(node)?;
//! netns::create(pod)?;
//! let mut n = Netlink::open(Some(node))?;
//! n.veth_add("cali1a2b3c4d5e6", "eth0", Some(pod))?;
//! n.link_set_up("cali1a2b3c4d5e6")?;
//! n.route_replace(&Route::new("10.1.1.5".parse()?, 32).dev("cali1a2b3c4d5e6").scope_link())?;
//! sysctl_set(node, "net/ipv4/conf/cali1a2b3c4d5e6/proxy_arp", "1")?;
//! let mut p = Netlink::open(Some(pod))?;
//! p.link_set_up("eth0")?;
//! p.addr_add("eth0", "10.1.1.5".parse()?, 32)?;
//! p.route_replace(&Route::default_via("169.254.1.1".parse()?).dev("eth0").onlink())?;
//! # Ok(()) }
//! ```

pub mod cni;
mod error;
pub mod mounts;
mod netlink;
pub mod netns;
mod nft;
pub mod pty;
pub mod sandbox;
mod sysctl;

pub use error::{Error, Result};
pub use netlink::{AddrInfo, LinkInfo, Netlink, Route};
pub use nft::{nft_apply, nft_available, nft_run};
pub use sysctl::{sysctl_get, sysctl_set, sysctl_set_many};
