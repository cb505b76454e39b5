//! The admission plugins every create passes, in kube-apiserver's order:
//! NamespaceLifecycle (the namespace exists and is not being terminated), then
//! ServiceAccount for pods (the account exists; its token volume is added, by
//! `kinet_model::admission`).

use crate::errors::ApiError;
use crate::{random_suffix, resource};
use kinet_model::json as j;
use kinet_model::resources::{self, Resource};
use kinet_store::Store;
use serde_json::Value;

/// NamespaceLifecycle: new content only in a namespace that exists and is active.
pub fn namespace_lifecycle(
    store: &Store,
    r: &Resource,
    ns: &str,
    name: &str,
) -> Result<(), ApiError> {
    let key = resources::store_key(resource("", "namespaces"), None, ns);
    match store.get(&key) {
        None => Err(ApiError::not_found("namespaces", ns)),
        Some(n) if j::at(&n, "/metadata/deletionTimestamp").is_some() => Err(ApiError::forbidden(
            &r.group_resource(),
            name,
            &format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// ServiceAccount admission of a new pod. `shown` is the name errors give: the
/// pod's name, or its generateName when the name is yet to be generated.
pub fn service_account(
    store: &Store,
    r: &Resource,
    pod: &mut Value,
    shown: &str,
) -> Result<(), ApiError> {
    let ns = match j::namespace(pod) {
        "" => "default",
        n => n,
    }
    .to_string();
    namespace_lifecycle(store, r, &ns, shown)?;
    let sa_name = kinet_model::admission::service_account_name(pod).to_string();
    let sa = store.get(&resources::store_key(
        resource("", "serviceaccounts"),
        Some(&ns),
        &sa_name,
    ));
    kinet_model::admission::service_account(pod, &ns, sa.as_deref(), &random_suffix(5))
        .map_err(|why| ApiError::forbidden(&r.group_resource(), shown, &why))
}
