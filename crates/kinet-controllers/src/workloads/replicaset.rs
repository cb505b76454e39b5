//! The ReplicaSet controller: keeps `spec.replicas` active pods made from the
//! template, removes the least useful ones first, and reports what it counts.

use super::common::{Ctx, Next, delete_pod, pod_from_template};
use super::keys::{Kind, Obj};
use kinet_model::json::{at, int_at, name, namespace, object_mut, str_at};
use kinet_model::pod::{is_active, is_ready};
use kinet_model::selector::LabelSelector;
use kinet_registry::events::Source;
use serde_json::{Value, json};

pub fn reconcile(ctx: &Ctx, o: &Obj) -> Next {
    let Some(rs) = ctx.live(o) else {
        return Next::Done;
    };
    let src = Source::new("replicaset-controller", None);
    let (ns, rs_name) = (namespace(&rs), name(&rs));
    let want = int_at(&rs, "/spec/replicas").unwrap_or(1);
    let pods = ctx.controlled(Kind::Pod, ns, str_at(&rs, "/metadata/uid"));
    let live: Vec<&Value> = pods
        .iter()
        .map(|p| p.as_ref())
        .filter(|p| is_active(p))
        .collect();
    let have = live.len() as i64;
    let mut next = Next::Done;
    if have < want {
        for _ in have..want {
            let pname = format!("{rs_name}-{}", kinet_registry::random_suffix(5));
            let mut pod = pod_from_template(&rs, "ReplicaSet", &pname);
            object_mut(&mut pod, &["metadata"])
                .insert("generateName".into(), json!(format!("{rs_name}-")));
            let created = format!("Created pod: {pname}");
            if !ctx.create_pod(&src, &rs, pod, &created, |w| format!("Error creating: {w}")) {
                next = Next::Retry;
                break;
            }
        }
    } else if have > want {
        for p in victims(&live, (have - want) as usize) {
            delete_pod(&ctx.store, p);
            ctx.normal(
                &src,
                &rs,
                "SuccessfulDelete",
                &format!("Deleted pod: {}", name(p)),
            );
        }
    }
    let ready = live.iter().filter(|p| is_ready(p)).count() as i64;
    let selector = LabelSelector::from_object(at(&rs, "/spec/selector").unwrap_or(&Value::Null))
        .unwrap_or_default();
    let labeled = live.iter().filter(|p| selector.matches_object(p)).count() as i64;
    let generation = at(&rs, "/metadata/generation").cloned().unwrap_or(json!(1));
    let mut st = json!({"replicas": live.len(), "fullyLabeledReplicas": labeled, "observedGeneration": generation});
    if ready > 0 {
        st["readyReplicas"] = json!(ready);
        st["availableReplicas"] = json!(ready);
    }
    ctx.write_status(Kind::ReplicaSet.resource(), &rs, st);
    next
}

/// The `n` pods a scale-down removes: unscheduled first, then not ready, then the newest.
pub fn victims<'a>(live: &[&'a Value], n: usize) -> Vec<&'a Value> {
    let mut order = live.to_vec();
    order.sort_by_key(|p| {
        (
            !str_at(p, "/spec/nodeName").is_empty(),
            is_ready(p),
            std::cmp::Reverse(str_at(p, "/metadata/creationTimestamp").to_string()),
        )
    });
    order.truncate(n);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_down_removes_unscheduled_then_unready_then_newest() {
        let pod = |name: &str, node: &str, ready: bool, created: &str| {
            json!({"metadata": {"name": name, "creationTimestamp": created},
                   "spec": {"nodeName": node},
                   "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
        };
        let pods = [
            pod("old-ready", "node1", true, "2026-01-01T00:00:00Z"),
            pod("new-ready", "node1", true, "2026-01-02T00:00:00Z"),
            pod("unready", "node2", false, "2026-01-01T00:00:00Z"),
            pod("pending", "", true, "2026-01-01T00:00:00Z"),
        ];
        let live: Vec<&Value> = pods.iter().collect();
        let names = |n| victims(&live, n).into_iter().map(name).collect::<Vec<_>>();
        assert_eq!(names(1), ["pending"]);
        assert_eq!(names(3), ["pending", "unready", "new-ready"]);
        assert_eq!(names(9).len(), 4);
    }
}
