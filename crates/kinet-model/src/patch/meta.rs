//! Strategic-merge-patch metadata: which list fields merge element-wise and
//! by which key. Upstream reads this from the Go struct tags of k8s.io/api
//! (`patchStrategy:"merge" patchMergeKey:"name"`); this module is a
//! hand-written table of those tags for the kinds kinet serves.
//!
//! Lists not in the table — including those upstream marks
//! `+listType=atomic` without a patch strategy, such as `tolerations`,
//! node `taints`, Endpoints `subsets`, Ingress `rules` and every
//! NetworkPolicy list — are replaced as a whole by a patch.

/// Patch metadata of a list field whose `patchStrategy` includes `merge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListMeta {
    /// The `patchMergeKey`: elements (objects) with equal values of this key
    /// are merged. `None` for lists of primitives, which merge as a set.
    pub merge_key: Option<&'static str>,
    /// The strategy also includes `retainKeys` (e.g. pod `volumes`): a patch
    /// element may carry a `$retainKeys` list that clears unlisted fields.
    pub retain_keys: bool,
}

/// The patch metadata of the list at `path` (field names from the object
/// root; list elements add no path segment) in an object of Kubernetes
/// `kind`. `None` means the list is replaced by a patch (or the path is not
/// a known list).
///
/// ```
/// use kinet_model::patch::{merge_meta, ListMeta};
/// let by_name = ListMeta { merge_key: Some("name"), retain_keys: false };
/// assert_eq!(merge_meta("Deployment", &["spec", "template", "spec", "containers"]), Some(by_name));
/// assert_eq!(merge_meta("Pod", &["spec", "tolerations"]), None);
/// ```
pub fn merge_meta(kind: &str, path: &[&str]) -> Option<ListMeta> {
    let (last, parents) = path.split_last()?;
    let ty = parents
        .iter()
        .fold(root(kind), |ty, name| field(ty, name).ty);
    field(ty, last).list
}

/// The object types the table distinguishes. `Unknown` has no merge lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Unknown,
    /// Root of a kind with no merge lists outside its metadata.
    Object,
    ObjectMeta,
    Pod,
    PodSpec,
    PodStatus,
    Container,
    /// Root of a PodTemplate.
    PodTemplate,
    PodTemplateSpec,
    /// Root of Deployment, ReplicaSet, StatefulSet, DaemonSet, Job and
    /// ReplicationController: `spec.template` and `status.conditions`.
    Workload,
    WorkloadSpec,
    CronJob,
    CronJobSpec,
    JobTemplateSpec,
    /// A status whose only merge list is `conditions` (by `type`).
    ConditionsStatus,
    /// Root of a kind whose only merge list outside metadata is
    /// `status.conditions`.
    StatusConditions,
    Service,
    ServiceSpec,
    Node,
    NodeSpec,
    NodeStatus,
    ServiceAccount,
}

/// What the table knows about one field: the type of its value (of its
/// elements, for lists) and, for merge lists, the list metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field {
    pub ty: Ty,
    pub list: Option<ListMeta>,
}

pub(crate) fn root(kind: &str) -> Ty {
    match kind {
        "Pod" => Ty::Pod,
        "PodTemplate" => Ty::PodTemplate,
        "Deployment"
        | "ReplicaSet"
        | "StatefulSet"
        | "DaemonSet"
        | "Job"
        | "ReplicationController" => Ty::Workload,
        "CronJob" => Ty::CronJob,
        "Service" => Ty::Service,
        "Node" => Ty::Node,
        "ServiceAccount" => Ty::ServiceAccount,
        "Namespace"
        | "PersistentVolumeClaim"
        | "HorizontalPodAutoscaler"
        | "PodDisruptionBudget" => Ty::StatusConditions,
        _ => Ty::Object,
    }
}

const fn merge_by(key: &'static str) -> Option<ListMeta> {
    Some(ListMeta {
        merge_key: Some(key),
        retain_keys: false,
    })
}

const fn merge_retain_by(key: &'static str) -> Option<ListMeta> {
    Some(ListMeta {
        merge_key: Some(key),
        retain_keys: true,
    })
}

const MERGE_SET: Option<ListMeta> = Some(ListMeta {
    merge_key: None,
    retain_keys: false,
});

const fn to(ty: Ty) -> Field {
    Field { ty, list: None }
}

const fn list(ty: Ty, list: Option<ListMeta>) -> Field {
    Field { ty, list }
}

fn is_root(ty: Ty) -> bool {
    matches!(
        ty,
        Ty::Object
            | Ty::Pod
            | Ty::PodTemplate
            | Ty::Workload
            | Ty::CronJob
            | Ty::StatusConditions
            | Ty::Service
            | Ty::Node
            | Ty::ServiceAccount
    )
}

/// Looks up field `name` of an object of type `ty`.
pub(crate) fn field(ty: Ty, name: &str) -> Field {
    use Ty::*;
    if name == "metadata" && (is_root(ty) || matches!(ty, PodTemplateSpec | JobTemplateSpec)) {
        return to(ObjectMeta);
    }
    match (ty, name) {
        // k8s.io/apimachinery/pkg/apis/meta/v1 ObjectMeta
        (ObjectMeta, "ownerReferences") => list(Unknown, merge_by("uid")),
        (ObjectMeta, "finalizers") => list(Unknown, MERGE_SET),

        (Pod, "spec") | (PodTemplateSpec, "spec") => to(PodSpec),
        (Pod, "status") => to(PodStatus),

        // core/v1 PodSpec (tolerations, readinessGates: atomic)
        (PodSpec, "containers" | "initContainers" | "ephemeralContainers") => {
            list(Container, merge_by("name"))
        }
        (PodSpec, "volumes") => list(Unknown, merge_retain_by("name")),
        (PodSpec, "imagePullSecrets") => list(Unknown, merge_by("name")),
        (PodSpec, "hostAliases") => list(Unknown, merge_by("ip")),
        (PodSpec, "topologySpreadConstraints") => list(Unknown, merge_by("topologyKey")),
        (PodSpec, "schedulingGates") => list(Unknown, merge_by("name")),
        (PodSpec, "resourceClaims") => list(Unknown, merge_retain_by("name")),

        // core/v1 Container and EphemeralContainer (envFrom, resizePolicy: atomic)
        (Container, "ports") => list(Unknown, merge_by("containerPort")),
        (Container, "env") => list(Unknown, merge_by("name")),
        (Container, "volumeMounts") => list(Unknown, merge_by("mountPath")),
        (Container, "volumeDevices") => list(Unknown, merge_by("devicePath")),

        // core/v1 PodStatus (container statuses: atomic)
        (PodStatus, "conditions") => list(Unknown, merge_by("type")),
        (PodStatus, "podIPs" | "hostIPs") => list(Unknown, merge_by("ip")),
        (PodStatus, "resourceClaimStatuses") => list(Unknown, merge_retain_by("name")),

        (PodTemplate, "template") | (WorkloadSpec, "template") => to(PodTemplateSpec),

        // apps/v1 and batch/v1 workloads, core/v1 ReplicationController
        (Workload, "spec") | (JobTemplateSpec, "spec") => to(WorkloadSpec),
        (Workload, "status") | (StatusConditions, "status") | (Service, "status") => {
            to(ConditionsStatus)
        }
        (ConditionsStatus, "conditions") => list(Unknown, merge_by("type")),

        // batch/v1 CronJob (status.active: atomic)
        (CronJob, "spec") => to(CronJobSpec),
        (CronJobSpec, "jobTemplate") => to(JobTemplateSpec),

        // core/v1 Service (clusterIPs, externalIPs, ipFamilies: atomic)
        (Service, "spec") => to(ServiceSpec),
        (ServiceSpec, "ports") => list(Unknown, merge_by("port")),

        // core/v1 Node (spec.taints and status images/volumes: atomic)
        (Node, "spec") => to(NodeSpec),
        (Node, "status") => to(NodeStatus),
        (NodeSpec, "podCIDRs") => list(Unknown, MERGE_SET),
        (NodeStatus, "conditions" | "addresses") => list(Unknown, merge_by("type")),

        // core/v1 ServiceAccount (imagePullSecrets: atomic)
        (ServiceAccount, "secrets") => list(Unknown, merge_by("name")),

        _ => to(Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn by(key: &'static str) -> Option<ListMeta> {
        merge_by(key)
    }

    #[test]
    fn object_meta_lists_in_every_kind() {
        for kind in ["Pod", "Deployment", "ConfigMap", "Node", "Event", "Widget"] {
            assert_eq!(
                merge_meta(kind, &["metadata", "ownerReferences"]),
                by("uid"),
                "{kind}"
            );
            assert_eq!(
                merge_meta(kind, &["metadata", "finalizers"]),
                MERGE_SET,
                "{kind}"
            );
            assert_eq!(
                merge_meta(kind, &["metadata", "managedFields"]),
                None,
                "{kind}"
            );
        }
    }

    #[test]
    fn pod_spec_lists() {
        let spec = |f: &'static str| merge_meta("Pod", &["spec", f]);
        assert_eq!(spec("containers"), by("name"));
        assert_eq!(spec("initContainers"), by("name"));
        assert_eq!(spec("ephemeralContainers"), by("name"));
        assert_eq!(
            spec("volumes"),
            Some(ListMeta {
                merge_key: Some("name"),
                retain_keys: true
            })
        );
        assert_eq!(spec("imagePullSecrets"), by("name"));
        assert_eq!(spec("hostAliases"), by("ip"));
        assert_eq!(spec("topologySpreadConstraints"), by("topologyKey"));
        assert_eq!(spec("schedulingGates"), by("name"));
        assert_eq!(spec("tolerations"), None);
        assert_eq!(spec("readinessGates"), None);
    }

    #[test]
    fn container_lists_in_all_container_kinds() {
        for list in ["containers", "initContainers", "ephemeralContainers"] {
            let c = |f: &'static str| merge_meta("Pod", &["spec", list, f]);
            assert_eq!(c("ports"), by("containerPort"), "{list}");
            assert_eq!(c("env"), by("name"), "{list}");
            assert_eq!(c("volumeMounts"), by("mountPath"), "{list}");
            assert_eq!(c("volumeDevices"), by("devicePath"), "{list}");
            assert_eq!(c("envFrom"), None, "{list}");
            assert_eq!(c("args"), None, "{list}");
        }
    }

    #[test]
    fn pod_status_lists() {
        assert_eq!(merge_meta("Pod", &["status", "conditions"]), by("type"));
        assert_eq!(merge_meta("Pod", &["status", "podIPs"]), by("ip"));
        assert_eq!(merge_meta("Pod", &["status", "hostIPs"]), by("ip"));
        assert_eq!(merge_meta("Pod", &["status", "containerStatuses"]), None);
    }

    #[test]
    fn workloads_reach_their_pod_template() {
        for kind in [
            "Deployment",
            "ReplicaSet",
            "StatefulSet",
            "DaemonSet",
            "Job",
            "ReplicationController",
        ] {
            assert_eq!(
                merge_meta(kind, &["spec", "template", "spec", "containers"]),
                by("name"),
                "{kind}"
            );
            assert_eq!(
                merge_meta(kind, &["spec", "template", "spec", "containers", "env"]),
                by("name"),
                "{kind}"
            );
            assert_eq!(
                merge_meta(kind, &["spec", "template", "metadata", "finalizers"]),
                MERGE_SET,
                "{kind}"
            );
            assert_eq!(
                merge_meta(kind, &["status", "conditions"]),
                by("type"),
                "{kind}"
            );
            // a workload has no pod spec directly under spec
            assert_eq!(merge_meta(kind, &["spec", "containers"]), None, "{kind}");
        }
        assert_eq!(
            merge_meta("PodTemplate", &["template", "spec", "volumes"]).map(|m| m.merge_key),
            Some(Some("name"))
        );
    }

    #[test]
    fn cronjob_reaches_pod_spec_through_job_template() {
        let path = [
            "spec",
            "jobTemplate",
            "spec",
            "template",
            "spec",
            "initContainers",
        ];
        assert_eq!(merge_meta("CronJob", &path), by("name"));
        assert_eq!(
            merge_meta(
                "CronJob",
                &[
                    "spec",
                    "jobTemplate",
                    "spec",
                    "template",
                    "spec",
                    "containers",
                    "volumeMounts"
                ]
            ),
            by("mountPath")
        );
        assert_eq!(merge_meta("CronJob", &["status", "active"]), None);
    }

    #[test]
    fn service_node_and_service_account_lists() {
        assert_eq!(merge_meta("Service", &["spec", "ports"]), by("port"));
        assert_eq!(merge_meta("Service", &["spec", "externalIPs"]), None);
        assert_eq!(merge_meta("Service", &["status", "conditions"]), by("type"));
        assert_eq!(merge_meta("Node", &["status", "addresses"]), by("type"));
        assert_eq!(merge_meta("Node", &["status", "conditions"]), by("type"));
        assert_eq!(merge_meta("Node", &["spec", "podCIDRs"]), MERGE_SET);
        assert_eq!(merge_meta("Node", &["spec", "taints"]), None);
        assert_eq!(merge_meta("ServiceAccount", &["secrets"]), by("name"));
        assert_eq!(merge_meta("ServiceAccount", &["imagePullSecrets"]), None);
        assert_eq!(
            merge_meta("Namespace", &["status", "conditions"]),
            by("type")
        );
        assert_eq!(merge_meta("Namespace", &["spec", "finalizers"]), None);
        assert_eq!(
            merge_meta("PersistentVolumeClaim", &["status", "conditions"]),
            by("type")
        );
    }

    #[test]
    fn kinds_without_merge_lists() {
        assert_eq!(merge_meta("Endpoints", &["subsets"]), None);
        assert_eq!(merge_meta("Endpoints", &["subsets", "addresses"]), None);
        assert_eq!(merge_meta("Endpoints", &["subsets", "ports"]), None);
        assert_eq!(merge_meta("Ingress", &["spec", "rules"]), None);
        assert_eq!(merge_meta("Ingress", &["spec", "tls"]), None);
        assert_eq!(merge_meta("NetworkPolicy", &["spec", "ingress"]), None);
        assert_eq!(merge_meta("NetworkPolicy", &["spec", "egress"]), None);
        assert_eq!(merge_meta("NetworkPolicy", &["spec", "policyTypes"]), None);
        assert_eq!(merge_meta("Event", &["series"]), None);
        assert_eq!(merge_meta("ConfigMap", &["status", "conditions"]), None);
        assert_eq!(merge_meta("Pod", &[]), None);
    }
}
