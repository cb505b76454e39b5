//! Applying rulesets in the node the process runs in: `iptables-restore
//! --noflush` and `nft -f -` subprocesses (one atomic transaction each),
//! reading back what exists, removing the other mode's leftovers (upstream's
//! CleanupLeftovers), and deleting stale UDP conntrack entries.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::iptables::JUMP_RULES;
use crate::model::{Protocol, ProxyState, ServicePortName};
use crate::nftables::TABLE;

/// Runs `cmd args`, feeding `stdin`; its stdout, or an error with its stderr.
pub fn run(cmd: &str, args: &[&str], stdin: Option<&str>) -> Result<String> {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {cmd}"))?;
    if let (Some(mut w), Some(input)) = (child.stdin.take(), stdin) {
        w.write_all(input.as_bytes())
            .with_context(|| format!("writing to {cmd}"))?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "{cmd} {}: {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `iptables-restore --noflush` of the whole text: one atomic commit.
pub fn iptables_restore(text: &str) -> Result<()> {
    run("iptables-restore", &["-w", "5", "--noflush"], Some(text)).map(drop)
}

/// The output of `iptables-save` for one table.
pub fn iptables_save(table: &str) -> Result<String> {
    run("iptables-save", &["-t", table], None)
}

/// Makes sure kube-proxy's jumps from the built-in chains exist (`-C`, else `-I`).
pub fn ensure_jump_rules() -> Result<()> {
    for j in JUMP_RULES {
        let rule = j.args();
        let rule: Vec<&str> = rule.iter().map(String::as_str).collect();
        let mut check = vec!["-w", "5", "-t", j.table, "-C", j.src_chain];
        check.extend(&rule);
        if run("iptables", &check, None).is_ok() {
            continue;
        }
        let mut insert = vec!["-w", "5", "-t", j.table, "-I", j.src_chain];
        insert.extend(&rule);
        run("iptables", &insert, None).with_context(|| {
            format!(
                "failed to ensure that {} chain {} jumps to {}",
                j.table, j.src_chain, j.dst_chain
            )
        })?;
    }
    Ok(())
}

/// `nft -f -` of one transaction.
pub fn nft_apply(transaction: &str) -> Result<()> {
    run("nft", &["-f", "-"], Some(transaction)).map(drop)
}

/// The chains and sets (not maps) of table `ip kube-proxy`, from `nft -j list chains|sets ip`.
pub fn nft_existing() -> Result<(Vec<String>, Vec<String>)> {
    let chains = run("nft", &["-j", "list", "chains", "ip"], None)?;
    let sets = run("nft", &["-j", "list", "sets", "ip"], None)?;
    Ok((nft_names(&chains, "chain"), nft_names(&sets, "set")))
}

/// The names of the `kind` objects of table kube-proxy in `nft -j` output.
pub fn nft_names(json: &str, kind: &str) -> Vec<String> {
    let table = TABLE.trim_start_matches("ip ");
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return Vec::new();
    };
    v.get("nftables")
        .and_then(|a| a.as_array())
        .into_iter()
        .flatten()
        .filter_map(|o| o.get(kind))
        .filter(|o| {
            o.get("table").and_then(|t| t.as_str()) == Some(table)
                && o.get("family").and_then(|t| t.as_str()) == Some("ip")
        })
        .filter_map(|o| o.get("name").and_then(|n| n.as_str()).map(str::to_string))
        .collect()
}

/// Does table `ip kube-proxy` exist?
pub fn nft_table_exists() -> bool {
    run("nft", &["list", "table", "ip", "kube-proxy"], None).is_ok()
}

/// The nftables proxier's leftovers, for the iptables proxier: its table.
pub fn cleanup_nftables() -> Result<bool> {
    if !nft_table_exists() {
        return Ok(false);
    }
    nft_apply(&format!("delete table {TABLE}\n"))?;
    Ok(true)
}

/// Is this one of the chains the iptables proxier creates?
pub fn is_kube_proxy_chain(chain: &str) -> bool {
    const FIXED: [&str; 9] = [
        "KUBE-SERVICES",
        "KUBE-EXTERNAL-SERVICES",
        "KUBE-FORWARD",
        "KUBE-NODEPORTS",
        "KUBE-PROXY-FIREWALL",
        "KUBE-FIREWALL",
        "KUBE-POSTROUTING",
        "KUBE-MARK-MASQ",
        "KUBE-MARK-DROP",
    ];
    FIXED.contains(&chain) || crate::iptables::is_service_chain(chain)
}

/// The iptables-restore input removing the iptables proxier's chains and
/// the jumps to them from `save` (the `iptables-save` of both tables), as
/// upstream's CleanupLeftovers; None when there is nothing to remove.
pub fn iptables_cleanup_restore(save: &str) -> Option<String> {
    let mut tables: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    let mut table = String::new();
    for line in save.lines().map(str::trim) {
        if let Some(t) = line.strip_prefix('*') {
            table = t.to_string();
        } else if let Some(chain) = line.strip_prefix(':') {
            let name = chain.split(' ').next().unwrap_or("");
            if is_kube_proxy_chain(name) && (table == "nat" || table == "filter") {
                tables
                    .entry(table.clone())
                    .or_default()
                    .0
                    .push(name.to_string());
            }
        } else if let Some(rule) = line.strip_prefix("-A ") {
            let mut words = rule.split(' ');
            let chain = words.next().unwrap_or("");
            let target = rule.rsplit(" -j ").next().unwrap_or("");
            let target = target.split(' ').next().unwrap_or("");
            if !is_kube_proxy_chain(chain)
                && is_kube_proxy_chain(target)
                && (table == "nat" || table == "filter")
            {
                tables
                    .entry(table.clone())
                    .or_default()
                    .1
                    .push(format!("-D {rule}"));
            }
        }
    }
    if tables.is_empty() {
        return None;
    }
    let mut out = String::new();
    for (t, (chains, jumps)) in &tables {
        out.push_str(&format!("*{t}\n"));
        for c in chains {
            out.push_str(&format!(":{c} - [0:0]\n"));
        }
        for j in jumps {
            out.push_str(j);
            out.push('\n');
        }
        for c in chains {
            out.push_str(&format!("-X {c}\n"));
        }
        out.push_str("COMMIT\n");
    }
    Some(out)
}

/// The iptables proxier's leftovers, for the nftables proxier.
pub fn cleanup_iptables() -> Result<bool> {
    let mut save = iptables_save("nat")?;
    save.push_str(&iptables_save("filter")?);
    match iptables_cleanup_restore(&save) {
        Some(text) => {
            iptables_restore(&text)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// What the conntrack cleanup of one sync deletes: `conntrack -D` argument lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UdpSnapshot {
    /// Per UDP service port: the IPs it answers on (cluster, external, LB),
    /// its node port, and its endpoint IPs.
    ports: BTreeMap<ServicePortName, (Vec<Ipv4Addr>, u16, u16, Vec<Ipv4Addr>)>,
}

impl UdpSnapshot {
    pub fn of(state: &ProxyState) -> UdpSnapshot {
        let mut ports = BTreeMap::new();
        for (name, svc) in &state.services {
            if svc.protocol() != Protocol::Udp {
                continue;
            }
            let mut ips = vec![svc.cluster_ip];
            ips.extend(&svc.external_ips);
            ips.extend(&svc.load_balancer_vips);
            let eps = state
                .endpoints_of(name)
                .iter()
                .filter(|e| e.ready || e.serving)
                .map(|e| e.ip)
                .collect();
            ports.insert(name.clone(), (ips, svc.port, svc.node_port, eps));
        }
        UdpSnapshot { ports }
    }

    /// The `conntrack` argument lists that clear what changed from `self` to
    /// `next`: flows to endpoints that went away, and flows of service IPs
    /// that had no endpoints (cached rejects) and now have some.
    pub fn cleanup(&self, next: &UdpSnapshot) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        let s = |x: &dyn std::fmt::Display| x.to_string();
        for (name, (ips, port, node_port, eps)) in &self.ports {
            let now = next.ports.get(name);
            let now_eps: &[Ipv4Addr] = now.map(|n| n.3.as_slice()).unwrap_or(&[]);
            for ep in eps.iter().filter(|e| !now_eps.contains(e)) {
                for ip in ips {
                    out.push(vec![
                        s(&"-D"),
                        s(&"-p"),
                        s(&"udp"),
                        s(&"--orig-dst"),
                        s(ip),
                        s(&"--dport"),
                        s(port),
                        s(&"--reply-src"),
                        s(ep),
                    ]);
                }
                if *node_port != 0 {
                    out.push(vec![
                        s(&"-D"),
                        s(&"-p"),
                        s(&"udp"),
                        s(&"--dport"),
                        s(node_port),
                        s(&"--reply-src"),
                        s(ep),
                    ]);
                }
            }
        }
        for (name, (ips, port, node_port, eps)) in &next.ports {
            let before = self.ports.get(name).map(|b| b.3.len()).unwrap_or(0);
            if before == 0 && !eps.is_empty() {
                for ip in ips {
                    out.push(vec![
                        s(&"-D"),
                        s(&"-p"),
                        s(&"udp"),
                        s(&"--orig-dst"),
                        s(ip),
                        s(&"--dport"),
                        s(port),
                    ]);
                }
                if *node_port != 0 {
                    out.push(vec![
                        s(&"-D"),
                        s(&"-p"),
                        s(&"udp"),
                        s(&"--dport"),
                        s(node_port),
                    ]);
                }
            }
        }
        out
    }
}

/// Runs one `conntrack -D`; "0 flow entries" (exit 1) is not an error.
pub fn conntrack_delete(args: &[String]) -> Result<()> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match run("conntrack", &args, None) {
        Ok(_) => Ok(()),
        Err(e) if e.to_string().contains("0 flow entries") => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;

    #[test]
    fn nft_json_names_of_the_table() {
        let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"chain": {"family": "ip", "table": "kube-proxy", "name": "endpoint-YZ/a/b", "handle": 1}}, {"chain": {"family": "ip", "table": "other", "name": "x", "handle": 1}}]}"#;
        assert_eq!(nft_names(json, "chain"), ["endpoint-YZ/a/b"]);
        assert!(nft_names("garbage", "chain").is_empty());
    }

    #[test]
    fn iptables_leftovers_are_unhooked_then_deleted() {
        let save = "\
*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-ABC - [0:0]
:cali-nat - [0:0]
-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES
-A PREROUTING -j cali-nat
-A KUBE-SERVICES -j KUBE-SVC-ABC
COMMIT
*filter
:INPUT ACCEPT [0:0]
COMMIT
";
        let text = iptables_cleanup_restore(save).unwrap();
        assert_eq!(
            text,
            "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-ABC - [0:0]\n-D PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n-X KUBE-SERVICES\n-X KUBE-SVC-ABC\nCOMMIT\n"
        );
        assert!(iptables_cleanup_restore("*nat\n:INPUT ACCEPT [0:0]\nCOMMIT\n").is_none());
    }

    #[test]
    fn udp_conntrack_cleanup_follows_endpoint_changes() {
        let svc = service(
            "kube-system",
            "kube-dns",
            "10.152.183.10",
            &[("dns", 53, "UDP"), ("tcp", 53, "TCP")],
        );
        let two = slice(
            "kube-system",
            "kube-dns",
            "d1",
            &[("dns", 53, "UDP"), ("tcp", 53, "TCP")],
            &[ep("10.1.1.5", "node1", true), ep("10.1.2.5", "node2", true)],
        );
        let one = slice(
            "kube-system",
            "kube-dns",
            "d1",
            &[("dns", 53, "UDP"), ("tcp", 53, "TCP")],
            &[ep("10.1.1.5", "node1", true)],
        );
        let empty = UdpSnapshot::of(&ProxyState::from_objects(
            "node1",
            std::slice::from_ref(&svc),
            &[],
        ));
        let full = UdpSnapshot::of(&ProxyState::from_objects(
            "node1",
            std::slice::from_ref(&svc),
            &[two],
        ));
        let less = UdpSnapshot::of(&ProxyState::from_objects("node1", &[svc], &[one]));
        let join = |v: Vec<Vec<String>>| v.into_iter().map(|a| a.join(" ")).collect::<Vec<_>>();
        assert_eq!(
            join(empty.cleanup(&full)),
            ["-D -p udp --orig-dst 10.152.183.10 --dport 53"]
        );
        assert_eq!(
            join(full.cleanup(&less)),
            ["-D -p udp --orig-dst 10.152.183.10 --dport 53 --reply-src 10.1.2.5"]
        );
        assert!(less.cleanup(&less).is_empty());
    }
}
