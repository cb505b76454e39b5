//! What the agent reads from the cluster about one pod: the ConfigMaps and Secrets
//! of its namespace and its Node. The pure modules (`env`, `volumes`) take
//! [`Objects`]; [`StoreObjects`] reads them from the store.

use kinet_model::json::str_at;
use kinet_model::resources;
use kinet_store::Store;
use serde_json::Value;

/// The objects a pod's containers and volumes are made from.
pub trait Objects {
    /// A ConfigMap of the pod's namespace.
    fn config_map(&self, name: &str) -> Option<Value>;
    /// A Secret of the pod's namespace.
    fn secret(&self, name: &str) -> Option<Value>;
    /// The pod's Node (its allocatable resources, for resourceFieldRef).
    fn node(&self) -> Option<Value>;
}

/// [`Objects`] of one pod, read from the store.
pub struct StoreObjects<'a> {
    store: &'a Store,
    namespace: String,
    node: String,
}

impl<'a> StoreObjects<'a> {
    /// The objects of `pod` (its namespace, its `spec.nodeName`).
    pub fn for_pod(store: &'a Store, pod: &Value) -> StoreObjects<'a> {
        StoreObjects {
            store,
            namespace: str_at(pod, "/metadata/namespace").to_string(),
            node: str_at(pod, "/spec/nodeName").to_string(),
        }
    }

    fn get(&self, plural: &str, ns: Option<&str>, name: &str) -> Option<Value> {
        let r = resources::find("", "v1", plural)?;
        self.store
            .get(&resources::store_key(r, ns, name))
            .map(|v| (*v).clone())
    }
}

impl Objects for StoreObjects<'_> {
    fn config_map(&self, name: &str) -> Option<Value> {
        self.get("configmaps", Some(&self.namespace), name)
    }

    fn secret(&self, name: &str) -> Option<Value> {
        self.get("secrets", Some(&self.namespace), name)
    }

    fn node(&self) -> Option<Value> {
        self.get("nodes", None, &self.node)
    }
}

/// [`Objects`] (and volume [`Sources`](crate::volumes::Sources)) from maps, for unit tests.
#[cfg(test)]
pub(crate) mod fake {
    use std::collections::BTreeMap;

    use serde_json::{Value, json};

    use crate::volumes::{Sources, TokenSource};

    /// ConfigMaps and Secrets by name; a Node with 2 CPUs and 4Gi; tokens counted.
    #[derive(Default)]
    pub(crate) struct Fake {
        pub cms: BTreeMap<String, Value>,
        pub secrets: BTreeMap<String, Value>,
        /// How many tokens were asked for.
        pub tokens: u32,
    }

    impl super::Objects for Fake {
        fn config_map(&self, name: &str) -> Option<Value> {
            self.cms.get(name).cloned()
        }
        fn secret(&self, name: &str) -> Option<Value> {
            self.secrets.get(name).cloned()
        }
        fn node(&self) -> Option<Value> {
            Some(json!({"status": {"allocatable": {"cpu": "2", "memory": "4Gi"}}}))
        }
    }

    impl Sources for Fake {
        fn token(&mut self, _volume: &str, src: &TokenSource) -> Result<String, String> {
            self.tokens += 1;
            Ok(format!(
                "token-{}-{}",
                src.expiration_seconds,
                src.audience.clone().unwrap_or_default()
            ))
        }
    }
}
