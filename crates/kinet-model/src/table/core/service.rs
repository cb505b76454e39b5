//! The Service and Endpoints printers.

use crate::json::{arr_at, int_at, name, str_at};
use crate::table::format::{age_of, format_labels, load_balancer_string};
use crate::table::{AGE, KindTable, NAME, col, wide};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

pub(super) const SERVICE: KindTable = KindTable {
    kind: "Service",
    columns: &[
        NAME,
        col("Type", "string", D_SVC_TYPE),
        col("Cluster-IP", "string", D_SVC_CLUSTER_IP),
        col("External-IP", "string", D_SVC_EXTERNAL_IPS),
        col("Port(s)", "string", D_SVC_PORTS),
        AGE,
        wide("Selector", "string", D_SVC_SELECTOR),
    ],
    cells: service_cells,
};

const D_SVC_TYPE: &str = "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" allocates a cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by the selector or if that is not specified, by manual construction of an Endpoints object or EndpointSlice objects. If clusterIP is \"None\", no virtual IP is allocated and the endpoints are published as a set of endpoints rather than a virtual IP. \"NodePort\" builds on ClusterIP and allocates a port on every node which routes to the same endpoints as the clusterIP. \"LoadBalancer\" builds on NodePort and creates an external load-balancer (if supported in the current cloud) which routes to the same endpoints as the clusterIP. \"ExternalName\" aliases this service to the specified externalName. Several other fields do not apply to ExternalName services. More info: https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types";
const D_SVC_CLUSTER_IP: &str = "clusterIP is the IP address of the service and is usually assigned randomly. If an address is specified manually, is in-range (as per system configuration), and is not in use, it will be allocated to the service; otherwise creation of the service will fail. This field may not be changed through updates unless the type field is also being changed to ExternalName (which requires this field to be blank) or the type field is being changed from ExternalName (in which case this field may optionally be specified, as describe above).  Valid values are \"None\", empty string (\"\"), or a valid IP address. Setting this to \"None\" makes a \"headless service\" (no virtual IP), which is useful when direct endpoint connections are preferred and proxying is not required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a Service of type ExternalName, creation will fail. This field will be wiped when updating a Service to type ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies";
const D_SVC_EXTERNAL_IPS: &str = "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.  These IPs are not managed by Kubernetes.  The user is responsible for ensuring that traffic arrives at a node with this IP.  A common example is external load-balancers that are not part of the Kubernetes system.";
const D_SVC_PORTS: &str = "The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies";
const D_SVC_SELECTOR: &str = "Route service traffic to pods with label keys and values matching this selector. If empty or not present, the service is assumed to have an external process managing its endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/";

fn service_cells(svc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let ty = str_at(svc, "/spec/type");
    let cluster_ip = match arr_at(svc, "/spec/clusterIPs")
        .first()
        .and_then(Value::as_str)
    {
        Some(ip) => ip.to_string(),
        None => match str_at(svc, "/spec/clusterIP") {
            "" => "<none>".to_string(),
            ip => ip.to_string(),
        },
    };
    let external: Vec<String> = arr_at(svc, "/spec/externalIPs")
        .iter()
        .map(|v| v.as_str().unwrap_or("").to_string())
        .collect();
    let external_ip = match ty {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".to_string()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = load_balancer_string(arr_at(svc, "/status/loadBalancer/ingress"));
            if !external.is_empty() {
                let mut all: Vec<String> = Vec::new();
                if !lb.is_empty() {
                    all.extend(lb.split(',').map(str::to_string));
                }
                all.extend(external);
                all.join(",")
            } else if !lb.is_empty() {
                lb
            } else {
                "<pending>".to_string()
            }
        }
        "ExternalName" => str_at(svc, "/spec/externalName").to_string(),
        _ => "<unknown>".to_string(),
    };
    let ports: Vec<String> = arr_at(svc, "/spec/ports")
        .iter()
        .map(|p| {
            let port = int_at(p, "/port").unwrap_or(0);
            let proto = str_at(p, "/protocol");
            let node_port = int_at(p, "/nodePort").unwrap_or(0);
            if node_port > 0 {
                format!("{port}:{node_port}/{proto}")
            } else {
                format!("{port}/{proto}")
            }
        })
        .collect();
    let ports = if ports.is_empty() {
        "<none>".to_string()
    } else {
        ports.join(",")
    };
    vec![
        json!(name(svc)),
        json!(ty),
        json!(cluster_ip),
        json!(external_ip),
        json!(ports),
        json!(age_of(svc, now)),
        json!(format_labels(svc, "/spec/selector")),
    ]
}

pub(super) const ENDPOINTS: KindTable = KindTable {
    kind: "Endpoints",
    columns: &[NAME, col("Endpoints", "string", D_EP_SUBSETS), AGE],
    cells: |ep, now| {
        vec![
            json!(name(ep)),
            json!(format_endpoints(ep)),
            json!(age_of(ep, now)),
        ]
    },
};

const D_EP_SUBSETS: &str = "The set of all endpoints is the union of all subsets. Addresses are placed into subsets according to the IPs they share. A single address with multiple ports, some of which are ready and some of which are not (because they come from different containers) will result in the address being displayed in different subsets for the different ports. No address will appear in both Addresses and NotReadyAddresses in the same subset. Sets of addresses and ports that comprise a service.";

fn join_host_port(ip: &str, port: i64) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// formatEndpoints: the first three `ip:port` pairs, then how many more.
fn format_endpoints(ep: &Value) -> String {
    let subsets = arr_at(ep, "/subsets");
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    let max = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0usize;
    for ss in subsets {
        let addrs = arr_at(ss, "/addresses");
        let ports = arr_at(ss, "/ports");
        if ports.is_empty() {
            count += addrs.len();
            for a in addrs {
                if list.len() == max {
                    more = true;
                    break;
                }
                list.push(str_at(a, "/ip").to_string());
            }
            continue;
        }
        for p in ports {
            count += addrs.len();
            for a in addrs {
                if list.len() == max {
                    more = true;
                    break;
                }
                list.push(join_host_port(
                    str_at(a, "/ip"),
                    int_at(p, "/port").unwrap_or(0),
                ));
            }
        }
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count - max)
    } else {
        ret
    }
}

#[cfg(test)]
mod tests {
    use crate::table::cells;
    use crate::table::test_util::*;
    use serde_json::json;

    #[test]
    fn service_cells_by_type() {
        assert_eq!(
            names("Service"),
            "Name, Type, Cluster-IP, External-IP, Port(s), Age, +Selector"
        );
        let svc = json!({
            "metadata": {"name": "kubernetes", "creationTimestamp": ago(86400 * 3)},
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"],
                     "ports": [{"port": 443, "protocol": "TCP", "targetPort": 6443}]}
        });
        assert_eq!(
            strs(&cells("Service", &svc, now())),
            vec![
                "kubernetes",
                "ClusterIP",
                "10.96.0.1",
                "<none>",
                "443/TCP",
                "3d",
                "<none>"
            ]
        );
        let np = json!({
            "metadata": {"name": "web"},
            "spec": {"type": "NodePort", "clusterIPs": ["10.96.3.4"], "selector": {"tier": "fe", "app": "web"},
                     "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080},
                               {"port": 53, "protocol": "UDP"}]}
        });
        let c = strs(&cells("Service", &np, now()));
        assert_eq!(c[4], "80:30080/TCP,53/UDP");
        assert_eq!(c[6], "app=web,tier=fe");
        let lb = json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "clusterIPs": ["10.0.0.1"]}});
        let c = strs(&cells("Service", &lb, now()));
        assert_eq!((c[3].as_str(), c[4].as_str()), ("<pending>", "<none>"));
        let lb2 = json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "externalIPs": ["5.5.5.5"]},
                         "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}, {"hostname": "a.example.com"}]}}});
        assert_eq!(
            strs(&cells("Service", &lb2, now()))[3],
            "1.2.3.4,a.example.com,5.5.5.5"
        );
        let en = json!({"metadata": {"name": "ext"}, "spec": {"type": "ExternalName", "externalName": "db.example.com"}});
        let c = strs(&cells("Service", &en, now()));
        assert_eq!((c[2].as_str(), c[3].as_str()), ("<none>", "db.example.com"));
        let headless = json!({"metadata": {"name": "h"}, "spec": {"type": "ClusterIP", "clusterIPs": ["None"],
                              "externalIPs": ["8.8.8.8"]}});
        let c = strs(&cells("Service", &headless, now()));
        assert_eq!((c[2].as_str(), c[3].as_str()), ("None", "8.8.8.8"));
    }

    #[test]
    fn endpoints_truncation() {
        assert_eq!(names("Endpoints"), "Name, Endpoints, Age");
        let none = json!({"metadata": {"name": "e"}});
        assert_eq!(strs(&cells("Endpoints", &none, now()))[1], "<none>");
        let ep = json!({"metadata": {"name": "e"}, "subsets": [{
            "addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "fd00::3"}, {"ip": "10.0.0.4"}],
            "ports": [{"port": 80}, {"port": 443}]
        }]});
        assert_eq!(
            strs(&cells("Endpoints", &ep, now()))[1],
            "10.0.0.1:80,10.0.0.2:80,[fd00::3]:80 + 5 more..."
        );
        let headless =
            json!({"metadata": {"name": "e"}, "subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]});
        assert_eq!(strs(&cells("Endpoints", &headless, now()))[1], "10.0.0.1");
    }
}
