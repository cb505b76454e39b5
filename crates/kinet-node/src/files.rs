//! The files kubelet writes for a pod: /etc/hosts and /etc/resolv.conf; and the
//! pod's hostname.

use kinet_model::json::{bool_at, str_at};
use serde_json::Value;

pub const CLUSTER_DNS: std::net::Ipv4Addr = kinet_model::lab::CLUSTER_DNS_IP;
pub const CLUSTER_DOMAIN: &str = "cluster.local";

/// The pod's hostname: the node's (`node_name`) with hostNetwork, else
/// `spec.hostname`, else the pod's name (the sandbox's UTS name cuts it to 63).
pub fn hostname(pod: &Value, node_name: &str) -> String {
    if bool_at(pod, "/spec/hostNetwork") {
        return node_name.to_string();
    }
    match str_at(pod, "/spec/hostname") {
        "" => str_at(pod, "/metadata/name").to_string(),
        h => h.to_string(),
    }
}

/// The string at `path`, `default` when missing or not a string.
fn str_or<'a>(v: &'a Value, path: &str, default: &'a str) -> &'a str {
    v.pointer(path).and_then(Value::as_str).unwrap_or(default)
}

/// The kubelet-managed hosts file.
pub fn hosts(pod: &Value, ip: &str) -> String {
    let mut s = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    let name = str_at(pod, "/metadata/name");
    let ns = str_or(pod, "/metadata/namespace", "default");
    let hostname = str_or(pod, "/spec/hostname", name);
    match pod.pointer("/spec/subdomain").and_then(Value::as_str) {
        Some(sub) if !sub.is_empty() => {
            s.push_str(&format!(
                "{ip}\t{hostname}.{sub}.{ns}.svc.{CLUSTER_DOMAIN}\t{hostname}\n"
            ));
        }
        _ => s.push_str(&format!("{ip}\t{hostname}\n")),
    }
    if let Some(aliases) = pod.pointer("/spec/hostAliases").and_then(Value::as_array) {
        s.push_str("\n# Entries added by HostAliases.\n");
        for a in aliases {
            let names: Vec<&str> = a["hostnames"]
                .as_array()
                .map(|h| h.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            s.push_str(&format!(
                "{}\t{}\n",
                a["ip"].as_str().unwrap_or(""),
                names.join("\t")
            ));
        }
    }
    s
}

/// Whether a pod's dnsPolicy asks for the cluster DNS.
pub fn wants_cluster_dns(pod: &Value) -> bool {
    match str_or(pod, "/spec/dnsPolicy", "ClusterFirst") {
        "ClusterFirst" => !bool_at(pod, "/spec/hostNetwork"),
        "ClusterFirstWithHostNet" => true,
        _ => false,
    }
}

/// kubelet's event when a pod wants the cluster DNS and kubelet has none.
pub fn missing_cluster_dns(pod: &Value) -> String {
    let policy = str_or(pod, "/spec/dnsPolicy", "ClusterFirst");
    format!(
        "pod: \"{}_{}({})\". kubelet does not have ClusterDNS IP configured and cannot create Pod using \"{policy}\" policy. Falling back to \"Default\" policy.",
        str_at(pod, "/metadata/name"),
        str_at(pod, "/metadata/namespace"),
        str_at(pod, "/metadata/uid"),
    )
}

/// resolv.conf from dnsPolicy and dnsConfig; `host` is the node's own resolv.conf
/// content; `cluster_dns` false when kubelet has no cluster DNS (ClusterFirst then
/// falls back to Default).
pub fn resolv_conf(pod: &Value, host: &str, cluster_dns: bool) -> String {
    let ns = str_or(pod, "/metadata/namespace", "default");
    let policy = str_or(pod, "/spec/dnsPolicy", "ClusterFirst");
    let (mut servers, mut searches, mut options): (Vec<String>, Vec<String>, Vec<String>) =
        match policy {
            _ if cluster_dns && wants_cluster_dns(pod) => cluster(ns),
            "None" => (vec![], vec![], vec![]),
            _ => {
                let mut sv = vec![];
                let mut se = vec![];
                let mut op = vec![];
                for l in host.lines() {
                    let w: Vec<&str> = l.split_whitespace().collect();
                    match w.first() {
                        Some(&"nameserver") if w.len() > 1 => sv.push(w[1].to_string()),
                        Some(&"search") => se = w[1..].iter().map(|s| s.to_string()).collect(),
                        Some(&"options") => op = w[1..].iter().map(|s| s.to_string()).collect(),
                        _ => {}
                    }
                }
                (sv, se, op)
            }
        };
    if let Some(cfg) = pod.pointer("/spec/dnsConfig") {
        let list = |k: &str| -> Vec<String> {
            cfg.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        for s in list("nameservers") {
            if !servers.contains(&s) {
                servers.push(s);
            }
        }
        for s in list("searches") {
            if !searches.contains(&s) {
                searches.push(s);
            }
        }
        if let Some(opts) = cfg.get("options").and_then(Value::as_array) {
            for o in opts {
                let name = o["name"].as_str().unwrap_or("");
                let opt = match o.get("value").and_then(Value::as_str) {
                    Some(v) => format!("{name}:{v}"),
                    None => name.to_string(),
                };
                options.retain(|x| x.split(':').next() != Some(name));
                options.push(opt);
            }
        }
    }
    servers.truncate(3);
    searches.truncate(32);
    let mut s = String::new();
    if !searches.is_empty() {
        s.push_str(&format!("search {}\n", searches.join(" ")));
    }
    for sv in servers {
        s.push_str(&format!("nameserver {sv}\n"));
    }
    if !options.is_empty() {
        s.push_str(&format!("options {}\n", options.join(" ")));
    }
    s
}

fn cluster(ns: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    (
        vec![CLUSTER_DNS.to_string()],
        vec![
            format!("{ns}.svc.{CLUSTER_DOMAIN}"),
            format!("svc.{CLUSTER_DOMAIN}"),
            CLUSTER_DOMAIN.to_string(),
        ],
        vec!["ndots:5".to_string()],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hostnames() {
        let pod = |spec: Value| json!({"metadata": {"name": "web-0"}, "spec": spec});
        assert_eq!(hostname(&pod(json!({})), "node1"), "web-0");
        assert_eq!(hostname(&pod(json!({"hostname": "h"})), "node1"), "h");
        assert_eq!(
            hostname(&pod(json!({"hostname": "h", "hostNetwork": true})), "node1"),
            "node1"
        );
    }

    #[test]
    fn cluster_first_resolv_conf() {
        let pod = json!({"metadata": {"name": "a", "namespace": "web"}, "spec": {}});
        assert_eq!(
            resolv_conf(&pod, "nameserver 203.0.113.53\n", true),
            "search web.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.152.183.10\noptions ndots:5\n"
        );
    }

    #[test]
    fn without_a_cluster_dns_cluster_first_is_default() {
        let pod = json!({"metadata": {"name": "a", "namespace": "web", "uid": "u1"}, "spec": {}});
        assert_eq!(
            resolv_conf(&pod, "nameserver 192.168.1.1\n", false),
            "nameserver 192.168.1.1\n"
        );
        assert_eq!(
            missing_cluster_dns(&pod),
            "pod: \"a_web(u1)\". kubelet does not have ClusterDNS IP configured and cannot create Pod using \"ClusterFirst\" policy. Falling back to \"Default\" policy."
        );
        let host = json!({"metadata": {"name": "h"}, "spec": {"hostNetwork": true}});
        assert!(!wants_cluster_dns(&host));
    }

    #[test]
    fn default_and_none_policies() {
        let pod = json!({"metadata": {"name": "a", "namespace": "web"}, "spec": {"dnsPolicy": "Default"}});
        assert_eq!(
            resolv_conf(&pod, "nameserver 203.0.113.53\nsearch lab\n", true),
            "search lab\nnameserver 203.0.113.53\n"
        );
        let pod = json!({"metadata": {"name": "a"}, "spec": {"dnsPolicy": "None", "dnsConfig": {
            "nameservers": ["192.0.2.1"], "searches": ["x.example"], "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}}});
        assert_eq!(
            resolv_conf(&pod, "", true),
            "search x.example\nnameserver 192.0.2.1\noptions ndots:2 edns0\n"
        );
    }

    #[test]
    fn hosts_file_has_the_pod_and_aliases() {
        let pod = json!({"metadata": {"name": "web-0", "namespace": "d"}, "spec": {"subdomain": "web",
            "hostAliases": [{"ip": "192.0.2.9", "hostnames": ["foo.local", "bar.local"]}]}});
        let h = hosts(&pod, "10.1.1.5");
        assert!(h.contains("10.1.1.5\tweb-0.web.d.svc.cluster.local\tweb-0\n"));
        assert!(h.contains("192.0.2.9\tfoo.local\tbar.local\n"));
        assert!(h.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
    }
}
