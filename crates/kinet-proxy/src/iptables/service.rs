//! The rules of one service port (upstream's per-service part of
//! `syncProxyRules`): its lines in KUBE-SERVICES / KUBE-NODEPORTS /
//! KUBE-EXTERNAL-SERVICES / KUBE-PROXY-FIREWALL and its own chains
//! (KUBE-SVC-, KUBE-SVL-, KUBE-EXT-, KUBE-FW-, KUBE-SEP-).

use super::*;

#[derive(Default)]
pub(super) struct Probabilities(Vec<String>);

impl Probabilities {
    pub(super) fn get(&mut self, n: usize) -> &str {
        while self.0.len() <= n {
            let i = self.0.len();
            self.0.push(if i == 0 {
                "<bad value>".into()
            } else {
                probability(i)
            });
        }
        &self.0[n]
    }
}

pub(super) fn service_block(
    svc: &ServicePortInfo,
    endpoints: &[Endpoint],
    cfg: &Config,
    large_cluster: bool,
    probs: &mut Probabilities,
) -> ServiceBlock {
    let mut b = ServiceBlock::default();
    let proto = svc.protocol().lower();
    let name = svc.name.to_string();
    let hash = port_proto_hash(&name, proto);
    let cluster_chain = format!("KUBE-SVC-{hash}");
    let local_chain = format!("KUBE-SVL-{hash}");
    let ext_chain = format!("KUBE-EXT-{hash}");
    let fw_chain = format!("KUBE-FW-{hash}");

    let cat = categorize(endpoints, svc, &cfg.node_labels);
    let uses_cluster_chain = !cat.cluster.is_empty() && svc.uses_cluster_endpoints();
    let uses_local_chain = !cat.local.is_empty() && svc.uses_local_endpoints();
    let has_any = cat.has_any;

    let (internal_chain, has_internal) =
        cat.policy_chain(svc.internal_policy_local, &cluster_chain, &local_chain);
    let (external_policy_chain, has_external) =
        cat.policy_chain(svc.external_policy_local, &cluster_chain, &local_chain);
    let uses_ext_chain = has_any && svc.externally_accessible();
    let uses_fw = has_any
        && !svc.load_balancer_vips.is_empty()
        && !svc.load_balancer_source_ranges.is_empty();
    let lb_chain = if uses_fw { &fw_chain } else { &ext_chain };

    let (internal_target, internal_comment, external_target, external_comment) = if !has_any {
        let c = format!("\"{name} has no endpoints\"");
        ("REJECT", c.clone(), "REJECT", c)
    } else {
        let c = format!("\"{name} has no local endpoints\"");
        (
            if has_internal { "" } else { "DROP" },
            if has_internal {
                String::new()
            } else {
                c.clone()
            },
            if has_external { "" } else { "DROP" },
            if has_external { String::new() } else { c },
        )
    };
    let m = format!("-m {proto} -p {proto}");
    let cip = svc.cluster_ip;
    let port = svc.port;

    // Cluster IP.
    if has_internal {
        b.nat_top_rules.push(format!(
            "-A {KUBE_SERVICES} -m comment --comment \"{name} cluster IP\" {m} -d {cip} --dport {port} -j {internal_chain}"
        ));
    } else {
        b.filter_rules.push(format!(
            "-A {KUBE_SERVICES} -m comment --comment {internal_comment} {m} -d {cip} --dport {port} -j {internal_target}"
        ));
    }
    // External IPs.
    for eip in &svc.external_ips {
        if has_any {
            b.nat_top_rules.push(format!(
                "-A {KUBE_SERVICES} -m comment --comment \"{name} external IP\" {m} -d {eip} --dport {port} -j {ext_chain}"
            ));
        }
        if !has_external {
            b.filter_rules.push(format!(
                "-A {KUBE_EXTERNAL_SERVICES} -m comment --comment {external_comment} {m} -d {eip} --dport {port} -j {external_target}"
            ));
        }
    }
    // Load-balancer ingress.
    for lbip in &svc.load_balancer_vips {
        if has_any {
            b.nat_top_rules.push(format!(
                "-A {KUBE_SERVICES} -m comment --comment \"{name} loadbalancer IP\" {m} -d {lbip} --dport {port} -j {lb_chain}"
            ));
        }
        if uses_fw {
            b.filter_rules.push(format!(
                "-A {KUBE_PROXY_FIREWALL} -m comment --comment \"{name} traffic not accepted by {fw_chain}\" {m} -d {lbip} --dport {port} -j DROP"
            ));
        }
    }
    if !has_external {
        for lbip in &svc.load_balancer_vips {
            b.filter_rules.push(format!(
                "-A {KUBE_EXTERNAL_SERVICES} -m comment --comment {external_comment} {m} -d {lbip} --dport {port} -j {external_target}"
            ));
        }
    }
    // Node ports.
    if svc.node_port != 0 {
        let np = svc.node_port;
        if has_any {
            b.nat_top_rules.push(format!(
                "-A {KUBE_NODEPORTS} -m comment --comment {name} {m} --dport {np} -j {ext_chain}"
            ));
        }
        if !has_external {
            b.filter_rules.push(format!(
                "-A {KUBE_EXTERNAL_SERVICES} -m comment --comment {external_comment} -m addrtype --dst-type LOCAL {m} --dport {np} -j {external_target}"
            ));
        }
    }
    if svc.health_check_node_port != 0 {
        b.filter_rules.push(format!(
            "-A {KUBE_NODEPORTS} -m comment --comment \"{name} health check node port\" -m tcp -p tcp --dport {} -j ACCEPT",
            svc.health_check_node_port
        ));
    }

    // The service's own chains.
    let rules = &mut b.chain_rules;
    if has_internal {
        let args =
            format!("-m comment --comment \"{name} cluster IP\" {m} -d {cip} --dport {port}");
        if cfg.masquerade_all {
            rules.push(format!("-A {internal_chain} {args} -j {KUBE_MARK_MASQ}"));
        } else if let Some(cidr) = cfg.cluster_cidr {
            rules.push(format!(
                "-A {internal_chain} {args} ! -s {cidr} -j {KUBE_MARK_MASQ}"
            ));
        }
    }
    if uses_ext_chain {
        b.chains.push(ext_chain.clone());
        if !svc.external_policy_local {
            rules.push(format!(
                "-A {ext_chain} -m comment --comment \"masquerade traffic for {name} external destinations\" -j {KUBE_MARK_MASQ}"
            ));
        } else {
            if let Some(cidr) = cfg.cluster_cidr {
                rules.push(format!(
                    "-A {ext_chain} -m comment --comment \"pod traffic for {name} external destinations\" -s {cidr} -j {cluster_chain}"
                ));
            }
            rules.push(format!(
                "-A {ext_chain} -m comment --comment \"masquerade LOCAL traffic for {name} external destinations\" -m addrtype --src-type LOCAL -j {KUBE_MARK_MASQ}"
            ));
            rules.push(format!(
                "-A {ext_chain} -m comment --comment \"route LOCAL traffic for {name} external destinations\" -m addrtype --src-type LOCAL -j {cluster_chain}"
            ));
        }
        if has_external {
            rules.push(format!("-A {ext_chain} -j {external_policy_chain}"));
        }
    }
    if uses_fw {
        b.chains.push(fw_chain.clone());
        let head = format!("-A {fw_chain} -m comment --comment \"{name} loadbalancer IP\"");
        let mut allow_from_node = false;
        for cidr in &svc.load_balancer_source_ranges {
            rules.push(format!("{head} -s {cidr} -j {ext_chain}"));
            if cfg.node_ip.is_some_and(|ip| cidr.contains(ip)) {
                allow_from_node = true;
            }
        }
        if allow_from_node {
            for lbip in &svc.load_balancer_vips {
                rules.push(format!("{head} -s {lbip} -j {ext_chain}"));
            }
        }
        rules.push(format!(
            "-A {fw_chain} -m comment --comment \"other traffic to {name} will be dropped by KUBE-PROXY-FIREWALL\""
        ));
    }
    let sep = |ep: &Endpoint| format!("KUBE-SEP-{}", endpoint_hash(&name, proto, &ep.addr()));
    if uses_cluster_chain {
        b.chains.push(cluster_chain.clone());
        service_to_endpoint_rules(
            rules,
            &name,
            svc,
            &cluster_chain,
            &cat.cluster,
            &sep,
            large_cluster,
            probs,
        );
    }
    if uses_local_chain {
        b.chains.push(local_chain.clone());
        service_to_endpoint_rules(
            rules,
            &name,
            svc,
            &local_chain,
            &cat.local,
            &sep,
            large_cluster,
            probs,
        );
    }
    for ep in &cat.all_reachable {
        let chain = sep(ep);
        let comment = if large_cluster {
            String::new()
        } else {
            format!(" -m comment --comment {name}")
        };
        rules.push(format!(
            "-A {chain}{comment} -s {} -j {KUBE_MARK_MASQ}",
            ep.ip
        ));
        let recent = if svc.affinity_timeout.is_some() {
            format!(" -m recent --name {chain} --set")
        } else {
            String::new()
        };
        rules.push(format!(
            "-A {chain}{comment}{recent} {m} -j DNAT --to-destination {}",
            ep.addr()
        ));
        b.chains.push(chain);
    }
    b
}

#[allow(clippy::too_many_arguments)]
fn service_to_endpoint_rules(
    rules: &mut Vec<String>,
    name: &str,
    svc: &ServicePortInfo,
    chain: &str,
    endpoints: &[&Endpoint],
    sep: &dyn Fn(&Endpoint) -> String,
    large_cluster: bool,
    probs: &mut Probabilities,
) {
    let comment = |ep: &Endpoint| {
        if large_cluster {
            String::new()
        } else {
            format!(" -m comment --comment \"{name} -> {}\"", ep.addr())
        }
    };
    if let Some(timeout) = svc.affinity_timeout {
        for ep in endpoints {
            let ep_chain = sep(ep);
            rules.push(format!(
                "-A {chain}{} -m recent --name {ep_chain} --rcheck --seconds {timeout} --reap -j {ep_chain}",
                comment(ep)
            ));
        }
    }
    let n = endpoints.len();
    for (i, ep) in endpoints.iter().enumerate() {
        let stat = if i < n - 1 {
            format!(
                " -m statistic --mode random --probability {}",
                probs.get(n - i)
            )
        } else {
            String::new()
        };
        rules.push(format!("-A {chain}{}{stat} -j {}", comment(ep), sep(ep)));
    }
}
