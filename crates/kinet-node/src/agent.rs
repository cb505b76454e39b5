//! The node agent: registers its Node, runs the pods bound to it, reports their
//! status and terminates them gracefully.
//!
//! The agent is split by job: `node` (the Node object and its lease), `sandbox`
//! (pod files, holder, IP allocation, the Calico wiring), `pod` (a pod's lifecycle:
//! volumes, init, main and ephemeral containers, status writes), `runner` (one
//! container's runs: spawn, output, probes, termination, restarts) and `env` (a
//! container's environment, pure).

use crate::plan::NodePlan;
use crate::sandbox::Ipam;
use kinet_model::json::str_at;
use kinet_model::resources;
use kinet_registry::events::{self, Source};
use kinet_store::Store;
use kinet_store::watcher::{self, WatcherEvent};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::mpsc;

pub use crate::sandbox::sandbox_id;

pub struct Config {
    pub lab: String,
    pub node: NodePlan,
    pub netns: PathBuf,
    /// The kinet binary, for holders and built-in servers.
    pub self_exe: PathBuf,
    /// Per-pod files: `<run_dir>/pods/<uid>/`.
    pub run_dir: PathBuf,
    /// Container logs: `<log_dir>/pods/<ns>_<name>_<uid>/<container>/<n>.log`.
    pub log_dir: PathBuf,
    /// A directory of busybox applet links (put first on PATH for busybox images).
    pub busybox_dir: Option<PathBuf>,
    /// Pod volumes: `<state_dir>/pods/<uid>/volumes/<plugin>/<name>` (the lab's state dir).
    pub state_dir: PathBuf,
    /// Issues service-account tokens for projected volumes (the API's TokenRequest).
    pub tokens: Option<crate::podvolumes::TokenIssuer>,
    /// Whether kubelet has a cluster DNS (`--cluster-dns`; off when the dns addon
    /// is disabled, as MicroK8s reconfigures kubelet): without it, ClusterFirst
    /// pods fall back to the node's resolv.conf. None: always on.
    pub cluster_dns: Option<Arc<dyn Fn() -> bool + Send + Sync>>,
}

pub struct Agent {
    pub(crate) cfg: Config,
    pub(crate) store: Arc<Store>,
    pub(crate) src: Source,
    /// The pod IPs in use on this node.
    pub(crate) ipam: Ipam,
    /// Running containers that clients can attach to.
    pub attach: crate::attach::Registry,
}

/// What the agent tells a pod's worker.
pub(crate) enum PodMsg {
    Updated(Arc<Value>),
    Deleted,
}

/// Where a container's log of run `n` lives.
pub fn log_path(
    log_dir: &Path,
    ns: &str,
    pod: &str,
    uid: &str,
    container: &str,
    n: u32,
) -> PathBuf {
    log_dir
        .join("pods")
        .join(format!("{ns}_{pod}_{uid}"))
        .join(container)
        .join(format!("{n}.log"))
}

impl Agent {
    pub fn new(cfg: Config, store: Arc<Store>) -> Arc<Agent> {
        let src = Source::new("kubelet", Some(&cfg.node.name));
        let ipam = Ipam::new(cfg.node.pod_cidr);
        Arc::new(Agent {
            cfg,
            store,
            src,
            ipam,
            attach: Default::default(),
        })
    }

    /// The node's network namespace.
    pub fn netns(&self) -> &Path {
        &self.cfg.netns
    }

    pub fn node_name(&self) -> &str {
        &self.cfg.node.name
    }

    /// The Node object this agent reports.
    pub fn node_object(&self) -> Value {
        crate::node::object(&self.cfg.node)
    }

    /// Registers the Node (replacing a stale one) and runs pods until the store closes.
    pub async fn run(self: Arc<Self>) {
        crate::node::register(&self.store, &self.src, self.node_object());
        tokio::spawn(crate::node::renew_lease(
            self.store.clone(),
            self.cfg.node.name.clone(),
        ));
        let pods = kinet_registry::resource("", "pods");
        let mut workers: HashMap<String, mpsc::UnboundedSender<PodMsg>> = HashMap::new();
        let me = self.cfg.node.name.clone();
        let agent = self.clone();
        let agent_logs = self.clone();
        // uids re-listed since the last Init: a relist drops the pods it no longer has
        let mut relisted: Option<HashSet<String>> = None;
        let apply =
            move |o: &Arc<Value>, workers: &mut HashMap<String, mpsc::UnboundedSender<PodMsg>>| {
                let uid = str_at(o, "/metadata/uid").to_string();
                match workers.get(&uid) {
                    Some(tx) => {
                        let _ = tx.send(PodMsg::Updated(o.clone()));
                    }
                    None => {
                        let (tx, rx) = mpsc::unbounded_channel();
                        workers.insert(uid, tx);
                        let a = agent.clone();
                        let pod = o.clone();
                        tokio::spawn(async move { a.pod_worker(pod, rx).await });
                    }
                }
            };
        watcher::for_each_event(
            self.store.clone(),
            &resources::store_prefix(pods, None),
            move |ev| {
                workers.retain(|_, tx| !tx.is_closed());
                let mine = |o: &Value| str_at(o, "/spec/nodeName") == me;
                match ev {
                    WatcherEvent::Init => relisted = Some(HashSet::new()),
                    WatcherEvent::InitApply(o) => {
                        if mine(&o) {
                            if let Some(seen) = relisted.as_mut() {
                                seen.insert(str_at(&o, "/metadata/uid").to_string());
                            }
                            apply(&o, &mut workers);
                        }
                    }
                    WatcherEvent::InitDone => {
                        let seen = relisted.take().unwrap_or_default();
                        workers.retain(|uid, tx| {
                            let keep = seen.contains(uid);
                            if !keep {
                                let _ = tx.send(PodMsg::Deleted);
                            }
                            keep
                        });
                    }
                    WatcherEvent::Apply(o) => {
                        if mine(&o) {
                            apply(&o, &mut workers);
                        }
                    }
                    WatcherEvent::Delete(o) => {
                        if mine(&o) {
                            // gone from the API: its logs go too, as kubelet removes them
                            let _ = std::fs::remove_dir_all(agent_logs.pod_log_dir(&o));
                        }
                        if mine(&o)
                            && let Some(tx) = workers.remove(str_at(&o, "/metadata/uid"))
                        {
                            let _ = tx.send(PodMsg::Deleted);
                        }
                    }
                }
            },
        )
        .await;
    }

    /// Records an event about a pod (its latest state, or `fallback` once it is gone).
    /// Whether kubelet has a cluster DNS right now (see [`Config::cluster_dns`]).
    pub(crate) fn has_cluster_dns(&self) -> bool {
        self.cfg.cluster_dns.as_ref().is_none_or(|f| f())
    }

    pub(crate) fn pod_event(
        &self,
        key: &str,
        fallback: &Arc<Value>,
        field_path: Option<&str>,
        typ: &str,
        reason: &str,
        msg: &str,
    ) {
        let cur = self.store.get(key).unwrap_or_else(|| fallback.clone());
        events::record(&self.store, &self.src, &cur, field_path, typ, reason, msg);
    }

    /// A pod's container logs (`<log_dir>/pods/<ns>_<name>_<uid>`).
    pub(crate) fn pod_log_dir(&self, pod: &Value) -> PathBuf {
        let (ns, name) = (
            str_at(pod, "/metadata/namespace"),
            str_at(pod, "/metadata/name"),
        );
        let uid = str_at(pod, "/metadata/uid");
        self.cfg
            .log_dir
            .join("pods")
            .join(format!("{ns}_{name}_{uid}"))
    }

    /// A pod's files (`…/pods/<uid>`: hosts, resolv.conf, the holder's pid).
    pub(crate) fn pod_dir(&self, uid: &str) -> PathBuf {
        self.cfg.run_dir.join("pods").join(uid)
    }

    /// Where a pod's volumes live (`…/pods/<uid>/volumes`).
    pub(crate) fn pod_state_dir(&self, uid: &str) -> PathBuf {
        self.cfg.state_dir.join("pods").join(uid)
    }

    /// Changes the stored pod with `f`, unless it is another pod of the same name now.
    pub(crate) fn write_status(
        &self,
        key: &str,
        uid: &str,
        f: impl FnOnce(&mut Value),
    ) -> Option<Arc<Value>> {
        let mut f = Some(f);
        self.store
            .update_with(key, |p| {
                if str_at(p, "/metadata/uid") != uid {
                    return false;
                }
                if let Some(f) = f.take() {
                    f(p);
                }
                true
            })
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_paths() {
        let p = log_path(
            Path::new("/var/log/kinet/lab"),
            "default",
            "web",
            "u1",
            "nginx",
            2,
        );
        assert_eq!(
            p,
            PathBuf::from("/var/log/kinet/lab/pods/default_web_u1/nginx/2.log")
        );
    }
}
