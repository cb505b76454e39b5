//! The resource registry: every kind the API server serves, with the facts
//! discovery, routing and kubectl need (plural, short names, scope, verbs).

/// One served resource (a REST collection), as discovery describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    /// API group; "" is the legacy core group served under /api.
    pub group: &'static str,
    pub version: &'static str,
    /// Plural REST name ("pods").
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    /// Subresources served under the resource ("status", "log", "exec", …).
    pub subresources: &'static [&'static str],
    /// Verbs advertised by discovery (read them with [`Resource::verbs`]).
    verbs: &'static [&'static str],
}

impl Resource {
    /// "v1" for the core group, "apps/v1" otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// "pods" or "deployments.apps": the name kubectl uses in messages.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Verbs advertised by discovery.
    pub fn verbs(&self) -> &'static [&'static str] {
        self.verbs
    }
}

/// The verbs of a full REST collection.
const CRUD: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
/// The verbs of a create-only collection (`bindings`).
const CREATE_ONLY: &[&str] = &["create"];

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];
const POD_SUBRESOURCES: &[&str] = &[
    "attach",
    "binding",
    "ephemeralcontainers",
    "eviction",
    "exec",
    "log",
    "portforward",
    "proxy",
    "status",
];

macro_rules! res {
    ($g:expr, $v:expr, $plural:expr, $singular:expr, $kind:expr, $ns:expr, $short:expr, $cat:expr, $sub:expr) => {
        res!(
            $g, $v, $plural, $singular, $kind, $ns, $short, $cat, $sub, CRUD
        )
    };
    ($g:expr, $v:expr, $plural:expr, $singular:expr, $kind:expr, $ns:expr, $short:expr, $cat:expr, $sub:expr, $verbs:expr) => {
        Resource {
            group: $g,
            version: $v,
            plural: $plural,
            singular: $singular,
            kind: $kind,
            namespaced: $ns,
            short_names: $short,
            categories: $cat,
            subresources: $sub,
            verbs: $verbs,
        }
    };
}

/// Every resource served, in discovery order: group, version, plural,
/// singular, kind, namespaced, short names, categories, subresources (and
/// verbs when not the full set).
#[rustfmt::skip]
pub static RESOURCES: &[Resource] = &[
    res!("", "v1", "bindings", "binding", "Binding", true, NONE, NONE, NONE, CREATE_ONLY),
    res!("", "v1", "configmaps", "configmap", "ConfigMap", true, &["cm"], NONE, NONE),
    res!("", "v1", "endpoints", "endpoints", "Endpoints", true, &["ep"], NONE, NONE),
    res!("", "v1", "events", "event", "Event", true, &["ev"], NONE, NONE),
    res!("", "v1", "namespaces", "namespace", "Namespace", false, &["ns"], NONE, &["status", "finalize"]),
    res!("", "v1", "nodes", "node", "Node", false, &["no"], NONE, &["status", "proxy"]),
    res!("", "v1", "pods", "pod", "Pod", true, &["po"], ALL, POD_SUBRESOURCES),
    res!("", "v1", "secrets", "secret", "Secret", true, NONE, NONE, NONE),
    res!("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", true, &["sa"], NONE, &["token"]),
    res!("", "v1", "services", "service", "Service", true, &["svc"], ALL, &["proxy", "status"]),
    res!("apps", "v1", "daemonsets", "daemonset", "DaemonSet", true, &["ds"], ALL, &["status"]),
    res!("apps", "v1", "deployments", "deployment", "Deployment", true, &["deploy"], ALL, &["scale", "status"]),
    res!("apps", "v1", "replicasets", "replicaset", "ReplicaSet", true, &["rs"], ALL, &["scale", "status"]),
    res!("apps", "v1", "statefulsets", "statefulset", "StatefulSet", true, &["sts"], ALL, &["scale", "status"]),
    res!("apps", "v1", "controllerrevisions", "controllerrevision", "ControllerRevision", true, NONE, NONE, NONE),
    res!("batch", "v1", "jobs", "job", "Job", true, NONE, ALL, &["status"]),
    res!("batch", "v1", "cronjobs", "cronjob", "CronJob", true, &["cj"], ALL, &["status"]),
    res!("coordination.k8s.io", "v1", "leases", "lease", "Lease", true, NONE, NONE, NONE),
    res!("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", true, NONE, NONE, NONE),
    res!("networking.k8s.io", "v1", "ingressclasses", "ingressclass", "IngressClass", false, NONE, NONE, NONE),
    res!("networking.k8s.io", "v1", "ingresses", "ingress", "Ingress", true, &["ing"], NONE, &["status"]),
    res!("networking.k8s.io", "v1", "networkpolicies", "networkpolicy", "NetworkPolicy", true, &["netpol"], NONE, NONE),
];

/// Resources of one group/version.
pub fn in_group_version<'a>(
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'static Resource> + 'a {
    RESOURCES
        .iter()
        .filter(move |r| r.group == group && r.version == version)
}

/// The served groups other than core, each with its (single) version, in order.
pub fn groups() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        if !out.iter().any(|(g, _)| *g == r.group) {
            out.push((r.group, r.version));
        }
    }
    out
}

/// Finds a resource by group, version and plural.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Finds the resource that stores objects of `apiVersion`/`kind`.
pub fn for_kind(api_version: &str, kind: &str) -> Option<&'static Resource> {
    let (group, version) = split_api_version(api_version);
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.kind == kind)
}

/// "apps/v1" -> ("apps", "v1"); "v1" -> ("", "v1").
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// The store key of an object: `/<group>/<plural>/<namespace>/<name>` (core group is "core";
/// cluster-scoped objects use "-" as namespace).
pub fn store_key(r: &Resource, namespace: Option<&str>, name: &str) -> String {
    format!("{}{}", store_prefix(r, namespace), name)
}

/// The key prefix that lists a collection (all namespaces when `namespace` is None).
pub fn store_prefix(r: &Resource, namespace: Option<&str>) -> String {
    let group = if r.group.is_empty() { "core" } else { r.group };
    match (r.namespaced, namespace) {
        (true, Some(ns)) => format!("/{group}/{}/{ns}/", r.plural),
        (true, None) => format!("/{group}/{}/", r.plural),
        (false, _) => format!("/{group}/{}/-/", r.plural),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_core_and_group_resources() {
        let pods = find("", "v1", "pods").unwrap();
        assert_eq!(pods.kind, "Pod");
        assert_eq!(pods.api_version(), "v1");
        let deploy = for_kind("apps/v1", "Deployment").unwrap();
        assert_eq!(deploy.plural, "deployments");
        assert_eq!(deploy.group_resource(), "deployments.apps");
        assert!(find("", "v1", "deployments").is_none());
    }

    #[test]
    fn keys_carry_scope() {
        let pods = find("", "v1", "pods").unwrap();
        assert_eq!(
            store_key(pods, Some("default"), "a"),
            "/core/pods/default/a"
        );
        assert_eq!(store_prefix(pods, None), "/core/pods/");
        let nodes = find("", "v1", "nodes").unwrap();
        assert_eq!(store_key(nodes, None, "node1"), "/core/nodes/-/node1");
        // a prefix of one namespace never matches another that starts alike
        assert!(!"/core/pods/default2/a".starts_with(&store_prefix(pods, Some("default"))));
    }

    #[test]
    fn verbs_come_from_the_entry() {
        assert_eq!(find("", "v1", "bindings").unwrap().verbs(), ["create"]);
        let pods = find("", "v1", "pods").unwrap().verbs();
        assert_eq!(pods.len(), 8);
        assert!(pods.contains(&"watch") && pods.contains(&"deletecollection"));
        assert!(RESOURCES.iter().all(|r| r.verbs().contains(&"create")));
    }

    #[test]
    fn groups_are_listed_once() {
        let g = groups();
        assert_eq!(g.iter().filter(|(g, _)| *g == "apps").count(), 1);
        assert!(g.contains(&("networking.k8s.io", "v1")));
    }
}
