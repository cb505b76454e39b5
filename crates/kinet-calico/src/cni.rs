//! calico-node's install-cni step: the node's CNI network config
//! (`/etc/cni/net.d/10-calico.conflist`), whose `"mtu"` is the pods' veth MTU.
//! The CNI plugin (kinet-node's sandbox wiring) reads it when it wires a new pod;
//! pods already wired keep their MTU, as with Calico.
//!
//! The MTU comes from ConfigMap calico-config's `veth_mtu`, which the DaemonSet
//! passes as `CNI_MTU`; `"0"` (or nothing) means auto: the node's LAN link MTU
//! minus the encapsulation overhead, which is 0 in this routed (BGP, no IPIP,
//! no VXLAN) lab.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The directory calico-node writes to: the node's `/etc/cni/net.d`, mounted
/// (hostPath `cni-net-dir`) at `/host/etc/cni/net.d` as Calico's manifest does.
pub const HOST_CNI_NET_DIR: &str = "/host/etc/cni/net.d";
/// The config's file name (`CNI_CONF_NAME`).
pub const CONFLIST_NAME: &str = "10-calico.conflist";
/// The MTU when auto-detection finds no LAN link.
pub const FALLBACK_MTU: u32 = 1500;
/// What the encapsulation takes from the LAN MTU: nothing without IPIP or VXLAN.
pub const ENCAP_OVERHEAD: u32 = 0;

/// The veth MTU for `setting` (`CNI_MTU`, i.e. calico-config's `veth_mtu`):
/// a number as is; `""` or `"0"`, auto from the LAN link's MTU `lan_mtu`.
pub fn veth_mtu(setting: &str, lan_mtu: Option<u32>) -> Result<u32, String> {
    let s = setting.trim();
    let n: u32 = if s.is_empty() {
        0
    } else {
        s.parse()
            .map_err(|_| format!("invalid veth_mtu {setting:?}: not a number"))?
    };
    if n == 0 {
        let lan = lan_mtu.unwrap_or(FALLBACK_MTU);
        return Ok(lan.saturating_sub(ENCAP_OVERHEAD).max(68));
    }
    if !(68..=65535).contains(&n) {
        return Err(format!(
            "invalid veth_mtu {setting:?}: must be between 68 and 65535"
        ));
    }
    Ok(n)
}

/// The conflist text, as Calico's `cni_network_config` template renders it for
/// this node (host-local IPAM over the node's pod CIDR, portmap, bandwidth).
pub fn conflist(node_name: &str, mtu: u32) -> String {
    let v = serde_json::json!({
        "name": "k8s-pod-network",
        "cniVersion": "0.3.1",
        "plugins": [
            {
                "type": "calico",
                "log_level": "info",
                "log_file_path": "/var/log/calico/cni/cni.log",
                "datastore_type": "kubernetes",
                "nodename": node_name,
                "mtu": mtu,
                "ipam": {"type": "host-local", "subnet": "usePodCidr"},
                "policy": {"type": "k8s"},
                "kubernetes": {"kubeconfig": "/etc/cni/net.d/calico-kubeconfig"}
            },
            {"type": "portmap", "snat": true, "capabilities": {"portMappings": true}},
            {"type": "bandwidth", "capabilities": {"bandwidth": true}}
        ]
    });
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}

/// Writes `text` as `dir/CONFLIST_NAME` atomically (a temporary file renamed over
/// it, so the plugin never reads half a file); makes `dir` if needed.
pub fn install(dir: &Path, text: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(CONFLIST_NAME);
    let tmp = dir.join(format!(".{CONFLIST_NAME}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mtu_is_the_setting_or_the_lan_links() {
        assert_eq!(veth_mtu("1450", Some(1500)), Ok(1450));
        assert_eq!(veth_mtu(" 9000 ", None), Ok(9000));
        assert_eq!(veth_mtu("0", Some(1500)), Ok(1500));
        assert_eq!(veth_mtu("", Some(9000)), Ok(9000));
        assert_eq!(veth_mtu("0", None), Ok(FALLBACK_MTU));
        assert_eq!(
            veth_mtu("big", Some(1500)),
            Err("invalid veth_mtu \"big\": not a number".to_string())
        );
        assert!(veth_mtu("20", None).is_err());
        assert!(veth_mtu("70000", None).is_err());
    }

    #[test]
    fn the_conflist_carries_the_mtu() {
        let text = conflist("node1", 1450);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["name"], "k8s-pod-network");
        assert_eq!(v["plugins"][0]["type"], "calico");
        assert_eq!(v["plugins"][0]["mtu"], 1450);
        assert_eq!(v["plugins"][0]["nodename"], "node1");
        assert_eq!(v["plugins"][1]["type"], "portmap");
        assert!(text.contains("\"mtu\": 1450"), "{text}");
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn install_replaces_the_file() {
        let d = std::env::temp_dir().join(format!("kinet-calico-cni-{}", std::process::id()));
        let dir = d.join("etc/cni/net.d");
        let p = install(&dir, "one").unwrap();
        assert_eq!(p, dir.join("10-calico.conflist"));
        install(&dir, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
