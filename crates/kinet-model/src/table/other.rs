//! Printers of the remaining kinds: RoleBinding and ClusterRoleBinding
//! (`rbac.authorization.k8s.io`), Lease (`coordination.k8s.io`).

use super::format::age_of;
use super::{AGE, Column, KindTable, NAME, col, wide};
use crate::json::{arr_at, name, str_at};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

pub(super) const TABLES: &[KindTable] = &[ROLE_BINDING, CLUSTER_ROLE_BINDING, LEASE];

const ROLE_BINDING: KindTable = KindTable {
    kind: "RoleBinding",
    columns: &binding_columns([
        "Users in the roleBinding",
        "Groups in the roleBinding",
        "ServiceAccounts in the roleBinding",
    ]),
    cells: binding_cells,
};

const CLUSTER_ROLE_BINDING: KindTable = KindTable {
    kind: "ClusterRoleBinding",
    columns: &binding_columns([
        "Users in the clusterRoleBinding",
        "Groups in the clusterRoleBinding",
        "ServiceAccounts in the clusterRoleBinding",
    ]),
    cells: binding_cells,
};

/// The columns of both bindings, with the descriptions of the Users, Groups
/// and ServiceAccounts columns, which name the kind.
const fn binding_columns([users, groups, sas]: [&'static str; 3]) -> [Column; 6] {
    [
        NAME,
        col("Role", "string", D_ROLE_REF),
        AGE,
        wide("Users", "string", users),
        wide("Groups", "string", groups),
        wide("ServiceAccounts", "string", sas),
    ]
}

const D_ROLE_REF: &str = "roleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable.";

fn binding_cells(rb: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let role = format!(
        "{}/{}",
        str_at(rb, "/roleRef/kind"),
        str_at(rb, "/roleRef/name")
    );
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for subj in arr_at(rb, "/subjects") {
        let n = str_at(subj, "/name").to_string();
        match str_at(subj, "/kind") {
            "User" => users.push(n),
            "Group" => groups.push(n),
            "ServiceAccount" => sas.push(format!("{}/{}", str_at(subj, "/namespace"), n)),
            _ => {}
        }
    }
    vec![
        json!(name(rb)),
        json!(role),
        json!(age_of(rb, now)),
        json!(users.join(", ")),
        json!(groups.join(", ")),
        json!(sas.join(", ")),
    ]
}

const LEASE: KindTable = KindTable {
    kind: "Lease",
    columns: &[NAME, col("Holder", "string", D_LEASE_HOLDER), AGE],
    cells: |lease, now| {
        vec![
            json!(name(lease)),
            json!(str_at(lease, "/spec/holderIdentity")),
            json!(age_of(lease, now)),
        ]
    },
};

const D_LEASE_HOLDER: &str = "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.";

#[cfg(test)]
mod tests {
    use crate::table::test_util::*;
    use crate::table::{cells, columns};
    use serde_json::json;

    #[test]
    fn rolebinding_and_lease() {
        let rb = json!({"metadata": {"name": "rb"}, "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"},
                         {"kind": "ServiceAccount", "name": "default", "namespace": "ns1"}, {"kind": "User", "name": "bob"}]});
        let c = strs(&cells("RoleBinding", &rb, now()));
        assert_eq!(c[1], "ClusterRole/view");
        assert_eq!(
            c[3..],
            [
                "alice, bob".to_string(),
                "devs".into(),
                "ns1/default".into()
            ]
        );
        assert_eq!(
            columns("ClusterRoleBinding")[3].description,
            "Users in the clusterRoleBinding"
        );
        let lease =
            json!({"metadata": {"name": "kube-scheduler"}, "spec": {"holderIdentity": "cp_1234"}});
        assert_eq!(strs(&cells("Lease", &lease, now()))[1], "cp_1234");
    }
}
