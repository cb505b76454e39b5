//! Discovery (legacy and aggregated v2), /version and the OpenAPI v3 index that
//! kubectl reads to learn that the server validates fields itself.

use kinet_model::resources::{self, Resource};
use serde_json::{Value, json};

pub const MAJOR: &str = "1";
pub const MINOR: &str = "33";
pub const GIT_VERSION: &str = "v1.33.0";

/// The path of `r`'s collection (in `namespace` when it is namespaced):
/// `/api/v1/namespaces/NS/pods`, `/apis/apps/v1/deployments`'s like.
pub fn collection_path(r: &Resource, namespace: &str) -> String {
    let base = if r.group.is_empty() {
        format!("/api/{}", r.version)
    } else {
        format!("/apis/{}/{}", r.group, r.version)
    };
    if r.namespaced {
        format!("{base}/namespaces/{namespace}/{}", r.plural)
    } else {
        format!("{base}/{}", r.plural)
    }
}

pub fn version() -> Value {
    json!({
        "major": MAJOR,
        "minor": MINOR,
        "gitVersion": GIT_VERSION,
        "gitCommit": "kinet",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// The kind and verbs of a subresource, as upstream discovery lists them.
fn subresource(sub: &str, r: &Resource) -> (Value, Vec<&'static str>) {
    let gvk = |g: &str, v: &str, k: &str| json!({"group": g, "version": v, "kind": k});
    let own = gvk(r.group, r.version, r.kind);
    match sub {
        "status" | "ephemeralcontainers" => (own, vec!["get", "patch", "update"]),
        "log" => (own, vec!["get"]),
        "exec" => (gvk("", "v1", "PodExecOptions"), vec!["create", "get"]),
        "attach" => (gvk("", "v1", "PodAttachOptions"), vec!["create", "get"]),
        "portforward" => (
            gvk("", "v1", "PodPortForwardOptions"),
            vec!["create", "get"],
        ),
        "binding" => (gvk("", "v1", "Binding"), vec!["create"]),
        "eviction" => (gvk("policy", "v1", "Eviction"), vec!["create"]),
        "scale" => (
            gvk("autoscaling", "v1", "Scale"),
            vec!["get", "patch", "update"],
        ),
        "finalize" => (own, vec!["update"]),
        "token" => (
            gvk("authentication.k8s.io", "v1", "TokenRequest"),
            vec!["create"],
        ),
        "proxy" => (
            gvk("", "v1", &format!("{}ProxyOptions", r.kind)),
            vec!["create", "delete", "get", "patch", "update"],
        ),
        _ => (own, vec!["get"]),
    }
}

/// GET /api/v1 or /apis/G/V: an APIResourceList.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let mut out = Vec::new();
    for r in resources::in_group_version(group, version) {
        out.push(json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs(),
            "shortNames": r.short_names,
            "categories": r.categories,
        }));
        for sub in r.subresources {
            let (kind, verbs) = subresource(sub, r);
            let mut e = json!({
                "name": format!("{}/{}", r.plural, sub),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": kind["kind"],
                "verbs": verbs,
            });
            if kind["group"] != r.group || kind["version"] != r.version {
                e["group"] = kind["group"].clone();
                e["version"] = kind["version"].clone();
            }
            out.push(e);
        }
    }
    if out.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}),
    )
}

pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]
    })
}

pub fn api_group_list() -> Value {
    let groups: Vec<Value> = resources::groups()
        .into_iter()
        .map(|(g, v)| {
            let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
            json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn api_group(group: &str) -> Option<Value> {
    let (g, v) = resources::groups().into_iter().find(|(g, _)| *g == group)?;
    let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
    Some(
        json!({"kind": "APIGroup", "apiVersion": "v1", "name": g, "versions": [gv.clone()], "preferredVersion": gv}),
    )
}

/// Aggregated discovery (apidiscovery.k8s.io/v2) for /api (`core`) or /apis.
pub fn aggregated(core: bool) -> Value {
    let groups: Vec<(&str, &str)> = if core {
        vec![("", "v1")]
    } else {
        resources::groups()
    };
    let items: Vec<Value> = groups
        .into_iter()
        .map(|(g, v)| {
            let res: Vec<Value> = resources::in_group_version(g, v)
                .map(|r| {
                    let subs: Vec<Value> = r
                        .subresources
                        .iter()
                        .map(|s| {
                            let (kind, verbs) = subresource(s, r);
                            json!({"subresource": s, "responseKind": kind, "verbs": verbs})
                        })
                        .collect();
                    let mut e = json!({
                        "resource": r.plural,
                        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                        "singularResource": r.singular,
                        "verbs": r.verbs(),
                    });
                    if !r.short_names.is_empty() {
                        e["shortNames"] = json!(r.short_names);
                    }
                    if !r.categories.is_empty() {
                        e["categories"] = json!(r.categories);
                    }
                    if !subs.is_empty() {
                        e["subresources"] = json!(subs);
                    }
                    e
                })
                .collect();
            let mut meta = json!({"creationTimestamp": null});
            if !g.is_empty() {
                meta["name"] = json!(g);
            }
            json!({"metadata": meta, "versions": [{"version": v, "resources": res, "freshness": "Current"}]})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

/// GET /openapi/v3: the index of group-version documents.
pub fn openapi_index() -> Value {
    let mut paths = serde_json::Map::new();
    paths.insert(
        "api/v1".into(),
        json!({"serverRelativeURL": "/openapi/v3/api/v1?hash=kinet1"}),
    );
    for (g, v) in resources::groups() {
        paths.insert(
            format!("apis/{g}/{v}"),
            json!({"serverRelativeURL": format!("/openapi/v3/apis/{g}/{v}?hash=kinet1")}),
        );
    }
    json!({"paths": paths})
}

/// GET /openapi/v3/api/v1 (or apis/G/V): the operations of each resource, with the
/// query parameters the server honours (`fieldValidation`, `dryRun`, `fieldManager`).
pub fn openapi_group_version(group: &str, version: &str) -> Option<Value> {
    let mut paths = serde_json::Map::new();
    let param = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}});
    for r in resources::in_group_version(group, version) {
        if r.kind == "Binding" {
            continue;
        }
        let item = format!("{}/{{name}}", collection_path(r, "{namespace}"));
        let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
        let op = |verb: &str| {
            json!({
                "operationId": format!("{verb}{}", r.kind),
                "parameters": [param("dryRun"), param("fieldManager"), param("fieldValidation"), param("pretty")],
                "x-kubernetes-action": verb,
                "x-kubernetes-group-version-kind": gvk,
                "responses": {"200": {"description": "OK"}}
            })
        };
        paths.insert(item, json!({"get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete")}));
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        // No schemas: kubectl then computes apply patches from its compiled-in types.
        "components": {}
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_discovery_lists_pods_and_subresources() {
        let l = resource_list("", "v1").unwrap();
        let names: Vec<&str> = l["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"pods"));
        assert!(names.contains(&"pods/exec"));
        assert!(names.contains(&"pods/log"));
        assert!(resource_list("", "v2").is_none());
        let agg = aggregated(false);
        assert!(
            agg["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["metadata"]["name"] == "apps")
        );
    }

    #[test]
    fn openapi_declares_field_validation_on_patch() {
        let doc = openapi_group_version("apps", "v1").unwrap();
        let p = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(p["x-kubernetes-group-version-kind"]["kind"], "Deployment");
        assert!(
            p["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["name"] == "fieldValidation")
        );
    }
}
