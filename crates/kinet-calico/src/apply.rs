//! Applying the plan to a node: routes over rtnetlink (`proto bird`), the NAT rules
//! with `iptables-restore --noflush`, sysctls. Every step is idempotent; nothing is
//! ever removed on exit, so a deleted calico-node pod leaves the network working.

use crate::plan::{self, LAN_LINK, NodeRoute, RTPROT_BIRD};
use anyhow::{Context, Result, bail};
use kinet_linux::{Netlink, Route};
use kinet_model::ipam::Cidr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where to apply: a network namespace file, or None for the caller's own (the
/// calico-node pod is hostNetwork, so its namespace is the node's).
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub netns: Option<PathBuf>,
}

/// What a route sync changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RouteChanges {
    pub replaced: Vec<NodeRoute>,
    pub deleted: Vec<NodeRoute>,
}

impl Target {
    pub fn in_netns(p: &Path) -> Target {
        Target {
            netns: Some(p.to_path_buf()),
        }
    }

    /// The `proto bird` routes on the LAN link: the ones calico-node owns.
    pub fn owned_routes(&self) -> Result<Vec<NodeRoute>> {
        let mut nl = Netlink::open(self.netns.as_deref())?;
        Ok(nl
            .routes_with_protocol()?
            .into_iter()
            .filter(|(r, p)| *p == RTPROT_BIRD && r.dev.as_deref() == Some(LAN_LINK))
            .filter_map(|(r, _)| {
                Some(NodeRoute {
                    dst: Cidr {
                        addr: r.dst,
                        prefix: r.prefix,
                    },
                    via: r.gateway?,
                })
            })
            .collect())
    }

    /// Makes the owned routes exactly `want` (replace is idempotent and takes over a
    /// static route to the same destination).
    pub fn routes(&self, want: &[NodeRoute]) -> Result<RouteChanges> {
        let owned = self.owned_routes()?;
        let (replaced, deleted) = plan::route_diff(want, &owned);
        let mut nl = Netlink::open(self.netns.as_deref())?;
        for r in &replaced {
            nl.route_replace_with_protocol(&route(r), RTPROT_BIRD)
                .with_context(|| format!("programming route {r}"))?;
        }
        for r in &deleted {
            nl.route_del(&route(r))
                .with_context(|| format!("removing route {r}"))?;
        }
        Ok(RouteChanges { replaced, deleted })
    }

    /// The MTU of the node's LAN link (`eth0`), for the auto veth MTU.
    pub fn lan_mtu(&self) -> Result<Option<u32>> {
        let mut nl = Netlink::open(self.netns.as_deref())?;
        Ok(nl
            .links()?
            .into_iter()
            .find(|l| l.name == LAN_LINK)
            .and_then(|l| l.mtu))
    }

    pub fn sysctls(&self) -> Result<()> {
        let ns = self
            .netns
            .clone()
            .unwrap_or_else(|| PathBuf::from("/proc/self/ns/net"));
        kinet_linux::sysctl_set_many(&ns, plan::SYSCTLS)?;
        Ok(())
    }

    /// `iptables-save -t nat` in the target.
    pub fn nat_save(&self) -> Result<String> {
        let out = self
            .command("iptables-save", &["-t", "nat"])
            .stderr(Stdio::piped())
            .output()
            .context("running iptables-save")?;
        if !out.status.success() {
            bail!(
                "iptables-save failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Brings felix's nat chains to the plan in one `iptables-restore --noflush`
    /// transaction. Returns the text applied.
    pub fn nat(&self, pool: Cidr) -> Result<String> {
        let text = plan::nat_restore(pool, &self.nat_save()?);
        self.pipe("iptables-restore", &["--noflush"], &text)?;
        Ok(text)
    }

    /// One `nft -f -` transaction in the target.
    pub fn nft(&self, text: &str) -> Result<()> {
        self.pipe("nft", &["-f", "-"], text)
    }

    /// Runs `prog args` in the target with `text` on its stdin; its stderr is the error.
    fn pipe(&self, prog: &str, args: &[&str], text: &str) -> Result<()> {
        let mut child = self
            .command(prog, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("running {prog}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(text.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "{prog} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    fn command(&self, prog: &str, args: &[&str]) -> Command {
        match &self.netns {
            None => {
                let mut c = Command::new(prog);
                c.args(args);
                c
            }
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net={}", ns.display()))
                    .arg("--")
                    .arg(prog)
                    .args(args);
                c
            }
        }
    }
}

fn route(r: &NodeRoute) -> Route {
    Route::new(r.dst.addr, r.dst.prefix)
        .via(r.via)
        .dev(LAN_LINK)
}
