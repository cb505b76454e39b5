//! kube-rs clients against a lab: discovery, list + watch with resourceVersions,
//! bookmarks, and 410 Gone for a version the server no longer keeps.

use crate::common::*;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, Discovery};

async fn client(lab: &Lab) -> Client {
    let kc = Kubeconfig::read_from(&lab.kubeconfig).unwrap();
    let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(cfg).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_discovers_lists_and_watches() {
    let lab = Lab::up(1);
    let c = client(&lab).await;
    let d = Discovery::new(c.clone()).run().await.unwrap();
    let core = d.groups().find(|g| g.name() == "").expect("core group");
    assert!(
        core.recommended_resources()
            .iter()
            .any(|(r, _)| r.plural == "pods")
    );
    assert!(d.groups().any(|g| g.name() == "apps"));

    let ns: Api<Namespace> = Api::all(c.clone());
    let list = ns.list(&ListParams::default()).await.unwrap();
    assert!(
        list.items
            .iter()
            .any(|n| n.metadata.name.as_deref() == Some("kube-system"))
    );
    let rv = list.metadata.resource_version.clone().unwrap();

    let pods: Api<Pod> = Api::default_namespaced(c.clone());
    let mut stream = pods
        .watch(&WatchParams::default().timeout(20), &rv)
        .await
        .unwrap()
        .boxed();
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "kr"},
        "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "infinity"]}]}
    }))
    .unwrap();
    let created = pods.create(&PostParams::default(), &pod).await.unwrap();
    let created_rv: u64 = created.metadata.resource_version.unwrap().parse().unwrap();
    // the watch sees the creation, then status updates up to Running, in revision order
    let mut last = 0u64;
    let mut running = false;
    while let Some(ev) = stream.next().await {
        let p = match ev.unwrap() {
            WatchEvent::Added(p) | WatchEvent::Modified(p) => p,
            other => panic!("unexpected event {other:?}"),
        };
        let rv: u64 = p
            .metadata
            .resource_version
            .clone()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            rv > last && rv >= created_rv,
            "revisions go up: {rv} after {last}"
        );
        last = rv;
        if p.status.and_then(|s| s.phase).as_deref() == Some("Running") {
            running = true;
            break;
        }
    }
    assert!(running, "the watch never saw the pod Running");

    // bookmarks, before the watch times out
    let mut s = pods
        .watch(&WatchParams::default().timeout(2), &last.to_string())
        .await
        .unwrap()
        .boxed();
    let mut bookmark = false;
    while let Some(ev) = s.next().await {
        if let WatchEvent::Bookmark(b) = ev.unwrap() {
            assert!(b.metadata.resource_version.parse::<u64>().unwrap() >= last);
            bookmark = true;
        }
    }
    assert!(bookmark, "no bookmark");

    // after a restart the server keeps no history: an old version is Gone (410)
    lab.crash_daemon();
    assert_ok(&lab.kinet(&args("up --no-kubeconfig")));
    let c = client(&lab).await;
    let pods: Api<Pod> = Api::default_namespaced(c);
    let mut s = pods
        .watch(&WatchParams::default().timeout(5), "1")
        .await
        .unwrap()
        .boxed();
    match s.next().await {
        Some(Ok(WatchEvent::Error(e))) => assert_eq!(e.code, 410, "{e:?}"),
        other => panic!("expected a 410 error event, got {other:?}"),
    }
    // and a fresh list still has the pod
    let l = pods.list(&ListParams::default()).await.unwrap();
    assert!(
        l.items
            .iter()
            .any(|p| p.metadata.name.as_deref() == Some("kr"))
    );
}
