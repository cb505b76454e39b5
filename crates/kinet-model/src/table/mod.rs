//! Server-side printing: the column definitions and row cells that the API
//! server returns when a client asks for
//! `application/json;as=Table;v=v1;g=meta.k8s.io` (what `kubectl get` shows).
//!
//! Column sets, value formats and the `<none>`/`<unknown>`/`<pending>`
//! placeholders follow the upstream server-side printers
//! (pkg/printers/internalversion in kubernetes/kubernetes). The server always
//! prints the wide (`priority: 1`) cells too; kubectl hides them unless it
//! runs with `-o wide`.
//!
//! Objects are taken as their external (v1) JSON with defaults applied.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

/// One `TableColumnDefinition`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub type_: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    pub priority: i32,
}

impl Column {
    /// The column as the JSON object of a `Table`'s `columnDefinitions`.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

const fn col(name: &'static str, type_: &'static str, description: &'static str) -> Column {
    Column {
        name,
        type_,
        format: "",
        description,
        priority: 0,
    }
}

const fn wide(name: &'static str, type_: &'static str, description: &'static str) -> Column {
    Column {
        name,
        type_,
        format: "",
        description,
        priority: 1,
    }
}

const fn name_col() -> Column {
    Column {
        name: "Name",
        type_: "string",
        format: "name",
        description: D_NAME,
        priority: 0,
    }
}

const fn age_col() -> Column {
    col("Age", "string", D_AGE)
}

// Descriptions: the swagger docs upstream refers to (ObjectMeta, PodSpec, ...).
const D_NAME: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const D_AGE: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const D_CONTAINERS: &str = "Names of each container in the template.";
const D_IMAGES: &str = "Images referenced by each container in the template.";
const D_POD_IP: &str = "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.";
const D_NODE_NAME: &str = "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename";
const D_NOMINATED: &str = "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.";
const D_READINESS_GATES: &str = "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates";
const D_RS_SPEC_REPLICAS: &str = "Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset";
const D_RS_STATUS_REPLICAS: &str = "Replicas is the most recently observed number of non-terminating pods. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset";
const D_RS_READY: &str =
    "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.";
const D_RS_SELECTOR: &str = "Selector is a label query over pods that should match the replica count. Label keys and values that must match in order to be controlled by this replica set. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";
const D_DS_DESIRED: &str = "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod). More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/";
const D_DS_CURRENT: &str = "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/";
const D_DS_READY: &str = "numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.";
const D_DS_UPDATED: &str = "The total number of nodes that are running updated daemon pod";
const D_DS_AVAILABLE: &str = "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)";
const D_NODE_SELECTOR: &str = "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/";
const D_DS_SELECTOR: &str = "A label query over pods that are managed by the daemon set. Must match in order to be controlled. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";
const D_JOB_SUCCEEDED: &str = "The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.";
const D_JOB_SELECTOR: &str = "A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";
const D_CJ_SCHEDULE: &str = "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.";
const D_CJ_TIMEZONE: &str = "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will default to the time zone of the kube-controller-manager process. The set of valid time zone names and the time zone offset is loaded from the system-wide time zone database by the API server during CronJob validation and the controller manager during execution. If no system-wide time zone database can be found a bundled version of the database is used instead. If the time zone name becomes invalid during the lifetime of a CronJob or due to a change in host configuration, the controller will stop creating new new Jobs and will create a system event with the reason UnknownTimeZone. More information can be found in https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones";
const D_CJ_SUSPEND: &str = "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.  Defaults to false.";
const D_CJ_ACTIVE: &str = "A list of pointers to currently running jobs.";
const D_CJ_LAST: &str = "Information when was the last time the job was successfully scheduled.";
const D_SVC_TYPE: &str = "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" allocates a cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by the selector or if that is not specified, by manual construction of an Endpoints object or EndpointSlice objects. If clusterIP is \"None\", no virtual IP is allocated and the endpoints are published as a set of endpoints rather than a virtual IP. \"NodePort\" builds on ClusterIP and allocates a port on every node which routes to the same endpoints as the clusterIP. \"LoadBalancer\" builds on NodePort and creates an external load-balancer (if supported in the current cloud) which routes to the same endpoints as the clusterIP. \"ExternalName\" aliases this service to the specified externalName. Several other fields do not apply to ExternalName services. More info: https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types";
const D_SVC_CLUSTER_IP: &str = "clusterIP is the IP address of the service and is usually assigned randomly. If an address is specified manually, is in-range (as per system configuration), and is not in use, it will be allocated to the service; otherwise creation of the service will fail. This field may not be changed through updates unless the type field is also being changed to ExternalName (which requires this field to be blank) or the type field is being changed from ExternalName (in which case this field may optionally be specified, as describe above).  Valid values are \"None\", empty string (\"\"), or a valid IP address. Setting this to \"None\" makes a \"headless service\" (no virtual IP), which is useful when direct endpoint connections are preferred and proxying is not required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a Service of type ExternalName, creation will fail. This field will be wiped when updating a Service to type ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies";
const D_SVC_EXTERNAL_IPS: &str = "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.  These IPs are not managed by Kubernetes.  The user is responsible for ensuring that traffic arrives at a node with this IP.  A common example is external load-balancers that are not part of the Kubernetes system.";
const D_SVC_PORTS: &str = "The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies";
const D_SVC_SELECTOR: &str = "Route service traffic to pods with label keys and values matching this selector. If empty or not present, the service is assumed to have an external process managing its endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/";
const D_EP_SUBSETS: &str = "The set of all endpoints is the union of all subsets. Addresses are placed into subsets according to the IPs they share. A single address with multiple ports, some of which are ready and some of which are not (because they come from different containers) will result in the address being displayed in different subsets for the different ports. No address will appear in both Addresses and NotReadyAddresses in the same subset. Sets of addresses and ports that comprise a service.";
const D_KUBELET_VERSION: &str = "Kubelet Version reported by the node.";
const D_NODE_ADDRESSES: &str = "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).";
const D_OS_IMAGE: &str =
    "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).";
const D_KERNEL: &str =
    "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).";
const D_CRI: &str = "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).";
const D_EV_LAST: &str = "The time at which the most recent occurrence of this event was recorded.";
const D_EV_TYPE: &str =
    "Type of this event (Normal, Warning), new types could be added in the future";
const D_EV_REASON: &str = "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.";
const D_EV_OBJECT: &str = "The object that this event is about.";
const D_EV_SUBOBJECT: &str = "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.";
const D_EV_SOURCE: &str =
    "The component reporting this event. Should be a short machine understandable string.";
const D_EV_MESSAGE: &str = "A human-readable description of the status of this operation.";
const D_EV_FIRST: &str =
    "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)";
const D_EV_COUNT: &str = "The number of times this event has occurred.";
const D_SECRET_TYPE: &str = "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types";
const D_SECRET_DATA: &str = "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4";
const D_SA_SECRETS: &str = "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use. Pods are only limited to this list if this service account has a \"kubernetes.io/enforce-mountable-secrets\" annotation set to \"true\". The \"kubernetes.io/enforce-mountable-secrets\" annotation is deprecated since v1.32. Prefer separate namespaces to isolate access to mounted secrets. This field should not be used to find auto-generated service account token secrets for use outside of pods. Instead, tokens can be requested directly using the TokenRequest API, or service account token secrets can be manually created. More info: https://kubernetes.io/docs/concepts/configuration/secret";
const D_CM_DATA: &str = "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.";
const D_DEP_UPDATED: &str = "Total number of non-terminating pods targeted by this deployment that have the desired template spec.";
const D_DEP_AVAILABLE: &str = "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.";
const D_DEP_SELECTOR: &str = "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment. It must match the pod template's labels.";
const D_NP_POD_SELECTOR: &str = "podSelector selects the pods to which this NetworkPolicy object applies. The array of rules is applied to any pods selected by this field. An empty selector matches all pods in the policy's namespace. Multiple network policies can select the same set of pods. In this case, the ingress rules for each are combined additively. This field is optional. If it is not specified, it defaults to an empty selector.";
const D_ES_ADDRESS_TYPE: &str = "addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be the same type. This field is immutable after creation. The following address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name. (Deprecated) The EndpointSlice controller only generates, and kube-proxy only processes, slices of addressType \"IPv4\" and \"IPv6\". No semantics are defined for the \"FQDN\" type.";
const D_ES_PORTS: &str = "ports specifies the list of network ports exposed by each endpoint in this slice. Each port must have a unique name. Each slice may include a maximum of 100 ports. Services always have at least 1 port, so EndpointSlices generated by the EndpointSlice controller will likewise always have at least 1 port. EndpointSlices used for other purposes may have an empty ports list.";
const D_ES_ENDPOINTS: &str = "endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of 1000 endpoints.";
const D_ROLE_REF: &str = "roleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable.";
const D_LEASE_HOLDER: &str = "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.";

/// The column definitions upstream registers for `kind`. Kinds without a
/// printer get the apiserver's default table (`Name`, `Created At`).
pub fn columns(kind: &str) -> Vec<Column> {
    match kind {
        "Pod" => vec![
            name_col(),
            col(
                "Ready",
                "string",
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            col(
                "Status",
                "string",
                "The aggregate status of the containers in this pod.",
            ),
            col(
                "Restarts",
                "string",
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            age_col(),
            wide("IP", "string", D_POD_IP),
            wide("Node", "string", D_NODE_NAME),
            wide("Nominated Node", "string", D_NOMINATED),
            wide("Readiness Gates", "string", D_READINESS_GATES),
        ],
        "Node" => vec![
            name_col(),
            col("Status", "string", "The status of the node"),
            col("Roles", "string", "The roles of the node"),
            age_col(),
            col("Version", "string", D_KUBELET_VERSION),
            wide("Internal-IP", "string", D_NODE_ADDRESSES),
            wide("External-IP", "string", D_NODE_ADDRESSES),
            wide("OS-Image", "string", D_OS_IMAGE),
            wide("Kernel-Version", "string", D_KERNEL),
            wide("Container-Runtime", "string", D_CRI),
        ],
        "Namespace" => vec![
            name_col(),
            col("Status", "string", "The status of the namespace"),
            age_col(),
        ],
        "ConfigMap" => vec![name_col(), col("Data", "string", D_CM_DATA), age_col()],
        "Secret" => vec![
            name_col(),
            col("Type", "string", D_SECRET_TYPE),
            col("Data", "string", D_SECRET_DATA),
            age_col(),
        ],
        "ServiceAccount" => vec![
            name_col(),
            col("Secrets", "string", D_SA_SECRETS),
            age_col(),
        ],
        "Event" => vec![
            col("Last Seen", "string", D_EV_LAST),
            col("Type", "string", D_EV_TYPE),
            col("Reason", "string", D_EV_REASON),
            col("Object", "string", D_EV_OBJECT),
            wide("Subobject", "string", D_EV_SUBOBJECT),
            wide("Source", "string", D_EV_SOURCE),
            col("Message", "string", D_EV_MESSAGE),
            wide("First Seen", "string", D_EV_FIRST),
            wide("Count", "string", D_EV_COUNT),
            Column {
                name: "Name",
                type_: "string",
                format: "name",
                description: D_NAME,
                priority: 1,
            },
        ],
        "Service" => vec![
            name_col(),
            col("Type", "string", D_SVC_TYPE),
            col("Cluster-IP", "string", D_SVC_CLUSTER_IP),
            col("External-IP", "string", D_SVC_EXTERNAL_IPS),
            col("Port(s)", "string", D_SVC_PORTS),
            age_col(),
            wide("Selector", "string", D_SVC_SELECTOR),
        ],
        "Endpoints" => vec![
            name_col(),
            col("Endpoints", "string", D_EP_SUBSETS),
            age_col(),
        ],
        "EndpointSlice" => vec![
            name_col(),
            col("AddressType", "string", D_ES_ADDRESS_TYPE),
            col("Ports", "string", D_ES_PORTS),
            col("Endpoints", "string", D_ES_ENDPOINTS),
            age_col(),
        ],
        "Deployment" => vec![
            name_col(),
            col("Ready", "string", "Number of the pod with ready state"),
            col("Up-to-date", "string", D_DEP_UPDATED),
            col("Available", "string", D_DEP_AVAILABLE),
            age_col(),
            wide("Containers", "string", D_CONTAINERS),
            wide("Images", "string", D_IMAGES),
            wide("Selector", "string", D_DEP_SELECTOR),
        ],
        "ReplicaSet" => vec![
            name_col(),
            col("Desired", "integer", D_RS_SPEC_REPLICAS),
            col("Current", "integer", D_RS_STATUS_REPLICAS),
            col("Ready", "integer", D_RS_READY),
            age_col(),
            wide("Containers", "string", D_CONTAINERS),
            wide("Images", "string", D_IMAGES),
            wide("Selector", "string", D_RS_SELECTOR),
        ],
        "StatefulSet" => vec![
            name_col(),
            col("Ready", "string", "Number of the pod with ready state"),
            age_col(),
            wide("Containers", "string", D_CONTAINERS),
            wide("Images", "string", D_IMAGES),
        ],
        "DaemonSet" => vec![
            name_col(),
            col("Desired", "integer", D_DS_DESIRED),
            col("Current", "integer", D_DS_CURRENT),
            col("Ready", "integer", D_DS_READY),
            col("Up-to-date", "integer", D_DS_UPDATED),
            col("Available", "integer", D_DS_AVAILABLE),
            col("Node Selector", "string", D_NODE_SELECTOR),
            age_col(),
            wide("Containers", "string", D_CONTAINERS),
            wide("Images", "string", D_IMAGES),
            wide("Selector", "string", D_DS_SELECTOR),
        ],
        "Job" => vec![
            name_col(),
            col("Status", "string", "Status of the job."),
            col("Completions", "string", D_JOB_SUCCEEDED),
            col("Duration", "string", "Time required to complete the job."),
            age_col(),
            wide("Containers", "string", D_CONTAINERS),
            wide("Images", "string", D_IMAGES),
            wide("Selector", "string", D_JOB_SELECTOR),
        ],
        "CronJob" => vec![
            name_col(),
            col("Schedule", "string", D_CJ_SCHEDULE),
            col("Timezone", "string", D_CJ_TIMEZONE),
            col("Suspend", "boolean", D_CJ_SUSPEND),
            col("Active", "integer", D_CJ_ACTIVE),
            col("Last Schedule", "string", D_CJ_LAST),
            age_col(),
            wide("Containers", "string", D_CONTAINERS),
            wide("Images", "string", D_IMAGES),
            wide("Selector", "string", D_JOB_SELECTOR),
        ],
        "Ingress" => vec![
            name_col(),
            col(
                "Class",
                "string",
                "The name of the IngressClass resource that should be used for additional configuration",
            ),
            col(
                "Hosts",
                "string",
                "Hosts that incoming requests are matched against before the ingress rule",
            ),
            col(
                "Address",
                "string",
                "Address is a list containing ingress points for the load-balancer",
            ),
            col("Ports", "string", "Ports of TLS configurations that open"),
            age_col(),
        ],
        "IngressClass" => vec![
            name_col(),
            col(
                "Controller",
                "string",
                "Controller that is responsible for handling this class",
            ),
            col(
                "Parameters",
                "string",
                "A reference to a resource with additional parameters",
            ),
            age_col(),
        ],
        "NetworkPolicy" => vec![
            name_col(),
            col("Pod-Selector", "string", D_NP_POD_SELECTOR),
            age_col(),
        ],
        "RoleBinding" | "ClusterRoleBinding" => {
            let what = if kind == "RoleBinding" {
                "roleBinding"
            } else {
                "clusterRoleBinding"
            };
            let (users, groups, sas) = match what {
                "roleBinding" => (
                    "Users in the roleBinding",
                    "Groups in the roleBinding",
                    "ServiceAccounts in the roleBinding",
                ),
                _ => (
                    "Users in the clusterRoleBinding",
                    "Groups in the clusterRoleBinding",
                    "ServiceAccounts in the clusterRoleBinding",
                ),
            };
            vec![
                name_col(),
                col("Role", "string", D_ROLE_REF),
                age_col(),
                wide("Users", "string", users),
                wide("Groups", "string", groups),
                wide("ServiceAccounts", "string", sas),
            ]
        }
        "Lease" => vec![
            name_col(),
            col("Holder", "string", D_LEASE_HOLDER),
            age_col(),
        ],
        _ => vec![name_col(), col("Created At", "date", D_AGE)],
    }
}

/// The row cells for `obj` (all columns of [`columns`], wide ones included),
/// with ages measured against `now`.
pub fn cells(kind: &str, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let name = Value::String(s(obj, &["metadata", "name"]).to_string());
    let age = Value::String(age_of(obj, now));
    match kind {
        "Pod" => pod_cells(obj, now),
        "Node" => node_cells(obj, now),
        "Namespace" => vec![name, json!(s(obj, &["status", "phase"])), age],
        "ConfigMap" => {
            let n = obj_len(get(obj, &["data"])) + obj_len(get(obj, &["binaryData"]));
            vec![name, json!(n), age]
        }
        "Secret" => vec![
            name,
            json!(s(obj, &["type"])),
            json!(obj_len(get(obj, &["data"]))),
            age,
        ],
        "ServiceAccount" => vec![name, json!(arr(obj, &["secrets"]).len() as i64), age],
        "Event" => event_cells(obj, now),
        "Service" => service_cells(obj, now),
        "Endpoints" => vec![name, json!(format_endpoints(obj)), age],
        "EndpointSlice" => vec![
            name,
            json!(s(obj, &["addressType"])),
            json!(format_discovery_ports(arr(obj, &["ports"]))),
            json!(format_discovery_endpoints(arr(obj, &["endpoints"]))),
            age,
        ],
        "Deployment" => {
            let desired = replicas(obj);
            let ready = int(obj, &["status", "readyReplicas"]);
            let (names, images) =
                layout_containers(arr(obj, &["spec", "template", "spec", "containers"]));
            vec![
                name,
                json!(format!("{ready}/{desired}")),
                json!(int(obj, &["status", "updatedReplicas"])),
                json!(int(obj, &["status", "availableReplicas"])),
                age,
                json!(names),
                json!(images),
                json!(deployment_selector(get(obj, &["spec", "selector"]))),
            ]
        }
        "ReplicaSet" => {
            let (names, images) =
                layout_containers(arr(obj, &["spec", "template", "spec", "containers"]));
            vec![
                name,
                json!(replicas(obj)),
                json!(int(obj, &["status", "replicas"])),
                json!(int(obj, &["status", "readyReplicas"])),
                age,
                json!(names),
                json!(images),
                json!(format_label_selector(get(obj, &["spec", "selector"]))),
            ]
        }
        "StatefulSet" => {
            let (names, images) =
                layout_containers(arr(obj, &["spec", "template", "spec", "containers"]));
            let ready = int(obj, &["status", "readyReplicas"]);
            vec![
                name,
                json!(format!("{ready}/{}", replicas(obj))),
                age,
                json!(names),
                json!(images),
            ]
        }
        "DaemonSet" => {
            let (names, images) =
                layout_containers(arr(obj, &["spec", "template", "spec", "containers"]));
            vec![
                name,
                json!(int(obj, &["status", "desiredNumberScheduled"])),
                json!(int(obj, &["status", "currentNumberScheduled"])),
                json!(int(obj, &["status", "numberReady"])),
                json!(int(obj, &["status", "updatedNumberScheduled"])),
                json!(int(obj, &["status", "numberAvailable"])),
                json!(format_labels(get(
                    obj,
                    &["spec", "template", "spec", "nodeSelector"]
                ))),
                age,
                json!(names),
                json!(images),
                json!(format_label_selector(get(obj, &["spec", "selector"]))),
            ]
        }
        "Job" => job_cells(obj, now),
        "CronJob" => {
            let last = match get(obj, &["status", "lastScheduleTime"]) {
                Some(Value::String(t)) => since(t, now),
                _ => "<none>".to_string(),
            };
            let tz = match get(obj, &["spec", "timeZone"]) {
                Some(Value::String(t)) => t.clone(),
                _ => "<none>".to_string(),
            };
            let suspend = match get(obj, &["spec", "suspend"]) {
                Some(Value::Bool(true)) => "True",
                Some(Value::Bool(false)) => "False",
                _ => "<unset>",
            };
            let tpl = &[
                "spec",
                "jobTemplate",
                "spec",
                "template",
                "spec",
                "containers",
            ];
            let (names, images) = layout_containers(arr(obj, tpl));
            vec![
                name,
                json!(s(obj, &["spec", "schedule"])),
                json!(tz),
                json!(suspend),
                json!(arr(obj, &["status", "active"]).len() as i64),
                json!(last),
                age,
                json!(names),
                json!(images),
                json!(format_label_selector(get(
                    obj,
                    &["spec", "jobTemplate", "spec", "selector"]
                ))),
            ]
        }
        "Ingress" => {
            let class = match get(obj, &["spec", "ingressClassName"]) {
                Some(Value::String(c)) => c.clone(),
                _ => "<none>".to_string(),
            };
            let ports = if arr(obj, &["spec", "tls"]).is_empty() {
                "80"
            } else {
                "80, 443"
            };
            vec![
                name,
                json!(class),
                json!(format_hosts(arr(obj, &["spec", "rules"]))),
                json!(load_balancer_string(arr(
                    obj,
                    &["status", "loadBalancer", "ingress"]
                ))),
                json!(ports),
                age,
            ]
        }
        "IngressClass" => {
            let params = match get(obj, &["spec", "parameters"]) {
                Some(p @ Value::Object(_)) => {
                    let mut out = s(p, &["kind"]).to_string();
                    if let Some(Value::String(g)) = p.get("apiGroup") {
                        out = format!("{out}.{g}");
                    }
                    format!("{out}/{}", s(p, &["name"]))
                }
                _ => "<none>".to_string(),
            };
            vec![
                name,
                json!(s(obj, &["spec", "controller"])),
                json!(params),
                age,
            ]
        }
        "NetworkPolicy" => {
            let sel = match get(obj, &["spec", "podSelector"]) {
                Some(v) => format_label_selector(Some(v)),
                // The internal type holds a non-pointer selector: absent means empty.
                None => format_label_selector(Some(&json!({}))),
            };
            vec![name, json!(sel), age]
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            let role = format!(
                "{}/{}",
                s(obj, &["roleRef", "kind"]),
                s(obj, &["roleRef", "name"])
            );
            let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
            for subj in arr(obj, &["subjects"]) {
                let n = s(subj, &["name"]).to_string();
                match s(subj, &["kind"]) {
                    "User" => users.push(n),
                    "Group" => groups.push(n),
                    "ServiceAccount" => sas.push(format!("{}/{}", s(subj, &["namespace"]), n)),
                    _ => {}
                }
            }
            vec![
                name,
                json!(role),
                age,
                json!(users.join(", ")),
                json!(groups.join(", ")),
                json!(sas.join(", ")),
            ]
        }
        "Lease" => vec![name, json!(s(obj, &["spec", "holderIdentity"])), age],
        _ => {
            let created = get(obj, &["metadata", "creationTimestamp"])
                .and_then(Value::as_str)
                .and_then(parse_time)
                .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string());
            vec![name, json!(created)]
        }
    }
}

/// `k8s.io/apimachinery/pkg/util/duration.HumanDuration`.
pub fn human_duration(d: Duration) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = d.num_minutes();
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = d.num_hours();
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{}h", hours / 24, h);
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{}d", hours / 24 / 365, dy);
    }
    format!("{}y", hours / 24 / 365)
}

/// The Pod STATUS column.
pub fn pod_status_reason(pod: &Value) -> String {
    pod_summary(pod).reason
}

// ---------------------------------------------------------------------------
// JSON helpers

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    if cur.is_null() { None } else { Some(cur) }
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    get(v, path).and_then(Value::as_str).unwrap_or("")
}

fn int(v: &Value, path: &[&str]) -> i64 {
    get(v, path).and_then(Value::as_i64).unwrap_or(0)
}

fn arr<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    get(v, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn obj_len(v: Option<&Value>) -> i64 {
    v.and_then(Value::as_object).map_or(0, |m| m.len() as i64)
}

fn replicas(obj: &Value) -> i64 {
    // spec.replicas defaults to 1.
    get(obj, &["spec", "replicas"])
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

fn parse_time(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// translateTimestampSince: `<unknown>` for a zero/absent time.
fn since(t: &str, now: DateTime<Utc>) -> String {
    match parse_time(t) {
        Some(t) if !is_zero_time(t) => human_duration(now - t),
        _ => "<unknown>".to_string(),
    }
}

fn is_zero_time(t: DateTime<Utc>) -> bool {
    t.timestamp() <= -62135596800
}

fn opt_since(v: Option<&Value>, now: DateTime<Utc>) -> String {
    match v.and_then(Value::as_str) {
        Some(t) => since(t, now),
        None => "<unknown>".to_string(),
    }
}

fn age_of(obj: &Value, now: DateTime<Utc>) -> String {
    opt_since(get(obj, &["metadata", "creationTimestamp"]), now)
}

/// labels.FormatLabels: sorted `k=v` pairs, `<none>` when empty.
fn format_labels(m: Option<&Value>) -> String {
    let mut pairs: Vec<String> = m
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    if pairs.is_empty() {
        "<none>".to_string()
    } else {
        pairs.join(",")
    }
}

/// labels.Selector.String() of metav1.LabelSelectorAsSelector; `None` when the
/// selector is invalid.
fn selector_string(sel: &Value) -> Option<String> {
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in m {
            reqs.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or(""))));
        }
    }
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let key = s(e, &["key"]).to_string();
        let mut vals: Vec<String> = arr(e, &["values"])
            .iter()
            .map(|v| v.as_str().unwrap_or("").to_string())
            .collect();
        vals.sort();
        vals.dedup();
        let r = match s(e, &["operator"]) {
            "In" => format!("{key} in ({})", vals.join(",")),
            "NotIn" => format!("{key} notin ({})", vals.join(",")),
            "Exists" => key.clone(),
            "DoesNotExist" => format!("!{key}"),
            _ => return None,
        };
        reqs.push((key, r));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Some(
        reqs.into_iter()
            .map(|(_, r)| r)
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// metav1.FormatLabelSelector.
fn format_label_selector(sel: Option<&Value>) -> String {
    match sel {
        None => "<none>".to_string(),
        Some(sel) => match selector_string(sel) {
            None => "<error>".to_string(),
            Some(s) if s.is_empty() => "<none>".to_string(),
            Some(s) => s,
        },
    }
}

fn deployment_selector(sel: Option<&Value>) -> String {
    match sel {
        None => String::new(),
        Some(sel) => selector_string(sel).unwrap_or_else(|| "<invalid>".to_string()),
    }
}

fn layout_containers(containers: &[Value]) -> (String, String) {
    let names: Vec<&str> = containers.iter().map(|c| s(c, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| s(c, &["image"])).collect();
    (names.join(","), images.join(","))
}

fn list_with_more(list: &[String], more: bool, count: usize, max: usize) -> String {
    let ret = list.join(",");
    if more {
        return format!("{ret} + {} more...", count - max);
    }
    if ret.is_empty() {
        "<unset>".to_string()
    } else {
        ret
    }
}

// ---------------------------------------------------------------------------
// Pod

struct PodSummary {
    ready: usize,
    total: usize,
    reason: String,
    restarts: i64,
    last_restart: Option<DateTime<Utc>>,
}

fn condition_true(conds: &[Value], ty: &str) -> bool {
    conds
        .iter()
        .any(|c| s(c, &["type"]) == ty && s(c, &["status"]) == "True")
}

fn later(cur: Option<DateTime<Utc>>, status: &Value) -> Option<DateTime<Utc>> {
    let t = get(status, &["lastState", "terminated", "finishedAt"])
        .and_then(Value::as_str)
        .and_then(parse_time);
    match (cur, t) {
        (Some(a), Some(b)) if b > a => Some(b),
        (None, Some(b)) => Some(b),
        (a, _) => a,
    }
}

fn terminated_reason(term: &Value, prefix: &str) -> String {
    let reason = s(term, &["reason"]);
    if !reason.is_empty() {
        return format!("{prefix}{reason}");
    }
    let signal = int(term, &["signal"]);
    if signal != 0 {
        format!("{prefix}Signal:{signal}")
    } else {
        format!("{prefix}ExitCode:{}", int(term, &["exitCode"]))
    }
}

fn pod_summary(pod: &Value) -> PodSummary {
    let spec_containers = arr(pod, &["spec", "containers"]);
    let init_specs = arr(pod, &["spec", "initContainers"]);
    let conditions = arr(pod, &["status", "conditions"]);
    let phase = s(pod, &["status", "phase"]);

    let mut restarts: i64 = 0;
    let mut restartable_restarts: i64 = 0;
    let mut total = spec_containers.len();
    let mut ready = 0usize;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut last_restartable: Option<DateTime<Utc>> = None;

    let mut reason = phase.to_string();
    let status_reason = s(pod, &["status", "reason"]);
    if !status_reason.is_empty() {
        reason = status_reason.to_string();
    }
    for c in conditions {
        if s(c, &["type"]) == "PodScheduled" && s(c, &["reason"]) == "SchedulingGated" {
            reason = "SchedulingGated".to_string();
        }
    }

    let restartable = |name: &str| {
        init_specs
            .iter()
            .any(|c| s(c, &["name"]) == name && s(c, &["restartPolicy"]) == "Always")
    };
    total += init_specs
        .iter()
        .filter(|c| s(c, &["restartPolicy"]) == "Always")
        .count();

    let mut initializing = false;
    for (i, st) in arr(pod, &["status", "initContainerStatuses"])
        .iter()
        .enumerate()
    {
        restarts += int(st, &["restartCount"]);
        last_restart = later(last_restart, st);
        let is_restartable = restartable(s(st, &["name"]));
        if is_restartable {
            restartable_restarts += int(st, &["restartCount"]);
            last_restartable = later(last_restartable, st);
        }
        let terminated = get(st, &["state", "terminated"]);
        let waiting_reason = s(st, &["state", "waiting", "reason"]);
        if let Some(t) = terminated
            && int(t, &["exitCode"]) == 0
        {
            continue;
        }
        if is_restartable && get(st, &["started"]).and_then(Value::as_bool) == Some(true) {
            if get(st, &["ready"]).and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        }
        if let Some(t) = terminated {
            reason = terminated_reason(t, "Init:");
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{i}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }

    if !initializing || condition_true(conditions, "Initialized") {
        restarts = restartable_restarts;
        last_restart = last_restartable;
        let mut has_running = false;
        for st in arr(pod, &["status", "containerStatuses"]).iter().rev() {
            restarts += int(st, &["restartCount"]);
            last_restart = later(last_restart, st);
            let waiting_reason = s(st, &["state", "waiting", "reason"]);
            let terminated = get(st, &["state", "terminated"]);
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if let Some(t) = terminated {
                reason = terminated_reason(t, "");
            } else if get(st, &["ready"]).and_then(Value::as_bool) == Some(true)
                && get(st, &["state", "running"]).is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_true(conditions, "Ready") {
                "Running"
            } else {
                "NotReady"
            }
            .to_string();
        }
    }

    if get(pod, &["metadata", "deletionTimestamp"]).is_some() {
        if status_reason == "NodeLost" {
            reason = "Unknown".to_string();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".to_string();
        }
    }

    PodSummary {
        ready,
        total,
        reason,
        restarts,
        last_restart,
    }
}

fn pod_cells(pod: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let sum = pod_summary(pod);
    let restarts = match sum.last_restart {
        Some(t) if sum.restarts != 0 && !is_zero_time(t) => {
            format!("{} ({} ago)", sum.restarts, human_duration(now - t))
        }
        _ => sum.restarts.to_string(),
    };
    let or_none = |v: &str| {
        if v.is_empty() {
            "<none>".to_string()
        } else {
            v.to_string()
        }
    };
    // v1 -> internal conversion fills podIPs from podIP.
    let pod_ip = match arr(pod, &["status", "podIPs"]).first() {
        Some(p) => s(p, &["ip"]),
        None => s(pod, &["status", "podIP"]),
    };
    let gates = arr(pod, &["spec", "readinessGates"]);
    let readiness = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conds = arr(pod, &["status", "conditions"]);
        let ok = gates
            .iter()
            .filter(|g| {
                let ty = s(g, &["conditionType"]);
                conds
                    .iter()
                    .find(|c| s(c, &["type"]) == ty)
                    .is_some_and(|c| s(c, &["status"]) == "True")
            })
            .count();
        format!("{ok}/{}", gates.len())
    };
    vec![
        json!(s(pod, &["metadata", "name"])),
        json!(format!("{}/{}", sum.ready, sum.total)),
        json!(sum.reason),
        json!(restarts),
        json!(age_of(pod, now)),
        json!(or_none(pod_ip)),
        json!(or_none(s(pod, &["spec", "nodeName"]))),
        json!(or_none(s(pod, &["status", "nominatedNodeName"]))),
        json!(readiness),
    ]
}

// ---------------------------------------------------------------------------
// Node

fn node_cells(node: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut status: Vec<String> = Vec::new();
    // Last condition of a type wins, as in the upstream map.
    if let Some(c) = arr(node, &["status", "conditions"])
        .iter()
        .rev()
        .find(|c| s(c, &["type"]) == "Ready")
    {
        status.push(if s(c, &["status"]) == "True" {
            "Ready".into()
        } else {
            "NotReady".into()
        });
    }
    if status.is_empty() {
        status.push("Unknown".into());
    }
    if get(node, &["spec", "unschedulable"]).and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled".into());
    }
    let mut roles: Vec<String> = Vec::new();
    if let Some(labels) = get(node, &["metadata", "labels"]).and_then(Value::as_object) {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.push(role.to_string());
                }
            } else if k == "kubernetes.io/role" && v.as_str().is_some_and(|v| !v.is_empty()) {
                roles.push(v.as_str().unwrap_or("").to_string());
            }
        }
    }
    roles.sort();
    roles.dedup();
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    };
    let addr = |ty: &str| {
        arr(node, &["status", "addresses"])
            .iter()
            .find(|a| s(a, &["type"]) == ty)
            .map(|a| s(a, &["address"]).to_string())
            .unwrap_or_else(|| "<none>".to_string())
    };
    let info = |k: &str| {
        let v = s(node, &["status", "nodeInfo", k]);
        if v.is_empty() {
            "<unknown>".to_string()
        } else {
            v.to_string()
        }
    };
    vec![
        json!(s(node, &["metadata", "name"])),
        json!(status.join(",")),
        json!(roles),
        json!(age_of(node, now)),
        json!(s(node, &["status", "nodeInfo", "kubeletVersion"])),
        json!(addr("InternalIP")),
        json!(addr("ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}

// ---------------------------------------------------------------------------
// Event

fn event_cells(ev: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let first_ts = get(ev, &["firstTimestamp"])
        .and_then(Value::as_str)
        .and_then(parse_time);
    let first = match first_ts {
        Some(t) if !is_zero_time(t) => human_duration(now - t),
        _ => opt_since(get(ev, &["eventTime"]), now),
    };
    let last_ts = get(ev, &["lastTimestamp"])
        .and_then(Value::as_str)
        .and_then(parse_time);
    let mut last = match last_ts {
        Some(t) if !is_zero_time(t) => human_duration(now - t),
        _ => first.clone(),
    };
    let mut count = int(ev, &["count"]);
    if let Some(series) = get(ev, &["series"]) {
        last = opt_since(get(series, &["lastObservedTime"]), now);
        count = int(series, &["count"]);
    } else if count == 0 {
        count = 1;
    }
    let kind = s(ev, &["involvedObject", "kind"]).to_lowercase();
    let target = match s(ev, &["involvedObject", "name"]) {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    let first_non_empty = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            a.to_string()
        }
    };
    let component = first_non_empty(
        s(ev, &["source", "component"]),
        s(ev, &["reportingComponent"]),
    );
    let instance = first_non_empty(s(ev, &["source", "host"]), s(ev, &["reportingInstance"]));
    let source = if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    };
    vec![
        json!(last),
        json!(s(ev, &["type"])),
        json!(s(ev, &["reason"])),
        json!(target),
        json!(s(ev, &["involvedObject", "fieldPath"])),
        json!(source),
        json!(s(ev, &["message"]).trim()),
        json!(first),
        json!(count),
        json!(s(ev, &["metadata", "name"])),
    ]
}

// ---------------------------------------------------------------------------
// Service / Endpoints / EndpointSlice / Ingress

fn load_balancer_string(ingress: &[Value]) -> String {
    let mut set: Vec<String> = Vec::new();
    for i in ingress {
        let ip = s(i, &["ip"]);
        let host = s(i, &["hostname"]);
        if !ip.is_empty() {
            set.push(ip.to_string());
        } else if !host.is_empty() {
            set.push(host.to_string());
        }
    }
    set.sort();
    set.dedup();
    // The server prints wide, so the 16-byte clipping never applies.
    set.join(",")
}

fn service_cells(svc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let ty = s(svc, &["spec", "type"]);
    let cluster_ip = match arr(svc, &["spec", "clusterIPs"])
        .first()
        .and_then(Value::as_str)
    {
        Some(ip) => ip.to_string(),
        None => match s(svc, &["spec", "clusterIP"]) {
            "" => "<none>".to_string(),
            ip => ip.to_string(),
        },
    };
    let external: Vec<String> = arr(svc, &["spec", "externalIPs"])
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
            let lb = load_balancer_string(arr(svc, &["status", "loadBalancer", "ingress"]));
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
        "ExternalName" => s(svc, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    };
    let ports: Vec<String> = arr(svc, &["spec", "ports"])
        .iter()
        .map(|p| {
            let port = int(p, &["port"]);
            let proto = s(p, &["protocol"]);
            let node_port = int(p, &["nodePort"]);
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
        json!(s(svc, &["metadata", "name"])),
        json!(ty),
        json!(cluster_ip),
        json!(external_ip),
        json!(ports),
        json!(age_of(svc, now)),
        json!(format_labels(get(svc, &["spec", "selector"]))),
    ]
}

fn join_host_port(ip: &str, port: i64) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

fn format_endpoints(ep: &Value) -> String {
    let subsets = arr(ep, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    let max = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0usize;
    for ss in subsets {
        let addrs = arr(ss, &["addresses"]);
        let ports = arr(ss, &["ports"]);
        if ports.is_empty() {
            count += addrs.len();
            for a in addrs {
                if list.len() == max {
                    more = true;
                    break;
                }
                list.push(s(a, &["ip"]).to_string());
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
                list.push(join_host_port(s(a, &["ip"]), int(p, &["port"])));
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

fn format_discovery_ports(ports: &[Value]) -> String {
    let max = 3;
    let (mut list, mut more, mut count) = (Vec::new(), false, 0usize);
    for p in ports {
        if list.len() < max {
            let v = match (
                get(p, &["port"]).and_then(Value::as_i64),
                get(p, &["name"]).and_then(Value::as_str),
            ) {
                (Some(n), _) => n.to_string(),
                (None, Some(n)) => n.to_string(),
                _ => "*".to_string(),
            };
            list.push(v);
        } else if list.len() == max {
            more = true;
        }
        count += 1;
    }
    list_with_more(&list, more, count, max)
}

fn format_discovery_endpoints(endpoints: &[Value]) -> String {
    let max = 3;
    let (mut list, mut more, mut count) = (Vec::new(), false, 0usize);
    for e in endpoints {
        for a in arr(e, &["addresses"]) {
            if list.len() < max {
                list.push(a.as_str().unwrap_or("").to_string());
            } else if list.len() == max {
                more = true;
            }
            count += 1;
        }
    }
    list_with_more(&list, more, count, max)
}

fn format_hosts(rules: &[Value]) -> String {
    let max = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    for r in rules {
        if list.len() == max {
            more = true;
        }
        let host = s(r, &["host"]);
        if !more && !host.is_empty() {
            list.push(host.to_string());
        }
    }
    if list.is_empty() {
        return "*".to_string();
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", rules.len() - max)
    } else {
        ret
    }
}

// ---------------------------------------------------------------------------
// Job

fn job_condition(conds: &[Value], ty: &str) -> bool {
    conds
        .iter()
        .find(|c| s(c, &["type"]) == ty)
        .is_some_and(|c| s(c, &["status"]) == "True")
}

fn job_cells(job: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let succeeded = int(job, &["status", "succeeded"]);
    let completions = match get(job, &["spec", "completions"]).and_then(Value::as_i64) {
        Some(c) => format!("{succeeded}/{c}"),
        None => {
            let parallelism = int(job, &["spec", "parallelism"]);
            if parallelism > 1 {
                format!("{succeeded}/1 of {parallelism}")
            } else {
                format!("{succeeded}/1")
            }
        }
    };
    let start = get(job, &["status", "startTime"])
        .and_then(Value::as_str)
        .and_then(parse_time);
    let done = get(job, &["status", "completionTime"])
        .and_then(Value::as_str)
        .and_then(parse_time);
    let duration = match (start, done) {
        (None, _) => String::new(),
        (Some(st), None) => human_duration(now - st),
        (Some(st), Some(d)) => human_duration(d - st),
    };
    let conds = arr(job, &["status", "conditions"]);
    let status = if job_condition(conds, "Complete") {
        "Complete"
    } else if job_condition(conds, "Failed") {
        "Failed"
    } else if get(job, &["metadata", "deletionTimestamp"]).is_some() {
        "Terminating"
    } else if job_condition(conds, "Suspended") {
        "Suspended"
    } else if job_condition(conds, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = layout_containers(arr(job, &["spec", "template", "spec", "containers"]));
    vec![
        json!(s(job, &["metadata", "name"])),
        json!(status),
        json!(completions),
        json!(duration),
        json!(age_of(job, now)),
        json!(names),
        json!(images),
        json!(format_label_selector(get(job, &["spec", "selector"]))),
    ]
}

/// The `PartialObjectMetadata` form of an object that kubectl requests with
/// `includeObject=Metadata` (its default for tables).
pub fn partial_object_metadata(item: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": item.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
    }

    fn ago(secs: i64) -> String {
        (now() - Duration::seconds(secs))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    }

    fn names(kind: &str) -> Vec<(&'static str, i32)> {
        columns(kind).iter().map(|c| (c.name, c.priority)).collect()
    }

    fn strs(v: &[Value]) -> Vec<String> {
        v.iter()
            .map(|c| match c {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect()
    }

    #[test]
    fn human_duration_matches_upstream() {
        let cases: &[(i64, &str)] = &[
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (45, "45s"),
            (119, "119s"),
            (120, "2m"),
            (123, "2m3s"),
            (599, "9m59s"),
            (600, "10m"),
            (3 * 3600 - 1, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 15 * 60, "3h15m"),
            (8 * 3600, "8h"),
            (47 * 3600 + 59 * 60, "47h"),
            (48 * 3600, "2d"),
            (2 * 86400 + 5 * 3600, "2d5h"),
            (7 * 86400 + 23 * 3600, "7d23h"),
            (8 * 86400, "8d"),
            (5 * 86400, "5d"),
            (729 * 86400, "729d"),
            (730 * 86400, "2y"),
            ((730 + 45) * 86400, "2y45d"),
            (8 * 365 * 86400 + 86400, "8y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(Duration::seconds(*secs)), *want, "{secs}s");
        }
        assert_eq!(human_duration(Duration::milliseconds(-1500)), "0s");
    }

    #[test]
    fn every_kind_has_matching_cell_count() {
        let obj = json!({"metadata": {"name": "x", "creationTimestamp": ago(10)}});
        for kind in [
            "Pod",
            "Node",
            "Namespace",
            "ConfigMap",
            "Secret",
            "ServiceAccount",
            "Event",
            "Service",
            "Endpoints",
            "EndpointSlice",
            "Deployment",
            "ReplicaSet",
            "StatefulSet",
            "DaemonSet",
            "Job",
            "CronJob",
            "Ingress",
            "IngressClass",
            "NetworkPolicy",
            "RoleBinding",
            "ClusterRoleBinding",
            "Lease",
            "Widget",
        ] {
            assert_eq!(
                columns(kind).len(),
                cells(kind, &obj, now()).len(),
                "{kind}"
            );
        }
    }

    #[test]
    fn default_table_for_unknown_kinds() {
        let cols = columns("ClusterRole");
        assert_eq!(cols[0].name, "Name");
        assert_eq!(cols[0].format, "name");
        assert_eq!(cols[1].name, "Created At");
        assert_eq!(cols[1].type_, "date");
        let obj =
            json!({"metadata": {"name": "admin", "creationTimestamp": "2024-01-02T03:04:05Z"}});
        assert_eq!(
            cells("ClusterRole", &obj, now()),
            vec![json!("admin"), json!("2024-01-02T03:04:05Z")]
        );
    }

    #[test]
    fn pod_columns() {
        assert_eq!(
            names("Pod"),
            vec![
                ("Name", 0),
                ("Ready", 0),
                ("Status", 0),
                ("Restarts", 0),
                ("Age", 0),
                ("IP", 1),
                ("Node", 1),
                ("Nominated Node", 1),
                ("Readiness Gates", 1)
            ]
        );
        assert_eq!(columns("Pod")[3].type_, "string");
    }

    fn running_pod() -> Value {
        json!({
            "metadata": {"name": "web-1", "creationTimestamp": ago(300)},
            "spec": {"nodeName": "node-a", "containers": [{"name": "app", "image": "nginx"}]},
            "status": {
                "phase": "Running",
                "podIP": "10.0.0.5",
                "podIPs": [{"ip": "10.0.0.5"}],
                "conditions": [{"type": "Ready", "status": "True"}, {"type": "Initialized", "status": "True"}],
                "containerStatuses": [{
                    "name": "app", "ready": true, "restartCount": 0,
                    "state": {"running": {"startedAt": ago(290)}}
                }]
            }
        })
    }

    #[test]
    fn pod_running() {
        let c = strs(&cells("Pod", &running_pod(), now()));
        assert_eq!(
            c,
            vec![
                "web-1", "1/1", "Running", "0", "5m", "10.0.0.5", "node-a", "<none>", "<none>"
            ]
        );
    }

    #[test]
    fn pod_ip_falls_back_to_pod_ip() {
        let mut pod = running_pod();
        pod["status"].as_object_mut().unwrap().remove("podIPs");
        pod["status"]["podIP"] = json!("10.1.2.3");
        assert_eq!(strs(&cells("Pod", &pod, now()))[5], "10.1.2.3");
    }

    #[test]
    fn pod_pending_without_status() {
        let pod = json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Pending"}
        });
        let c = strs(&cells("Pod", &pod, now()));
        assert_eq!(
            c,
            vec![
                "p",
                "0/2",
                "Pending",
                "0",
                "<unknown>",
                "<none>",
                "<none>",
                "<none>",
                "<none>"
            ]
        );
    }

    #[test]
    fn pod_crash_looping_shows_restarts_ago() {
        let pod = json!({
            "metadata": {"name": "crashy", "creationTimestamp": ago(600)},
            "spec": {"containers": [{"name": "app"}]},
            "status": {
                "phase": "Running",
                "containerStatuses": [{
                    "name": "app", "ready": false, "restartCount": 3,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(120)}}
                }]
            }
        });
        let c = strs(&cells("Pod", &pod, now()));
        assert_eq!(
            c[1..4],
            [
                "0/1".to_string(),
                "CrashLoopBackOff".into(),
                "3 (2m ago)".into()
            ]
        );
        assert_eq!(pod_status_reason(&pod), "CrashLoopBackOff");
    }

    #[test]
    fn pod_terminating() {
        let mut pod = running_pod();
        pod["metadata"]["deletionTimestamp"] = json!(ago(1));
        assert_eq!(pod_status_reason(&pod), "Terminating");
        // A finished pod being deleted keeps its phase.
        pod["status"]["phase"] = json!("Succeeded");
        pod["status"]["containerStatuses"][0]["state"] =
            json!({"terminated": {"exitCode": 0, "reason": "Completed"}});
        assert_eq!(pod_status_reason(&pod), "Completed");
    }

    #[test]
    fn pod_node_lost() {
        let mut pod = running_pod();
        pod["metadata"]["deletionTimestamp"] = json!(ago(1));
        pod["status"]["reason"] = json!("NodeLost");
        assert_eq!(pod_status_reason(&pod), "Unknown");
        pod["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("deletionTimestamp");
        // Without deletion the pod's own reason is the starting point, but a
        // running container does not override it.
        assert_eq!(pod_status_reason(&pod), "NodeLost");
    }

    #[test]
    fn pod_completed() {
        let pod = json!({
            "metadata": {"name": "job-x", "creationTimestamp": ago(100)},
            "spec": {"containers": [{"name": "main"}]},
            "status": {
                "phase": "Succeeded",
                "containerStatuses": [{
                    "name": "main", "ready": false, "restartCount": 0,
                    "state": {"terminated": {"exitCode": 0, "reason": "Completed", "finishedAt": ago(50)}}
                }]
            }
        });
        let c = strs(&cells("Pod", &pod, now()));
        assert_eq!(c[1..4], ["0/1".to_string(), "Completed".into(), "0".into()]);
    }

    #[test]
    fn pod_completed_but_one_still_running() {
        let mut pod = json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [
                    {"name": "a", "ready": false, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                    {"name": "b", "ready": true, "state": {"running": {}}}
                ]
            }
        });
        assert_eq!(pod_status_reason(&pod), "NotReady");
        pod["status"]["conditions"][0]["status"] = json!("True");
        assert_eq!(pod_status_reason(&pod), "Running");
    }

    #[test]
    fn pod_signal_and_exit_code() {
        let mut pod = json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Failed", "containerStatuses": [
                {"name": "a", "state": {"terminated": {"exitCode": 137, "signal": 9}}}
            ]}
        });
        assert_eq!(pod_status_reason(&pod), "Signal:9");
        pod["status"]["containerStatuses"][0]["state"]["terminated"] = json!({"exitCode": 2});
        assert_eq!(pod_status_reason(&pod), "ExitCode:2");
    }

    #[test]
    fn pod_init_containers() {
        let mut pod = json!({
            "metadata": {"name": "p"},
            "spec": {
                "initContainers": [{"name": "i1"}, {"name": "i2"}],
                "containers": [{"name": "a"}]
            },
            "status": {
                "phase": "Pending",
                "conditions": [{"type": "Initialized", "status": "False"}],
                "initContainerStatuses": [
                    {"name": "i1", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                    {"name": "i2", "restartCount": 0, "state": {"running": {}}}
                ],
                "containerStatuses": [
                    {"name": "a", "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}
                ]
            }
        });
        assert_eq!(pod_status_reason(&pod), "Init:1/2");
        assert_eq!(strs(&cells("Pod", &pod, now()))[1], "0/1");

        pod["status"]["initContainerStatuses"][1] = json!({
            "name": "i2", "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(30)}}
        });
        assert_eq!(pod_status_reason(&pod), "Init:CrashLoopBackOff");
        assert_eq!(strs(&cells("Pod", &pod, now()))[3], "4 (30s ago)");

        pod["status"]["initContainerStatuses"][1] =
            json!({"name": "i2", "state": {"terminated": {"exitCode": 3, "reason": "Error"}}});
        assert_eq!(pod_status_reason(&pod), "Init:Error");
        pod["status"]["initContainerStatuses"][1] =
            json!({"name": "i2", "state": {"terminated": {"exitCode": 3}}});
        assert_eq!(pod_status_reason(&pod), "Init:ExitCode:3");
        pod["status"]["initContainerStatuses"][1] =
            json!({"name": "i2", "state": {"terminated": {"exitCode": 3, "signal": 15}}});
        assert_eq!(pod_status_reason(&pod), "Init:Signal:15");
        pod["status"]["initContainerStatuses"][1] =
            json!({"name": "i2", "state": {"waiting": {"reason": "PodInitializing"}}});
        assert_eq!(pod_status_reason(&pod), "Init:1/2");
    }

    #[test]
    fn pod_sidecar_counts_as_container() {
        let pod = json!({
            "metadata": {"name": "p"},
            "spec": {
                "initContainers": [{"name": "side", "restartPolicy": "Always"}],
                "containers": [{"name": "a"}]
            },
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
                "initContainerStatuses": [
                    {"name": "side", "started": true, "ready": true, "restartCount": 2, "state": {"running": {}},
                     "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(200)}}}
                ],
                "containerStatuses": [{"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}}]
            }
        });
        let c = strs(&cells("Pod", &pod, now()));
        assert_eq!(
            c[1..4],
            ["2/2".to_string(), "Running".into(), "2 (3m20s ago)".into()]
        );
    }

    #[test]
    fn pod_scheduling_gated_and_readiness_gates() {
        let pod = json!({
            "metadata": {"name": "p"},
            "spec": {
                "containers": [{"name": "a"}],
                "readinessGates": [{"conditionType": "example.com/lb"}, {"conditionType": "example.com/x"}]
            },
            "status": {
                "phase": "Pending",
                "nominatedNodeName": "n2",
                "conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"},
                    {"type": "example.com/lb", "status": "True"}
                ]
            }
        });
        let c = strs(&cells("Pod", &pod, now()));
        assert_eq!(c[2], "SchedulingGated");
        assert_eq!(c[7], "n2");
        assert_eq!(c[8], "1/2");
    }

    #[test]
    fn pod_reason_from_status_reason() {
        let pod = json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Failed", "reason": "Evicted"}
        });
        assert_eq!(pod_status_reason(&pod), "Evicted");
    }

    #[test]
    fn node_columns_and_cells() {
        assert_eq!(
            names("Node"),
            vec![
                ("Name", 0),
                ("Status", 0),
                ("Roles", 0),
                ("Age", 0),
                ("Version", 0),
                ("Internal-IP", 1),
                ("External-IP", 1),
                ("OS-Image", 1),
                ("Kernel-Version", 1),
                ("Container-Runtime", 1)
            ]
        );
        let node = json!({
            "metadata": {"name": "cp", "creationTimestamp": ago(5 * 86400),
                "labels": {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/": "",
                           "kubernetes.io/role": "master"}},
            "spec": {},
            "status": {
                "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
                "addresses": [{"type": "InternalIP", "address": "192.168.1.10"}, {"type": "Hostname", "address": "cp"}],
                "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
                             "kernelVersion": "6.1.0", "containerRuntimeVersion": "containerd://1.7.0"}
            }
        });
        let c = strs(&cells("Node", &node, now()));
        assert_eq!(
            c,
            vec![
                "cp",
                "Ready",
                "control-plane,master",
                "5d",
                "v1.32.0",
                "192.168.1.10",
                "<none>",
                "Debian GNU/Linux 12 (bookworm)",
                "6.1.0",
                "containerd://1.7.0"
            ]
        );
    }

    #[test]
    fn node_not_ready_and_cordoned() {
        let node = json!({
            "metadata": {"name": "w1"},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}
        });
        let c = strs(&cells("Node", &node, now()));
        assert_eq!(c[1], "NotReady,SchedulingDisabled");
        assert_eq!(c[2], "<none>");
        assert_eq!(
            c[7..],
            [
                "<unknown>".to_string(),
                "<unknown>".into(),
                "<unknown>".into()
            ]
        );
        let cordoned =
            json!({"metadata": {"name": "w2"}, "spec": {"unschedulable": true}, "status": {}});
        assert_eq!(
            strs(&cells("Node", &cordoned, now()))[1],
            "Unknown,SchedulingDisabled"
        );
    }

    #[test]
    fn namespace_configmap_secret_serviceaccount() {
        assert_eq!(
            names("Namespace"),
            vec![("Name", 0), ("Status", 0), ("Age", 0)]
        );
        let ns = json!({"metadata": {"name": "default", "creationTimestamp": ago(7200)}, "status": {"phase": "Active"}});
        assert_eq!(
            cells("Namespace", &ns, now()),
            vec![json!("default"), json!("Active"), json!("120m")]
        );

        assert_eq!(
            names("ConfigMap"),
            vec![("Name", 0), ("Data", 0), ("Age", 0)]
        );
        let cm = json!({"metadata": {"name": "c", "creationTimestamp": ago(1)}, "data": {"a": "1", "b": "2"},
                        "binaryData": {"c": "AA=="}});
        assert_eq!(
            cells("ConfigMap", &cm, now()),
            vec![json!("c"), json!(3), json!("1s")]
        );
        let empty = json!({"metadata": {"name": "e", "creationTimestamp": ago(1)}});
        assert_eq!(cells("ConfigMap", &empty, now())[1], json!(0));

        assert_eq!(
            names("Secret"),
            vec![("Name", 0), ("Type", 0), ("Data", 0), ("Age", 0)]
        );
        let sec = json!({"metadata": {"name": "s", "creationTimestamp": ago(61)}, "type": "Opaque",
                         "data": {"k": "dg=="}});
        assert_eq!(
            cells("Secret", &sec, now()),
            vec![json!("s"), json!("Opaque"), json!(1), json!("61s")]
        );

        assert_eq!(
            names("ServiceAccount"),
            vec![("Name", 0), ("Secrets", 0), ("Age", 0)]
        );
        let sa = json!({"metadata": {"name": "default", "creationTimestamp": ago(3)}});
        assert_eq!(
            cells("ServiceAccount", &sa, now()),
            vec![json!("default"), json!(0), json!("3s")]
        );
    }

    #[test]
    fn event_columns_and_cells() {
        assert_eq!(
            names("Event"),
            vec![
                ("Last Seen", 0),
                ("Type", 0),
                ("Reason", 0),
                ("Object", 0),
                ("Subobject", 1),
                ("Source", 1),
                ("Message", 0),
                ("First Seen", 1),
                ("Count", 1),
                ("Name", 1)
            ]
        );
        let ev = json!({
            "metadata": {"name": "web.17a", "creationTimestamp": ago(100)},
            "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{app}"},
            "reason": "Pulled", "type": "Normal", "message": "Successfully pulled image\n",
            "source": {"component": "kubelet", "host": "node-a"},
            "firstTimestamp": ago(100), "lastTimestamp": ago(40), "count": 3
        });
        let c = strs(&cells("Event", &ev, now()));
        assert_eq!(
            c,
            vec![
                "40s",
                "Normal",
                "Pulled",
                "pod/web",
                "spec.containers{app}",
                "kubelet, node-a",
                "Successfully pulled image",
                "100s",
                "3",
                "web.17a"
            ]
        );
        assert!(cells("Event", &ev, now())[8].is_i64());

        // New-style event: eventTime, series, reportingComponent.
        let ev2 = json!({
            "metadata": {"name": "n1"},
            "involvedObject": {"kind": "Node"},
            "reason": "Starting", "type": "Normal", "message": "m",
            "eventTime": "2024-05-01T11:59:00.000000Z",
            "reportingComponent": "kube-proxy",
            "series": {"count": 7, "lastObservedTime": "2024-05-01T11:59:50.000000Z"}
        });
        let c = strs(&cells("Event", &ev2, now()));
        assert_eq!(c[0], "10s");
        assert_eq!(c[3], "node");
        assert_eq!(c[5], "kube-proxy");
        assert_eq!(c[7], "60s");
        assert_eq!(c[8], "7");
        let ev3 = json!({"metadata": {"name": "x"}, "involvedObject": {"kind": "Pod", "name": "p"},
                         "firstTimestamp": ago(5)});
        let c = strs(&cells("Event", &ev3, now()));
        assert_eq!((c[0].as_str(), c[8].as_str()), ("5s", "1"));
    }

    #[test]
    fn service_cells_by_type() {
        assert_eq!(
            names("Service"),
            vec![
                ("Name", 0),
                ("Type", 0),
                ("Cluster-IP", 0),
                ("External-IP", 0),
                ("Port(s)", 0),
                ("Age", 0),
                ("Selector", 1)
            ]
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
        assert_eq!(
            names("Endpoints"),
            vec![("Name", 0), ("Endpoints", 0), ("Age", 0)]
        );
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

    #[test]
    fn endpoint_slice_cells() {
        assert_eq!(
            names("EndpointSlice"),
            vec![
                ("Name", 0),
                ("AddressType", 0),
                ("Ports", 0),
                ("Endpoints", 0),
                ("Age", 0)
            ]
        );
        let es = json!({"metadata": {"name": "web-abc"}, "addressType": "IPv4",
            "ports": [{"port": 80}, {"name": "metrics"}, {}, {"port": 9}],
            "endpoints": [{"addresses": ["10.0.0.1", "10.0.0.2"]}, {"addresses": ["10.0.0.3", "10.0.0.4"]}]});
        let c = strs(&cells("EndpointSlice", &es, now()));
        assert_eq!(
            c[1..4],
            [
                "IPv4".to_string(),
                "80,metrics,* + 1 more...".into(),
                "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...".into()
            ]
        );
        let empty = json!({"metadata": {"name": "x"}, "addressType": "IPv4"});
        assert_eq!(
            strs(&cells("EndpointSlice", &empty, now()))[2..4],
            ["<unset>".to_string(), "<unset>".into()]
        );
    }

    fn template(containers: Value) -> Value {
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}})
    }

    #[test]
    fn deployment_cells() {
        assert_eq!(
            names("Deployment"),
            vec![
                ("Name", 0),
                ("Ready", 0),
                ("Up-to-date", 0),
                ("Available", 0),
                ("Age", 0),
                ("Containers", 1),
                ("Images", 1),
                ("Selector", 1)
            ]
        );
        let d = json!({
            "metadata": {"name": "web", "creationTimestamp": ago(30)},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"},
                      "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]},
                     "template": template(json!([{"name": "nginx", "image": "nginx:1.25"}, {"name": "side", "image": "busybox"}]))},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
        });
        assert_eq!(
            cells("Deployment", &d, now()),
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("30s"),
                json!("nginx,side"),
                json!("nginx:1.25,busybox"),
                json!("app=web,env in (dev,prod)")
            ]
        );
        let fresh = json!({"metadata": {"name": "x"}, "spec": {"template": template(json!([]))}});
        let c = cells("Deployment", &fresh, now());
        assert_eq!(
            (c[1].clone(), c[2].clone(), c[7].clone()),
            (json!("0/1"), json!(0), json!(""))
        );
    }

    #[test]
    fn replicaset_statefulset_daemonset() {
        assert_eq!(columns("ReplicaSet")[1].type_, "integer");
        let rs = json!({"metadata": {"name": "web-7d"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                        "template": template(json!([{"name": "n", "image": "nginx"}]))},
                        "status": {"replicas": 2, "readyReplicas": 1}});
        let c = cells("ReplicaSet", &rs, now());
        assert_eq!(c[1..4], [json!(2), json!(2), json!(1)]);
        assert_eq!(c[7], json!("app=web"));

        assert_eq!(
            names("StatefulSet"),
            vec![
                ("Name", 0),
                ("Ready", 0),
                ("Age", 0),
                ("Containers", 1),
                ("Images", 1)
            ]
        );
        let ss = json!({"metadata": {"name": "db"}, "spec": {"replicas": 3, "template": template(json!([{"name": "pg", "image": "postgres"}]))},
                        "status": {"readyReplicas": 3}});
        assert_eq!(
            strs(&cells("StatefulSet", &ss, now())),
            vec!["db", "3/3", "<unknown>", "pg", "postgres"]
        );

        assert_eq!(columns("DaemonSet").len(), 11);
        let ds = json!({"metadata": {"name": "proxy"}, "spec": {"selector": {"matchLabels": {"k": "v"}},
                        "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "p", "image": "kp"}]}}},
                        "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1,
                                   "updatedNumberScheduled": 2, "numberAvailable": 1}});
        let c = cells("DaemonSet", &ds, now());
        assert_eq!(
            c[1..7],
            [
                json!(2),
                json!(2),
                json!(1),
                json!(2),
                json!(1),
                json!("kubernetes.io/os=linux")
            ]
        );
        assert_eq!(c[10], json!("k=v"));
        let no_sel = json!({"metadata": {"name": "x"}, "spec": {"template": {"spec": {}}}});
        assert_eq!(cells("DaemonSet", &no_sel, now())[6], json!("<none>"));
    }

    #[test]
    fn job_cells_variants() {
        assert_eq!(
            names("Job"),
            vec![
                ("Name", 0),
                ("Status", 0),
                ("Completions", 0),
                ("Duration", 0),
                ("Age", 0),
                ("Containers", 1),
                ("Images", 1),
                ("Selector", 1)
            ]
        );
        let done = json!({"metadata": {"name": "pi", "creationTimestamp": ago(300)},
            "spec": {"completions": 1, "parallelism": 1, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}},
                     "template": template(json!([{"name": "pi", "image": "perl"}]))},
            "status": {"succeeded": 1, "startTime": ago(290), "completionTime": ago(250),
                       "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}});
        let c = strs(&cells("Job", &done, now()));
        assert_eq!(
            c[1..5],
            [
                "Complete".to_string(),
                "1/1".into(),
                "40s".into(),
                "5m".into()
            ]
        );
        let running = json!({"metadata": {"name": "r"}, "spec": {"parallelism": 3, "template": template(json!([]))},
                             "status": {"startTime": ago(10)}});
        let c = strs(&cells("Job", &running, now()));
        assert_eq!(
            c[1..4],
            ["Running".to_string(), "0/1 of 3".into(), "10s".into()]
        );
        let fresh = json!({"metadata": {"name": "f"}, "spec": {"template": template(json!([]))}});
        assert_eq!(
            strs(&cells("Job", &fresh, now()))[1..4],
            ["Running".to_string(), "0/1".into(), String::new()]
        );
        let failed = json!({"metadata": {"name": "f"}, "spec": {}, "status": {"conditions": [{"type": "Failed", "status": "True"}]}});
        assert_eq!(strs(&cells("Job", &failed, now()))[1], "Failed");
        let susp = json!({"metadata": {"name": "f"}, "spec": {}, "status": {"conditions": [{"type": "Suspended", "status": "True"}]}});
        assert_eq!(strs(&cells("Job", &susp, now()))[1], "Suspended");
        let term = json!({"metadata": {"name": "f", "deletionTimestamp": ago(1)}, "spec": {},
                          "status": {"conditions": [{"type": "Suspended", "status": "True"}]}});
        assert_eq!(strs(&cells("Job", &term, now()))[1], "Terminating");
        let ft = json!({"metadata": {"name": "f"}, "spec": {}, "status": {"conditions": [{"type": "FailureTarget", "status": "True"}]}});
        assert_eq!(strs(&cells("Job", &ft, now()))[1], "FailureTarget");
    }

    #[test]
    fn cronjob_cells() {
        assert_eq!(columns("CronJob")[3].type_, "boolean");
        let cj = json!({"metadata": {"name": "hello", "creationTimestamp": ago(3600)},
            "spec": {"schedule": "*/1 * * * *", "suspend": false,
                     "jobTemplate": {"spec": {"template": template(json!([{"name": "h", "image": "busybox"}]))}}},
            "status": {"active": [{"name": "hello-1"}], "lastScheduleTime": ago(20)}});
        let c = cells("CronJob", &cj, now());
        assert_eq!(
            c,
            vec![
                json!("hello"),
                json!("*/1 * * * *"),
                json!("<none>"),
                json!("False"),
                json!(1),
                json!("20s"),
                json!("60m"),
                json!("h"),
                json!("busybox"),
                json!("<none>")
            ]
        );
        let cj2 = json!({"metadata": {"name": "x"}, "spec": {"schedule": "@daily", "timeZone": "Etc/UTC", "suspend": true}});
        let c = strs(&cells("CronJob", &cj2, now()));
        assert_eq!(
            c[2..6],
            [
                "Etc/UTC".to_string(),
                "True".into(),
                "0".into(),
                "<none>".into()
            ]
        );
        let cj3 = json!({"metadata": {"name": "x"}, "spec": {"schedule": "@daily"}});
        assert_eq!(strs(&cells("CronJob", &cj3, now()))[3], "<unset>");
    }

    #[test]
    fn ingress_and_ingress_class() {
        assert_eq!(
            names("Ingress"),
            vec![
                ("Name", 0),
                ("Class", 0),
                ("Hosts", 0),
                ("Address", 0),
                ("Ports", 0),
                ("Age", 0)
            ]
        );
        let ing = json!({"metadata": {"name": "web"}, "spec": {"ingressClassName": "nginx",
            "rules": [{"host": "a.com"}, {"host": "b.com"}, {}, {"host": "c.com"}, {"host": "d.com"}],
            "tls": [{"hosts": ["a.com"]}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.168.49.2"}]}}});
        let c = strs(&cells("Ingress", &ing, now()));
        assert_eq!(
            c[1..5],
            [
                "nginx".to_string(),
                "a.com,b.com,c.com + 2 more...".into(),
                "192.168.49.2".into(),
                "80, 443".into()
            ]
        );
        let bare = json!({"metadata": {"name": "x"}, "spec": {"defaultBackend": {}}});
        let c = strs(&cells("Ingress", &bare, now()));
        assert_eq!(
            c[1..5],
            ["<none>".to_string(), "*".into(), String::new(), "80".into()]
        );

        let ic = json!({"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx",
            "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}}});
        let c = strs(&cells("IngressClass", &ic, now()));
        assert_eq!(
            c[1..3],
            [
                "k8s.io/ingress-nginx".to_string(),
                "IngressParameters.k8s.example.com/external-lb".into()
            ]
        );
        let ic2 = json!({"metadata": {"name": "x"}, "spec": {"controller": "c"}});
        assert_eq!(strs(&cells("IngressClass", &ic2, now()))[2], "<none>");
    }

    #[test]
    fn network_policy_cells() {
        assert_eq!(
            names("NetworkPolicy"),
            vec![("Name", 0), ("Pod-Selector", 0), ("Age", 0)]
        );
        let np = json!({"metadata": {"name": "deny"}, "spec": {"podSelector": {}}});
        assert_eq!(strs(&cells("NetworkPolicy", &np, now()))[1], "<none>");
        let np = json!({"metadata": {"name": "db"}, "spec": {"podSelector": {"matchLabels": {"role": "db"},
            "matchExpressions": [{"key": "tier", "operator": "Exists"}, {"key": "x", "operator": "DoesNotExist"},
                                 {"key": "env", "operator": "NotIn", "values": ["b", "a"]}]}}});
        assert_eq!(
            strs(&cells("NetworkPolicy", &np, now()))[1],
            "env notin (a,b),role=db,tier,!x"
        );
    }

    #[test]
    fn rolebinding_and_lease() {
        let rb = json!({"metadata": {"name": "rb"}, "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"},
                         {"kind": "ServiceAccount", "name": "default", "namespace": "ns1"}, {"kind": "User", "name": "bob"}]});
        let c = strs(&cells("RoleBinding", &rb, now()));
        assert_eq!(c[1], "ClusterRole/view");
        assert_eq!(
            c[3..],
            [
                "alice, bob".to_string(),
                "devs".into(),
                "ns1/default".into()
            ]
        );
        assert_eq!(
            columns("ClusterRoleBinding")[3].description,
            "Users in the clusterRoleBinding"
        );
        let lease =
            json!({"metadata": {"name": "kube-scheduler"}, "spec": {"holderIdentity": "cp_1234"}});
        assert_eq!(strs(&cells("Lease", &lease, now()))[1], "cp_1234");
    }
}
