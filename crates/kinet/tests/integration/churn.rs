//! What pods leave behind once deleted: their events expire after the event TTL
//! (`--event-ttl`, here `KINET_EVENT_TTL`), their log folder goes with them.

use crate::common::*;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

static N: AtomicUsize = AtomicUsize::new(0);

/// A one-node lab whose events live `ttl` seconds.
fn lab_with_event_ttl(ttl: u64) -> Lab {
    let name = format!(
        "ktc{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let lab = Lab {
        kubeconfig: format!("/var/lib/kinet/{name}/kubeconfig").into(),
        name,
    };
    let o = Command::new(kinet_bin())
        .env("KINET_EVENT_TTL", ttl.to_string())
        .args(["--name", &lab.name, "up", "--no-kubeconfig", "--nodes", "1"])
        .output()
        .expect("run kinet");
    assert_ok(&o);
    lab
}

#[test]
fn events_expire_and_deleted_pods_leave_no_logs() {
    let lab = lab_with_event_ttl(6);
    lab.apply(&busybox_pod("churn", "node1"));
    lab.wait_ready("default", "churn");
    let uid = lab.k(&args("get pod churn -o jsonpath={.metadata.uid}"));
    let uid = uid.trim();
    let logs = format!("/var/log/kinet/{}/pods/default_churn_{uid}", lab.name);
    assert!(Path::new(&logs).is_dir(), "no log folder {logs}");
    assert_contains(lab.k(&args("get events")), "Started");

    lab.k(&args("delete pod churn --grace-period=1"));
    wait_until(secs(30), || {
        if Path::new(&logs).exists() {
            Err(format!("{logs} is still there"))
        } else {
            Ok(())
        }
    });
    // nothing records new events in default now: the old ones expire
    lab.wait_none(secs(40), "get events -o name");
}
