//! A pod's sandbox, as kubelet and the CNI plugin make it: the pod's files
//! (hosts, resolv.conf, hostname), its holder process (the pod's namespaces), an
//! address from the node's pod CIDR (host-local IPAM) and the Calico wiring
//! ([`kinet_linux::cni::wire`]) with the MTU of the node's CNI network config
//! (`/etc/cni/net.d/10-calico.conflist` in the node's root, which calico-node
//! writes; read for each new pod, so existing pods keep theirs).

use crate::agent::Agent;
use crate::{files, plan};
use anyhow::{Context, Result};
use kinet_linux::sandbox;
use kinet_model::ipam::{self, Cidr};
use kinet_model::json::{bool_at, str_at};
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The id of a pod's sandbox (as `crictl pods` shows it): 64 hex digits from the pod UID.
pub fn sandbox_id(uid: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(format!("sandbox/{uid}").as_bytes()))
}

/// The pod addresses of one node (host-local IPAM over its pod CIDR).
pub struct Ipam {
    cidr: Cidr,
    used: Mutex<BTreeSet<Ipv4Addr>>,
}

impl Ipam {
    pub fn new(cidr: Cidr) -> Ipam {
        Ipam {
            cidr,
            used: Mutex::new(BTreeSet::new()),
        }
    }

    fn used(&self) -> MutexGuard<'_, BTreeSet<Ipv4Addr>> {
        self.used.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An address for a pod: `previous` (its `status.podIP` before a restart of the
    /// daemon) when it is still free and in range, else the first free one.
    pub fn allocate(&self, previous: &str) -> Result<Ipv4Addr> {
        let cidr = self.cidr;
        let mut used = self.used();
        // keep the address a pod had before a restart of the daemon
        if let Ok(prev) = previous.parse::<Ipv4Addr>()
            && cidr.contains(prev)
            && !used.contains(&prev)
            && prev != cidr.nth(0)
            && prev != cidr.nth(1)
        {
            used.insert(prev);
            return Ok(prev);
        }
        let ip = ipam::allocate(&cidr, &used)
            .with_context(|| format!("no IP addresses available in range set: {cidr}"))?;
        used.insert(ip);
        Ok(ip)
    }

    pub fn release(&self, ip: Ipv4Addr) {
        self.used().remove(&ip);
    }
}

/// The CNI network config files libcni considers (`.conf`, `.conflist`, `.json`).
fn is_cni_config(name: &str) -> bool {
    !name.starts_with('.')
        && [".conf", ".conflist", ".json"]
            .iter()
            .any(|e| name.ends_with(e))
}

/// The MTU one CNI network config asks for: Calico's plugin's `"mtu"` in a
/// `.conflist` (`plugins[]`), the top-level `"mtu"` of a single `.conf`. None if
/// the text is not JSON or has no valid MTU (the plugin then uses 1500).
pub fn config_mtu(text: &str) -> Option<u32> {
    let v: Value = serde_json::from_str(text).ok()?;
    let mtu_of = |p: &Value| {
        p.get("mtu")
            .and_then(Value::as_u64)
            .and_then(|m| u32::try_from(m).ok())
            .filter(|m| kinet_linux::cni::MTU_RANGE.contains(m))
    };
    match v.get("plugins").and_then(Value::as_array) {
        Some(plugins) => plugins
            .iter()
            .find(|p| p.get("type").and_then(Value::as_str) == Some("calico"))
            .or_else(|| plugins.iter().find(|p| p.get("mtu").is_some()))
            .and_then(mtu_of),
        None => mtu_of(&v),
    }
}

/// The pods' MTU from a node's CNI config directory listing (`(file name, text)`):
/// the first config in name order, as libcni picks it. No config at all (calico-node
/// has not run on this node yet) gives [`kinet_linux::cni::DEFAULT_MTU`]: where the
/// real plugin fails ("no networks found"), kinet wires the pod with the default.
pub fn network_mtu(mut files: Vec<(String, String)>) -> u32 {
    files.retain(|(n, _)| is_cni_config(n));
    files.sort();
    files
        .first()
        .and_then(|(_, text)| config_mtu(text))
        .unwrap_or(kinet_linux::cni::DEFAULT_MTU)
}

/// [`network_mtu`] of the directory `dir` (missing: the default).
pub fn network_mtu_in(dir: &std::path::Path) -> u32 {
    let files = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if !is_cni_config(&name) {
                return None;
            }
            Some((name, std::fs::read_to_string(e.path()).ok()?))
        })
        .collect();
    network_mtu(files)
}

impl Agent {
    /// This node's own root for its node-owned paths (`/etc/cni/net.d` …, see
    /// [`crate::volumes::NODE_OWNED_PATHS`]): `/var/lib/kinet/LAB/nodes/NODE/root`.
    pub(crate) fn node_root(&self) -> PathBuf {
        crate::volumes::node_root(&self.cfg.state_dir, &self.cfg.node.name)
    }

    /// Creates the pod's sandbox: files, holder process, network. Returns (holder pid, pod IP).
    pub(crate) fn create_sandbox(&self, pod: &Value) -> Result<(u32, Ipv4Addr)> {
        let uid = str_at(pod, "/metadata/uid");
        let name = str_at(pod, "/metadata/name");
        let ns = str_at(pod, "/metadata/namespace");
        let host_network = bool_at(pod, "/spec/hostNetwork");
        let ip = if host_network {
            self.cfg.node.ip
        } else {
            self.ipam.allocate(str_at(pod, "/status/podIP"))?
        };
        let dir = self.pod_dir(uid);
        std::fs::create_dir_all(&dir)?;
        let hostname: String = files::hostname(pod, &self.cfg.node.name)
            .chars()
            .take(63)
            .collect();
        let host_resolv = crate::internet::host_resolv_conf();
        std::fs::write(dir.join("hosts"), files::hosts(pod, &ip.to_string()))?;
        std::fs::write(
            dir.join("resolv.conf"),
            files::resolv_conf(pod, &host_resolv, self.has_cluster_dns()),
        )?;
        std::fs::write(dir.join("hostname"), format!("{hostname}\n"))?;
        let mut binds = vec![
            (dir.join("hosts"), PathBuf::from("/etc/hosts")),
            (dir.join("resolv.conf"), PathBuf::from("/etc/resolv.conf")),
            (dir.join("hostname"), PathBuf::from("/etc/hostname")),
        ];
        // pods trust the lab's CA (the fake internet's certificates) with the machine's
        let bundle = crate::internet::ca_bundle_path(&self.cfg.state_dir);
        if bundle.exists() && std::path::Path::new(crate::internet::HOST_CA_BUNDLE).exists() {
            binds.push((bundle, PathBuf::from(crate::internet::HOST_CA_BUNDLE)));
        }
        let spec = sandbox::HolderSpec {
            hostname,
            binds,
            argv: vec![
                self.cfg.self_exe.display().to_string(),
                "pause".into(),
                "--lab".into(),
                self.cfg.lab.clone(),
                "--pod".into(),
                format!("{ns}/{name}"),
            ],
            netns: host_network.then(|| self.cfg.netns.clone()),
            tmpfs: crate::volumes::memory_dirs(pod, &self.pod_state_dir(uid).join("volumes")),
            // the pod sees the host read-only; its containers add their own layer
            read_only: true,
        };
        let pid = sandbox::spawn_holder(&spec)?;
        std::fs::write(dir.join("holder.pid"), pid.to_string())?;
        if !host_network {
            let pod_ns = PathBuf::from(format!("/proc/{pid}/ns/net"));
            let veth = plan::veth_name(ns, name);
            let mtu = network_mtu_in(&self.node_root().join("etc/cni/net.d"));
            let wiring = kinet_linux::cni::PodWiring::new(&veth, ip).with_mtu(mtu);
            if let Err(e) = kinet_linux::cni::wire(&self.cfg.netns, &pod_ns, &wiring) {
                let _ = sandbox::kill(pid, sandbox::Signal::Kill);
                self.ipam.release(ip);
                return Err(e.into());
            }
        }
        Ok((pid, ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_handed_out_in_order_and_kept_across_restarts() {
        let ipam = Ipam::new(Cidr::parse("10.1.1.0/24").unwrap());
        let a = ipam.allocate("").unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 1, 1, 2));
        // a pod that had .7 before the daemon restarted keeps it
        assert_eq!(
            ipam.allocate("10.1.1.7").unwrap(),
            Ipv4Addr::new(10, 1, 1, 7)
        );
        // taken, out of range, the network and .1: the next free one
        for prev in ["10.1.1.7", "10.2.0.9", "10.1.1.0", "10.1.1.1", "nonsense"] {
            assert!(![a, Ipv4Addr::new(10, 1, 1, 7)].contains(&ipam.allocate(prev).unwrap()));
        }
        ipam.release(a);
        assert_eq!(
            ipam.allocate("").unwrap(),
            a,
            "a released address is free again"
        );
    }

    #[test]
    fn a_full_range_says_so() {
        let ipam = Ipam::new(Cidr::parse("10.1.1.0/30").unwrap());
        assert_eq!(ipam.allocate("").unwrap(), Ipv4Addr::new(10, 1, 1, 2));
        assert_eq!(
            ipam.allocate("").unwrap_err().to_string(),
            "no IP addresses available in range set: 10.1.1.0/30"
        );
    }

    #[test]
    fn the_mtu_is_the_first_configs() {
        let calico = |mtu: u32| {
            format!(
                r#"{{"name": "k8s-pod-network", "plugins": [{{"type": "calico", "mtu": {mtu}}}, {{"type": "portmap"}}]}}"#
            )
        };
        let f = |n: &str, t: &str| (n.to_string(), t.to_string());
        assert_eq!(network_mtu(vec![]), 1500, "no config: the default");
        assert_eq!(
            network_mtu(vec![f("10-calico.conflist", &calico(1450))]),
            1450
        );
        // libcni's order: the first name wins; other files are not configs
        assert_eq!(
            network_mtu(vec![
                f("20-other.conflist", &calico(9000)),
                f("10-calico.conflist", &calico(1400)),
                f(".10-calico.conflist.tmp", &calico(1300)),
                f("calico-kubeconfig", "x"),
            ]),
            1400
        );
        assert_eq!(
            network_mtu(vec![f("10-net.conf", r#"{"type": "calico", "mtu": 1480}"#)]),
            1480
        );
        // no mtu, a bad one, or no JSON: the plugin's default
        assert_eq!(config_mtu(r#"{"plugins": [{"type": "calico"}]}"#), None);
        assert_eq!(
            config_mtu(r#"{"plugins": [{"type": "calico", "mtu": 20}]}"#),
            None
        );
        assert_eq!(config_mtu("{"), None);
        assert_eq!(network_mtu(vec![f("10-calico.conflist", "{")]), 1500);
    }

    #[test]
    fn sandbox_ids_are_stable() {
        assert_eq!(sandbox_id("u1"), sandbox_id("u1"));
        assert_ne!(sandbox_id("u1"), sandbox_id("u2"));
        assert_eq!(sandbox_id("u1").len(), 64);
    }
}
