//! Small builders of Services and EndpointSlices, for tests and benchmarks.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::model::SERVICE_NAME_LABEL;

/// A ClusterIP Service with ports `(name, port, protocol)`.
pub fn service(
    namespace: &str,
    name: &str,
    cluster_ip: &str,
    ports: &[(&str, i32, &str)],
) -> Service {
    Service {
        metadata: ObjectMeta {
            namespace: Some(namespace.into()),
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            cluster_ip: (!cluster_ip.is_empty()).then(|| cluster_ip.into()),
            ports: Some(
                ports
                    .iter()
                    .map(|(n, p, proto)| ServicePort {
                        name: (!n.is_empty()).then(|| n.to_string()),
                        port: *p,
                        protocol: Some(proto.to_string()),
                        ..ServicePort::default()
                    })
                    .collect(),
            ),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

/// A ready (or not ready) endpoint on a node.
pub fn ep(ip: &str, node: &str, ready: bool) -> Endpoint {
    endpoint(ip, node, ready, ready, false)
}

/// A terminating endpoint, still serving or not.
pub fn terminating_ep(ip: &str, node: &str, serving: bool) -> Endpoint {
    endpoint(ip, node, false, serving, true)
}

fn endpoint(ip: &str, node: &str, ready: bool, serving: bool, terminating: bool) -> Endpoint {
    Endpoint {
        addresses: vec![ip.into()],
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        node_name: Some(node.into()),
        ..Endpoint::default()
    }
}

/// An IPv4 EndpointSlice of `service` with ports `(name, port, protocol)`.
pub fn slice(
    namespace: &str,
    service: &str,
    name: &str,
    ports: &[(&str, i32, &str)],
    endpoints: &[Endpoint],
) -> EndpointSlice {
    EndpointSlice {
        address_type: "IPv4".into(),
        metadata: ObjectMeta {
            namespace: Some(namespace.into()),
            name: Some(name.into()),
            labels: Some(BTreeMap::from([(
                SERVICE_NAME_LABEL.to_string(),
                service.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        ports: Some(
            ports
                .iter()
                .map(|(n, p, proto)| EndpointPort {
                    name: Some(n.to_string()),
                    port: Some(*p),
                    protocol: Some(proto.to_string()),
                    ..EndpointPort::default()
                })
                .collect(),
        ),
        endpoints: Some(endpoints.to_vec()),
    }
}
