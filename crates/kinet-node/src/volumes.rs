//! Pod volumes as kubelet makes them: what each volume holds (configMap, secret,
//! downwardAPI and projected files, emptyDir, hostPath), the error kubelet gives
//! when it cannot (`configmap "y" not found`), the atomic writer that lays the files
//! out (`..data` → `..<timestamp>` directory, user-visible names as symlinks into
//! `..data`) so that updates swap at once, and each container's bind mounts
//! (`mountPath`, `subPath`, `readOnly`).
//!
//! [`content`] is pure (the cluster is read through [`Sources`]); [`write_atomic`]
//! and [`prepare_host_path`] touch only the directories they are given.
//!
//! hostPath volumes are the machine's own paths, read-only, except the node-owned
//! ones ([`NODE_OWNED_PATHS`]: the CNI's and Calico's directories) and the paths the
//! machine does not have, which every lab node has for itself: they resolve to
//! `/var/lib/kinet/LAB/nodes/NODE/root/PATH` ([`node_root`], [`resolve_host_path`]),
//! so calico-node's `/etc/cni/net.d` is its node's, and no pod writes the machine's
//! files.

use crate::fieldpath::field_value;
use crate::sources::Objects;
use kinet_linux::mounts::{Bind, ContainerMounts, Layer};
use kinet_model::json::str_at;
use kinet_model::quantity::milli_value;
use kinet_model::secret;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// A file of a configMap, secret, downwardAPI or projected volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Relative to the volume (`key`, `dir/key`).
    pub path: String,
    pub data: Vec<u8>,
    pub mode: u32,
}

/// What a volume is on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Files the atomic writer lays out in the volume's directory.
    Files(Vec<File>),
    /// A directory shared by the pod's containers; `memory`: a tmpfs.
    EmptyDir { memory: bool },
    /// A path of the host (which is the node).
    HostPath { path: PathBuf, kind: String },
}

/// A token a projected volume asks for (kubelet's TokenRequest for the pod).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSource {
    pub audience: Option<String>,
    pub expiration_seconds: i64,
    pub path: String,
}

/// What volumes read from the cluster: the pod's [`Objects`] and its tokens.
pub trait Sources: Objects {
    /// A token for the pod's service account, bound to the pod; the error is the
    /// event's text.
    fn token(&mut self, volume: &str, src: &TokenSource) -> Result<String, String>;
}

/// The hostPath directories (and everything below them) that belong to the lab
/// node rather than the machine: the CNI network configs and plugins, Calico's
/// state. Other hostPaths are the machine's (nodes share its filesystem).
pub const NODE_OWNED_PATHS: &[&str] = &[
    "/etc/cni/net.d",
    "/opt/cni/bin",
    "/var/lib/cni",
    "/var/lib/calico",
    "/var/run/calico",
    "/run/calico",
    "/var/log/calico",
];

/// The directory that stands for a lab node's `/` for its node-owned paths:
/// `<state_dir>/nodes/<node>/root` (state_dir is /var/lib/kinet/LAB).
pub fn node_root(state_dir: &Path, node: &str) -> PathBuf {
    state_dir.join("nodes").join(node).join("root")
}

/// True if the absolute `path` is one of [`NODE_OWNED_PATHS`] or below one (a
/// path with `..` or `.` components never is).
pub fn is_node_owned(path: &str) -> bool {
    let p = Path::new(path);
    p.is_absolute()
        && p.components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
        && NODE_OWNED_PATHS.iter().any(|o| p.starts_with(o))
}

/// Where a hostPath is on the machine: under `node_root` if it is node-owned,
/// else the path itself.
pub fn host_path(node_root: &Path, path: &str) -> PathBuf {
    if is_node_owned(path) {
        node_root.join(path.trim_start_matches('/'))
    } else {
        PathBuf::from(path)
    }
}

/// Where a hostPath volume is and whether pods may write it. Pods never write the
/// machine's files: a node-owned path ([`NODE_OWNED_PATHS`]) is the node's own,
/// writable; so is any path the machine does not have (it is made in the node's root,
/// `<node_root>/PATH`, as a node's own disk would hold it; once there it stays
/// there); a path the machine has is the machine's, mounted read-only (`/`,
/// `/var/log`, `/lib/modules` …). `exists` answers for the machine's filesystem.
pub fn resolve_host_path(
    node_root: &Path,
    path: &str,
    exists: &dyn Fn(&Path) -> bool,
) -> (PathBuf, bool) {
    if is_node_owned(path) {
        return (host_path(node_root, path), true);
    }
    let p = Path::new(path);
    let clean = p.is_absolute()
        && p.components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if !clean || p == Path::new("/") {
        return (p.to_path_buf(), false);
    }
    let own = node_root.join(path.trim_start_matches('/'));
    if exists(&own) || !exists(p) {
        return (own, true);
    }
    (p.to_path_buf(), false)
}

/// [`resolve_host_path`] on the machine's filesystem.
pub fn host_path_on_machine(node_root: &Path, path: &str) -> (PathBuf, bool) {
    resolve_host_path(node_root, path, &|p: &Path| {
        std::fs::symlink_metadata(p).is_ok()
    })
}

/// The kubelet plugin directory a volume lives in (`kubernetes.io~configmap` …);
/// None for hostPath, which is the host's own path.
pub fn plugin_dir(volume: &Value) -> Option<&'static str> {
    let kinds = [
        ("configMap", "kubernetes.io~configmap"),
        ("secret", "kubernetes.io~secret"),
        ("downwardAPI", "kubernetes.io~downward-api"),
        ("projected", "kubernetes.io~projected"),
        ("emptyDir", "kubernetes.io~empty-dir"),
        ("hostPath", ""),
    ];
    for (k, dir) in kinds {
        if volume.get(k).is_some() {
            return (!dir.is_empty()).then_some(dir);
        }
    }
    // other volume types are emulated as empty directories
    Some("kubernetes.io~empty-dir")
}

/// Where a volume's files are: `<root>/<plugin>/<name>` (root is the pod's volumes
/// directory), or the path of a hostPath volume ([`host_path`] in `node_root`).
pub fn volume_path(root: &Path, node_root: &Path, volume: &Value) -> PathBuf {
    match plugin_dir(volume) {
        Some(p) => root.join(p).join(str_at(volume, "/name")),
        None => host_path_on_machine(node_root, str_at(volume, "/hostPath/path")).0,
    }
}

/// The volume types kinet knows; others are empty directories.
pub fn is_emulated(volume: &Value) -> bool {
    ![
        "configMap",
        "secret",
        "downwardAPI",
        "projected",
        "emptyDir",
        "hostPath",
    ]
    .iter()
    .any(|k| volume.get(*k).is_some())
}

fn mode_of(v: Option<&Value>, default: u32) -> u32 {
    v.and_then(Value::as_u64)
        .map(|m| m as u32)
        .unwrap_or(default)
        & 0o7777
}

/// The files of a configMap or secret (`kind` is "configmap" or "secret") from its
/// data, as `items` select them.
fn key_files(
    kind: &str,
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&Vec<Value>>,
    default_mode: u32,
    optional: bool,
) -> Result<Vec<File>, String> {
    let Some(items) = items.filter(|i| !i.is_empty()) else {
        return Ok(data
            .iter()
            .map(|(k, v)| File {
                path: k.clone(),
                data: v.clone(),
                mode: default_mode,
            })
            .collect());
    };
    let mut out = Vec::new();
    for it in items {
        let key = str_at(it, "/key");
        let Some(v) = data.get(key) else {
            if optional {
                continue;
            }
            let what = if kind == "secret" {
                "secret references non-existent secret key"
            } else {
                "configmap references non-existent config key"
            };
            return Err(format!("{what}: {key}"));
        };
        out.push(File {
            path: str_at(it, "/path").to_string(),
            data: v.clone(),
            mode: mode_of(it.get("mode"), default_mode),
        });
    }
    Ok(out)
}

fn config_map_data(cm: &Value) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    if let Some(d) = cm.get("data").and_then(Value::as_object) {
        for (k, v) in d {
            m.insert(k.clone(), v.as_str().unwrap_or("").as_bytes().to_vec());
        }
    }
    if let Some(d) = cm.get("binaryData").and_then(Value::as_object) {
        for (k, v) in d {
            m.insert(k.clone(), secret::decode(v.as_str().unwrap_or("")));
        }
    }
    m
}

/// A container resource for a downward API item (`limits.cpu` with a divisor …);
/// limits that are not set are the node's allocatable, as kubelet reports them.
pub fn resource_value(
    pod: &Value,
    item: &Value,
    node: Option<&Value>,
    container: Option<&str>,
) -> Result<String, String> {
    let resource = str_at(item, "/resource");
    let cname = item
        .get("containerName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .or(container)
        .unwrap_or("");
    let c = ["containers", "initContainers"]
        .iter()
        .filter_map(|k| pod.pointer(&format!("/spec/{k}")).and_then(Value::as_array))
        .flatten()
        .find(|c| c["name"] == cname)
        .ok_or_else(|| format!("container {cname:?} not found in pod"))?;
    let (kind, name) = resource
        .split_once('.')
        .ok_or_else(|| format!("unsupported container resource : {resource}"))?;
    let set = c
        .pointer(&format!("/resources/{kind}/{name}"))
        .and_then(Value::as_str)
        .map(String::from);
    let value = match (kind, set) {
        (_, Some(v)) => milli_value(&v).unwrap_or(0),
        ("limits", None) => node
            .and_then(|n| n.pointer(&format!("/status/allocatable/{name}")))
            .and_then(Value::as_str)
            .and_then(milli_value)
            .unwrap_or(0),
        _ => 0,
    };
    let divisor = item
        .get("divisor")
        .and_then(|d| match d {
            Value::String(s) => milli_value(s),
            Value::Number(n) => n.as_i64().map(|n| n as i128 * 1000),
            _ => None,
        })
        .filter(|d| *d > 0)
        .unwrap_or(1000);
    // rounded up, as kubelet does for cpu and memory alike
    Ok(((value + divisor - 1).div_euclid(divisor)).to_string())
}

fn downward_files(
    pod: &Value,
    items: Option<&Vec<Value>>,
    default_mode: u32,
    node: Option<&Value>,
) -> Result<Vec<File>, String> {
    let mut out = Vec::new();
    for it in items.into_iter().flatten() {
        let data = if let Some(f) = it.pointer("/fieldRef/fieldPath").and_then(Value::as_str) {
            field_value(pod, f)?
        } else if let Some(r) = it.get("resourceFieldRef") {
            resource_value(pod, r, node, None)?
        } else {
            continue;
        };
        out.push(File {
            path: str_at(it, "/path").to_string(),
            data: data.into_bytes(),
            mode: mode_of(it.get("mode"), default_mode),
        });
    }
    Ok(out)
}

/// Joins several errors as kubelet's aggregate does.
fn aggregate(errs: Vec<String>) -> String {
    if errs.len() == 1 {
        errs.into_iter().next().unwrap_or_default()
    } else {
        format!("[{}]", errs.join(", "))
    }
}

/// What `volume` of `pod` holds now. The error is what kubelet puts after
/// `MountVolume.SetUp failed for volume "x" : `.
pub fn content(pod: &Value, volume: &Value, src: &mut dyn Sources) -> Result<Content, String> {
    let optional = |v: &Value| v.get("optional").and_then(Value::as_bool).unwrap_or(false);
    if let Some(cm) = volume.get("configMap") {
        let name = str_at(cm, "/name");
        let mode = mode_of(cm.get("defaultMode"), 0o644);
        let data = match src.config_map(name) {
            Some(obj) => config_map_data(&obj),
            None if optional(cm) => BTreeMap::new(),
            None => return Err(format!("configmap {name:?} not found")),
        };
        let items = cm.get("items").and_then(Value::as_array);
        return key_files("configmap", &data, items, mode, optional(cm)).map(Content::Files);
    }
    if let Some(s) = volume.get("secret") {
        let name = str_at(s, "/secretName");
        let mode = mode_of(s.get("defaultMode"), 0o644);
        let data = match src.secret(name) {
            Some(obj) => secret::data(&obj),
            None if optional(s) => BTreeMap::new(),
            None => return Err(format!("secret {name:?} not found")),
        };
        let items = s.get("items").and_then(Value::as_array);
        return key_files("secret", &data, items, mode, optional(s)).map(Content::Files);
    }
    if let Some(d) = volume.get("downwardAPI") {
        let mode = mode_of(d.get("defaultMode"), 0o644);
        let node = src.node();
        return downward_files(
            pod,
            d.get("items").and_then(Value::as_array),
            mode,
            node.as_ref(),
        )
        .map(Content::Files);
    }
    if let Some(p) = volume.get("projected") {
        let mode = mode_of(p.get("defaultMode"), 0o644);
        let mut files = Vec::new();
        let mut errs = Vec::new();
        let node = src.node();
        for s in p
            .get("sources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            // a ConfigMap or Secret projects its keys alike
            let keyed = if let Some(cm) = s.get("configMap") {
                let found = src.config_map(str_at(cm, "/name"));
                Some(("configmap", cm, found.map(|o| config_map_data(&o))))
            } else if let Some(sec) = s.get("secret") {
                let found = src.secret(str_at(sec, "/name"));
                Some(("secret", sec, found.map(|o| secret::data(&o))))
            } else {
                None
            };
            if let Some((kind, v, found)) = keyed {
                let data = match found {
                    Some(data) => data,
                    None if optional(v) => BTreeMap::new(),
                    None => {
                        errs.push(format!("{kind} {:?} not found", str_at(v, "/name")));
                        continue;
                    }
                };
                let items = v.get("items").and_then(Value::as_array);
                match key_files(kind, &data, items, mode, optional(v)) {
                    Ok(f) => files.extend(f),
                    Err(e) => errs.push(e),
                }
            } else if let Some(d) = s.get("downwardAPI") {
                match downward_files(
                    pod,
                    d.get("items").and_then(Value::as_array),
                    mode,
                    node.as_ref(),
                ) {
                    Ok(f) => files.extend(f),
                    Err(e) => errs.push(e),
                }
            } else if let Some(t) = s.get("serviceAccountToken") {
                let ts = TokenSource {
                    audience: t
                        .get("audience")
                        .and_then(Value::as_str)
                        .filter(|a| !a.is_empty())
                        .map(String::from),
                    expiration_seconds: t
                        .get("expirationSeconds")
                        .and_then(Value::as_i64)
                        .unwrap_or(3600),
                    path: str_at(t, "/path").to_string(),
                };
                match src.token(str_at(volume, "/name"), &ts) {
                    Ok(tok) => files.push(File {
                        path: ts.path.clone(),
                        data: tok.into_bytes(),
                        mode,
                    }),
                    Err(e) => errs.push(e),
                }
            }
        }
        if !errs.is_empty() {
            return Err(aggregate(errs));
        }
        return Ok(Content::Files(files));
    }
    if let Some(h) = volume.get("hostPath") {
        return Ok(Content::HostPath {
            path: PathBuf::from(str_at(h, "/path")),
            kind: str_at(h, "/type").to_string(),
        });
    }
    let memory = volume
        .pointer("/emptyDir/medium")
        .and_then(Value::as_str)
        .is_some_and(|m| m == "Memory");
    Ok(Content::EmptyDir { memory })
}

/// Checks (and with `…OrCreate`, makes) a hostPath as kubelet does.
pub fn prepare_host_path(path: &Path, kind: &str) -> Result<(), String> {
    use std::os::unix::fs::FileTypeExt;
    let p = path.display();
    let meta = std::fs::metadata(path);
    let fail = |what: &str| Err(format!("hostPath type check failed: {p} is not a {what}"));
    // `…OrCreate` of a missing path: chmod what `made` made to `mode`.
    let create = |made: std::io::Result<()>, mode: u32| {
        made.and_then(|()| std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)))
            .map_err(|e| format!("hostPath type check failed: {p}: {e}"))
    };
    match kind {
        "" => Ok(()),
        "DirectoryOrCreate" => {
            if meta.is_err() {
                return create(std::fs::create_dir_all(path), 0o755);
            }
            if meta.is_ok_and(|m| m.is_dir()) {
                Ok(())
            } else {
                fail("directory")
            }
        }
        "Directory" => match meta {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => fail("directory"),
            Err(_) => Err(format!(
                "hostPath type check failed: {p} is not a directory"
            )),
        },
        "FileOrCreate" => {
            if meta.is_err() {
                let touched = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(path)
                    .map(drop);
                return create(touched, 0o644);
            }
            if meta.is_ok_and(|m| m.is_file()) {
                Ok(())
            } else {
                fail("file")
            }
        }
        "File" => match meta {
            Ok(m) if m.is_file() => Ok(()),
            _ => fail("file"),
        },
        "Socket" => match meta {
            Ok(m) if m.file_type().is_socket() => Ok(()),
            _ => fail("socket file"),
        },
        "CharDevice" => match meta {
            Ok(m) if m.file_type().is_char_device() => Ok(()),
            _ => fail("character device"),
        },
        "BlockDevice" => match meta {
            Ok(m) if m.file_type().is_block_device() => Ok(()),
            _ => fail("block device"),
        },
        other => Err(format!(
            "hostPath type check failed: unknown type {other:?}"
        )),
    }
}

/// A relative path inside a volume: no `..`, not absolute, not starting with `..`.
pub fn validate_path(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err("invalid path: must not be empty".into());
    }
    let path = Path::new(p);
    if path.is_absolute() {
        return Err(format!("invalid path: must be relative path: {p}"));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(format!("invalid path: must not contain '..': {p}"));
    }
    if p.starts_with("..") {
        return Err(format!("invalid path: must not start with '..': {p}"));
    }
    Ok(())
}

fn first_component(p: &str) -> String {
    Path::new(p)
        .components()
        .find_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Files under `dir` (relative path → (data, mode)).
fn read_tree(dir: &Path) -> io::Result<BTreeMap<String, (Vec<u8>, u32)>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(dir.join(&rel))? {
            let e = e?;
            let r = rel.join(e.file_name());
            let m = e.metadata()?;
            if m.is_dir() {
                stack.push(r);
            } else {
                let data = std::fs::read(dir.join(&r))?;
                out.insert(
                    r.to_string_lossy().into_owned(),
                    (data, m.permissions().mode() & 0o7777),
                );
            }
        }
    }
    Ok(out)
}

/// kubelet's timestamped directory name: `..2006_01_02_15_04_05.<digits>`.
fn timestamp_dir_name() -> String {
    let now = chrono::Utc::now();
    format!(
        "..{}.{}",
        now.format("%Y_%m_%d_%H_%M_%S"),
        now.timestamp_subsec_nanos()
    )
}

/// Writes `files` into `dir` as kubelet's atomic writer does: the files go into a new
/// `..<timestamp>` directory, the `..data` symlink is swapped to it in one rename,
/// user-visible names are symlinks into `..data`, and the previous directory goes.
/// Nothing is written when the content is unchanged. Returns whether it wrote.
pub fn write_atomic(dir: &Path, files: &[File]) -> io::Result<bool> {
    for f in files {
        validate_path(&f.path).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    }
    std::fs::create_dir_all(dir)?;
    let data_link = dir.join("..data");
    let old = std::fs::read_link(&data_link).ok();
    let want: BTreeMap<String, (Vec<u8>, u32)> = files
        .iter()
        .map(|f| (f.path.clone(), (f.data.clone(), f.mode)))
        .collect();
    let old_tree = old.as_ref().and_then(|o| read_tree(&dir.join(o)).ok());
    let new_top: BTreeSet<String> = files.iter().map(|f| first_component(&f.path)).collect();
    let old_top: BTreeSet<String> = old_tree
        .as_ref()
        .map(|t| t.keys().map(|k| first_component(k)).collect())
        .unwrap_or_default();
    let visible_ok = new_top
        .iter()
        .all(|n| std::fs::symlink_metadata(dir.join(n)).is_ok());
    if old_tree.as_ref() == Some(&want) && visible_ok {
        return Ok(false);
    }
    let mut ts = timestamp_dir_name();
    while dir.join(&ts).exists() {
        ts.push('0');
    }
    let ts_dir = dir.join(&ts);
    std::fs::create_dir(&ts_dir)?;
    std::fs::set_permissions(&ts_dir, std::fs::Permissions::from_mode(0o755))?;
    for f in files {
        let p = ts_dir.join(&f.path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&p, &f.data)?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(f.mode))?;
    }
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&ts, &tmp)?;
    std::fs::rename(&tmp, &data_link)?;
    for n in &new_top {
        let p = dir.join(n);
        if std::fs::symlink_metadata(&p).is_err() {
            std::os::unix::fs::symlink(Path::new("..data").join(n), &p)?;
        }
    }
    for n in old_top.difference(&new_top) {
        let _ = std::fs::remove_file(dir.join(n));
    }
    if let Some(o) = old
        && o != Path::new(&ts)
    {
        let _ = std::fs::remove_dir_all(dir.join(o));
    }
    Ok(true)
}

/// Expands `$(VAR)` in a subPathExpr with the container's plain env values.
fn expand_sub_path(expr: &str, container: &Value) -> String {
    let env: Vec<(String, String)> = container["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| Some((e["name"].as_str()?.into(), e["value"].as_str()?.into())))
                .collect()
        })
        .unwrap_or_default();
    crate::env::expand(expr, &env)
}

/// The bind mounts of a container: each volumeMount from its volume under `root`
/// (the pod's volumes directory; node-owned hostPaths under `node_root`), `subPath` inside it; configMap, secret, downwardAPI
/// and projected volumes are always read-only, as kubelet mounts them. `scratch` is
/// the container's own empty directory (see [`ContainerMounts`]).
pub fn container_binds(
    pod: &Value,
    container: &Value,
    root: &Path,
    node_root: &Path,
    scratch: &Path,
    layer: Option<Layer>,
) -> Result<ContainerMounts, String> {
    let volumes = pod
        .pointer("/spec/volumes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut binds = Vec::new();
    for m in container["volumeMounts"].as_array().into_iter().flatten() {
        let name = str_at(m, "/name");
        let v = volumes
            .iter()
            .find(|v| v["name"] == name)
            .ok_or_else(|| format!("volume {name:?} not found in pod"))?;
        let mut source = volume_path(root, node_root, v);
        let sub = match m.get("subPathExpr").and_then(Value::as_str) {
            Some(e) if !e.is_empty() => expand_sub_path(e, container),
            _ => str_at(m, "/subPath").to_string(),
        };
        if !sub.is_empty() {
            validate_path(&sub).map_err(|e| format!("subPath {sub:?}: {e}"))?;
            source = source.join(&sub);
        }
        // the machine's own paths are read-only (see [`resolve_host_path`])
        let host_ro = v.get("hostPath").is_some()
            && !host_path_on_machine(node_root, str_at(v, "/hostPath/path")).1;
        let forced_ro = host_ro
            || ["configMap", "secret", "downwardAPI", "projected"]
                .iter()
                .any(|k| v.get(*k).is_some());
        binds.push(Bind {
            source,
            target: PathBuf::from(str_at(m, "/mountPath")),
            read_only: forced_ro || m.get("readOnly").and_then(Value::as_bool).unwrap_or(false),
        });
    }
    Ok(ContainerMounts {
        binds,
        scratch: scratch.to_path_buf(),
        layer,
    })
}

/// The directories that get an empty tmpfs of each container's own: the paths
/// images write to. `/run` is [`LAYER_OVERLAYS`]'s (the host's files stay visible).
pub const LAYER_TMPFS: &[&str] = &[
    "/tmp",
    "/var/tmp",
    "/root",
    "/home",
    "/var/cache",
    "/var/log",
];

/// The directories that get a private writable overlay in each container: `/run`
/// (it holds kinet's busybox applets, and the host's `/var/run` links there).
pub const LAYER_OVERLAYS: &[&str] = &["/run"];

/// A container's writable layer over its read-only view of the host (see
/// [`kinet_linux::mounts::Layer`]); `privileged` keeps `/proc`, `/sys` and the host's
/// `/dev` writable, as runtimes give privileged containers;
/// `readOnlyRootFilesystem` leaves only the volumes (and `/dev`) writable.
pub fn container_layer(container: &Value) -> Layer {
    let flag = |k: &str| {
        container
            .pointer(&format!("/securityContext/{k}"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let privileged = flag("privileged");
    let layer = |dirs: &[&str]| -> Vec<PathBuf> {
        if flag("readOnlyRootFilesystem") {
            Vec::new()
        } else {
            dirs.iter().map(PathBuf::from).collect()
        }
    };
    Layer {
        tmpfs: layer(LAYER_TMPFS),
        overlays: layer(LAYER_OVERLAYS),
        private_dev: !privileged,
        privileged,
    }
}

/// kinet's own binary, when it lies under a directory the container's layer
/// empties (a checkout in `/tmp` or `/home`): bound read-only at its path, so
/// built-in programs and the busybox wrappers still find it.
pub fn self_exe_bind(exe: &Path, layer: Option<&Layer>) -> Option<Bind> {
    let hidden = layer?.tmpfs.iter().any(|d| exe.starts_with(d));
    hidden.then(|| Bind {
        source: exe.to_path_buf(),
        target: exe.to_path_buf(),
        read_only: true,
    })
}

/// The directories of a pod's `medium: Memory` emptyDir volumes (tmpfs in its
/// mount namespace).
pub fn memory_dirs(pod: &Value, root: &Path) -> Vec<PathBuf> {
    pod.pointer("/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| str_at(v, "/emptyDir/medium") == "Memory")
        .map(|v| {
            root.join("kubernetes.io~empty-dir")
                .join(str_at(v, "/name"))
        })
        .collect()
}

#[cfg(test)]
mod tests;
