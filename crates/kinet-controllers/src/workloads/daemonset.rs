//! The DaemonSet controller: one pod on every node whose labels match the
//! template's nodeSelector, bound to it with the daemon tolerations; duplicates and
//! pods on other nodes removed; rolling updates one node at a time.

use super::common::{Ctx, Next, delete_pod, revision_pod};
use super::keys::{Kind, Obj};
use super::template::template_hash;
use kinet_model::json::{at, name, namespace, object_mut, str_at, string_map_at};
use kinet_model::pod::{is_active, is_ready};
use kinet_model::selector::labels_of;
use kinet_registry::events::Source;
use serde_json::{Value, json};

/// The tolerations upstream adds to every daemon pod.
const TOLERATED: [&str; 6] = [
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
    "node.kubernetes.io/disk-pressure",
    "node.kubernetes.io/memory-pressure",
    "node.kubernetes.io/pid-pressure",
    "node.kubernetes.io/unschedulable",
];

/// One step of a DaemonSet's pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A pod for this node.
    Create(String),
    /// This pod (index into the pods) goes.
    Delete(usize),
}

/// The pass, given the eligible nodes and the set's active pods as (node, revision).
pub fn plan(
    eligible: &[String],
    pods: &[(&str, &str)],
    revision: &str,
    on_delete: bool,
) -> Vec<Action> {
    let mut actions = vec![];
    let mut updating = false;
    for node in eligible {
        let mine: Vec<usize> = (0..pods.len()).filter(|x| pods[*x].0 == node).collect();
        match mine.first() {
            None => actions.push(Action::Create(node.clone())),
            Some(first) => {
                actions.extend(mine.iter().skip(1).map(|x| Action::Delete(*x)));
                // rolling update, one node at a time
                if !updating && pods[*first].1 != revision && !on_delete {
                    updating = true;
                    actions.push(Action::Delete(*first));
                }
            }
        }
    }
    actions.extend(
        (0..pods.len())
            .filter(|x| !eligible.iter().any(|n| n == pods[*x].0))
            .map(Action::Delete),
    );
    actions
}

/// The names of the nodes whose labels match `selector`.
pub fn eligible_nodes<'a>(
    nodes: impl IntoIterator<Item = &'a Value>,
    selector: &[(String, String)],
) -> Vec<String> {
    nodes
        .into_iter()
        .filter(|n| {
            let labels = labels_of(n);
            selector.iter().all(|(k, v)| labels.get(k) == Some(v))
        })
        .map(|n| name(n).to_string())
        .collect()
}

/// A daemon pod for `node`.
fn daemon_pod(set: &Value, pname: &str, revision: &str, node: &str) -> Value {
    let mut pod = revision_pod(set, "DaemonSet", pname, revision);
    object_mut(&mut pod, &["spec"]).insert("nodeName".into(), json!(node));
    let mut tolerations = pod["spec"]["tolerations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for key in TOLERATED {
        let effect = if key.ends_with("ready") || key.ends_with("unreachable") {
            "NoExecute"
        } else {
            "NoSchedule"
        };
        tolerations.push(json!({"key": key, "operator": "Exists", "effect": effect}));
    }
    object_mut(&mut pod, &["spec"]).insert("tolerations".into(), json!(tolerations));
    pod
}

pub fn reconcile(ctx: &Ctx, o: &Obj) -> Next {
    let Some(set) = ctx.live(o) else {
        return Next::Done;
    };
    let src = Source::new("daemonset-controller", None);
    let (ns, set_name) = (namespace(&set), name(&set));
    let revision = template_hash(at(&set, "/spec/template").unwrap_or(&Value::Null), 0);
    let selector = string_map_at(&set, "/spec/template/spec/nodeSelector");
    let eligible = eligible_nodes(
        ctx.list(Kind::Node, None).iter().map(|n| n.as_ref()),
        &selector,
    );
    let pods: Vec<_> = ctx
        .controlled(Kind::Pod, ns, str_at(&set, "/metadata/uid"))
        .into_iter()
        .filter(|p| is_active(p))
        .collect();
    let placed: Vec<(&str, &str)> = pods
        .iter()
        .map(|p| {
            (
                str_at(p, "/spec/nodeName"),
                str_at(p, "/metadata/labels/controller-revision-hash"),
            )
        })
        .collect();
    let on_delete = str_at(&set, "/spec/updateStrategy/type") == "OnDelete";
    let mut next = Next::Done;
    for action in plan(&eligible, &placed, &revision, on_delete) {
        match action {
            Action::Create(node) => {
                let pname = format!("{set_name}-{}", kinet_registry::random_suffix(5));
                let pod = daemon_pod(&set, &pname, &revision, &node);
                let created = format!("Created pod: {pname}");
                if !ctx.create_pod(&src, &set, pod, &created, |w| {
                    format!("Error creating: {w}")
                }) {
                    next = Next::Retry;
                }
            }
            Action::Delete(x) => delete_pod(&ctx.store, &pods[x]),
        }
    }
    let on_eligible: Vec<&(&str, &str)> = placed
        .iter()
        .filter(|(node, _)| eligible.iter().any(|n| n == node))
        .collect();
    let ready = pods
        .iter()
        .zip(&placed)
        .filter(|(p, (node, _))| eligible.iter().any(|n| n == node) && is_ready(p))
        .count();
    let updated = on_eligible.iter().filter(|(_, r)| *r == revision).count();
    let mut st = json!({
        "observedGeneration": at(&set, "/metadata/generation").cloned().unwrap_or(json!(1)),
        "desiredNumberScheduled": eligible.len(), "currentNumberScheduled": on_eligible.len(),
        "numberMisscheduled": 0, "numberReady": ready, "updatedNumberScheduled": updated,
    });
    if ready > 0 {
        st["numberAvailable"] = json!(ready);
    }
    if eligible.len() > ready {
        st["numberUnavailable"] = json!(eligible.len() - ready);
    }
    ctx.write_status(Kind::DaemonSet.resource(), &set, st);
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pod_per_eligible_node_updated_one_node_at_a_time() {
        let nodes = [
            json!({"metadata": {"name": "node1", "labels": {"disk": "ssd"}}}),
            json!({"metadata": {"name": "node2"}}),
        ];
        let all = eligible_nodes(nodes.iter(), &[]);
        assert_eq!(all, ["node1", "node2"]);
        let ssd = eligible_nodes(nodes.iter(), &[("disk".into(), "ssd".into())]);
        assert_eq!(ssd, ["node1"]);
        // nothing yet: a pod per node
        assert_eq!(
            plan(&all, &[], "r", false),
            [
                Action::Create("node1".into()),
                Action::Create("node2".into())
            ]
        );
        // a duplicate and a pod on a node that no longer fits go
        let pods = [("node1", "r"), ("node1", "r"), ("node2", "r")];
        assert_eq!(
            plan(&ssd, &pods, "r", false),
            [Action::Delete(1), Action::Delete(2)]
        );
        // an update replaces one node's pod per pass, none when OnDelete
        let pods = [("node1", "old"), ("node2", "old")];
        assert_eq!(plan(&all, &pods, "new", false), [Action::Delete(0)]);
        assert!(plan(&all, &pods, "new", true).is_empty());
    }
}
