//! A pod's sandbox, as kubelet and the CNI plugin make it: the pod's files
//! (hosts, resolv.conf, hostname), its holder process (the pod's namespaces), an
//! address from the node's pod CIDR (host-local IPAM) and the Calico wiring
//! ([`kinet_linux::cni::wire_pod`]).

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

impl Agent {
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
        let host_resolv = "nameserver 192.168.1.1\n";
        std::fs::write(dir.join("hosts"), files::hosts(pod, &ip.to_string()))?;
        std::fs::write(
            dir.join("resolv.conf"),
            files::resolv_conf(pod, host_resolv),
        )?;
        std::fs::write(dir.join("hostname"), format!("{hostname}\n"))?;
        let spec = sandbox::HolderSpec {
            hostname,
            binds: vec![
                (dir.join("hosts"), PathBuf::from("/etc/hosts")),
                (dir.join("resolv.conf"), PathBuf::from("/etc/resolv.conf")),
                (dir.join("hostname"), PathBuf::from("/etc/hostname")),
            ],
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
        };
        let pid = sandbox::spawn_holder(&spec)?;
        std::fs::write(dir.join("holder.pid"), pid.to_string())?;
        if !host_network {
            let pod_ns = PathBuf::from(format!("/proc/{pid}/ns/net"));
            let veth = plan::veth_name(ns, name);
            if let Err(e) = kinet_linux::cni::wire_pod(&self.cfg.netns, &pod_ns, &veth, ip) {
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
    fn sandbox_ids_are_stable() {
        assert_eq!(sandbox_id("u1"), sandbox_id("u1"));
        assert_ne!(sandbox_id("u1"), sandbox_id("u2"));
        assert_eq!(sandbox_id("u1").len(), 64);
    }
}
