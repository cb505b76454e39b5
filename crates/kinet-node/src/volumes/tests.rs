//! Unit tests of the volume contents, the atomic writer and container binds.

use super::*;
use serde_json::json;

/// A directory under the system's temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "kinet-volumes-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

use crate::sources::fake::Fake;

fn fake() -> Fake {
    Fake {
        cms: [
            (
                "app".to_string(),
                json!({"data": {"key": "value", "game.properties": "a=1\n"}, "binaryData": {"logo": "AAEC"}}),
            ),
            (
                "kube-root-ca.crt".to_string(),
                json!({"data": {"ca.crt": "-----BEGIN CERTIFICATE-----\n"}}),
            ),
        ]
        .into(),
        secrets: [(
            "db".to_string(),
            json!({"data": {"password": "czNjcmV0", "user": "YWRtaW4="}}),
        )]
        .into(),
        tokens: 0,
    }
}

fn pod() -> Value {
    json!({"metadata": {"name": "web", "namespace": "shop", "uid": "u-1",
            "labels": {"app": "web", "tier": "front"},
            "annotations": {"note": "say \"hi\"\nbye"}},
           "spec": {"nodeName": "node1", "serviceAccountName": "default", "containers": [
               {"name": "c", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}}]}})
}

fn files(c: Content) -> BTreeMap<String, (String, u32)> {
    match c {
        Content::Files(f) => f
            .into_iter()
            .map(|f| {
                (
                    f.path,
                    (String::from_utf8_lossy(&f.data).into_owned(), f.mode),
                )
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn config_maps_with_and_without_items() {
    let mut f = fake();
    let all = files(
        content(
            &pod(),
            &json!({"name": "v", "configMap": {"name": "app", "defaultMode": 420}}),
            &mut f,
        )
        .unwrap(),
    );
    assert_eq!(all["key"], ("value".into(), 0o644));
    assert_eq!(all["game.properties"].0, "a=1\n");
    assert_eq!(all["logo"].0.as_bytes(), &[0, 1, 2]);
    let some = files(
        content(
            &pod(),
            &json!({"name": "v", "configMap": {"name": "app", "defaultMode": 420, "items": [{"key": "key", "path": "conf/k.txt", "mode": 256}]}}),
            &mut f,
        )
        .unwrap(),
    );
    assert_eq!(some.len(), 1);
    assert_eq!(some["conf/k.txt"], ("value".into(), 0o400));
    let e = content(
        &pod(),
        &json!({"name": "v", "configMap": {"name": "app", "items": [{"key": "nope", "path": "x"}]}}),
        &mut f,
    )
    .unwrap_err();
    assert_eq!(e, "configmap references non-existent config key: nope");
    let opt = content(
        &pod(),
        &json!({"name": "v", "configMap": {"name": "app", "optional": true, "items": [{"key": "nope", "path": "x"}]}}),
        &mut f,
    )
    .unwrap();
    assert_eq!(opt, Content::Files(vec![]));
}

#[test]
fn missing_objects_give_kubelets_errors_unless_optional() {
    let mut f = fake();
    let e = content(
        &pod(),
        &json!({"name": "v", "configMap": {"name": "y"}}),
        &mut f,
    )
    .unwrap_err();
    assert_eq!(e, "configmap \"y\" not found");
    let e = content(
        &pod(),
        &json!({"name": "v", "secret": {"secretName": "s"}}),
        &mut f,
    )
    .unwrap_err();
    assert_eq!(e, "secret \"s\" not found");
    let ok = content(
        &pod(),
        &json!({"name": "v", "secret": {"secretName": "s", "optional": true}}),
        &mut f,
    );
    assert_eq!(ok.unwrap(), Content::Files(vec![]));
    let e = content(
        &pod(),
        &json!({"name": "v", "projected": {"sources": [{"configMap": {"name": "a"}}, {"secret": {"name": "b"}}]}}),
        &mut f,
    )
    .unwrap_err();
    assert_eq!(e, "[configmap \"a\" not found, secret \"b\" not found]");
}

#[test]
fn secrets_are_decoded() {
    let mut f = fake();
    let s = files(
        content(
            &pod(),
            &json!({"name": "v", "secret": {"secretName": "db", "defaultMode": 256}}),
            &mut f,
        )
        .unwrap(),
    );
    assert_eq!(s["password"], ("s3cret".into(), 0o400));
    assert_eq!(s["user"].0, "admin");
}

#[test]
fn downward_api_files() {
    let mut f = fake();
    let v = json!({"name": "info", "downwardAPI": {"defaultMode": 420, "items": [
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}},
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
        {"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}},
        {"path": "uid", "fieldRef": {"fieldPath": "metadata.uid"}},
        {"path": "tier", "fieldRef": {"fieldPath": "metadata.labels['tier']"}},
        {"path": "cpu_req", "resourceFieldRef": {"containerName": "c", "resource": "requests.cpu", "divisor": "1m"}},
        {"path": "cpu_limit", "resourceFieldRef": {"containerName": "c", "resource": "limits.cpu"}},
        {"path": "mem_limit", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}}
    ]}});
    let d = files(content(&pod(), &v, &mut f).unwrap());
    assert_eq!(d["labels"].0, "app=\"web\"\ntier=\"front\"");
    assert_eq!(d["annotations"].0, "note=\"say \\\"hi\\\"\\nbye\"");
    assert_eq!(d["name"].0, "web");
    assert_eq!(d["ns"].0, "shop");
    assert_eq!(d["uid"].0, "u-1");
    assert_eq!(d["tier"].0, "front");
    assert_eq!(d["cpu_req"].0, "250");
    assert_eq!(
        d["cpu_limit"].0, "2",
        "an unset limit is the node's allocatable"
    );
    assert_eq!(d["mem_limit"].0, "128");
    let e = content(
        &pod(),
        &json!({"name": "i", "downwardAPI": {"items": [{"path": "x", "fieldRef": {"fieldPath": "spec.nosuch"}}]}}),
        &mut f,
    )
    .unwrap_err();
    assert_eq!(e, "unsupported fieldPath: spec.nosuch");
}

#[test]
fn the_service_account_volume() {
    let mut f = fake();
    let v = kinet_model::admission::token_volume("kube-api-access-abcde");
    let mut p = pod();
    kinet_model::defaults::apply("Pod", &mut p);
    let d = files(content(&p, &v, &mut f).unwrap());
    assert_eq!(d["token"], ("token-3607-".into(), 0o644));
    assert_eq!(d["ca.crt"].0, "-----BEGIN CERTIFICATE-----\n");
    assert_eq!(d["namespace"].0, "shop");
    assert_eq!(f.tokens, 1);
    let custom = json!({"name": "vault", "projected": {"sources": [{"serviceAccountToken": {"audience": "vault", "expirationSeconds": 7200, "path": "vault-token"}}]}});
    let d = files(content(&p, &custom, &mut f).unwrap());
    assert_eq!(d["vault-token"].0, "token-7200-vault");
}

#[test]
fn empty_dirs_and_host_paths() {
    let mut f = fake();
    assert_eq!(
        content(&pod(), &json!({"name": "c", "emptyDir": {}}), &mut f).unwrap(),
        Content::EmptyDir { memory: false }
    );
    assert_eq!(
        content(
            &pod(),
            &json!({"name": "c", "emptyDir": {"medium": "Memory"}}),
            &mut f
        )
        .unwrap(),
        Content::EmptyDir { memory: true }
    );
    assert_eq!(
        content(
            &pod(),
            &json!({"name": "h", "hostPath": {"path": "/var/log", "type": "Directory"}}),
            &mut f
        )
        .unwrap(),
        Content::HostPath {
            path: "/var/log".into(),
            kind: "Directory".into()
        }
    );
    let root = Path::new("/var/lib/kinet/lab/pods/u/volumes");
    let node = Path::new("/var/lib/kinet/lab/nodes/node1/root");
    assert_eq!(
        volume_path(root, node, &json!({"name": "c", "emptyDir": {}})),
        root.join("kubernetes.io~empty-dir/c")
    );
    assert_eq!(
        volume_path(
            root,
            node,
            &json!({"name": "h", "hostPath": {"path": "/var/log"}})
        ),
        PathBuf::from("/var/log")
    );
    assert_eq!(
        volume_path(
            root,
            node,
            &json!({"name": "cni", "hostPath": {"path": "/etc/cni/net.d"}})
        ),
        node.join("etc/cni/net.d")
    );
    assert!(is_emulated(
        &json!({"name": "p", "persistentVolumeClaim": {"claimName": "x"}})
    ));
}

#[test]
fn node_owned_host_paths_are_the_nodes() {
    let node = node_root(Path::new("/var/lib/kinet/lab"), "node2");
    assert_eq!(node, PathBuf::from("/var/lib/kinet/lab/nodes/node2/root"));
    for p in [
        "/etc/cni/net.d",
        "/etc/cni/net.d/10-calico.conflist",
        "/var/lib/calico",
        "/var/run/calico",
        "/opt/cni/bin",
    ] {
        assert!(is_node_owned(p), "{p}");
        assert_eq!(host_path(&node, p), node.join(&p[1..]));
    }
    for p in [
        "/etc",
        "/etc/cni",
        "/etc/cni/net.d2",
        "/var/log",
        "/etc/cni/net.d/../../passwd",
        "etc/cni/net.d",
        "",
    ] {
        assert!(!is_node_owned(p), "{p}");
        assert_eq!(host_path(&node, p), PathBuf::from(p));
    }
}

#[test]
fn pods_write_only_the_nodes_own_host_paths() {
    let node = Path::new("/n/root");
    let machine =
        |p: &Path| ["/", "/var/log", "/etc", "/n/root/data"].contains(&p.to_str().unwrap());
    let r = |p: &str| resolve_host_path(node, p, &machine);
    // the machine's paths are read-only, the root included
    assert_eq!(r("/var/log"), (PathBuf::from("/var/log"), false));
    assert_eq!(r("/"), (PathBuf::from("/"), false));
    assert_eq!(r("/etc"), (PathBuf::from("/etc"), false));
    // node-owned ones and paths the machine does not have are the node's own
    assert_eq!(r("/etc/cni/net.d"), (node.join("etc/cni/net.d"), true));
    assert_eq!(r("/srv/cache"), (node.join("srv/cache"), true));
    // once made in the node's root, a path stays there
    assert_eq!(r("/data"), (node.join("data"), true));
    // odd paths are never the node's (and so never writable)
    assert_eq!(r("/etc/../tmp"), (PathBuf::from("/etc/../tmp"), false));
    assert_eq!(r("rel"), (PathBuf::from("rel"), false));
}

#[test]
fn containers_get_a_layer_and_privileged_ones_the_hosts_dev() {
    let l = container_layer(&json!({"name": "c"}));
    assert!(l.private_dev && !l.privileged);
    assert!(l.tmpfs.contains(&PathBuf::from("/tmp")));
    assert_eq!(l.overlays, [PathBuf::from("/run")]);
    let l = container_layer(&json!({"securityContext": {"privileged": true}}));
    assert!(!l.private_dev && l.privileged);
    let l = container_layer(&json!({"securityContext": {"readOnlyRootFilesystem": true}}));
    assert!(l.tmpfs.is_empty() && l.overlays.is_empty() && l.private_dev);
}

#[test]
fn host_path_types() {
    let d = TempDir::new();
    let sub = d.path().join("made");
    prepare_host_path(&sub, "DirectoryOrCreate").unwrap();
    assert!(sub.is_dir());
    prepare_host_path(&sub, "Directory").unwrap();
    let e = prepare_host_path(&sub, "File").unwrap_err();
    assert_eq!(
        e,
        format!(
            "hostPath type check failed: {} is not a file",
            sub.display()
        )
    );
    let f = d.path().join("f");
    prepare_host_path(&f, "FileOrCreate").unwrap();
    assert!(f.is_file());
    let e = prepare_host_path(&d.path().join("none"), "Directory").unwrap_err();
    assert!(e.ends_with("is not a directory"), "{e}");
}

fn listing(dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let link = std::fs::read_link(e.path())
                .map(|l| l.display().to_string())
                .unwrap_or_else(|_| "<dir>".into());
            (name, link)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn the_atomic_writer_lays_out_and_swaps_like_kubelet() {
    let d = TempDir::new();
    let dir = d.path().join("vol");
    let f = |p: &str, s: &str| File {
        path: p.into(),
        data: s.as_bytes().to_vec(),
        mode: 0o644,
    };
    assert!(write_atomic(&dir, &[f("key", "v1"), f("conf/app.conf", "x=1")]).unwrap());
    let l = listing(&dir);
    let ts = std::fs::read_link(dir.join("..data")).unwrap();
    let ts = ts.display().to_string();
    assert!(ts.starts_with("..20"), "{ts}");
    assert_eq!(
        l,
        vec![
            (ts.clone(), "<dir>".to_string()),
            ("..data".into(), ts.clone()),
            ("conf".into(), "..data/conf".into()),
            ("key".into(), "..data/key".into()),
        ]
    );
    assert_eq!(std::fs::read_to_string(dir.join("key")).unwrap(), "v1");
    assert_eq!(
        std::fs::read_to_string(dir.join("conf/app.conf")).unwrap(),
        "x=1"
    );
    let mode = std::fs::metadata(dir.join("key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
    // unchanged: nothing is written
    assert!(!write_atomic(&dir, &[f("key", "v1"), f("conf/app.conf", "x=1")]).unwrap());
    assert_eq!(
        std::fs::read_link(dir.join("..data"))
            .unwrap()
            .display()
            .to_string(),
        ts
    );
    // an update: a new directory, the old one and the dropped name are gone
    let reader = std::fs::File::open(dir.join("key")).unwrap();
    assert!(write_atomic(&dir, &[f("key", "v2"), f("other", "o")]).unwrap());
    let ts2 = std::fs::read_link(dir.join("..data"))
        .unwrap()
        .display()
        .to_string();
    assert_ne!(ts, ts2);
    assert!(!dir.join(&ts).exists());
    assert!(std::fs::symlink_metadata(dir.join("conf")).is_err());
    assert_eq!(std::fs::read_to_string(dir.join("key")).unwrap(), "v2");
    assert_eq!(std::fs::read_to_string(dir.join("other")).unwrap(), "o");
    drop(reader);
    // a mode change counts as a change
    let mut g = f("key", "v2");
    g.mode = 0o400;
    assert!(write_atomic(&dir, &[g, f("other", "o")]).unwrap());
    assert!(write_atomic(&dir, &[f("../x", "no")]).is_err());
    assert!(write_atomic(&dir, &[f("/abs", "no")]).is_err());
    assert!(write_atomic(&dir, &[f("..hidden", "no")]).is_err());
}

#[test]
fn container_binds_follow_volume_mounts() {
    let p = json!({"spec": {"volumes": [
        {"name": "cfg", "configMap": {"name": "app"}},
        {"name": "data", "emptyDir": {}},
        {"name": "logs", "hostPath": {"path": "/var/log"}}
    ]}});
    let c = json!({"name": "c", "env": [{"name": "POD", "value": "web"}], "volumeMounts": [
        {"name": "cfg", "mountPath": "/etc/config"},
        {"name": "cfg", "mountPath": "/etc/app.conf", "subPath": "game.properties"},
        {"name": "data", "mountPath": "/data", "readOnly": true},
        {"name": "data", "mountPath": "/scratch", "subPathExpr": "$(POD)"},
        {"name": "logs", "mountPath": "/host-logs"}
    ]});
    let root = Path::new("/v");
    let m = container_binds(&p, &c, root, Path::new("/n"), Path::new("/s"), None).unwrap();
    let b: Vec<(String, String, bool)> = m
        .binds
        .iter()
        .map(|b| {
            (
                b.source.display().to_string(),
                b.target.display().to_string(),
                b.read_only,
            )
        })
        .collect();
    assert_eq!(
        b,
        vec![
            (
                "/v/kubernetes.io~configmap/cfg".into(),
                "/etc/config".into(),
                true
            ),
            (
                "/v/kubernetes.io~configmap/cfg/game.properties".into(),
                "/etc/app.conf".into(),
                true
            ),
            (
                "/v/kubernetes.io~empty-dir/data".into(),
                "/data".into(),
                true
            ),
            (
                "/v/kubernetes.io~empty-dir/data/web".into(),
                "/scratch".into(),
                false
            ),
            // the machine's own path: read-only
            ("/var/log".into(), "/host-logs".into(), true),
        ]
    );
    assert_eq!(m.scratch, PathBuf::from("/s"));
    let bad = json!({"name": "c", "volumeMounts": [{"name": "data", "mountPath": "/x", "subPath": "../etc"}]});
    assert!(container_binds(&p, &bad, root, Path::new("/n"), Path::new("/s"), None).is_err());
    let none = json!({"name": "c", "volumeMounts": [{"name": "nope", "mountPath": "/x"}]});
    assert!(container_binds(&p, &none, root, Path::new("/n"), Path::new("/s"), None).is_err());
    let mem = json!({"spec": {"volumes": [{"name": "m", "emptyDir": {"medium": "Memory"}}]}});
    assert_eq!(
        memory_dirs(&mem, root),
        [root.join("kubernetes.io~empty-dir/m")]
    );
}

#[test]
fn kinets_binary_stays_visible_under_an_emptied_directory() {
    let layer = container_layer(&serde_json::json!({"name": "c"}));
    let exe = Path::new("/tmp/checkout/target/debug/kinet");
    assert_eq!(
        self_exe_bind(exe, Some(&layer)),
        Some(Bind {
            source: exe.to_path_buf(),
            target: exe.to_path_buf(),
            read_only: true
        })
    );
    assert_eq!(
        self_exe_bind(Path::new("/work/kinet/target/debug/kinet"), Some(&layer)),
        None
    );
    // readOnlyRootFilesystem: no layer directories are emptied
    let ro =
        container_layer(&serde_json::json!({"securityContext": {"readOnlyRootFilesystem": true}}));
    assert_eq!(self_exe_bind(exe, Some(&ro)), None);
}
