//! A container's own mount namespace, made from its pod's: the pod's namespaces are
//! entered, the mount namespace is unshared, and each volume mount is bind-mounted
//! from the pod's volume directory onto its `mountPath` (`subPath` and `readOnly`
//! included).
//!
//! Containers see the host's filesystem, so a `mountPath` whose parent does not exist
//! on the host (`/data`, `/etc/config`, `/var/run/secrets/kubernetes.io/serviceaccount`)
//! cannot be created there. Instead, the nearest existing ancestor gets a private
//! overlay inside the container's namespace: its lower layer is the directory itself
//! (so everything in it stays visible), its upper layer lives on a tmpfs of the
//! container's own, and the missing directories are made in that upper layer. The
//! mounts that were below the ancestor (`/proc`, `/dev`, the pod's `/etc/hosts`,
//! `/run/netns` …) would be hidden by the overlay, so they are cloned first and put
//! back on top of it. An overlay on `/` itself becomes the namespace's root (the
//! process re-enters its own namespace, which follows mounts on the root), so
//! `setns` into the container's namespace — what `kubectl exec` does — lands in the
//! same view. Nothing is created or mounted on the host.
//!
//! With a [`Layer`] (what kinet gives every container) the container's view of the
//! host is read-only: after the mounts are made, the whole tree is made read-only
//! (mount_setattr, recursively) and only the container's own parts are made writable
//! again: its volumes (unless `readOnly`), an empty tmpfs of its own on `/tmp`,
//! `/root` … , a private writable overlay on `/run`, and a private `/dev` (the host's
//! null, zero, tty … and `/dev/pts`, a `/dev/shm` of its own). Mount points the
//! volumes need inside the layer are made there, not in an overlay; overlays made for
//! missing mount points elsewhere are read-only like the rest.
//!
//! Planning (which directories to overlay, which mounts to put back, what to create)
//! happens before `fork` and is pure given a view of the filesystem ([`plan`]); the
//! child then runs a list of prepared system calls ([`Prepared::run`]) that are all
//! async-signal-safe. Needs Linux 5.2 (`open_tree`, `move_mount`), 5.12 for a layer
//! (`mount_setattr`), and overlayfs.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};

/// One volume mount of a container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bind {
    /// What to mount, as the pod's mount namespace sees it (a directory or a file).
    pub source: PathBuf,
    /// Where, as an absolute path inside the container.
    pub target: PathBuf,
    pub read_only: bool,
}

/// The mounts that make a container's own mount namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerMounts {
    /// Mounted in order of depth (a mount inside another volume's mount comes after it).
    pub binds: Vec<Bind>,
    /// An existing, empty directory of kinet's own; the container's private tmpfs for
    /// overlay upper layers is mounted on it inside the container's namespace only.
    pub scratch: PathBuf,
    /// The container's own layer over a read-only host; `None`: the pod's view as it is.
    pub layer: Option<Layer>,
}

/// A container's view of the host: everything read-only (recursively, `/proc` and
/// `/sys` included) except its volumes and this writable layer of its own, which no
/// other container (of its pod or another) and not the host sees.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Layer {
    /// Directories that get an empty tmpfs of the container's own (`/tmp`, `/root` …,
    /// with the mode of the host's directory). Missing ones are skipped.
    pub tmpfs: Vec<PathBuf>,
    /// Directories that get a private writable overlay: the host's files stay visible,
    /// writes stay in the container (`/run`, which holds kinet's busybox applets).
    pub overlays: Vec<PathBuf>,
    /// A private `/dev` as container runtimes make it: a tmpfs with the host's
    /// null, zero, full, random, urandom, tty and ptmx, the host's `/dev/pts` (so
    /// `kubectl exec -t` terminals work), a private `/dev/shm`, and the `fd`,
    /// `stdin`, `stdout`, `stderr` links. False: the host's `/dev`, read-only.
    pub private_dev: bool,
    /// Privileged containers: `/proc` and `/sys` stay writable (sysctls), and so does
    /// the host's `/dev` (without a private one).
    pub privileged: bool,
}

/// The device nodes a private `/dev` takes from the host.
pub const DEV_NODES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty", "ptmx"];

/// A planned [`Layer`]: the directories that exist, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlannedLayer {
    /// (directory, mode) of each private tmpfs.
    pub tmpfs: Vec<(PathBuf, u32)>,
    /// A private `/dev` replaces the host's.
    pub private_dev: bool,
    /// The host's device nodes bound into the private `/dev`.
    pub dev_nodes: Vec<PathBuf>,
    /// The host's `/dev/pts` goes into the private `/dev`.
    pub dev_pts: bool,
    pub privileged: bool,
}

/// What the planner needs to know about the pod's filesystem.
pub trait View {
    /// The path with every symlink resolved, and whether it is a directory; `None` if
    /// it does not exist (or is a dangling symlink).
    fn resolve(&self, p: &Path) -> Option<(PathBuf, bool)>;
    /// True if something (even a dangling symlink) is at `p`.
    fn present(&self, p: &Path) -> bool;
    /// The permission bits of the directory `p` (0o755 if unknown).
    fn mode(&self, _p: &Path) -> u32 {
        0o755
    }
}

/// The host's filesystem (which a pod's namespace shows, apart from its own binds).
pub struct HostView;

impl View for HostView {
    fn resolve(&self, p: &Path) -> Option<(PathBuf, bool)> {
        let c = std::fs::canonicalize(p).ok()?;
        let dir = std::fs::metadata(&c).map(|m| m.is_dir()).unwrap_or(false);
        Some((c, dir))
    }

    fn present(&self, p: &Path) -> bool {
        std::fs::symlink_metadata(p).is_ok()
    }

    fn mode(&self, p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o755)
    }
}

/// A private overlay on an existing directory, and the mounts under it to put back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    pub dir: PathBuf,
    pub submounts: Vec<PathBuf>,
    /// Part of the container's writable layer; else it is read-only once the mount
    /// points it holds are made (with a [`Layer`]).
    pub writable: bool,
}

/// What is at a bind's target before mounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    /// It exists already.
    Exists,
    /// Make a directory (if it is not there yet).
    Dir,
    /// Make an empty file (if it is not there yet).
    File,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedBind {
    pub source: PathBuf,
    /// The resolved target.
    pub target: PathBuf,
    /// Directories to make first, outermost first.
    pub mkdirs: Vec<PathBuf>,
    pub leaf: Leaf,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub overlays: Vec<Overlay>,
    pub binds: Vec<PlannedBind>,
    pub scratch: PathBuf,
    pub layer: Option<PlannedLayer>,
}

fn normal_components(p: &Path) -> anyhow::Result<Vec<&OsStr>> {
    if !p.is_absolute() {
        bail!("mount path {} is not absolute", p.display());
    }
    let mut out = Vec::new();
    for c in p.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(s) => out.push(s),
            Component::ParentDir => bail!("mount path {} must not contain '..'", p.display()),
            Component::Prefix(_) => bail!("bad mount path {}", p.display()),
        }
    }
    Ok(out)
}

fn depth(p: &Path) -> usize {
    p.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count()
}

/// `p` is strictly below `dir`.
fn strictly_under(p: &Path, dir: &Path) -> bool {
    p != dir && p.starts_with(dir)
}

/// The mount point a path is on: the longest mount point it is under (or equal to).
fn mount_of<'a>(p: &Path, mountpoints: &'a [PathBuf]) -> Option<&'a PathBuf> {
    mountpoints
        .iter()
        .filter(|m| p.starts_with(m))
        .max_by_key(|m| depth(m))
}

/// Plans a container's mounts. `mountpoints` are the mount points of the pod's
/// namespace (see [`mountpoints`]); `view` answers what exists.
pub fn plan(
    spec: &ContainerMounts,
    mountpoints: &[PathBuf],
    view: &dyn View,
) -> anyhow::Result<Plan> {
    let layer = plan_layer(spec.layer.as_ref(), view)?;
    // the container's own writable overlays
    let writable: Vec<PathBuf> = match &spec.layer {
        Some(l) => {
            let mut v = Vec::new();
            for o in &l.overlays {
                normal_components(o)?;
                if let Some((c, true)) = view.resolve(o)
                    && c != Path::new("/")
                    && !v.contains(&c)
                {
                    v.push(c);
                }
            }
            v
        }
        None => Vec::new(),
    };
    // directories whose content the container sees empty (its tmpfs, its /dev)
    let mut empty: Vec<PathBuf> = Vec::new();
    if let Some(l) = &layer {
        empty.extend(l.tmpfs.iter().map(|(d, _)| d.clone()));
        if l.private_dev {
            empty.push("/dev".into());
        }
    }
    let writable: Vec<PathBuf> = writable
        .into_iter()
        .filter(|w| !empty.iter().any(|e| w.starts_with(e)))
        .collect();
    let mut order: Vec<&Bind> = spec.binds.iter().collect();
    order.sort_by_key(|b| depth(&b.target));
    let mut binds: Vec<PlannedBind> = Vec::new();
    // (lexical target, resolved target) of the binds planned so far
    let mut done: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for b in order {
        let comps = normal_components(&b.target)?;
        let lexical: PathBuf = std::iter::once(OsStr::new("/"))
            .chain(comps.iter().copied())
            .collect();
        let (_, source_is_dir) = view
            .resolve(&b.source)
            .with_context(|| format!("volume source {} does not exist", b.source.display()))?;
        let leaf_kind = if source_is_dir { Leaf::Dir } else { Leaf::File };
        // inside an earlier mount: created in that volume at mount time
        if let Some((lex, res)) = done.iter().rev().find(|(lex, _)| lexical.starts_with(lex)) {
            let rel = lexical.strip_prefix(lex).unwrap_or(Path::new(""));
            let target = res.join(rel);
            let mut mkdirs = Vec::new();
            let mut cur = res.clone();
            let rc: Vec<_> = rel.components().collect();
            for c in rc.iter().take(rc.len().saturating_sub(1)) {
                cur.push(c);
                mkdirs.push(cur.clone());
            }
            let leaf = if rel.as_os_str().is_empty() {
                Leaf::Exists
            } else {
                leaf_kind
            };
            done.push((lexical, target.clone()));
            binds.push(PlannedBind {
                source: b.source.clone(),
                target,
                mkdirs,
                leaf,
                read_only: b.read_only,
            });
            continue;
        }
        let mut cur = PathBuf::from("/");
        let mut missing: &[&OsStr] = &[];
        for (i, c) in comps.iter().enumerate() {
            if empty.iter().any(|e| cur.starts_with(e)) {
                missing = &comps[i..];
                break;
            }
            let cand = cur.join(c);
            match view.resolve(&cand) {
                Some((canon, is_dir)) => {
                    if !is_dir && i + 1 < comps.len() {
                        bail!(
                            "mount path {}: {} is not a directory",
                            b.target.display(),
                            cand.display()
                        );
                    }
                    cur = canon;
                }
                None if view.present(&cand) => {
                    bail!(
                        "mount path {}: {} is a dangling symbolic link",
                        b.target.display(),
                        cand.display()
                    );
                }
                None => {
                    missing = &comps[i..];
                    break;
                }
            }
        }
        if missing.is_empty() {
            done.push((lexical, cur.clone()));
            binds.push(PlannedBind {
                source: b.source.clone(),
                target: cur,
                mkdirs: Vec::new(),
                leaf: Leaf::Exists,
                read_only: b.read_only,
            });
            continue;
        }
        // missing directories in the writable layer are made there; elsewhere an
        // overlay on their nearest existing ancestor holds them
        let in_layer = empty
            .iter()
            .chain(writable.iter())
            .any(|e| cur.starts_with(e));
        if !in_layer && !dirs.contains(&cur) {
            dirs.push(cur.clone());
        }
        let mut mkdirs = Vec::new();
        let mut t = cur.clone();
        for (i, c) in missing.iter().enumerate() {
            t.push(c);
            if i + 1 < missing.len() {
                mkdirs.push(t.clone());
            }
        }
        done.push((lexical, t.clone()));
        binds.push(PlannedBind {
            source: b.source.clone(),
            target: t,
            mkdirs,
            leaf: leaf_kind,
            read_only: b.read_only,
        });
    }
    // one overlay per filesystem: a directory on the same mount as an outer one is
    // made writable by the outer overlay
    dirs.sort_by_key(|d| depth(d));
    let mut kept: Vec<PathBuf> = Vec::new();
    for d in dirs {
        let covered = kept
            .iter()
            .any(|k| d.starts_with(k) && mount_of(&d, mountpoints) == mount_of(k, mountpoints));
        if !covered {
            kept.push(d);
        }
    }
    let mut all: Vec<(PathBuf, bool)> = kept.into_iter().map(|d| (d, false)).collect();
    all.extend(writable.into_iter().map(|w| (w, true)));
    all.sort_by_key(|(d, _)| depth(d));
    let mut overlays = Vec::new();
    if !all.is_empty() {
        check_option_path(&spec.scratch)?;
        if !spec.scratch.is_absolute() {
            bail!(
                "scratch directory {} is not absolute",
                spec.scratch.display()
            );
        }
    }
    for (d, writable) in all {
        check_option_path(&d)?;
        let top = |m: &Path| {
            strictly_under(m, &d)
                && !mountpoints
                    .iter()
                    .any(|o| strictly_under(o, &d) && strictly_under(m, o))
        };
        let mut subs: Vec<PathBuf> = mountpoints.iter().filter(|m| top(m)).cloned().collect();
        if top(&spec.scratch) {
            subs.push(spec.scratch.clone());
        }
        subs.sort();
        subs.dedup();
        overlays.push(Overlay {
            dir: d,
            submounts: subs,
            writable,
        });
    }
    Ok(Plan {
        overlays,
        binds,
        scratch: spec.scratch.clone(),
        layer,
    })
}

/// The layer's tmpfs directories that exist (resolved, with the host directory's
/// mode) and the private `/dev`'s nodes.
fn plan_layer(layer: Option<&Layer>, view: &dyn View) -> anyhow::Result<Option<PlannedLayer>> {
    let Some(l) = layer else {
        return Ok(None);
    };
    let mut tmpfs: Vec<(PathBuf, u32)> = Vec::new();
    for t in &l.tmpfs {
        normal_components(t)?;
        if let Some((c, true)) = view.resolve(t)
            && c != Path::new("/")
            && !tmpfs.iter().any(|(x, _)| *x == c)
        {
            let mode = view.mode(&c);
            tmpfs.push((c, mode));
        }
    }
    tmpfs.sort_by_key(|(d, _)| depth(d));
    let private_dev = l.private_dev && !l.privileged;
    let dev_nodes = if private_dev {
        DEV_NODES
            .iter()
            .map(|n| Path::new("/dev").join(n))
            .filter(|p| view.present(p))
            .collect()
    } else {
        Vec::new()
    };
    let dev_pts = private_dev && matches!(view.resolve(Path::new("/dev/pts")), Some((_, true)));
    Ok(Some(PlannedLayer {
        tmpfs,
        private_dev,
        dev_nodes,
        dev_pts,
        privileged: l.privileged,
    }))
}

/// Overlay options separate with ',' and ':'; kinet's paths never need them.
fn check_option_path(p: &Path) -> anyhow::Result<()> {
    let b = p.as_os_str().as_bytes();
    if b.iter().any(|c| matches!(c, b',' | b':' | b'\\' | b'\n')) {
        bail!(
            "cannot make {} writable in the container: its path has ',', ':' or '\\'",
            p.display()
        );
    }
    Ok(())
}

/// Undoes mountinfo's octal escapes (`\040` for a space …).
fn unescape(s: &str) -> PathBuf {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    PathBuf::from(OsStr::from_bytes(&out))
}

/// The mount points listed in a mountinfo file's text.
pub fn parse_mountinfo(text: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The mount points of the mount namespace of `pid`.
pub fn mountpoints(pid: u32) -> anyhow::Result<Vec<PathBuf>> {
    let path = format!("/proc/{pid}/mountinfo");
    let text = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    Ok(parse_mountinfo(&text))
}

mod ops;
pub(crate) use ops::read_only_tree;
pub use ops::{Prepared, Report};

#[cfg(test)]
mod tests;
