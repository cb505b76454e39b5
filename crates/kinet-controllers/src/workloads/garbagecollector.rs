//! The garbage collector: a ReplicaSet or pod whose workload owners
//! (ReplicaSet, Deployment, StatefulSet, DaemonSet, Job) are all gone goes too —
//! a ReplicaSet at once, a pod gracefully.

use super::common::{Ctx, Next, delete_pod};
use super::keys::{Kind, Obj, Owner};
use kinet_model::json::{namespace, str_at};
use serde_json::Value;

/// The owner references garbage collection honours: those naming a workload.
pub fn workload_owners(obj: &Value) -> Vec<(Kind, Owner)> {
    Owner::all(obj)
        .into_iter()
        .filter_map(|o| Some((Kind::of_owner(&o.kind)?, o)))
        .collect()
}

/// Orphaned: it names workload owners and none of them is alive.
pub fn orphaned(owners: &[(Kind, Owner)], alive: impl Fn(Kind, &Owner) -> bool) -> bool {
    !owners.is_empty() && !owners.iter().any(|(k, o)| alive(*k, o))
}

pub fn collect(ctx: &Ctx, o: &Obj) -> Next {
    let Some(obj) = ctx.get(o) else {
        return Next::Done;
    };
    let ns = namespace(&obj);
    let alive = |kind: Kind, owner: &Owner| {
        ctx.get(&Obj::new(kind, ns, &owner.name))
            .is_some_and(|x| str_at(&x, "/metadata/uid") == owner.uid)
    };
    if orphaned(&workload_owners(&obj), alive) {
        match o.kind {
            Kind::Pod => delete_pod(&ctx.store, &obj),
            _ => {
                let _ = ctx.store.delete(&o.store_key(), None);
            }
        }
    }
    Next::Done
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dependents_go_when_no_workload_owner_is_left() {
        let pod = json!({"metadata": {"ownerReferences": [
            {"kind": "ReplicaSet", "name": "web-1", "uid": "a", "controller": true},
            {"kind": "ConfigMap", "name": "x", "uid": "b"},
        ]}});
        let owners = workload_owners(&pod);
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].0, Kind::ReplicaSet);
        assert!(orphaned(&owners, |_, _| false));
        assert!(!orphaned(&owners, |_, o| o.uid == "a"));
        // only owners that are not workloads: not the collector's business
        let other = json!({"metadata": {"ownerReferences": [{"kind": "ConfigMap", "name": "x", "uid": "b"}]}});
        assert!(!orphaned(&workload_owners(&other), |_, _| false));
        assert!(!orphaned(&workload_owners(&json!({})), |_, _| false));
    }
}
