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

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, anyhow, bail};

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
    /// Directories that get an empty tmpfs of the container's own (`/tmp`, `/root` …;
    /// mode 1777 if the host's directory has the sticky bit). Missing ones are skipped.
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

// ---- the child side: prepared system calls ----

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

#[derive(Debug)]
enum Op {
    Unshare,
    OpenSelfNs,
    MountTmpfs {
        path: CString,
        data: CString,
    },
    Mkdir(CString),
    Touch(CString),
    /// open_tree(2) a copy of the mounts at `path`; `no_symlinks`: refuse a path
    /// with any symbolic link in it (openat2's RESOLVE_NO_SYMLINKS).
    Clone {
        path: CString,
        slot: usize,
        no_symlinks: bool,
    },
    Overlay {
        dir: CString,
        data: CString,
    },
    Reroot,
    Attach {
        slot: usize,
        target: CString,
    },
    Symlink {
        to: CString,
        link: CString,
    },
    /// mount_setattr(2): set and clear `MOUNT_ATTR_*` flags of the mount at `path`.
    SetAttr {
        path: CString,
        set: u64,
        clr: u64,
        recursive: bool,
    },
    Detach(CString),
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const RESOLVE_NO_SYMLINKS: u64 = 0x04;

/// Makes the mount at `path` and every mount below it read-only (mount_setattr(2));
/// -1 with errno on failure. Async-signal-safe.
///
/// # Safety
/// A plain system call on a valid C string.
pub(crate) unsafe fn read_only_tree(path: &std::ffi::CStr) -> libc::c_long {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: path is a valid C string and attr a correctly sized mount_attr.
    unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::AT_RECURSIVE as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    }
}

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// A planned mount namespace, ready to be made between `fork` and `exec`.
pub struct Prepared {
    ops: Vec<Op>,
    /// What each op does, for error messages.
    what: Vec<String>,
    slots: Vec<RawFd>,
    self_ns: RawFd,
    report: Option<OwnedFd>,
}

fn cpath(p: &Path) -> anyhow::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .with_context(|| format!("path {} contains a NUL byte", p.display()))
}

impl Prepared {
    /// Turns a plan into system calls. `report` receives the failing op, if any.
    ///
    /// The order: unshare; clone every mount that is needed later (volumes, the host's
    /// device nodes) while the pod's tree is intact; the overlays (a missing mount
    /// point's ancestor, the writable layer's) with the mounts under them put back;
    /// the private `/dev` and tmpfs; the volumes (making their mount points); then,
    /// with a layer, the whole tree read-only and the writable parts writable again
    /// (a mount keeps its flags when it is cloned, so this comes last).
    pub fn new(plan: &Plan, report: Option<OwnedFd>) -> anyhow::Result<Prepared> {
        let mut ops = Vec::new();
        let mut what = Vec::new();
        let mut slots = 0usize;
        let mut push = |op: Op, w: String| {
            ops.push(op);
            what.push(w);
        };
        let tmpfs = |p: &Path, data: &str| -> anyhow::Result<Op> {
            Ok(Op::MountTmpfs {
                path: cpath(p)?,
                data: CString::new(data)?,
            })
        };
        push(Op::Unshare, "unshare the mount namespace".into());
        if plan.overlays.iter().any(|o| o.dir == Path::new("/")) {
            push(Op::OpenSelfNs, "open /proc/self/ns/mnt".into());
        }
        let s = &plan.scratch;
        if !plan.overlays.is_empty() {
            push(
                tmpfs(s, "mode=0700")?,
                format!("mount a tmpfs on {}", s.display()),
            );
            for i in 0..plan.overlays.len() {
                for l in ["u", "w"] {
                    let d = s.join(format!("{l}{i}"));
                    push(Op::Mkdir(cpath(&d)?), format!("mkdir {}", d.display()));
                }
            }
        }
        let mut clone = |push: &mut dyn FnMut(Op, String),
                         p: &Path,
                         no_symlinks: bool|
         -> anyhow::Result<usize> {
            push(
                Op::Clone {
                    path: cpath(p)?,
                    slot: slots,
                    no_symlinks,
                },
                format!("open_tree {}", p.display()),
            );
            slots += 1;
            Ok(slots - 1)
        };
        // a writable volume in a layered container is taken as its path says, with
        // no symbolic link on the way (the caller resolved it): a link a container
        // swapped in meanwhile must not lead a writable mount to the host's files
        let layered = plan.layer.is_some();
        let mut bind_slots = Vec::new();
        for b in &plan.binds {
            bind_slots.push(clone(&mut push, &b.source, layered && !b.read_only)?);
        }
        let layer = plan.layer.clone().unwrap_or_default();
        let mut dev_slots = Vec::new();
        for n in &layer.dev_nodes {
            dev_slots.push(clone(&mut push, n, false)?);
        }
        let pts = Path::new("/dev/pts");
        let pts_slot = if layer.dev_pts {
            Some(clone(&mut push, pts, false)?)
        } else {
            None
        };
        for (i, o) in plan.overlays.iter().enumerate() {
            let mut sub_slots = Vec::new();
            for m in &o.submounts {
                sub_slots.push(clone(&mut push, m, false)?);
            }
            let data = format!(
                "lowerdir={},upperdir={},workdir={}",
                o.dir.display(),
                s.join(format!("u{i}")).display(),
                s.join(format!("w{i}")).display()
            );
            push(
                Op::Overlay {
                    dir: cpath(&o.dir)?,
                    data: CString::new(data.clone())?,
                },
                format!("mount overlay ({data}) on {}", o.dir.display()),
            );
            if o.dir == Path::new("/") {
                push(Op::Reroot, "enter the new root".into());
            }
            for (m, slot) in o.submounts.iter().zip(sub_slots) {
                push(
                    Op::Attach {
                        slot,
                        target: cpath(m)?,
                    },
                    format!("put {} back", m.display()),
                );
            }
        }
        if !plan.overlays.is_empty() {
            push(Op::Detach(cpath(s)?), format!("unmount {}", s.display()));
        }
        // paths made writable again once the tree is read-only: (path, recursive)
        let mut writable: Vec<(PathBuf, bool)> = plan
            .overlays
            .iter()
            .filter(|o| o.writable)
            .map(|o| (o.dir.clone(), false))
            .collect();
        if layer.private_dev {
            let dev = Path::new("/dev");
            push(
                tmpfs(dev, "mode=0755,size=65536k")?,
                "mount a tmpfs on /dev".into(),
            );
            writable.push((dev.into(), false));
            for (n, slot) in layer.dev_nodes.iter().zip(dev_slots) {
                push(Op::Touch(cpath(n)?), format!("create {}", n.display()));
                push(
                    Op::Attach {
                        slot,
                        target: cpath(n)?,
                    },
                    format!("bind mount the host's {}", n.display()),
                );
                writable.push((n.clone(), false));
            }
            if let Some(slot) = pts_slot {
                push(Op::Mkdir(cpath(pts)?), "mkdir /dev/pts".into());
                push(
                    Op::Attach {
                        slot,
                        target: cpath(pts)?,
                    },
                    "bind mount the host's /dev/pts".into(),
                );
                writable.push((pts.into(), false));
            }
            let shm = Path::new("/dev/shm");
            push(Op::Mkdir(cpath(shm)?), "mkdir /dev/shm".into());
            push(
                tmpfs(shm, "mode=1777,size=65536k")?,
                "mount a tmpfs on /dev/shm".into(),
            );
            writable.push((shm.into(), false));
            for (link, to) in [
                ("fd", "/proc/self/fd"),
                ("stdin", "/proc/self/fd/0"),
                ("stdout", "/proc/self/fd/1"),
                ("stderr", "/proc/self/fd/2"),
            ] {
                let l = dev.join(link);
                push(
                    Op::Symlink {
                        to: CString::new(to)?,
                        link: cpath(&l)?,
                    },
                    format!("symlink {} -> {to}", l.display()),
                );
            }
        }
        for (d, mode) in &layer.tmpfs {
            push(
                tmpfs(d, &format!("mode={mode:04o}"))?,
                format!("mount a tmpfs on {}", d.display()),
            );
            writable.push((d.clone(), false));
        }
        if layer.privileged {
            for k in ["/proc", "/sys", "/dev"] {
                writable.push((k.into(), true));
            }
        }
        for (b, slot) in plan.binds.iter().zip(bind_slots) {
            for d in &b.mkdirs {
                push(Op::Mkdir(cpath(d)?), format!("mkdir {}", d.display()));
            }
            match b.leaf {
                Leaf::Exists => {}
                Leaf::Dir => push(
                    Op::Mkdir(cpath(&b.target)?),
                    format!("mkdir {}", b.target.display()),
                ),
                Leaf::File => push(
                    Op::Touch(cpath(&b.target)?),
                    format!("create {}", b.target.display()),
                ),
            }
            push(
                Op::Attach {
                    slot,
                    target: cpath(&b.target)?,
                },
                format!(
                    "bind mount {} on {}",
                    b.source.display(),
                    b.target.display()
                ),
            );
        }
        if plan.layer.is_some() {
            push(
                Op::SetAttr {
                    path: c"/".into(),
                    set: MOUNT_ATTR_RDONLY,
                    clr: 0,
                    recursive: true,
                },
                "make the host's tree read-only".into(),
            );
            for (p, recursive) in &writable {
                push(
                    Op::SetAttr {
                        path: cpath(p)?,
                        set: 0,
                        clr: MOUNT_ATTR_RDONLY,
                        recursive: *recursive,
                    },
                    format!("make {} writable", p.display()),
                );
            }
        }
        // each volume as its mount asks, in order (an inner mount after its outer one)
        for b in &plan.binds {
            let (set, clr, w) = if b.read_only {
                (MOUNT_ATTR_RDONLY, 0, "read-only")
            } else {
                (0, MOUNT_ATTR_RDONLY, "writable")
            };
            if b.read_only || plan.layer.is_some() {
                push(
                    Op::SetAttr {
                        path: cpath(&b.target)?,
                        set,
                        clr,
                        recursive: false,
                    },
                    format!("make {} {w}", b.target.display()),
                );
            }
        }
        Ok(Prepared {
            ops,
            what,
            slots: vec![-1; slots],
            self_ns: -1,
            report,
        })
    }

    /// Makes the mounts. Runs in the forked child: async-signal-safe calls only (no
    /// allocation: every buffer was made by [`Prepared::new`]).
    pub fn run(&mut self) -> io::Result<()> {
        for i in 0..self.ops.len() {
            if let Err(e) = self.step(i) {
                if let Some(r) = &self.report {
                    let rec = [
                        (i as u32).to_ne_bytes(),
                        (e.raw_os_error().unwrap_or(0) as u32).to_ne_bytes(),
                    ];
                    let bytes: [u8; 8] = [
                        rec[0][0], rec[0][1], rec[0][2], rec[0][3], rec[1][0], rec[1][1],
                        rec[1][2], rec[1][3],
                    ];
                    // SAFETY: an 8-byte write from a stack buffer to a pipe.
                    unsafe { libc::write(r.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
                }
                return Err(e);
            }
        }
        Ok(())
    }

    fn step(&mut self, i: usize) -> io::Result<()> {
        let check = |r: libc::c_long| {
            if r < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(r)
            }
        };
        let empty = c"";
        // SAFETY: plain system calls on CStrings and descriptors owned by self; no
        // allocation happens here.
        unsafe {
            match &self.ops[i] {
                Op::Unshare => {
                    check(libc::unshare(libc::CLONE_NEWNS) as _)?;
                }
                Op::OpenSelfNs => {
                    let fd = check(libc::open(
                        c"/proc/self/ns/mnt".as_ptr(),
                        libc::O_RDONLY | libc::O_CLOEXEC,
                    ) as _)?;
                    self.self_ns = fd as RawFd;
                }
                Op::MountTmpfs { path, data } => {
                    check(libc::mount(
                        c"tmpfs".as_ptr(),
                        path.as_ptr(),
                        c"tmpfs".as_ptr(),
                        libc::MS_NOSUID | libc::MS_NODEV,
                        data.as_ptr().cast(),
                    ) as _)?;
                }
                Op::Mkdir(p) => {
                    if libc::mkdir(p.as_ptr(), 0o755) < 0 {
                        let e = io::Error::last_os_error();
                        if e.raw_os_error() != Some(libc::EEXIST) {
                            return Err(e);
                        }
                    }
                }
                Op::Touch(p) => {
                    let fd = check(libc::open(
                        p.as_ptr(),
                        libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                        0o644,
                    ) as _)?;
                    libc::close(fd as RawFd);
                }
                Op::Clone {
                    path,
                    slot,
                    no_symlinks,
                } => {
                    let flags = OPEN_TREE_CLONE
                        | libc::O_CLOEXEC as libc::c_uint
                        | libc::AT_RECURSIVE as libc::c_uint;
                    let fd = if *no_symlinks {
                        let mut how: libc::open_how = std::mem::zeroed();
                        how.flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
                        how.resolve = RESOLVE_NO_SYMLINKS;
                        let at = check(libc::syscall(
                            libc::SYS_openat2,
                            libc::AT_FDCWD,
                            path.as_ptr(),
                            &how as *const libc::open_how,
                            std::mem::size_of::<libc::open_how>(),
                        ))? as RawFd;
                        let fd = libc::syscall(
                            libc::SYS_open_tree,
                            at,
                            empty.as_ptr(),
                            flags | libc::AT_EMPTY_PATH as libc::c_uint,
                        );
                        let e = io::Error::last_os_error();
                        libc::close(at);
                        if fd < 0 {
                            return Err(e);
                        }
                        fd
                    } else {
                        check(libc::syscall(
                            libc::SYS_open_tree,
                            libc::AT_FDCWD,
                            path.as_ptr(),
                            flags,
                        ))?
                    };
                    self.slots[*slot] = fd as RawFd;
                }
                Op::Overlay { dir, data } => {
                    check(libc::mount(
                        c"overlay".as_ptr(),
                        dir.as_ptr(),
                        c"overlay".as_ptr(),
                        0,
                        data.as_ptr().cast(),
                    ) as _)?;
                }
                Op::Reroot => {
                    check(libc::setns(self.self_ns, libc::CLONE_NEWNS) as _)?;
                }
                Op::Attach { slot, target } => {
                    check(libc::syscall(
                        libc::SYS_move_mount,
                        self.slots[*slot],
                        empty.as_ptr(),
                        libc::AT_FDCWD,
                        target.as_ptr(),
                        MOVE_MOUNT_F_EMPTY_PATH,
                    ))?;
                }
                Op::Symlink { to, link } => {
                    if libc::symlink(to.as_ptr(), link.as_ptr()) < 0 {
                        let e = io::Error::last_os_error();
                        if e.raw_os_error() != Some(libc::EEXIST) {
                            return Err(e);
                        }
                    }
                }
                Op::SetAttr {
                    path,
                    set,
                    clr,
                    recursive,
                } => {
                    let attr = MountAttr {
                        attr_set: *set,
                        attr_clr: *clr,
                        propagation: 0,
                        userns_fd: 0,
                    };
                    let flags = if *recursive {
                        libc::AT_RECURSIVE as libc::c_uint
                    } else {
                        0
                    };
                    check(libc::syscall(
                        libc::SYS_mount_setattr,
                        libc::AT_FDCWD,
                        path.as_ptr(),
                        flags,
                        &attr as *const MountAttr,
                        std::mem::size_of::<MountAttr>(),
                    ))?;
                }
                Op::Detach(p) => {
                    check(libc::umount2(p.as_ptr(), libc::MNT_DETACH) as _)?;
                }
            }
        }
        Ok(())
    }

    /// The description of op `i`.
    pub fn describe(&self, i: usize) -> Option<&str> {
        self.what.get(i).map(String::as_str)
    }
}

/// The parent's end of a [`Prepared`]'s report pipe: says which mount step failed.
#[derive(Debug)]
pub struct Report {
    read: OwnedFd,
    what: Vec<String>,
}

impl Report {
    /// A pipe for `prepared`'s failures (call before handing `prepared` to the child).
    pub fn pipe() -> anyhow::Result<(Report, OwnedFd)> {
        let (rd, wr) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
                .context("pipe2")?;
        Ok((
            Report {
                read: rd,
                what: Vec::new(),
            },
            wr,
        ))
    }

    pub(crate) fn set_descriptions(&mut self, p: &Prepared) {
        self.what = p.what.clone();
    }

    /// Explains a failed spawn: the mount step that failed, or the error as it is.
    pub fn explain(&self, e: io::Error) -> anyhow::Error {
        let mut buf = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a stack buffer from a non-blocking pipe.
        let n = unsafe { libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
        if n == 8 {
            let op = u32::from_ne_bytes(buf[0..4].try_into().unwrap()) as usize;
            let errno = u32::from_ne_bytes(buf[4..8].try_into().unwrap()) as i32;
            let what = self
                .what
                .get(op)
                .cloned()
                .unwrap_or_else(|| format!("mount step {op}"));
            return anyhow!("{what}: {}", io::Error::from_raw_os_error(errno));
        }
        anyhow::Error::from(e)
    }
}

#[cfg(test)]
mod tests;
