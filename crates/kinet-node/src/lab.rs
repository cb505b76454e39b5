//! Applying a lab plan to the kernel, and removing every trace of a lab.

use crate::plan::{Host, LabPlan};
use anyhow::{Context, Result};
use kinet_linux::{Netlink, Route, netns, sandbox, sysctl_set_many};
use std::net::IpAddr;
use std::path::Path;

/// The environment marker every process of a lab carries (`KINET_LAB=<lab>`).
pub const LAB_ENV: &str = "KINET_LAB";

/// Creates the LAN switch, router, nodes, outside workstation and the fake internet
/// behind the router. Nothing is connected to the host's own namespace: the lab is sealed.
pub fn build(plan: &LabPlan) -> Result<()> {
    netns::create(&plan.lan_netns)
        .with_context(|| format!("creating {}", plan.lan_netns.display()))?;
    let mut lan = Netlink::open(Some(&plan.lan_netns))?;
    lan.link_set_up("lo")?;
    lan.bridge_add("br0")?;
    lan.link_set_up("br0")?;
    for h in &plan.hosts {
        build_host(&mut lan, h).with_context(|| format!("wiring {}", h.name))?;
    }
    let router = plan
        .hosts
        .iter()
        .find(|h| h.name == "router")
        .context("the plan has no router")?;
    crate::internet::build(&router.netns, &plan.internet_netns)
        .context("wiring the internet behind the router")?;
    Ok(())
}

fn build_host(lan: &mut Netlink, h: &Host) -> Result<()> {
    netns::create(&h.netns)?;
    lan.veth_add(&h.name, "eth0", Some(&h.netns))?;
    lan.link_set_master(&h.name, "br0")?;
    lan.link_set_up(&h.name)?;
    let mut nl = Netlink::open(Some(&h.netns))?;
    nl.link_set_up("lo")?;
    nl.link_set_up("eth0")?;
    nl.addr_add("eth0", IpAddr::V4(h.ip), crate::plan::LAN_PREFIX)?;
    if let Some(gw) = h.gateway {
        nl.route_replace(&Route::default_via(gw).dev("eth0"))?;
    }
    for (dst, via) in &h.routes {
        nl.route_replace(&Route::new(dst.addr, dst.prefix).via(*via).dev("eth0"))?;
    }
    let fwd = if h.forwarding { "1" } else { "0" };
    sysctl_set_many(
        &h.netns,
        &[
            ("net/ipv4/ip_forward", fwd),
            ("net/ipv4/conf/all/rp_filter", "0"),
        ],
    )?;
    Ok(())
}

/// Kills every process of the lab (those carrying `KINET_LAB=<lab>` or a
/// `pause --lab <lab>` holder), except the caller. Returns how many were signalled.
pub fn kill_processes(lab: &str) -> usize {
    let me = std::process::id();
    let marker = format!("{LAB_ENV}={lab}");
    let mut n = 0;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me || pid == 1 {
            continue;
        }
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let env_hit = environ.split(|b| *b == 0).any(|kv| kv == marker.as_bytes());
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let holder = args
            .windows(3)
            .any(|w| w[0] == b"pause" && w[1] == b"--lab" && w[2] == lab.as_bytes());
        // the daemon of this lab carries the marker too; never kill it from inside
        let daemon = args.windows(1).any(|w| w[0] == b"daemon");
        if (env_hit || holder) && !daemon && sandbox::kill(pid, sandbox::Signal::Kill).is_ok() {
            n += 1;
        }
    }
    n
}

/// Removes the lab's processes and namespaces (pods' namespaces die with their processes).
pub fn teardown(plan: &LabPlan) -> Result<()> {
    kill_processes(&plan.lab);
    let mut errors = Vec::new();
    for h in &plan.hosts {
        if let Err(e) = netns::delete(&h.netns) {
            errors.push(format!("{}: {e}", h.netns.display()));
        }
    }
    if let Err(e) = netns::delete(&plan.internet_netns) {
        errors.push(format!("{}: {e}", plan.internet_netns.display()));
    }
    if let Err(e) = netns::delete(&plan.lan_netns) {
        errors.push(format!("{}: {e}", plan.lan_netns.display()));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("could not remove: {}", errors.join("; "))
    }
}

/// All lab-level namespaces left under /run/netns for `lab` (any node count).
pub fn leftover_namespaces(lab: &str) -> Vec<std::path::PathBuf> {
    let prefix = format!("kinet-{lab}-");
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Removes leftovers of a lab whose plan is unknown (after a crash).
pub fn remove_leftovers(lab: &str) -> Result<()> {
    kill_processes(lab);
    for p in leftover_namespaces(lab) {
        netns::delete(&p)?;
    }
    Ok(())
}

pub fn exists(p: &Path) -> bool {
    netns::exists(p)
}
