//! The Deployment controller: one ReplicaSet per pod template (named by its
//! pod-template-hash), rolling updates within maxSurge and maxUnavailable or
//! Recreate, revisions for `rollout history` and `rollout undo`, old ReplicaSets
//! pruned past the history limit, and the Deployment's status and conditions.

use super::common::{Ctx, Next, count, owner_ref};
use super::keys::{Kind, Obj};
use super::template::{same_template, template_hash};
use kinet_model::json::{at, int_at, name, namespace, object_mut, str_at};
use kinet_registry::events::Source;
use kinet_registry::now;
use serde_json::{Value, json};
use std::sync::Arc;

const REVISION: &str = "/metadata/annotations/deployment.kubernetes.io~1revision";

/// Resolves an IntOrString (`3` or `"25%"`) against `total`, rounding up or down.
pub fn resolve_int_or_percent(v: Option<&Value>, total: i64, round_up: bool, default: &str) -> i64 {
    let v = v.cloned().unwrap_or_else(|| json!(default));
    match v {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(p) => {
                let x = p * total;
                if round_up { (x + 99) / 100 } else { x / 100 }
            }
            None => s.parse().unwrap_or(0),
        },
        _ => 0,
    }
}

/// maxSurge of `d` against `want` replicas (rounded up, 25% by default).
fn max_surge(d: &Value, want: i64) -> i64 {
    resolve_int_or_percent(
        d.pointer("/spec/strategy/rollingUpdate/maxSurge"),
        want,
        true,
        "25%",
    )
}

/// maxUnavailable of `d` against `want` replicas (rounded down, 25% by default).
fn max_unavailable(d: &Value, want: i64) -> i64 {
    resolve_int_or_percent(
        d.pointer("/spec/strategy/rollingUpdate/maxUnavailable"),
        want,
        false,
        "25%",
    )
}

fn revision_of(rs: &Value) -> i64 {
    str_at(rs, REVISION).parse().unwrap_or(0)
}

fn recreate(d: &Value) -> bool {
    str_at(d, "/spec/strategy/type") == "Recreate"
}

/// What the rollout logic needs of one ReplicaSet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// `spec.replicas`
    pub spec: i64,
    /// `status.replicas`
    pub status: i64,
    /// `status.readyReplicas`
    pub ready: i64,
}

impl Counts {
    fn of(rs: &Value) -> Counts {
        Counts {
            spec: count(rs, "/spec/replicas"),
            status: count(rs, "/status/replicas"),
            ready: count(rs, "/status/readyReplicas"),
        }
    }
}

/// One pass of a rollout: the replicas each ReplicaSet goes to, in the order
/// they are scaled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The new ReplicaSet's target; None leaves it as it is.
    pub new: Option<i64>,
    /// The old ReplicaSets' targets, in their order.
    pub olds: Vec<i64>,
    /// The new ReplicaSet is scaled before the old ones (a rolling update), or after (Recreate).
    pub new_first: bool,
}

/// Recreate: every old ReplicaSet to 0; the new one to `want` once no old pod is left.
pub fn recreate_plan(want: i64, olds: &[Counts]) -> Plan {
    let old_running: i64 = olds.iter().map(|r| r.status + r.spec).sum();
    Plan {
        new: (old_running == 0).then_some(want),
        olds: vec![0; olds.len()],
        new_first: false,
    }
}

/// A rolling update: the new ReplicaSet grows as far as `want + surge` pods in all
/// allow; old ones shrink as far as `want - unavailable` ready pods allow, their
/// unready pods first.
pub fn rolling_plan(want: i64, surge: i64, unavailable: i64, new: Counts, olds: &[Counts]) -> Plan {
    let unavailable = if surge == 0 && unavailable == 0 {
        1
    } else {
        unavailable
    };
    let total = new.spec + olds.iter().map(|r| r.spec).sum::<i64>();
    let new_target = if new.spec > want {
        want
    } else if new.spec < want && want + surge - total > 0 {
        (new.spec + want + surge - total).min(want)
    } else {
        new.spec
    };
    let available = new.ready + olds.iter().map(|r| r.ready).sum::<i64>();
    let mut can_remove = (available - (want - unavailable)).max(0);
    let olds = olds
        .iter()
        .map(|r| {
            let cur = r.spec;
            if cur == 0 {
                return 0;
            }
            // old replicas that are not ready can go at once
            let unhealthy = (cur - r.ready).max(0);
            let take = (unhealthy + can_remove).min(cur);
            if take > 0 {
                can_remove -= (take - unhealthy).max(0);
            }
            cur - take
        })
        .collect();
    Plan {
        new: Some(new_target),
        olds,
        new_first: true,
    }
}

fn scale_rs(ctx: &Ctx, d: &Value, rs: &Value, to: i64, src: &Source) {
    let from = count(rs, "/spec/replicas");
    if from == to {
        return;
    }
    let key = kinet_registry::key_of(Kind::ReplicaSet.resource(), rs);
    let want = count(d, "/spec/replicas");
    let surge = max_surge(d, want);
    let scaled = ctx.store.update_with(&key, |o| {
        object_mut(o, &["spec"]).insert("replicas".into(), json!(to));
        let annotations = object_mut(o, &["metadata", "annotations"]);
        annotations.insert(
            "deployment.kubernetes.io/desired-replicas".into(),
            json!(want.to_string()),
        );
        annotations.insert(
            "deployment.kubernetes.io/max-replicas".into(),
            json!((want + surge).to_string()),
        );
        true
    });
    if scaled.is_ok() {
        let verb = if to > from { "up" } else { "down" };
        ctx.normal(
            src,
            d,
            "ScalingReplicaSet",
            &format!("Scaled {verb} replica set {} from {from} to {to}", name(rs)),
        );
    }
}

/// Creates the ReplicaSet of `template` (hash `hash`) for `d`.
fn create_rs(
    ctx: &Ctx,
    d: &Value,
    src: &Source,
    owned: &[Arc<Value>],
    (template, hash, rs_name): (&Value, &str, &str),
    next_revision: i64,
) -> Option<Arc<Value>> {
    let want = int_at(d, "/spec/replicas").unwrap_or(1);
    let mut t = template.clone();
    object_mut(&mut t, &["metadata", "labels"]).insert("pod-template-hash".into(), json!(hash));
    let mut selector = at(d, "/spec/selector").cloned().unwrap_or(json!({}));
    object_mut(&mut selector, &["matchLabels"]).insert("pod-template-hash".into(), json!(hash));
    let initial = if owned.iter().all(|r| count(r, "/spec/replicas") == 0) && !recreate(d) {
        want
    } else {
        0
    };
    let rs = json!({
        "metadata": {
            "name": rs_name, "namespace": namespace(d),
            "labels": t["metadata"]["labels"],
            "annotations": {
                "deployment.kubernetes.io/desired-replicas": want.to_string(),
                "deployment.kubernetes.io/max-replicas": (want + max_surge(d, want)).to_string(),
                "deployment.kubernetes.io/revision": next_revision.to_string(),
            },
            "ownerReferences": [owner_ref(d, "Deployment")]
        },
        "spec": {"replicas": initial, "minReadySeconds": at(d, "/spec/minReadySeconds").cloned().unwrap_or(json!(0)), "selector": selector, "template": t}
    });
    let r = kinet_registry::create(&ctx.store, Kind::ReplicaSet.resource(), rs).ok()?;
    if initial > 0 {
        ctx.normal(
            src,
            d,
            "ScalingReplicaSet",
            &format!("Scaled up replica set {rs_name} from 0 to {initial}"),
        );
    }
    Some(r)
}

pub fn reconcile(ctx: &Ctx, o: &Obj) -> Next {
    let Some(d) = ctx.live(o) else {
        return Next::Done;
    };
    let src = Source::new("deployment-controller", None);
    let (ns, uid) = (namespace(&d), str_at(&d, "/metadata/uid"));
    let want = int_at(&d, "/spec/replicas").unwrap_or(1);
    let template = at(&d, "/spec/template").cloned().unwrap_or(json!({}));
    let collisions = int_at(&d, "/status/collisionCount").unwrap_or(0);
    let mut owned = ctx.controlled(Kind::ReplicaSet, ns, uid);
    owned.sort_by_key(|r| str_at(r, "/metadata/creationTimestamp").to_string());
    let max_revision = owned.iter().map(|r| revision_of(r)).max().unwrap_or(0);
    let existing = owned
        .iter()
        .find(|r| same_template(at(r, "/spec/template").unwrap_or(&Value::Null), &template))
        .cloned();
    let new_rs = match existing {
        Some(r) => r,
        None => {
            let hash = template_hash(&template, collisions);
            let rs_name = format!("{}-{hash}", name(&d));
            let made = (&template, hash.as_str(), rs_name.as_str());
            match create_rs(ctx, &d, &src, &owned, made, max_revision + 1) {
                Some(r) => {
                    owned.push(r.clone());
                    r
                }
                None => return Next::Retry,
            }
        }
    };
    let hash = str_at(&new_rs, "/metadata/labels/pod-template-hash").to_string();
    let new_name = name(&new_rs).to_string();
    // a ReplicaSet that becomes current again (rollout undo) takes the next revision
    let new_rs = if revision_of(&new_rs) < max_revision {
        let key = kinet_registry::key_of(Kind::ReplicaSet.resource(), &new_rs);
        ctx.store
            .update_with(&key, |o| {
                object_mut(o, &["metadata", "annotations"]).insert(
                    "deployment.kubernetes.io/revision".into(),
                    json!((max_revision + 1).to_string()),
                );
                true
            })
            .unwrap_or(new_rs)
    } else {
        new_rs
    };
    let new_uid = str_at(&new_rs, "/metadata/uid");
    let olds: Vec<&Arc<Value>> = owned
        .iter()
        .filter(|r| str_at(r, "/metadata/uid") != new_uid)
        .collect();
    let old_counts: Vec<Counts> = olds.iter().map(|r| Counts::of(r)).collect();
    let plan = if recreate(&d) {
        recreate_plan(want, &old_counts)
    } else {
        let (surge, unavailable) = (max_surge(&d, want), max_unavailable(&d, want));
        rolling_plan(want, surge, unavailable, Counts::of(&new_rs), &old_counts)
    };
    let scale_new = |to: Option<i64>| {
        if let Some(to) = to {
            scale_rs(ctx, &d, &new_rs, to, &src);
        }
    };
    if plan.new_first {
        scale_new(plan.new);
    }
    for (r, to) in olds.iter().zip(&plan.olds) {
        scale_rs(ctx, &d, r, *to, &src);
    }
    if !plan.new_first {
        scale_new(plan.new);
    }
    // old, empty ReplicaSets beyond the history limit go
    let limit = int_at(&d, "/spec/revisionHistoryLimit").unwrap_or(10);
    let empty_olds: Vec<&&Arc<Value>> = olds
        .iter()
        .filter(|r| count(r, "/spec/replicas") == 0 && count(r, "/status/replicas") == 0)
        .collect();
    if empty_olds.len() as i64 > limit {
        for r in empty_olds.iter().take(empty_olds.len() - limit as usize) {
            let _ = ctx.store.delete(
                &kinet_registry::key_of(Kind::ReplicaSet.resource(), r),
                None,
            );
        }
    }
    write_status(ctx, &d, &hash, &new_name);
    Next::Done
}

/// The Deployment's status from its ReplicaSets as they are now, and its revision
/// annotation from the new ReplicaSet's.
fn write_status(ctx: &Ctx, d: &Value, hash: &str, new_rs_name: &str) {
    let want = int_at(d, "/spec/replicas").unwrap_or(1);
    let current = ctx.controlled(Kind::ReplicaSet, namespace(d), str_at(d, "/metadata/uid"));
    let new_now = current
        .iter()
        .find(|r| str_at(r, "/metadata/labels/pod-template-hash") == hash);
    let sum = |p: &str| current.iter().map(|r| count(r, p)).sum::<i64>();
    let (total, ready_all, available) = (
        sum("/status/replicas"),
        sum("/status/readyReplicas"),
        sum("/status/availableReplicas"),
    );
    let updated = new_now.map(|r| count(r, "/status/replicas")).unwrap_or(0);
    let min_ok = available >= want - max_unavailable(d, want);
    let done = updated == want && total == want && available == want;
    let revision = new_now
        .and_then(|r| at(r, REVISION))
        .and_then(Value::as_str)
        .unwrap_or("1")
        .to_string();
    let key = kinet_registry::key_of(Kind::Deployment.resource(), d);
    let _ = ctx.store.update_with(&key, |o| {
        let t = now();
        let prev = o["status"]["conditions"].clone();
        let cond = |typ: &str, status: &str, reason: &str, msg: &str| {
            let since = prev
                .as_array()
                .and_then(|a| a.iter().find(|c| c["type"] == typ && c["status"] == status && c["reason"] == reason))
                .and_then(|c| c.get("lastTransitionTime").cloned())
                .unwrap_or(json!(t));
            json!({"type": typ, "status": status, "lastUpdateTime": since, "lastTransitionTime": since, "reason": reason, "message": msg})
        };
        let mut st = json!({
            "observedGeneration": at(o, "/metadata/generation").cloned().unwrap_or(json!(1)),
            "replicas": total,
            "updatedReplicas": updated,
            "conditions": [
                if min_ok { cond("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.") }
                else { cond("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.") },
                if done { cond("Progressing", "True", "NewReplicaSetAvailable", &format!("ReplicaSet \"{new_rs_name}\" has successfully progressed.")) }
                else { cond("Progressing", "True", "ReplicaSetUpdated", &format!("ReplicaSet \"{new_rs_name}\" is progressing.")) },
            ]
        });
        if ready_all > 0 {
            st["readyReplicas"] = json!(ready_all);
        }
        if available > 0 {
            st["availableReplicas"] = json!(available);
        }
        if total - available > 0 {
            st["unavailableReplicas"] = json!(total - available);
        }
        let same = o["status"] == st && o.pointer(REVISION).and_then(Value::as_str) == Some(revision.as_str());
        if same {
            return false;
        }
        o["status"] = st;
        object_mut(o, &["metadata", "annotations"]).insert("deployment.kubernetes.io/revision".into(), json!(revision));
        true
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(spec: i64, ready: i64) -> Counts {
        Counts {
            spec,
            status: spec,
            ready,
        }
    }

    #[test]
    fn surge_rounds_up_unavailable_down() {
        assert_eq!(
            resolve_int_or_percent(Some(&json!("25%")), 3, true, "25%"),
            1
        );
        assert_eq!(
            resolve_int_or_percent(Some(&json!("25%")), 3, false, "25%"),
            0
        );
        assert_eq!(resolve_int_or_percent(Some(&json!(2)), 3, false, "25%"), 2);
        assert_eq!(resolve_int_or_percent(None, 10, true, "25%"), 3);
        assert_eq!(
            resolve_int_or_percent(Some(&json!("4")), 10, true, "25%"),
            4
        );
    }

    #[test]
    fn rolling_updates_stay_within_surge_and_unavailability() {
        // 3 replicas, 25%: surge 1, unavailable 0. A new template: one new pod first,
        let p = rolling_plan(3, 1, 0, c(0, 0), &[c(3, 3)]);
        assert_eq!(
            (p.new, p.olds.clone(), p.new_first),
            (Some(1), vec![3], true)
        );
        // no old pod goes before the new one is ready,
        let p = rolling_plan(3, 1, 0, c(1, 0), &[c(3, 3)]);
        assert_eq!((p.new, p.olds), (Some(1), vec![3]));
        // then one old pod per ready new one.
        let p = rolling_plan(3, 1, 0, c(1, 1), &[c(3, 3)]);
        assert_eq!((p.new, p.olds), (Some(1), vec![2]));
        let p = rolling_plan(3, 1, 0, c(1, 1), &[c(2, 2)]);
        assert_eq!((p.new, p.olds), (Some(2), vec![2]));
        // old pods that are not ready go at once
        let p = rolling_plan(4, 1, 1, c(1, 1), &[c(3, 0)]);
        assert_eq!(p.olds, vec![0]);
        // surge 0 and unavailable 0 would never move: one may be unavailable
        let p = rolling_plan(2, 0, 0, c(0, 0), &[c(2, 2)]);
        assert_eq!((p.new, p.olds), (Some(0), vec![1]));
        // scaling: the new ReplicaSet follows the wanted count within the surge
        assert_eq!(rolling_plan(5, 2, 1, c(3, 3), &[]).new, Some(5));
        assert_eq!(rolling_plan(2, 1, 0, c(5, 5), &[]).new, Some(2));
        // several old ReplicaSets: the oldest goes first
        let p = rolling_plan(4, 1, 1, c(0, 0), &[c(2, 2), c(2, 2)]);
        assert_eq!((p.new, p.olds), (Some(1), vec![1, 2]));
    }

    #[test]
    fn recreate_waits_for_the_old_pods_to_go() {
        let p = recreate_plan(3, &[c(3, 3)]);
        assert_eq!((p.new, p.olds, p.new_first), (None, vec![0], false));
        let gone = Counts {
            spec: 0,
            status: 0,
            ready: 0,
        };
        assert_eq!(recreate_plan(3, &[gone]).new, Some(3));
        assert_eq!(recreate_plan(3, &[]).new, Some(3));
    }
}
