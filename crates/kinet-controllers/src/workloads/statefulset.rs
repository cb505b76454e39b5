//! The StatefulSet controller: pods NAME-0…NAME-(n-1) with stable hostnames under
//! the governing Service, started in order (each after the previous is Ready)
//! unless the policy is Parallel, removed from the highest ordinal, updated from
//! the highest ordinal one at a time.

use super::common::{Ctx, Next, delete_pod, revision_pod};
use super::keys::{Kind, Obj};
use super::template::template_hash;
use kinet_model::json::{at, int_at, name, namespace, object_mut, str_at};
use kinet_model::pod::{is_active, is_ready};
use kinet_registry::events::Source;
use serde_json::{Value, json};

/// The ordinal a pod's name ends in (`db-2` → 2).
pub fn ordinal(pod_name: &str) -> Option<i64> {
    pod_name.rsplit('-').next()?.parse().ok()
}

/// What the plan needs of one pod of the set.
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    pub name: &'a str,
    pub active: bool,
    pub ready: bool,
    pub revision: &'a str,
}

impl<'a> Member<'a> {
    fn of(p: &'a Value) -> Member<'a> {
        Member {
            name: name(p),
            active: is_active(p),
            ready: is_ready(p),
            revision: str_at(p, "/metadata/labels/controller-revision-hash"),
        }
    }
}

/// What the set does this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Ordinals to create, in order.
    pub create: Vec<i64>,
    /// A pod (index into the members) removed by a scale-down.
    pub scale_down: Option<usize>,
    /// A pod (index into the members) removed to come back at the update revision.
    pub update: Option<usize>,
}

/// The pass of set `set` wanting `want` pods at `revision`, given its pods.
pub fn plan(
    set: &str,
    want: i64,
    parallel: bool,
    on_delete: bool,
    revision: &str,
    pods: &[Member],
) -> Plan {
    let by_ordinal = |i: i64| {
        let n = format!("{set}-{i}");
        pods.iter().position(|p| p.name == n)
    };
    let mut create = vec![];
    let mut blocked = false;
    for i in 0..want {
        match by_ordinal(i).map(|x| pods[x]) {
            None if !blocked => {
                create.push(i);
                blocked = !parallel;
            }
            Some(p) if !p.active || !p.ready => blocked = !parallel,
            _ => {}
        }
    }
    let all_ready =
        (0..want).all(|i| by_ordinal(i).is_some_and(|x| pods[x].active && pods[x].ready));
    // scale down from the highest ordinal, one at a time
    let mut extra: Vec<(usize, i64)> = pods
        .iter()
        .enumerate()
        .filter(|(_, p)| p.active)
        .filter_map(|(x, p)| ordinal(p.name).map(|o| (x, o)))
        .filter(|(_, o)| *o >= want)
        .collect();
    extra.sort_by_key(|(_, o)| std::cmp::Reverse(*o));
    let mut out = Plan {
        create,
        scale_down: None,
        update: None,
    };
    match extra.first() {
        Some((x, _)) if parallel || all_ready => out.scale_down = Some(*x),
        _ if all_ready && !on_delete => {
            // rolling update: the highest ordinal still on an old revision goes
            out.update = (0..want)
                .rev()
                .filter_map(by_ordinal)
                .find(|x| pods[*x].revision != revision);
        }
        _ => {}
    }
    out
}

pub fn reconcile(ctx: &Ctx, o: &Obj) -> Next {
    let Some(set) = ctx.live(o) else {
        return Next::Done;
    };
    let src = Source::new("statefulset-controller", None);
    let (ns, set_name) = (namespace(&set), name(&set));
    let want = int_at(&set, "/spec/replicas").unwrap_or(1).max(0);
    let parallel = str_at(&set, "/spec/podManagementPolicy") == "Parallel";
    let on_delete = str_at(&set, "/spec/updateStrategy/type") == "OnDelete";
    let revision = format!(
        "{set_name}-{}",
        template_hash(at(&set, "/spec/template").unwrap_or(&Value::Null), 0)
    );
    let pods = ctx.controlled(Kind::Pod, ns, str_at(&set, "/metadata/uid"));
    let members: Vec<Member> = pods.iter().map(|p| Member::of(p)).collect();
    let plan = plan(set_name, want, parallel, on_delete, &revision, &members);
    let mut next = Next::Done;
    for i in &plan.create {
        let pname = format!("{set_name}-{i}");
        let mut pod = revision_pod(&set, "StatefulSet", &pname, &revision);
        object_mut(&mut pod, &["metadata", "labels"])
            .insert("statefulset.kubernetes.io/pod-name".into(), json!(pname));
        object_mut(&mut pod, &["metadata", "labels"])
            .insert("apps.kubernetes.io/pod-index".into(), json!(i.to_string()));
        object_mut(&mut pod, &["spec"]).insert("hostname".into(), json!(pname));
        let service = str_at(&set, "/spec/serviceName");
        if !service.is_empty() {
            object_mut(&mut pod, &["spec"]).insert("subdomain".into(), json!(service));
        }
        let created = format!("create Pod {pname} in StatefulSet {set_name} successful");
        if !ctx.create_pod(&src, &set, pod, &created, |w| {
            format!("create Pod {pname} in StatefulSet {set_name} failed error: {w}")
        }) {
            next = Next::Retry;
        }
    }
    if let Some(x) = plan.scale_down {
        delete_pod(&ctx.store, &pods[x]);
        ctx.normal(
            &src,
            &set,
            "SuccessfulDelete",
            &format!(
                "delete Pod {} in StatefulSet {set_name} successful",
                name(&pods[x])
            ),
        );
    } else if let Some(x) = plan.update {
        delete_pod(&ctx.store, &pods[x]);
    }
    let live: Vec<&Member> = members.iter().filter(|p| p.active).collect();
    let ready = live.iter().filter(|p| p.ready).count();
    let updated = live.iter().filter(|p| p.revision == revision).count();
    let mut st = json!({
        "observedGeneration": at(&set, "/metadata/generation").cloned().unwrap_or(json!(1)),
        "replicas": live.len(), "currentReplicas": updated, "updatedReplicas": updated,
        "currentRevision": revision, "updateRevision": revision, "collisionCount": 0,
        "availableReplicas": ready,
    });
    if ready > 0 {
        st["readyReplicas"] = json!(ready);
    }
    ctx.write_status(Kind::StatefulSet.resource(), &set, st);
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m<'a>(name: &'a str, ready: bool, revision: &'a str) -> Member<'a> {
        Member {
            name,
            active: true,
            ready,
            revision,
        }
    }

    #[test]
    fn ordinals_start_in_order_and_go_from_the_top() {
        assert_eq!(ordinal("db-12"), Some(12));
        assert_eq!(ordinal("db"), None);
        // nothing yet: only db-0, unless Parallel
        assert_eq!(plan("db", 3, false, false, "r", &[]).create, [0]);
        assert_eq!(plan("db", 3, true, false, "r", &[]).create, [0, 1, 2]);
        // db-0 not ready yet: wait
        let pods = [m("db-0", false, "r")];
        assert!(plan("db", 3, false, false, "r", &pods).create.is_empty());
        // db-0 ready: db-1 next; a gap is filled first
        let pods = [m("db-0", true, "r")];
        assert_eq!(plan("db", 3, false, false, "r", &pods).create, [1]);
        let pods = [m("db-0", true, "r"), m("db-2", true, "r")];
        assert_eq!(plan("db", 3, false, false, "r", &pods).create, [1]);
        // scale down: the highest ordinal, once all wanted are ready
        let pods = [
            m("db-0", true, "r"),
            m("db-2", true, "r"),
            m("db-1", true, "r"),
        ];
        let p = plan("db", 1, false, false, "r", &pods);
        assert_eq!((p.create.len(), p.scale_down, p.update), (0, Some(1), None));
        let pods = [m("db-0", false, "r"), m("db-1", true, "r")];
        assert_eq!(plan("db", 1, false, false, "r", &pods).scale_down, None);
        assert_eq!(plan("db", 1, true, false, "r", &pods).scale_down, Some(1));
    }

    #[test]
    fn updates_go_from_the_highest_ordinal_unless_on_delete() {
        let pods = [
            m("db-0", true, "old"),
            m("db-1", true, "old"),
            m("db-2", true, "new"),
        ];
        assert_eq!(plan("db", 3, false, false, "new", &pods).update, Some(1));
        assert_eq!(plan("db", 3, false, true, "new", &pods).update, None);
        let unready = [m("db-0", true, "old"), m("db-1", false, "old")];
        assert_eq!(plan("db", 2, false, false, "new", &unready).update, None);
    }
}
