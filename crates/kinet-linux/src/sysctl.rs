//! Network sysctls inside a namespace.
//!
//! `/proc/sys/net/...` shows the network namespace of the thread that opens it, so these
//! functions open the file from a thread that has `setns()`'d into the namespace.

use std::path::Path;

use crate::error::{Error, Result};
use crate::netns;

fn check_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && !key.starts_with('/')
        && key
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && !key.contains('\0');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "invalid sysctl key {key:?} (expected a path under /proc/sys like net/ipv4/ip_forward)"
        )))
    }
}

/// Write `/proc/sys/<key>` (e.g. `net/ipv4/ip_forward`, `net/ipv4/conf/cali1234/proxy_arp`)
/// inside the network namespace `ns`.
pub fn sysctl_set(ns: &Path, key: &str, value: &str) -> Result<()> {
    sysctl_set_many(ns, &[(key, value)])
}

/// Write several sysctls inside `ns` with a single namespace switch.
pub fn sysctl_set_many(ns: &Path, pairs: &[(&str, &str)]) -> Result<()> {
    for (k, _) in pairs {
        check_key(k)?;
    }
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    netns::with_netns(ns, move || -> Result<()> {
        for (k, v) in pairs {
            let path = format!("/proc/sys/{k}");
            std::fs::write(&path, v.as_bytes())
                .map_err(|e| Error::io(format!("write {v:?} to {path}"), e))?;
        }
        Ok(())
    })?
}

/// Read `/proc/sys/<key>` inside the network namespace `ns` (trailing newline removed).
pub fn sysctl_get(ns: &Path, key: &str) -> Result<String> {
    check_key(key)?;
    let path = format!("/proc/sys/{key}");
    netns::with_netns(ns, move || {
        std::fs::read_to_string(&path)
            .map(|s| s.trim_end_matches('\n').to_string())
            .map_err(|e| Error::io(format!("read {path}"), e))
    })?
}

#[cfg(test)]
mod unit {
    use super::check_key;

    #[test]
    fn keys() {
        assert!(check_key("net/ipv4/ip_forward").is_ok());
        assert!(check_key("net/ipv4/conf/cali1234/proxy_arp").is_ok());
        assert!(check_key("/net/ipv4").is_err());
        assert!(check_key("net/../../etc/passwd").is_err());
        assert!(check_key("net//x").is_err());
        assert!(check_key("").is_err());
    }
}
