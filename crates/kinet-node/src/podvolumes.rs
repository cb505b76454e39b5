//! The node agent's volume manager: makes a pod's volumes before its sandbox (as
//! kubelet waits for them before it starts anything), and keeps configMap, secret,
//! downward API and token contents fresh while the pod runs — about once a minute,
//! and tokens again once 80% of their lifetime has passed (or a day), as kubelet's
//! token manager does. Tokens come from a callback the daemon gives the agent (the
//! API server's TokenRequest, bound to the pod).

use crate::sources::{Objects, StoreObjects};
use crate::volumes::{self, Content, Sources, TokenSource};
use chrono::{DateTime, Utc};
use kinet_model::json::str_at;
use kinet_store::Store;
use serde_json::Value;
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What kubelet asks the API server for: a token of the pod's service account,
/// bound to the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub namespace: String,
    pub service_account: String,
    /// Empty: the API server's own audience.
    pub audiences: Vec<String>,
    pub expiration_seconds: i64,
    pub pod_name: String,
    pub pod_uid: String,
}

/// An issued token and when to consider it expired (the TokenRequest's
/// `status.expirationTimestamp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub token: String,
    pub expires: DateTime<Utc>,
}

/// Issues tokens (the daemon's bridge to the API server); the error is the reason.
pub type TokenIssuer = Arc<dyn Fn(&TokenRequest) -> Result<Token, String> + Send + Sync>;

/// How often contents are refreshed while a pod runs.
pub const REFRESH: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
struct Cached {
    token: String,
    issued: DateTime<Utc>,
    expires: DateTime<Utc>,
}

/// kubelet's rule: a new token once the old one expired, is a day old, or has lived
/// 80% of its life.
fn needs_refresh(c: &Cached, now: DateTime<Utc>) -> bool {
    let life = (c.expires - c.issued).num_milliseconds();
    now >= c.expires
        || now - c.issued > chrono::Duration::hours(24)
        || (now - c.issued).num_milliseconds() * 5 > life * 4
}

/// One pod's volumes on this node.
pub struct PodVolumes {
    /// `<state>/pods/<uid>/volumes`.
    pub root: PathBuf,
    /// The node's own root for node-owned hostPaths (`volumes::node_root`).
    pub node_root: PathBuf,
    store: Arc<Store>,
    issuer: Option<TokenIssuer>,
    /// (volume, path) → the token in that file.
    tokens: Mutex<HashMap<(String, String), Cached>>,
}

struct ClusterSources<'a> {
    vols: &'a PodVolumes,
    objects: StoreObjects<'a>,
    pod: &'a Value,
    now: DateTime<Utc>,
}

impl Objects for ClusterSources<'_> {
    fn config_map(&self, name: &str) -> Option<Value> {
        self.objects.config_map(name)
    }

    fn secret(&self, name: &str) -> Option<Value> {
        self.objects.secret(name)
    }

    fn node(&self) -> Option<Value> {
        self.objects.node()
    }
}

impl Sources for ClusterSources<'_> {
    fn token(&mut self, volume: &str, src: &TokenSource) -> Result<String, String> {
        let key = (volume.to_string(), src.path.clone());
        if let Some(c) = self.vols.tokens.lock().unwrap().get(&key)
            && !needs_refresh(c, self.now)
        {
            return Ok(c.token.clone());
        }
        let issuer = self
            .vols
            .issuer
            .as_ref()
            .ok_or("failed to fetch token: no token issuer on this node")?;
        let req = TokenRequest {
            namespace: str_at(self.pod, "/metadata/namespace").to_string(),
            service_account: kinet_model::admission::service_account_name(self.pod).to_string(),
            audiences: src.audience.iter().cloned().collect(),
            expiration_seconds: src.expiration_seconds,
            pod_name: str_at(self.pod, "/metadata/name").to_string(),
            pod_uid: str_at(self.pod, "/metadata/uid").to_string(),
        };
        let t = issuer(&req).map_err(|e| format!("failed to fetch token: {e}"))?;
        self.vols.tokens.lock().unwrap().insert(
            key,
            Cached {
                token: t.token.clone(),
                issued: self.now,
                expires: t.expires,
            },
        );
        Ok(t.token)
    }
}

impl PodVolumes {
    pub fn new(
        root: PathBuf,
        node_root: PathBuf,
        store: Arc<Store>,
        issuer: Option<TokenIssuer>,
    ) -> PodVolumes {
        PodVolumes {
            root,
            node_root,
            store,
            issuer,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// Makes or refreshes every volume of `pod`. Returns the volumes that failed, with
    /// kubelet's message (`configmap "y" not found`); the others are ready.
    pub fn sync(&self, pod: &Value) -> Vec<(String, String)> {
        let mut failed = Vec::new();
        if let Some(pod_dir) = self.root.parent() {
            let _ = std::fs::create_dir_all(&self.root);
            // secrets live here: the pod's directory is root's alone
            let _ = std::fs::set_permissions(pod_dir, std::fs::Permissions::from_mode(0o700));
        }
        let mut src = ClusterSources {
            vols: self,
            objects: StoreObjects::for_pod(&self.store, pod),
            pod,
            now: Utc::now(),
        };
        for v in pod
            .pointer("/spec/volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = str_at(v, "/name").to_string();
            let path = volumes::volume_path(&self.root, &self.node_root, v);
            let res = match volumes::content(pod, v, &mut src) {
                Ok(Content::Files(files)) => volumes::write_atomic(&path, &files)
                    .map(|_| ())
                    .map_err(|e| format!("{}: {e}", path.display())),
                Ok(Content::EmptyDir { .. }) => std::fs::create_dir_all(&path)
                    .and_then(|_| {
                        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))
                    })
                    .map_err(|e| format!("{}: {e}", path.display())),
                Ok(Content::HostPath { kind, .. }) => {
                    // a node-owned directory (the node's /etc/cni/net.d …) is made
                    // in the node's root as needed: a fresh node has none yet
                    // and so is a path the machine does not have (the node's own),
                    // with the parents a `FileOrCreate` expects the node to have
                    if path.starts_with(&self.node_root) {
                        if kind.is_empty() {
                            let _ = std::fs::create_dir_all(&path);
                        } else if let (Some(parent), "FileOrCreate") = (path.parent(), &*kind) {
                            let _ = std::fs::create_dir_all(parent);
                        }
                    }
                    volumes::prepare_host_path(&path, &kind)
                }
                Err(e) => Err(e),
            };
            if let Err(e) = res {
                failed.push((name, e));
            }
        }
        failed
    }
}

/// Removes the volume directories (`<state_dir>/pods/<uid>`) of pods that are gone,
/// e.g. deleted while the daemon was down.
pub fn remove_stale(state_dir: &std::path::Path, live: &std::collections::HashSet<String>) {
    let Ok(entries) = std::fs::read_dir(state_dir.join("pods")) else {
        return;
    };
    for e in entries.flatten() {
        let uid = e.file_name().to_string_lossy().into_owned();
        if !live.contains(&uid) && e.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Refreshes a running pod's volumes every [`REFRESH`] until aborted; the pod is
/// read from the store each time (labels and annotations for the downward API).
pub async fn refresh(vols: Arc<PodVolumes>, store: Arc<Store>, key: String, uid: String) {
    loop {
        tokio::time::sleep(REFRESH).await;
        let Some(pod) = store.get(&key) else { return };
        if str_at(&pod, "/metadata/uid") != uid {
            return;
        }
        let v = vols.clone();
        let failed = tokio::task::spawn_blocking(move || v.sync(&pod))
            .await
            .unwrap_or_default();
        for (name, e) in failed {
            tracing::debug!(volume = %name, "volume not refreshed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kinet_model::resources;

    #[test]
    fn tokens_rotate_at_eighty_percent_or_a_day() {
        let t0 = Utc::now();
        let c = Cached {
            token: "t".into(),
            issued: t0,
            expires: t0 + chrono::Duration::seconds(3607),
        };
        assert!(!needs_refresh(&c, t0 + chrono::Duration::seconds(2800)));
        assert!(needs_refresh(&c, t0 + chrono::Duration::seconds(2900)));
        let long = Cached {
            expires: t0 + chrono::Duration::days(365),
            ..c.clone()
        };
        assert!(!needs_refresh(&long, t0 + chrono::Duration::hours(23)));
        assert!(needs_refresh(&long, t0 + chrono::Duration::hours(25)));
    }

    #[test]
    fn volumes_are_written_and_tokens_reused_until_rotation() {
        let store = Arc::new(Store::open(None).unwrap());
        let cm = resources::find("", "v1", "configmaps").unwrap();
        store
            .create(
                &resources::store_key(cm, Some("web"), "kube-root-ca.crt"),
                serde_json::json!({"metadata": {"name": "kube-root-ca.crt", "namespace": "web"}, "data": {"ca.crt": "CA"}}),
            )
            .unwrap();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = calls.clone();
        let issuer: TokenIssuer = Arc::new(move |r: &TokenRequest| {
            seen.lock().unwrap().push(r.clone());
            Ok(Token {
                token: format!("tok{}", seen.lock().unwrap().len()),
                expires: Utc::now() + chrono::Duration::seconds(r.expiration_seconds),
            })
        });
        let root = std::env::temp_dir().join(format!("kinet-podvol-{}", uuid_like()));
        let vols = PodVolumes::new(
            root.join("volumes"),
            root.join("node"),
            store.clone(),
            Some(issuer),
        );
        let mut pod = serde_json::json!({"metadata": {"name": "p", "namespace": "web", "uid": "u1"},
        "spec": {"containers": [{"name": "c"}], "volumes": [
            {"name": "cache", "emptyDir": {}},
            {"name": "cfg", "configMap": {"name": "missing"}}
        ]}});
        kinet_model::admission::service_account(
            &mut pod,
            "web",
            Some(&serde_json::json!({})),
            "abcde",
        )
        .unwrap();
        kinet_model::defaults::apply("Pod", &mut pod);
        let failed = vols.sync(&pod);
        assert_eq!(
            failed,
            [(
                "cfg".to_string(),
                "configmap \"missing\" not found".to_string()
            )]
        );
        let sa = root.join("volumes/kubernetes.io~projected/kube-api-access-abcde");
        assert_eq!(std::fs::read_to_string(sa.join("token")).unwrap(), "tok1");
        assert_eq!(std::fs::read_to_string(sa.join("ca.crt")).unwrap(), "CA");
        assert_eq!(
            std::fs::read_to_string(sa.join("namespace")).unwrap(),
            "web"
        );
        let cache = root.join("volumes/kubernetes.io~empty-dir/cache");
        assert_eq!(
            std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777,
            0o777
        );
        // a second sync reuses the token
        vols.sync(&pod);
        assert_eq!(std::fs::read_to_string(sa.join("token")).unwrap(), "tok1");
        let reqs = calls.lock().unwrap().clone();
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].expiration_seconds, 3607);
        assert_eq!(reqs[0].service_account, "default");
        assert_eq!(
            (reqs[0].pod_name.as_str(), reqs[0].pod_uid.as_str()),
            ("p", "u1")
        );
        assert!(reqs[0].audiences.is_empty());
        std::fs::remove_dir_all(&root).unwrap();
    }

    fn uuid_like() -> String {
        format!(
            "{}-{}",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or(0)
        )
    }
}
