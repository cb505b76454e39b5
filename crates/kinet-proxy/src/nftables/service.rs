//! The nftables objects of one service port (upstream's per-service part
//! of `syncProxyRules`): its elements in the shared sets and maps, its
//! service-/local-/external-/firewall-/endpoint- chains and affinity sets.

use super::*;

pub(super) fn service_block(
    svc: &ServicePortInfo,
    endpoints: &[Endpoint],
    cfg: &Config,
) -> NftServiceBlock {
    let mut b = NftServiceBlock::default();
    let proto = svc.protocol().lower();
    let name = svc.name.to_string();
    let base = service_chain_base(&svc.name);
    let cluster_chain = format!("service-{base}");
    let local_chain = format!("local-{base}");
    let ext_chain = format!("external-{base}");
    let fw_chain = format!("firewall-{base}");
    let mark_masq = MARK_MASQ_CHAIN;

    let cat = categorize(endpoints, svc, &cfg.node_labels);
    let ep_chain = |ep: &Endpoint| format!("endpoint-{}", endpoint_chain_base(&svc.name, ep));
    let affinity_set = |ep: &Endpoint| format!("affinity-{}", endpoint_chain_base(&svc.name, ep));
    for ep in &cat.all_reachable {
        b.chains.push(ep_chain(ep));
    }
    let uses_cluster_chain = !cat.cluster.is_empty() && svc.uses_cluster_endpoints();
    if uses_cluster_chain {
        b.chains.push(cluster_chain.clone());
    }
    let uses_local_chain = !cat.local.is_empty() && svc.uses_local_endpoints();
    if uses_local_chain {
        b.chains.push(local_chain.clone());
    }
    let has_any = cat.has_any;
    let (internal_chain, has_internal) =
        cat.policy_chain(svc.internal_policy_local, &cluster_chain, &local_chain);
    let (external_policy_chain, has_external) =
        cat.policy_chain(svc.external_policy_local, &cluster_chain, &local_chain);
    let uses_ext_chain = has_any && svc.externally_accessible();
    if uses_ext_chain {
        b.chains.push(ext_chain.clone());
    }
    let reject = format!("goto {REJECT_CHAIN}");
    let (internal_verdict, external_verdict) = if !has_any {
        (reject.clone(), reject)
    } else {
        (
            if has_internal {
                String::new()
            } else {
                "drop".into()
            },
            if has_external {
                String::new()
            } else {
                "drop".into()
            },
        )
    };
    let cip = svc.cluster_ip;
    let port = svc.port;
    let el = |container, key: String, value: String, comment: bool| Element {
        container,
        key,
        value,
        comment: comment.then(|| name.clone()),
    };
    b.elements
        .push(el(CLUSTER_IPS_SET, cip.to_string(), String::new(), false));
    if has_internal {
        b.elements.push(el(
            SERVICE_IPS_MAP,
            format!("{cip} . {proto} . {port}"),
            format!("goto {internal_chain}"),
            false,
        ));
    } else {
        b.elements.push(el(
            NO_ENDPOINT_SERVICES_MAP,
            format!("{cip} . {proto} . {port}"),
            internal_verdict.clone(),
            true,
        ));
    }
    for eip in &svc.external_ips {
        if has_any {
            b.elements.push(el(
                SERVICE_IPS_MAP,
                format!("{eip} . {proto} . {port}"),
                format!("goto {ext_chain}"),
                false,
            ));
        }
        if !has_external {
            b.elements.push(el(
                NO_ENDPOINT_SERVICES_MAP,
                format!("{eip} . {proto} . {port}"),
                external_verdict.clone(),
                true,
            ));
        }
    }
    let uses_fw = !svc.load_balancer_vips.is_empty() && !svc.load_balancer_source_ranges.is_empty();
    if uses_fw {
        b.chains.push(fw_chain.clone());
    }
    for lbip in &svc.load_balancer_vips {
        if has_any {
            b.elements.push(el(
                SERVICE_IPS_MAP,
                format!("{lbip} . {proto} . {port}"),
                format!("goto {ext_chain}"),
                false,
            ));
        }
        if uses_fw {
            b.elements.push(el(
                FIREWALL_IPS_MAP,
                format!("{lbip} . {proto} . {port}"),
                format!("goto {fw_chain}"),
                false,
            ));
        }
    }
    if !has_external {
        for lbip in &svc.load_balancer_vips {
            b.elements.push(el(
                NO_ENDPOINT_SERVICES_MAP,
                format!("{lbip} . {proto} . {port}"),
                external_verdict.clone(),
                true,
            ));
        }
    }
    if svc.node_port != 0 {
        let np = svc.node_port;
        if has_any {
            b.elements.push(el(
                SERVICE_NODEPORTS_MAP,
                format!("{proto} . {np}"),
                format!("goto {ext_chain}"),
                false,
            ));
        }
        if !has_external {
            b.elements.push(el(
                NO_ENDPOINT_NODEPORTS_MAP,
                format!("{proto} . {np}"),
                external_verdict.clone(),
                true,
            ));
        }
    }

    let rules = &mut b.rules;
    let mut rule = |chain: &str, r: String, c: Option<&str>| {
        rules.push((chain.to_string(), r, c.map(str::to_string)))
    };
    if has_internal {
        if cfg.masquerade_all {
            rule(
                internal_chain,
                format!("ip daddr {cip} {proto} dport {port} jump {mark_masq}"),
                None,
            );
        } else if let Some(cidr) = cfg.cluster_cidr {
            rule(
                internal_chain,
                format!("ip daddr {cip} {proto} dport {port} ip saddr != {cidr} jump {mark_masq}"),
                None,
            );
        }
    }
    if uses_ext_chain {
        if !svc.external_policy_local {
            rule(&ext_chain, format!("jump {mark_masq}"), None);
        } else {
            if let Some(cidr) = cfg.cluster_cidr {
                rule(
                    &ext_chain,
                    format!("ip saddr {cidr} goto {cluster_chain}"),
                    Some("short-circuit pod traffic"),
                );
            }
            rule(
                &ext_chain,
                format!("fib saddr type local jump {mark_masq}"),
                Some("masquerade local traffic"),
            );
            rule(
                &ext_chain,
                format!("fib saddr type local goto {cluster_chain}"),
                Some("short-circuit local traffic"),
            );
        }
        if has_external {
            rule(&ext_chain, format!("goto {external_policy_chain}"), None);
        }
    }
    if uses_fw {
        let mut sources: Vec<String> = Vec::new();
        let mut allow_from_node = false;
        for cidr in &svc.load_balancer_source_ranges {
            sources.push(cidr.to_string());
            if cfg.node_ip.is_some_and(|ip| cidr.contains(ip)) {
                allow_from_node = true;
            }
        }
        if allow_from_node {
            sources.extend(svc.load_balancer_vips.iter().map(ToString::to_string));
        }
        rule(
            &fw_chain,
            format!("ip saddr != {{ {} }} drop", sources.join(", ")),
            None,
        );
    }
    if let Some(timeout) = svc.affinity_timeout {
        for ep in &cat.all_reachable {
            b.affinity_sets.push((affinity_set(ep), timeout));
        }
    }
    let mut lb = |chain: &str, eps: &[&Endpoint]| {
        if svc.affinity_timeout.is_some() {
            for ep in eps {
                rule(
                    chain,
                    format!("ip saddr @{} goto {}", affinity_set(ep), ep_chain(ep)),
                    None,
                );
            }
        }
        let elements: Vec<String> = eps
            .iter()
            .enumerate()
            .map(|(i, ep)| format!("{i} : goto {}", ep_chain(ep)))
            .collect();
        rule(
            chain,
            format!(
                "numgen random mod {} vmap {{ {} }}",
                eps.len(),
                elements.join(" , ")
            ),
            None,
        );
    };
    if uses_cluster_chain {
        lb(&cluster_chain, &cat.cluster);
    }
    if uses_local_chain {
        lb(&local_chain, &cat.local);
    }
    for ep in &cat.all_reachable {
        let chain = ep_chain(ep);
        rule(&chain, format!("ip saddr {} jump {mark_masq}", ep.ip), None);
        if svc.affinity_timeout.is_some() {
            rule(
                &chain,
                format!("update @{} {{ ip saddr }}", affinity_set(ep)),
                None,
            );
        }
        rule(
            &chain,
            format!("meta l4proto {proto} dnat to {}", ep.addr()),
            None,
        );
    }
    b
}
